#include "core/engine/precision_support.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <optional>

#include "core/engine/cpu.h"

namespace umt5 {

namespace {

// What oneDNN 2.6 needs for a correct matmul of each precision, used only to explain a failure (whether a
// precision runs is always probed). bf16 needs AVX-512: oneDNN checks `mayiuse(avx512_core)` for bf16 data at all
// (measured: ONEDNN_MAX_CPU_ISA=AVX512_CORE runs bf16, AVX2_VNNI and below refuse it). int8 needs VNNI: without it
// oneDNN's s8 x s8 kernels sum pairs of u8 x s8 products in 16 bits, which saturate (measured on this Xeon held to
// AVX2 or AVX512_CORE: relative errors up to 145 % in test_linear; with AVX2_VNNI or AVX512_CORE_VNNI exact).
bool lacks_feature(Precision precision, Isa cap) {
    switch (precision) {
    case Precision::F32: return false;
    case Precision::BF16: return cap < Isa::avx512_core;
    case Precision::Int8: return cap != Isa::avx2_vnni && cap < Isa::avx512_core_vnni;
    }
    return false;
}
const char* needed_words(Precision precision) {
    switch (precision) {
    case Precision::F32: return "";
    case Precision::BF16: return "bf16 needs a CPU with AVX-512 (AVX512F, AVX512BW, AVX512VL and AVX512DQ)";
    case Precision::Int8:
        return "int8 needs a CPU with AVX512-VNNI or AVX-VNNI (without them oneDNN's int8 kernels overflow 16-bit "
               "sums and give wrong results)";
    }
    return "";
}

// The instruction set as CPU spec sheets and `lscpu` name it.
std::string isa_words(Isa isa) {
    switch (isa) {
    case Isa::sse41: return "SSE4.1";
    case Isa::avx: return "AVX";
    case Isa::avx2: return "AVX2";
    case Isa::avx2_vnni: return "AVX-VNNI";
    case Isa::avx512_core: return "AVX-512";
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

// The largest relative difference between a layer's outputs and the product as the precision defines it, in
// double: small integers (exact in fp32 and bf16; int8 quantized exactly as core/engine/linear.h documents, per
// row to +-127). Most neighbouring pairs of weights and inputs are 4 (127 once quantized), the case that
// overflows the 16-bit pair sums of int8 kernels without VNNI.
double probe_error(const Linear& linear, Precision precision, const std::vector<float>& w, int64_t out, int64_t in,
                   int64_t rows) {
    std::vector<float> x(static_cast<size_t>(rows * in));
    for (int64_t i = 0; i < rows * in; ++i) x[static_cast<size_t>(i)] = (i % 3 == 2) ? -1.0f : 4.0f;
    std::vector<float> y(static_cast<size_t>(rows * out));
    linear.forward(x.data(), rows, y.data());
    const auto quantized = [precision](const float* v, int64_t n, std::vector<double>& q) {
        q.assign(v, v + n);
        if (precision != Precision::Int8) return 1.0;
        double largest = 0;
        for (double e : q) largest = std::max(largest, std::fabs(e));
        const float scale = largest > 0 ? static_cast<float>(largest) / 127.0f : 1.0f;
        for (int64_t i = 0; i < n; ++i) q[static_cast<size_t>(i)] = std::nearbyint(v[i] / scale);
        return static_cast<double>(scale);
    };
    double worst = 0;
    std::vector<double> qx, qw;
    for (int64_t r = 0; r < rows; ++r) {
        const double sx = quantized(&x[static_cast<size_t>(r * in)], in, qx);
        for (int64_t n = 0; n < out; ++n) {
            const double sw = quantized(&w[static_cast<size_t>(n * in)], in, qw);
            double sum = 0;
            for (int64_t k = 0; k < in; ++k) sum += qx[static_cast<size_t>(k)] * qw[static_cast<size_t>(k)];
            const double expected = sum * sx * sw;
            worst = std::max(worst, std::fabs(y[static_cast<size_t>(r * out + n)] - expected) / (1.0 + std::fabs(expected)));
        }
    }
    return worst;
}

PrecisionSupport probe(Precision precision) {
    PrecisionSupport support;
    support.precision = precision;
    // Shapes that are no multiple of a vector width, one decoder step and a padded bucket of rows: the same
    // paths a model's layers take.
    constexpr int64_t kOut = 40, kIn = 72, kRows = 9;
    try {
        std::vector<float> w(static_cast<size_t>(kOut * kIn));
        for (int64_t i = 0; i < kOut * kIn; ++i) w[static_cast<size_t>(i)] = (i % 5 == 4) ? -2.0f : 4.0f;
        Tensor weight({kOut, kIn}, DType::F32);
        std::copy(w.begin(), w.end(), weight.data<float>());
        const Linear linear(std::move(weight), precision);
        // F32 accumulation of at most 72 products of integers below 2^7: exact; int8 adds one F32 rescaling.
        const double error = std::max(probe_error(linear, precision, w, kOut, kIn, 1),
                                      probe_error(linear, precision, w, kOut, kIn, kRows));
        if (error > 1e-5) {
            char measured[96];
            std::snprintf(measured, sizeof measured, "kernel %s is off by up to %.0f %% on a test product",
                          linear.kernel().c_str(), error * 100.0);
            support.reason = unsupported_reason(precision, measured);
            return support;
        }
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
    std::string has = isa_words(cpu.cap);
    if (cpu.cap != cpu.native) has += " (held there by ONEDNN_MAX_CPU_ISA)";
    if (lacks_feature(precision, cpu.cap)) return std::string(needed_words(precision)) + "; this one has " + has;
    return std::string(precision_name(precision)) + " does not work on this CPU (" + has + "): " + library_message;
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
