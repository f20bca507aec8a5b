#include "core/engine/cpu.h"

#include <cpuid.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace umt5 {

namespace {

struct IsaName {
    Isa isa;
    const char* name;
};
constexpr IsaName kIsaNames[] = {
    {Isa::sse41, "sse41"},
    {Isa::avx, "avx"},
    {Isa::avx2, "avx2"},
    {Isa::avx2_vnni, "avx2_vnni"},
    {Isa::avx512_core, "avx512_core"},
    {Isa::avx512_core_vnni, "avx512_core_vnni"},
    {Isa::avx512_core_bf16, "avx512_core_bf16"},
    {Isa::avx512_core_amx, "avx512_core_amx"},
};

std::string model_name() {
    unsigned int regs[12] = {};
    unsigned int max_leaf = __get_cpuid_max(0x80000000u, nullptr);
    if (max_leaf < 0x80000004u) return "unknown x86-64 CPU";
    for (unsigned int i = 0; i < 3; ++i)
        __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    char text[sizeof regs + 1] = {};
    std::memcpy(text, regs, sizeof regs);
    std::string name(text);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    return name.empty() ? "unknown x86-64 CPU" : name;
}

// __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 registers (XGETBV), which cpuid alone
// does not tell.
CpuInfo read_cpu() {
    __builtin_cpu_init();
    CpuInfo info;
    info.model = model_name();
    struct Feature {
        bool present;
        const char* name;
    };
    const bool sse41 = __builtin_cpu_supports("sse4.1");
    const bool avx = __builtin_cpu_supports("avx");
    const bool avx2 = __builtin_cpu_supports("avx2");
    const bool fma = __builtin_cpu_supports("fma");
    const bool avx_vnni = __builtin_cpu_supports("avxvnni");
    const bool avx512f = __builtin_cpu_supports("avx512f");
    const bool avx512bw = __builtin_cpu_supports("avx512bw");
    const bool avx512vl = __builtin_cpu_supports("avx512vl");
    const bool avx512dq = __builtin_cpu_supports("avx512dq");
    const bool avx512vnni = __builtin_cpu_supports("avx512vnni");
    const bool avx512bf16 = __builtin_cpu_supports("avx512bf16");
    const bool amx = __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-int8") &&
                     __builtin_cpu_supports("amx-bf16");
    // F16C is not among GCC 12's names: cpuid leaf 1, ECX bit 29.
    unsigned int a = 0, b = 0, c = 0, d = 0;
    const bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) && avx;
    for (const Feature& f : {Feature{sse41, "SSE4.1"}, {avx, "AVX"}, {avx2, "AVX2"}, {fma, "FMA"}, {f16c, "F16C"},
                             {avx_vnni, "AVX-VNNI"}, {avx512f, "AVX512F"}, {avx512dq, "AVX512DQ"},
                             {avx512bw, "AVX512BW"}, {avx512vl, "AVX512VL"}, {avx512vnni, "AVX512-VNNI"},
                             {avx512bf16, "AVX512-BF16"}, {amx, "AMX"}})
        if (f.present) info.features.emplace_back(f.name);

    const bool avx512_core = avx512f && avx512bw && avx512vl && avx512dq;
    if (avx512_core && avx512bf16 && avx512vnni && amx)
        info.native = Isa::avx512_core_amx;
    else if (avx512_core && avx512bf16 && avx512vnni)
        info.native = Isa::avx512_core_bf16;
    else if (avx512_core && avx512vnni)
        info.native = Isa::avx512_core_vnni;
    else if (avx512_core)
        info.native = Isa::avx512_core;
    else if (avx2 && fma && avx_vnni)
        info.native = Isa::avx2_vnni;
    else if (avx2 && fma)
        info.native = Isa::avx2;
    else if (avx)
        info.native = Isa::avx;
    else
        info.native = Isa::sse41;

    info.cap = info.native;
    for (const char* variable : {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"}) {
        const char* value = std::getenv(variable);
        Isa requested;
        if (value && parse_isa(value, requested)) {
            info.cap = std::min(info.native, requested);
            break;
        }
    }
    return info;
}

}  // namespace

const CpuInfo& cpu_info() {
    static const CpuInfo info = read_cpu();
    return info;
}

bool cpu_allows(Isa isa) { return isa <= cpu_info().cap; }

const char* isa_name(Isa isa) {
    for (const IsaName& entry : kIsaNames)
        if (entry.isa == isa) return entry.name;
    return "unknown";
}

bool parse_isa(const std::string& text, Isa& isa) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (lower == "all") {
        isa = Isa::avx512_core_amx;
        return true;
    }
    for (const IsaName& entry : kIsaNames)
        if (lower == entry.name) {
            isa = entry.isa;
            return true;
        }
    return false;
}

std::string cpu_summary() {
    const CpuInfo& info = cpu_info();
    std::string line = info.model + ";";
    for (const std::string& feature : info.features) line += " " + feature;
    line += "; kernels up to ";
    line += isa_name(info.cap);
    if (info.cap != info.native) line += " (capped by ONEDNN_MAX_CPU_ISA)";
    return line;
}

}  // namespace umt5
