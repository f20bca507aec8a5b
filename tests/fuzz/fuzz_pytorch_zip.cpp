// Fuzzes PyTorch zip archives (zip directory + data.pkl + storages): the input is written as a .bin file, indexed
// with Checkpoint::open_file and every tensor read as stored and as F32, and for float dtypes also mapped (the
// storages' offsets come from our own reading of the central directory) and read in chunks: the mapped bytes must
// equal the stored ones.
#include <cstdint>
#include <cstring>
#include <string>

#include "core/formats/checkpoint.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const auto path = umt5fuzz::scratch_dir() / "pytorch_model.bin";
    umt5fuzz::write_file(path, data, size);
    try {
        const umt5::Checkpoint ck = umt5::Checkpoint::open_file(path);
        for (const std::string& name : ck.names()) {
            const umt5::TensorInfo& info = ck.info(name);
            const umt5::Tensor stored = ck.get(name);
            if (info.dtype == umt5::DType::F32 || info.dtype == umt5::DType::F16 || info.dtype == umt5::DType::BF16) {
                (void)ck.get_f32(name);
                const umt5::Tensor mapped = ck.get_mapped(name);
                if (mapped.nbytes() != stored.nbytes() ||
                    (stored.nbytes() && std::memcmp(mapped.raw(), stored.raw(), stored.nbytes()) != 0))
                    __builtin_trap();
                ck.read_f32_chunks(name, [](const float*, int64_t, int64_t) {});
            }
        }
    } catch (const umt5::Error&) {
    }
    return 0;
}
