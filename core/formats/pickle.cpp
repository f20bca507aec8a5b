#include "core/formats/pickle.h"

#include <cstring>
#include <map>
#include <unordered_map>

namespace umt5 {

namespace {

// Resource limits: real state-dict pickles stay far below these.
constexpr size_t kMaxProgramBytes = 64u << 20;
constexpr size_t kMaxValues = 2u << 20;  // objects, stack entries, marks and memo entries each

const std::map<std::string, DType>& storage_types() {
    static const std::map<std::string, DType> types = {
        {"torch.FloatStorage", DType::F32},  {"torch.HalfStorage", DType::F16},
        {"torch.BFloat16Storage", DType::BF16}, {"torch.DoubleStorage", DType::F64},
        {"torch.LongStorage", DType::I64},   {"torch.IntStorage", DType::I32},
        {"torch.ShortStorage", DType::I16},  {"torch.CharStorage", DType::I8},
        {"torch.ByteStorage", DType::U8},    {"torch.BoolStorage", DType::Bool},
    };
    return types;
}

constexpr const char* kOrderedDict = "collections.OrderedDict";
constexpr const char* kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr const char* kRebuildParameter = "torch._utils._rebuild_parameter";

bool allowed_global(const std::string& name) {
    return name == kOrderedDict || name == kRebuildTensor || name == kRebuildParameter ||
           storage_types().count(name) != 0;
}

}  // namespace

PickleReader::PickleReader(std::string origin) : origin_(std::move(origin)) {}

void PickleReader::fail(const std::string& reason) const { throw Error(origin_ + ": " + reason); }

uint32_t PickleReader::add(PickleValue v) {
    if (values_.size() >= kMaxValues) fail("too many objects in the pickle");
    values_.push_back(std::move(v));
    return static_cast<uint32_t>(values_.size() - 1);
}

// The pickle virtual machine. Every read is bounds-checked; the stack, the marks and the memo hold indices
// into values_, so nothing here recurses.
uint32_t PickleReader::run(std::string_view program) {
    if (program.size() > kMaxProgramBytes) fail("pickle is too large (" + std::to_string(program.size()) + " bytes)");
    size_t pos = 0;
    size_t op_pos = 0;
    std::vector<uint32_t> stack;
    std::vector<size_t> marks;  // stack heights at each MARK
    std::unordered_map<uint64_t, uint32_t> memo;

    auto at = [&](const std::string& what) { return what + " at byte " + std::to_string(op_pos); };
    auto need = [&](size_t n) {
        if (program.size() - pos < n) fail(at("truncated pickle"));
    };
    auto read_le = [&](size_t n) {
        need(n);
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(program[pos + i])) << (8 * i);
        pos += n;
        return v;
    };
    auto read_bytes = [&](uint64_t n) {
        if (n > program.size() - pos) fail(at("truncated pickle (string of " + std::to_string(n) + " bytes)"));
        std::string s(program.substr(pos, static_cast<size_t>(n)));
        pos += static_cast<size_t>(n);
        return s;
    };
    auto read_line = [&]() {
        const size_t end = program.find('\n', pos);
        if (end == std::string_view::npos && program.size() - pos <= 256) fail(at("truncated pickle"));
        if (end == std::string_view::npos || end - pos > 256) fail(at("malformed GLOBAL"));
        std::string s(program.substr(pos, end - pos));
        pos = end + 1;
        return s;
    };
    auto fence = [&]() { return marks.empty() ? size_t{0} : marks.back(); };
    auto pop = [&]() {
        if (stack.size() <= fence()) fail(at("pickle stack underflow"));
        const uint32_t v = stack.back();
        stack.pop_back();
        return v;
    };
    auto top = [&]() -> uint32_t {
        if (stack.size() <= fence()) fail(at("pickle stack underflow"));
        return stack.back();
    };
    auto push = [&](uint32_t v) {
        if (stack.size() >= kMaxValues) fail(at("pickle stack overflow"));
        stack.push_back(v);
    };
    auto pop_mark = [&]() {
        if (marks.empty()) fail(at("pickle MARK missing"));
        const size_t start = marks.back();
        marks.pop_back();
        std::vector<uint32_t> items(stack.begin() + static_cast<std::ptrdiff_t>(start), stack.end());
        stack.resize(start);
        return items;
    };
    auto make = [&](PickleValue::Kind kind) {
        PickleValue v;
        v.kind = kind;
        return v;
    };
    auto make_int = [&](int64_t n) {
        PickleValue v = make(PickleValue::Kind::Int);
        v.integer = n;
        return add(std::move(v));
    };
    auto make_string = [&](PickleValue::Kind kind, std::string s) {
        PickleValue v = make(kind);
        v.text = std::move(s);
        return add(std::move(v));
    };
    auto make_sequence = [&](PickleValue::Kind kind, std::vector<uint32_t> items) {
        PickleValue v = make(kind);
        v.items = std::move(items);
        return add(std::move(v));
    };
    auto make_global = [&](const std::string& module, const std::string& name) {
        const std::string full = module + "." + name;
        if (!allowed_global(full)) fail(at("disallowed global '" + full + "'"));
        return make_string(PickleValue::Kind::Global, full);
    };
    auto signed_le = [&](size_t n) {
        if (n > 8) fail(at("integer of " + std::to_string(n) + " bytes is too large"));
        uint64_t v = read_le(n);
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1u) v |= ~uint64_t{0} << (8 * n);  // sign-extend
        return static_cast<int64_t>(v);
    };
    auto container = [&](uint32_t index, PickleValue::Kind kind, const char* op) -> PickleValue& {
        if (values_[index].kind != kind) fail(at(std::string(op) + " on an object of the wrong type"));
        return values_[index];
    };
    auto memo_put = [&](uint64_t key) {
        if (memo.size() >= kMaxValues && !memo.count(key)) fail(at("pickle memo is too large"));
        memo[key] = top();
    };
    auto memo_get = [&](uint64_t key) {
        auto it = memo.find(key);
        if (it == memo.end()) fail(at("memo key " + std::to_string(key) + " is missing"));
        push(it->second);
    };

    using K = PickleValue::Kind;
    while (true) {
        op_pos = pos;
        need(1);
        const auto op = static_cast<uint8_t>(program[pos++]);
        switch (op) {
        case 0x80: {  // PROTO
            const uint64_t version = read_le(1);
            if (version > 5) fail(at("unsupported pickle protocol " + std::to_string(version)));
            break;
        }
        case 0x95: read_le(8); break;  // FRAME: the length is only a hint
        case '.': {  // STOP
            if (stack.empty()) fail(at("pickle stack is empty at STOP"));
            return stack.back();
        }
        case '(':  // MARK
            if (marks.size() >= kMaxValues) fail(at("too many MARKs"));
            marks.push_back(stack.size());
            break;
        case '0': pop(); break;                            // POP
        case '1': pop_mark(); break;                       // POP_MARK
        case '2': push(top()); break;                      // DUP
        case 'N': push(add(make(K::None))); break;
        case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
            PickleValue v = make(K::Bool);
            v.integer = op == 0x88;
            push(add(std::move(v)));
            break;
        }
        case 'J': push(make_int(signed_le(4))); break;                          // BININT
        case 'K': push(make_int(static_cast<int64_t>(read_le(1)))); break;     // BININT1
        case 'M': push(make_int(static_cast<int64_t>(read_le(2)))); break;     // BININT2
        case 0x8a: push(make_int(signed_le(static_cast<size_t>(read_le(1))))); break;  // LONG1
        case 0x8b: {  // LONG4
            const uint64_t n = read_le(4);
            if (n > 8) fail(at("integer of " + std::to_string(n) + " bytes is too large"));
            push(make_int(signed_le(static_cast<size_t>(n))));
            break;
        }
        case 'G': {  // BINFLOAT: big-endian double
            need(8);
            uint64_t bits = 0;
            for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(program[pos + i]);
            pos += 8;
            PickleValue v = make(K::Float);
            std::memcpy(&v.real, &bits, 8);
            push(add(std::move(v)));
            break;
        }
        case 'X': push(make_string(K::String, read_bytes(read_le(4)))); break;     // BINUNICODE
        case 0x8c: push(make_string(K::String, read_bytes(read_le(1)))); break;  // SHORT_BINUNICODE
        case 0x8d: push(make_string(K::String, read_bytes(read_le(8)))); break;  // BINUNICODE8
        case 'T': push(make_string(K::String, read_bytes(read_le(4)))); break;     // BINSTRING
        case 'U': push(make_string(K::String, read_bytes(read_le(1)))); break;     // SHORT_BINSTRING
        case 'B': push(make_string(K::Bytes, read_bytes(read_le(4)))); break;      // BINBYTES
        case 'C': push(make_string(K::Bytes, read_bytes(read_le(1)))); break;      // SHORT_BINBYTES
        case 0x8e: push(make_string(K::Bytes, read_bytes(read_le(8)))); break;   // BINBYTES8
        case 'q': memo_put(read_le(1)); break;                  // BINPUT
        case 'r': memo_put(read_le(4)); break;                  // LONG_BINPUT
        case 0x94: memo_put(memo.size()); break;                // MEMOIZE
        case 'h': memo_get(read_le(1)); break;                  // BINGET
        case 'j': memo_get(read_le(4)); break;                  // LONG_BINGET
        case '}': push(add(make(K::Dict))); break;              // EMPTY_DICT
        case ']': push(add(make(K::List))); break;              // EMPTY_LIST
        case ')': push(add(make(K::Tuple))); break;             // EMPTY_TUPLE
        case 't': push(make_sequence(K::Tuple, pop_mark())); break;  // TUPLE
        case 'l': push(make_sequence(K::List, pop_mark())); break;   // LIST
        case 0x85: case 0x86: case 0x87: {  // TUPLE1, TUPLE2, TUPLE3
            std::vector<uint32_t> items(op - 0x84);
            for (size_t i = items.size(); i-- > 0;) items[i] = pop();
            push(make_sequence(K::Tuple, std::move(items)));
            break;
        }
        case 'd': {  // DICT
            std::vector<uint32_t> items = pop_mark();
            if (items.size() % 2) fail(at("DICT with an odd number of items"));
            push(make_sequence(K::Dict, std::move(items)));
            break;
        }
        case 's': {  // SETITEM
            const uint32_t v = pop();
            const uint32_t k = pop();
            auto& dict = container(top(), K::Dict, "SETITEM");
            dict.items.push_back(k);
            dict.items.push_back(v);
            break;
        }
        case 'u': {  // SETITEMS
            std::vector<uint32_t> items = pop_mark();
            if (items.size() % 2) fail(at("SETITEMS with an odd number of items"));
            auto& dict = container(top(), K::Dict, "SETITEMS");
            dict.items.insert(dict.items.end(), items.begin(), items.end());
            break;
        }
        case 'a': {  // APPEND
            const uint32_t v = pop();
            container(top(), K::List, "APPEND").items.push_back(v);
            break;
        }
        case 'e': {  // APPENDS
            std::vector<uint32_t> items = pop_mark();
            auto& list = container(top(), K::List, "APPENDS");
            list.items.insert(list.items.end(), items.begin(), items.end());
            break;
        }
        case 'c': {  // GLOBAL
            const std::string module = read_line();
            const std::string name = read_line();
            push(make_global(module, name));
            break;
        }
        case 0x93: {  // STACK_GLOBAL
            const uint32_t name = pop();
            const uint32_t module = pop();
            if (value(name).kind != K::String || value(module).kind != K::String)
                fail(at("STACK_GLOBAL needs two strings"));
            push(make_global(value(module).text, value(name).text));
            break;
        }
        case 'Q': {  // BINPERSID: ('storage', torch.XStorage, key, location, numel)
            const PickleValue& pid = value(pop());
            const auto& it = pid.items;
            if (pid.kind != K::Tuple || it.size() != 5 || value(it[0]).kind != K::String ||
                value(it[0]).text != "storage" || value(it[1]).kind != K::Global ||
                !storage_types().count(value(it[1]).text) || value(it[2]).kind != K::String ||
                value(it[4]).kind != K::Int)
                fail(at("unsupported persistent id (expected a torch storage)"));
            PickledStorage storage;
            storage.dtype = storage_types().at(value(it[1]).text);
            storage.key = value(it[2]).text;
            storage.numel = value(it[4]).integer;
            if (storage.numel < 0) fail(at("storage '" + storage.key + "' has a negative size"));
            PickleValue v = make(K::Storage);
            v.payload = static_cast<uint32_t>(storages_.size());
            storages_.push_back(std::move(storage));
            push(add(std::move(v)));
            break;
        }
        case 'R': {  // REDUCE
            const uint32_t args_index = pop();
            const uint32_t callable_index = pop();
            const PickleValue& callable = value(callable_index);
            const PickleValue& args = value(args_index);
            if (callable.kind != K::Global || args.kind != K::Tuple) fail(at("malformed REDUCE"));
            const auto& a = args.items;
            auto int_tuple = [&](uint32_t index, const char* what) {
                const PickleValue& t = value(index);
                if (t.kind != K::Tuple) fail(at(std::string("tensor ") + what + " is not a tuple"));
                std::vector<int64_t> out;
                for (uint32_t item : t.items) {
                    if (value(item).kind != K::Int) fail(at(std::string("tensor ") + what + " holds a non-integer"));
                    out.push_back(value(item).integer);
                }
                return out;
            };
            if (callable.text == kOrderedDict) {
                if (!a.empty()) fail(at("OrderedDict with arguments is not supported"));
                push(add(make(K::Dict)));
            } else if (callable.text == kRebuildTensor) {
                // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                if (a.size() != 6 && a.size() != 7) fail(at("_rebuild_tensor_v2 with a wrong argument count"));
                if (value(a[0]).kind != K::Storage) fail(at("_rebuild_tensor_v2 without a storage"));
                if (value(a[1]).kind != K::Int) fail(at("_rebuild_tensor_v2 with a non-integer offset"));
                PickledTensor tensor;
                tensor.storage = storages_[value(a[0]).payload];
                tensor.storage_offset = value(a[1]).integer;
                tensor.shape = int_tuple(a[2], "size");
                tensor.stride = int_tuple(a[3], "stride");
                PickleValue v = make(K::Tensor);
                v.payload = static_cast<uint32_t>(tensors_.size());
                tensors_.push_back(std::move(tensor));
                push(add(std::move(v)));
            } else if (callable.text == kRebuildParameter) {
                // (data, requires_grad, backward_hooks): the parameter is its tensor
                if (a.size() != 3 || value(a[0]).kind != K::Tensor) fail(at("malformed _rebuild_parameter"));
                push(a[0]);
            } else {
                fail(at("global '" + callable.text + "' cannot be called"));
            }
            break;
        }
        case 'b': {  // BUILD: object state (an OrderedDict's _metadata, a tensor's hooks) is not needed
            pop();
            const K kind = value(top()).kind;
            if (kind != K::Dict && kind != K::Tensor) fail(at("BUILD on an unsupported object"));
            break;
        }
        default: {
            static const char* hex = "0123456789abcdef";
            fail(at(std::string("unsupported pickle opcode 0x") + hex[op >> 4] + hex[op & 15]));
        }
        }
    }
}

std::vector<std::pair<std::string, PickledTensor>> PickleReader::load_state_dict(std::string_view program) {
    const PickleValue& root = value(run(program));
    if (root.kind != PickleValue::Kind::Dict) fail("the pickle is not a state dict");
    std::vector<std::pair<std::string, PickledTensor>> out;
    for (size_t i = 0; i + 1 < root.items.size(); i += 2) {
        const PickleValue& key = value(root.items[i]);
        const PickleValue& val = value(root.items[i + 1]);
        if (key.kind != PickleValue::Kind::String) fail("state dict has a non-string key");
        if (val.kind != PickleValue::Kind::Tensor) fail("state dict entry '" + key.text + "' is not a tensor");
        out.emplace_back(key.text, tensors_[val.payload]);
    }
    return out;
}

}  // namespace umt5
