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

struct CpuidRegisters {
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidRegisters cpuid(unsigned int leaf, unsigned int subleaf) {
    CpuidRegisters r;
    if (__get_cpuid_max(leaf & 0x80000000u, nullptr) < leaf) return r;
    __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
    return r;
}

bool has(unsigned int reg, int bit) { return (reg >> bit) & 1u; }

// Features read from cpuid and XCR0 directly rather than __builtin_cpu_supports, whose feature names differ
// between compilers (clang 14, used by the fuzz build, knows neither "avxvnni" nor "amx-tile"). A feature
// counts only when the OS also saves its registers (XCR0): AVX needs the YMM state, AVX-512 the opmask and ZMM
// states, AMX the tile states.
CpuInfo read_cpu() {
    CpuInfo info;
    info.model = model_name();
    struct Feature {
        bool present;
        const char* name;
    };
    const CpuidRegisters leaf1 = cpuid(1, 0);
    const CpuidRegisters leaf7 = cpuid(7, 0);
    const CpuidRegisters leaf7_1 = leaf7.eax >= 1 ? cpuid(7, 1) : CpuidRegisters{};
    unsigned long long xcr0 = 0;
    if (has(leaf1.ecx, 27)) {  // OSXSAVE: XGETBV is usable
        unsigned int low = 0, high = 0;
        __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
        xcr0 = (static_cast<unsigned long long>(high) << 32) | low;
    }
    const bool os_ymm = (xcr0 & 0x6) == 0x6;
    const bool os_zmm = os_ymm && (xcr0 & 0xE0) == 0xE0;
    const bool os_tiles = (xcr0 & 0x60000) == 0x60000;

    const bool sse41 = has(leaf1.ecx, 19);
    const bool avx = os_ymm && has(leaf1.ecx, 28);
    const bool avx2 = avx && has(leaf7.ebx, 5);
    const bool fma = avx && has(leaf1.ecx, 12);
    const bool f16c = avx && has(leaf1.ecx, 29);
    const bool avx_vnni = avx2 && has(leaf7_1.eax, 4);
    const bool avx512f = os_zmm && has(leaf7.ebx, 16);
    const bool avx512dq = avx512f && has(leaf7.ebx, 17);
    const bool avx512bw = avx512f && has(leaf7.ebx, 30);
    const bool avx512vl = avx512f && has(leaf7.ebx, 31);
    const bool avx512vnni = avx512f && has(leaf7.ecx, 11);
    const bool avx512bf16 = avx512f && has(leaf7_1.eax, 5);
    const bool amx = os_tiles && has(leaf7.edx, 24) && has(leaf7.edx, 25) && has(leaf7.edx, 22);
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
