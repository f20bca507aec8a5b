// Fuzzes config.json parsing and validation; a config that validates must give a consistent canonical form.
#include <cstdint>
#include <string>

#include "core/formats/config.h"
#include "core/formats/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const umt5::ModelConfig c = umt5::ModelConfig::from_json(std::string(reinterpret_cast<const char*>(data), size));
        c.validate();
        if (c.inner_dim() <= 0 || c.canonical().empty()) __builtin_trap();
    } catch (const umt5::Error&) {
    }
    return 0;
}
