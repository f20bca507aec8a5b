// Fuzzes the restricted pickle machine that reads data.pkl of PyTorch archives.
#include <cstdint>
#include <string_view>

#include "core/formats/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        umt5::PickleReader reader("fuzz: data.pkl");
        for (const auto& [name, tensor] : reader.load_state_dict(std::string_view(reinterpret_cast<const char*>(data), size)))
            if (tensor.storage.numel < 0) __builtin_trap();
    } catch (const umt5::Error&) {
    }
    return 0;
}
