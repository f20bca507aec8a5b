// Fuzzes the sharded index (model.safetensors.index.json): the input is the index, placed in a directory that
// also holds two small valid shards, "a.safetensors" (tensors x, y) and "b.safetensors" (tensor z), a
// subdirectory "sub" and the index itself, so names that point at directories, the index or missing files are
// all reachable.
#include <cstdint>
#include <string>

#include "core/formats/checkpoint.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

std::filesystem::path model_dir() {
    static const std::filesystem::path dir = [] {
        const auto d = umt5fuzz::scratch_dir() / "model";
        std::filesystem::create_directories(d / "sub");
        umt5::Tensor x({2, 3}, umt5::DType::F32), y({4}, umt5::DType::BF16), z({1}, umt5::DType::F16);
        umt5::write_safetensors(d / "a.safetensors", {{"x", x}, {"y", y}});
        umt5::write_safetensors(d / "b.safetensors", {{"z", z}});
        return d;
    }();
    return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto dir = model_dir();
    umt5fuzz::write_file(dir / "model.safetensors.index.json", data, size);
    try {
        const umt5::Checkpoint ck = umt5::Checkpoint::open(dir);
        for (const std::string& name : ck.names()) (void)ck.get_f32(name);
    } catch (const umt5::Error&) {
    }
    return 0;
}
