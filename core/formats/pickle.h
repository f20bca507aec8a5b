#pragma once
// A minimal, hardened reader for the pickles inside PyTorch checkpoints (data.pkl of a torch.save zip archive).
// It runs only the opcodes torch.save emits and only the callables a state dict needs; any other global, a
// malformed opcode stream, or a value of the wrong kind throws umt5::Error. All values live in one flat arena
// owned by the PickleReader, so deep or cyclic structures can neither overflow the stack nor leak.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/formats/tensor.h"

namespace umt5 {

// A storage named by a persistent id: ('storage', torch.FloatStorage, key, location, numel).
struct PickledStorage {
    DType dtype = DType::F32;
    std::string key;    // entry name under <archive>/data/
    int64_t numel = 0;  // elements of `dtype`
};

// A tensor built by torch._utils._rebuild_tensor_v2 (possibly wrapped by _rebuild_parameter).
struct PickledTensor {
    PickledStorage storage;
    int64_t storage_offset = 0;  // in elements
    Shape shape;
    std::vector<int64_t> stride;
};

struct PickleValue {
    enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Storage, Tensor };
    Kind kind = Kind::None;
    int64_t integer = 0;     // Int, Bool
    double real = 0;         // Float
    std::string text;        // String, Bytes, Global ("module.name")
    std::vector<uint32_t> items;  // Tuple, List: elements; Dict: key, value, key, value, ...
    uint32_t payload = 0;    // Storage, Tensor: index into the reader's storages / tensors
};

class PickleReader {
public:
    // `origin` prefixes every error message, e.g. "model/pytorch_model.bin: data.pkl".
    explicit PickleReader(std::string origin);

    // Runs the pickle program and returns the (name, tensor) entries of the top-level dict in pickle order.
    // Throws umt5::Error unless the result is a dict of string keys to tensors.
    std::vector<std::pair<std::string, PickledTensor>> load_state_dict(std::string_view program);

private:
    uint32_t run(std::string_view program);
    uint32_t add(PickleValue value);
    const PickleValue& value(uint32_t index) const { return values_[index]; }
    [[noreturn]] void fail(const std::string& reason) const;

    std::string origin_;
    std::vector<PickleValue> values_;
    std::vector<PickledStorage> storages_;
    std::vector<PickledTensor> tensors_;
};

}  // namespace umt5
