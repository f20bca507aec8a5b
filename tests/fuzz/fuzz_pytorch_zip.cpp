// Fuzzes PyTorch zip archives (zip directory + data.pkl + storages): the input is written as a .bin file, indexed
// with Checkpoint::open_file and every tensor read as stored and as F32.
#include <cstdint>
#include <string>

#include "core/checkpoint.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const auto path = umt5fuzz::scratch_dir() / "pytorch_model.bin";
    umt5fuzz::write_file(path, data, size);
    try {
        const umt5::Checkpoint ck = umt5::Checkpoint::open_file(path);
        for (const std::string& name : ck.names()) {
            const umt5::TensorInfo& info = ck.info(name);
            (void)ck.get(name);
            if (info.dtype == umt5::DType::F32 || info.dtype == umt5::DType::F16 || info.dtype == umt5::DType::BF16)
                (void)ck.get_f32(name);
        }
    } catch (const umt5::Error&) {
    }
    return 0;
}
