#pragma once
// Which weight precisions this CPU runs, and with what. Found by really building a small Linear of each precision
// and multiplying with it (one row and a padded bucket of rows), not from a table of instruction sets: whatever
// kernels Linear has (oneDNN's, or the engine's own), the answer is what loading a model would meet.
#include <string>
#include <vector>

#include "core/engine/linear.h"
#include "core/formats/error.h"

namespace umt5 {

// Thrown by Linear when this CPU has no kernel for the layer's precision. what(): the reason and the layer's
// shape; reason(): the words alone, for reports that name the layer themselves.
class UnsupportedPrecision : public Error {
public:
    UnsupportedPrecision(const std::string& reason, const std::string& layer)
        : Error(reason + " (" + layer + ")"), reason_(reason) {}
    const std::string& reason() const { return reason_; }

private:
    std::string reason_;
};

struct PrecisionSupport {
    Precision precision = Precision::F32;
    bool runs = false;
    std::string isa;     // the instruction set its kernels use, e.g. "avx512_core_bf16" (oneDNN's spelling)
    std::string kernel;  // Linear::kernel() of a decoder step, e.g. "brg:avx512_core_amx" or "gemm:jit"
    std::string reason;  // when it does not run, in words: "bf16 needs a CPU with AVX-512 ...; this one has AVX2"
};

// Probed once per process, on first use (a few milliseconds), for fp32, bf16 and int8 in that order.
const std::vector<PrecisionSupport>& precision_support();
const PrecisionSupport& precision_support(Precision precision);

// Why a matmul of `precision` could not be made here: names the CPU feature it lacks when that is known
// ("bf16 needs a CPU with AVX-512 (AVX512F, AVX512BW, AVX512VL, AVX512DQ); this one has AVX2"), else the
// library's own message. Used by Linear for the errors it throws.
std::string unsupported_reason(Precision precision, const std::string& library_message);

// The precisions as a table for --version and the About box: one line per precision, e.g.
// "  bf16  runs    avx512_core_amx  brg:avx512_core_amx" or "  bf16  no      bf16 needs a CPU with ...".
std::string precision_table();

}  // namespace umt5
