#include "core/engine/precision_support.h"

#include <array>
#include <mutex>
#include <optional>

#include "core/engine/cpu.h"

namespace umt5 {

namespace {

// The lowest step of the ladder on which oneDNN 2.6 has a CPU matmul of each precision. bf16 needs AVX-512
// (oneDNN checks `mayiuse(avx512_core)` for bf16 data at all; measured: ONEDNN_MAX_CPU_ISA=AVX512_CORE runs bf16,
// AVX2_VNNI and below refuse it). Used only to explain a failure: whether a precision runs is always probed.
Isa lowest_isa(Precision precision) {
    switch (precision) {
    case Precision::F32: return Isa::sse41;
    case Precision::BF16: return Isa::avx512_core;
    case Precision::Int8: return Isa::sse41;
    }
    return Isa::sse41;
}

// The instruction set as CPU spec sheets and `lscpu` name it.
std::string isa_words(Isa isa, bool with_parts) {
    switch (isa) {
    case Isa::sse41: return "SSE4.1";
    case Isa::avx: return "AVX";
    case Isa::avx2: return "AVX2";
    case Isa::avx2_vnni: return "AVX-VNNI";
    case Isa::avx512_core:
        return with_parts ? "AVX-512 (AVX512F, AVX512BW, AVX512VL and AVX512DQ)" : "AVX-512";
    case Isa::avx512_core_vnni: return "AVX512-VNNI";
    case Isa::avx512_core_bf16: return "AVX512-BF16";
    case Isa::avx512_core_amx: return "AMX";
    }
    return isa_name(isa);
}

constexpr std::array<Precision, 3> kPrecisions{Precision::F32, Precision::BF16, Precision::Int8};

// The step named in an implementation string such as "brg:avx512_core_amx"; the longest match, so that
// "avx512_core_bf16" is not read as "avx512_core".
std::optional<Isa> isa_in(const std::string& kernel) {
    std::optional<Isa> found;
    size_t longest = 0;
    for (Isa isa : {Isa::sse41, Isa::avx, Isa::avx2, Isa::avx2_vnni, Isa::avx512_core, Isa::avx512_core_vnni,
                    Isa::avx512_core_bf16, Isa::avx512_core_amx}) {
        const std::string name = isa_name(isa);
        if (name.size() > longest && kernel.find(name) != std::string::npos) {
            found = isa;
            longest = name.size();
        }
    }
    return found;
}

PrecisionSupport probe(Precision precision) {
    PrecisionSupport support;
    support.precision = precision;
    // Shapes that are no multiple of a vector width, one decoder step and a padded bucket of rows: the same
    // paths a model's layers take.
    constexpr int64_t kOut = 40, kIn = 24, kRows = 9;
    try {
        Tensor weight({kOut, kIn}, DType::F32);
        float* w = weight.data<float>();
        for (int64_t i = 0; i < kOut * kIn; ++i) w[i] = static_cast<float>(i % 7) * 0.125f - 0.375f;
        const Linear linear(std::move(weight), precision);
        std::vector<float> x(kRows * kIn, 0.5f), y(kRows * kOut);
        linear.forward(x.data(), 1, y.data());
        linear.forward(x.data(), kRows, y.data(), /*accumulate=*/true);
        support.runs = true;
        support.kernel = linear.kernel();
        // oneDNN's "gemm:jit" names no instruction set: it dispatches to the best one under the cap.
        support.isa = isa_name(isa_in(support.kernel).value_or(cpu_info().cap));
    } catch (const UnsupportedPrecision& e) {
        support.reason = e.reason();
    } catch (const std::exception& e) {
        support.reason = unsupported_reason(precision, e.what());
    }
    return support;
}

}  // namespace

std::string unsupported_reason(Precision precision, const std::string& library_message) {
    const CpuInfo& cpu = cpu_info();
    const Isa needed = lowest_isa(precision);
    std::string has = isa_words(cpu.cap, false);
    if (cpu.cap != cpu.native) has += " (held there by ONEDNN_MAX_CPU_ISA)";
    if (cpu.cap < needed)
        return std::string(precision_name(precision)) + " needs a CPU with " + isa_words(needed, true) +
               "; this one has " + has;
    return std::string(precision_name(precision)) + " has no matrix-multiply kernel on this CPU (" + has +
           "): " + library_message;
}

const PrecisionSupport& precision_support(Precision precision) {
    static std::mutex mutex;
    static std::array<std::optional<PrecisionSupport>, kPrecisions.size()> probed;
    const auto index = static_cast<size_t>(precision);
    std::lock_guard<std::mutex> lock(mutex);
    if (!probed.at(index)) probed[index] = probe(precision);
    return *probed[index];
}

const std::vector<PrecisionSupport>& precision_support() {
    static const std::vector<PrecisionSupport> all = [] {
        std::vector<PrecisionSupport> result;
        for (Precision precision : kPrecisions) result.push_back(precision_support(precision));
        return result;
    }();
    return all;
}

std::string precision_table() {
    const auto padded = [](std::string text, size_t width) {
        if (text.size() < width) text.resize(width, ' ');
        return text;
    };
    std::string table;
    for (const PrecisionSupport& s : precision_support()) {
        std::string line = "  " + padded(precision_name(s.precision), 6);
        if (s.runs)
            line += "runs  " + padded(s.isa, 18) + s.kernel;
        else
            line += "no    " + s.reason;
        table += line + "\n";
    }
    return table;
}

}  // namespace umt5
