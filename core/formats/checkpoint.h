#pragma once
// Reading Hugging Face checkpoint weights. A Checkpoint indexes every tensor of a model directory without
// converting anything; tensors are read on request, as stored or converted to F32, into memory the tensor owns
// (get, get_f32), or memory-mapped read-only in the file's dtype (get_mapped). Reads are pread calls: a weight
// file truncated or rewritten in place while a Checkpoint has it open makes get() throw, never SIGBUS.
// get_mapped checks the tensor's bytes against the file's current size before mapping (and reads instead when
// they are gone, so it throws the same error); afterwards the mapping is guarded (core/formats/mapped_file.h): a
// file truncated in place while a mapped tensor is in use makes the next row_to_f32 of it throw instead of the
// process dying with SIGBUS. A file replaced by rename or
// deleted is safe (the mapping keeps the old one). Model::load maps only tables it reads a few rows of: the
// embedding and, with int8, the output projection it rescores from. Supported layouts, probed in this order:
//   model.safetensors
//   model.safetensors.index.json + the shards it names
//   pytorch_model.bin                    (PyTorch zip archive: data.pkl + data/<key> storages)
//   pytorch_model.bin.index.json + the shards it names
// Dtypes F32, F16 and BF16 load as model weights; anything malformed throws umt5::Error with a one-line message
// naming the file and the tensor.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/formats/input_file.h"
#include "core/formats/tensor.h"

namespace umt5 {

struct TensorInfo {
    std::string name;        // checkpoint key, e.g. "encoder.block.0.layer.0.SelfAttention.q.weight"
    DType dtype = DType::F32;
    Shape shape;
    std::string file;        // file (path as given) that holds the tensor, for error messages
};

class Checkpoint {
public:
    // Indexes the weights in `dir`; throws umt5::Error when no supported weight file exists or one is malformed.
    static Checkpoint open(const std::filesystem::path& dir);
    // Indexes one weight file (.safetensors or .bin, or a shard index) directly. `kind` names the file in messages
    // and bounds its safetensors JSON header (input_size_limit): InputKind::session for a conversation file.
    static Checkpoint open_file(const std::filesystem::path& file, InputKind kind = InputKind::weights);
    // Indexes a safetensors file held in memory (the checks and errors of open_file, with `label` in place of
    // the file name). The Checkpoint keeps `bytes`. Meant for data that never was a file, and for fuzzing.
    static Checkpoint from_safetensors_bytes(std::string bytes, const std::string& label);

    Checkpoint();
    ~Checkpoint();
    Checkpoint(Checkpoint&&) noexcept;
    Checkpoint& operator=(Checkpoint&&) noexcept;

    bool contains(const std::string& name) const;
    std::vector<std::string> names() const;       // sorted
    const TensorInfo& info(const std::string& name) const;  // throws when missing
    // The files the weights were read from (one per shard).
    std::vector<std::filesystem::path> files() const;

    // The tensor as stored, in owned memory. Throws when the bytes cannot be read (for instance the file was
    // truncated after open()).
    Tensor get(const std::string& name) const;
    // The tensor converted to F32 (owned). If `expected` is not empty the stored shape must equal it;
    // otherwise throws "FILE: tensor NAME has shape [..], expected [..]".
    Tensor get_f32(const std::string& name, const Shape& expected = {}) const;

    // The tensor in the file's own dtype (F32, F16 or BF16; others throw, as do shape mismatches, as in get_f32)
    // as a read-only view of the file memory-mapped (MAP_PRIVATE, PROT_READ, the range rounded out to pages);
    // copies of the returned Tensor keep the mapping alive after the Checkpoint is gone. Mapped when the bytes
    // lie uncompressed and contiguous in one file at an offset aligned to the element size: safetensors tensors,
    // and storages of PyTorch archives stored uncompressed (what torch.save writes). Otherwise (a compressed zip
    // entry, an odd offset, bytes held in memory, the file shorter now than the range, mmap failing) it returns
    // get(name): the same values in owned memory, or get()'s error.
    Tensor get_mapped(const std::string& name, const Shape& expected = {}) const;
    // Calls fn(values, first, count) with the tensor's elements [first, first + count) converted to F32, in
    // order, a few megabytes at a time (read, not mapped), so a large tensor can be checked without holding it all
    // in memory. The dtype must be F32, F16 or BF16. A tensor that is not contiguous in a file (compressed) is
    // read whole and passed in one call.
    void read_f32_chunks(const std::string& name,
                         const std::function<void(const float* values, int64_t first, int64_t count)>& fn) const;

    // The "__metadata__" string map of the first safetensors file (empty when absent or for PyTorch archives).
    const std::map<std::string, std::string>& metadata() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Writes tensors (any dtype) as a safetensors file, atomically: a temporary file beside `path`, then rename.
// The header carries the metadata {"format": "pt"}.
void write_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors);
// As above, with `metadata` as the header's "__metadata__" (left out when empty).
void write_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata);
// The "__metadata__" of a safetensors file. Reads the header only: tensor entries and data are not validated,
// so the metadata of a file whose tensor data is truncated or damaged can still be recovered.
// `kind` bounds the header as in Checkpoint::open_file; the default is the conversation file it is read from.
std::map<std::string, std::string> read_safetensors_metadata(const std::filesystem::path& path,
                                                             InputKind kind = InputKind::session);

}  // namespace umt5
