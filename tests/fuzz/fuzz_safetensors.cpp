// Fuzzes the safetensors parser (header JSON, dtypes, shapes, data offsets, overlaps) through the in-memory entry
// point, then reads every indexed tensor as stored and, for float dtypes, converted to F32.
#include <cstdint>
#include <string>

#include "core/formats/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const umt5::Checkpoint ck =
            umt5::Checkpoint::from_safetensors_bytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
        (void)ck.metadata();
        for (const std::string& name : ck.names()) {
            const umt5::TensorInfo& info = ck.info(name);
            const umt5::Tensor stored = ck.get(name);
            if (stored.nbytes() != umt5::shape_numel(info.shape) * umt5::dtype_size(info.dtype)) __builtin_trap();
            if (info.dtype == umt5::DType::F32 || info.dtype == umt5::DType::F16 || info.dtype == umt5::DType::BF16)
                (void)ck.get_f32(name, info.shape);
        }
    } catch (const umt5::Error&) {
    }
    return 0;
}
