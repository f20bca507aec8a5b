#pragma once
// What this CPU can run. The instruction sets come from cpuid (with the operating system's support for the
// wider registers), lowered by the user's ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA, so that the project's own
// kernels obey the same cap as oneDNN's and `ONEDNN_MAX_CPU_ISA=AVX2` tests the AVX2 path on any machine.
#include <string>
#include <vector>

namespace umt5 {

// oneDNN's ladder of x86-64 instruction sets, lowest first (names as ONEDNN_MAX_CPU_ISA spells them).
enum class Isa { sse41, avx, avx2, avx2_vnni, avx512_core, avx512_core_vnni, avx512_core_bf16, avx512_core_amx };

struct CpuInfo {
    std::string model;                  // e.g. "AMD EPYC 9R14 96-Core Processor"
    Isa native = Isa::sse41;            // the best step this CPU and OS support
    Isa cap = Isa::sse41;               // native, lowered by ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA
    std::vector<std::string> features;  // what it has, for reports: "AVX2", "FMA", "F16C", "AVX512F", ...
};

// Read once, on first use.
const CpuInfo& cpu_info();
// Whether kernels of `isa` may run: the CPU has it and the cap allows it.
bool cpu_allows(Isa isa);
// "avx2", "avx512_core_bf16", ...: oneDNN's spelling.
const char* isa_name(Isa isa);
// Parses an ONEDNN_MAX_CPU_ISA value ("AVX2", "avx512_core", "ALL"); false when it names no known step.
bool parse_isa(const std::string& text, Isa& isa);
// One line for --version, About and benchmark records: "<model>; AVX2 FMA F16C AVX512F ...; kernels capped at avx2".
std::string cpu_summary();

}  // namespace umt5
