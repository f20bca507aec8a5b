#include "core/formats/checkpoint.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cctype>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "core/formats/input_file.h"
#include "core/formats/mapped_file.h"
#include "core/formats/pickle.h"

namespace umt5 {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint64_t kMaxPickleBytes = 64u << 20;   // data.pkl
constexpr uint64_t kMaxCentralDirectoryBytes = 64u << 20;  // zip central directory, read to find storage offsets
constexpr int64_t kChunkElements = 1 << 20;       // read_f32_chunks: values per chunk (4 MB of F32)

std::string single_quoted(const std::string& s) { return "'" + s + "'"; }

std::string system_error(int error) { return std::strerror(error); }

// The bytes of one weight file: an open file read with pread, or a buffer in memory. Reading instead of
// memory-mapping means a file truncated or rewritten in place after it was opened makes a read fail with an
// error, where a map would kill the process with SIGBUS on the first page past the new end. map() is the
// exception, for the tensors the caller asks to map (Checkpoint::get_mapped).
class ByteSource {
public:
    ByteSource(const fs::path& path, InputKind kind) : file_(open_input_file(path, kind)), size_(file_.size()) {}
    explicit ByteSource(std::string bytes) : buffer_(std::move(bytes)), size_(buffer_.size()) {}
    ByteSource(const ByteSource&) = delete;
    ByteSource& operator=(const ByteSource&) = delete;

    // Size when opened.
    uint64_t size() const { return size_; }
    // The open file's descriptor; -1 for a buffer.
    int fd() const { return file_.fd(); }

    // Copies [offset, offset + n) to `out`; throws "<what> cannot be read (...)" when the bytes are no longer
    // there (the file shrank since it was opened) or reading fails.
    void read(uint64_t offset, void* out, uint64_t n, const std::string& what) const {
        if (file_.fd() >= 0) return file_.read_at(offset, out, n, what);
        if (offset > size_ || n > size_ - offset) throw Error(what + " cannot be read (past the end of the file)");
        if (n) std::memcpy(out, buffer_.data() + offset, n);
    }

    // A read-only private mapping of [offset, offset + n) of the file: the returned pointer is the byte at `offset`
    // and keeps the mapping alive. Null (the caller then reads instead) for a buffer in memory, for n == 0, when
    // the range is not inside the file as it is now (it shrank since it was opened: mapping it would raise
    // SIGBUS on the first access past the end) or when mmap fails. The mapping is registered with
    // register_mapping under the label `what`, so a truncation while it is in use turns into an error
    // (check_mapped_read) instead of SIGBUS.
    std::shared_ptr<const void> map(uint64_t offset, uint64_t n, const std::string& what) const {
        const int fd = file_.fd();
        if (fd < 0 || n == 0 || offset > size_ || n > size_ - offset) return nullptr;
        struct stat st {};
        if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < offset + n) return nullptr;
        const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
        const uint64_t start = offset / page * page;  // mmap offsets must be page-aligned
        const uint64_t length = offset + n - start;
        if (length > std::numeric_limits<size_t>::max()) return nullptr;
        void* base = ::mmap(nullptr, static_cast<size_t>(length), PROT_READ, MAP_PRIVATE, fd, static_cast<off_t>(start));
        if (base == MAP_FAILED) return nullptr;
        // Guarded against the file being truncated while mapped (SIGBUS otherwise); unguarded, it is read instead.
        if (!register_mapping(base, static_cast<size_t>(length), what)) {
            ::munmap(base, static_cast<size_t>(length));
            return nullptr;
        }
        std::shared_ptr<const void> mapping(base, [length](const void* p) {
            unregister_mapping(p);
            ::munmap(const_cast<void*>(p), static_cast<size_t>(length));
        });
        return std::shared_ptr<const void>(mapping, static_cast<const char*>(base) + (offset - start));
    }

private:
    InputFile file_;  // an open file, or fd() < 0 for a buffer
    std::string buffer_;
    uint64_t size_ = 0;
};

// One weight file: a safetensors file (or buffer) or an open PyTorch zip archive.
struct Source {
    fs::path path;        // the file as found (for files())
    std::string label;    // the file name used in error messages
    std::unique_ptr<ByteSource> bytes;  // safetensors: the whole file or buffer; null for a zip archive
    zip_t* zip = nullptr;               // zip archive: the libzip handle that reads storages; null for safetensors
    std::mutex zip_mutex;  // libzip handles are not thread-safe
    // zip archive: the archive file itself, opened for mapping and reading the storages stored uncompressed
    // (Entry::in_file); null for safetensors, or when the archive's layout was not understood (reads then go
    // through libzip only).
    std::unique_ptr<ByteSource> archive;

    ~Source() {
        if (zip) zip_discard(zip);
    }
};

struct Entry {
    TensorInfo info;
    Source* source = nullptr;   // the file holding the tensor
    uint64_t offset = 0;   // safetensors: byte offset in the file; zip: byte offset inside the storage
    uint64_t nbytes = 0;   // size of the tensor's bytes
    zip_uint64_t zip_index = 0;  // zip: libzip index of the storage entry
    std::string storage_key;     // zip: the storage's key (entry "<archive>/data/<key>")
    // True when the tensor's bytes lie uncompressed at [file_offset, file_offset + nbytes) of one file:
    // always for safetensors (source->bytes), for zip storages stored uncompressed (source->archive).
    bool in_file = false;
    uint64_t file_offset = 0;  // with in_file: byte offset of the tensor in that file
};

bool parse_dtype(const std::string& name, DType& out) {
    static const std::pair<const char*, DType> table[] = {
        {"F64", DType::F64}, {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16},
        {"I64", DType::I64}, {"I32", DType::I32}, {"I16", DType::I16}, {"I8", DType::I8},
        {"U8", DType::U8},   {"BOOL", DType::Bool}};
    for (const auto& [text, dtype] : table) {
        if (name == text) {
            out = dtype;
            return true;
        }
    }
    return false;
}

// numel * dtype size, or throws when it does not fit in 64 bits.
uint64_t byte_count(int64_t numel, DType dtype, const std::string& where) {
    const uint64_t size = dtype_size(dtype);
    if (static_cast<uint64_t>(numel) > std::numeric_limits<uint64_t>::max() / size)
        throw Error(where + " is too large");
    return static_cast<uint64_t>(numel) * size;
}

// Exceptions-free probes: a path the file system rejects (too long, unreadable directory) is simply absent.
bool is_dir(const fs::path& path) {
    std::error_code ec;
    return fs::is_directory(path, ec);
}
bool path_exists(const fs::path& path) {
    std::error_code ec;
    return fs::exists(path, ec);
}

// A name of a file in the model directory: one path component no longer than NAME_MAX (255 bytes).
bool is_plain_file_name(const std::string& name) {
    return !name.empty() && name.size() <= 255 && name != "." && name != ".." && name.find('/') == std::string::npos &&
           name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

// nlohmann's message without its "[json.exception.<kind>.<id>] " prefix, e.g. "number overflow parsing '1e999'".
std::string json_reason(const std::exception& e) {
    std::string text = e.what();
    const size_t end = text.find("] ");
    if (text.rfind("[json.exception.", 0) == 0 && end != std::string::npos) text.erase(0, end + 2);
    return text;
}

std::string zip_message(zip_t* zip) { return zip_error_strerror(zip_get_error(zip)); }

uint16_t read_le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t read_le32(const unsigned char* p) { return static_cast<uint32_t>(read_le16(p)) | (uint32_t{read_le16(p + 2)} << 16); }
uint64_t read_le64(const unsigned char* p) { return static_cast<uint64_t>(read_le32(p)) | (uint64_t{read_le32(p + 4)} << 32); }

// The offset of every entry's local header in a zip archive, by raw name, from the central directory (zip64
// included). libzip has no call for it. Empty when anything is not as expected: the offsets only serve to map
// or pread storages stored uncompressed, and every other read goes through libzip, which checked the archive.
std::map<std::string, uint64_t> local_header_offsets(const ByteSource& file) {
    std::map<std::string, uint64_t> out;
    try {
        const uint64_t size = file.size();
        if (size < 22) return {};
        // End of central directory: 22 bytes and a comment of at most 65535, at the very end.
        const uint64_t tail_size = std::min<uint64_t>(size, 22 + 65535);
        std::vector<unsigned char> tail(static_cast<size_t>(tail_size));
        file.read(size - tail_size, tail.data(), tail_size, "zip");
        int64_t eocd = -1;
        for (int64_t i = static_cast<int64_t>(tail_size) - 22; i >= 0 && eocd < 0; --i)
            if (read_le32(&tail[static_cast<size_t>(i)]) == 0x06054b50u) eocd = i;
        if (eocd < 0) return {};
        const unsigned char* end_record = &tail[static_cast<size_t>(eocd)];
        uint64_t entries = read_le16(end_record + 10);
        uint64_t cd_size = read_le32(end_record + 12);
        uint64_t cd_offset = read_le32(end_record + 16);
        const uint64_t eocd_position = size - tail_size + static_cast<uint64_t>(eocd);
        if (eocd_position >= 20) {  // a zip64 locator right before it points to the zip64 end record
            unsigned char locator[20];
            file.read(eocd_position - 20, locator, 20, "zip");
            if (read_le32(locator) == 0x07064b50u) {
                unsigned char record[56];
                file.read(read_le64(locator + 8), record, 56, "zip");
                if (read_le32(record) != 0x06064b50u) return {};
                entries = read_le64(record + 32);
                cd_size = read_le64(record + 40);
                cd_offset = read_le64(record + 48);
            }
        }
        if (cd_size > kMaxCentralDirectoryBytes || cd_offset > size || cd_size > size - cd_offset) return {};
        std::vector<unsigned char> cd(static_cast<size_t>(cd_size));
        file.read(cd_offset, cd.data(), cd_size, "zip");
        uint64_t pos = 0;
        for (uint64_t i = 0; i < entries; ++i) {
            if (cd_size - pos < 46 || read_le32(&cd[pos]) != 0x02014b50u) return {};
            const unsigned char* h = &cd[pos];
            const uint64_t name_length = read_le16(h + 28);
            const uint64_t extra_length = read_le16(h + 30);
            const uint64_t comment_length = read_le16(h + 32);
            if (cd_size - pos - 46 < name_length + extra_length + comment_length) return {};
            uint64_t offset = read_le32(h + 42);
            if (offset == 0xffffffffu) {
                // zip64 extra field (id 1): the 64-bit values of the saturated fields, in the order uncompressed
                // size, compressed size, local header offset.
                const uint64_t skip = (read_le32(h + 24) == 0xffffffffu ? 8 : 0) + (read_le32(h + 20) == 0xffffffffu ? 8 : 0);
                const unsigned char* extra = h + 46 + name_length;
                bool found = false;
                for (uint64_t e = 0; e + 4 <= extra_length && !found;) {
                    const uint64_t id = read_le16(extra + e);
                    const uint64_t length = read_le16(extra + e + 2);
                    if (e + 4 + length > extra_length) break;
                    if (id == 1 && skip + 8 <= length) {
                        offset = read_le64(extra + e + 4 + skip);
                        found = true;
                    }
                    e += 4 + length;
                }
                if (!found) return {};
            }
            out[std::string(reinterpret_cast<const char*>(h + 46), static_cast<size_t>(name_length))] = offset;
            pos += 46 + name_length + extra_length + comment_length;
        }
    } catch (const Error&) {
        return {};
    }
    return out;
}

// Where the data of the zip entry `name` starts, from its local header at `header_offset`; 0 when that is not
// the local header of `name`.
uint64_t entry_data_offset(const ByteSource& file, uint64_t header_offset, const std::string& name) {
    try {
        unsigned char h[30];
        file.read(header_offset, h, 30, "zip");
        if (read_le32(h) != 0x04034b50u || read_le16(h + 26) != name.size()) return 0;
        std::string stored(name.size(), '\0');
        file.read(header_offset + 30, stored.data(), stored.size(), "zip");
        if (stored != name) return 0;
        return header_offset + 30 + name.size() + read_le16(h + 28);
    } catch (const Error&) {
        return 0;
    }
}

// The "NAME has dtype/shape" checks shared by get_f32 and get_mapped: a model weight must be F32, F16 or BF16
// and, when `expected` is not empty, of that shape.
void check_weight(const TensorInfo& meta, const Shape& expected) {
    if (!expected.empty() && meta.shape != expected)
        throw Error(meta.file + ": tensor " + meta.name + " has shape " + shape_string(meta.shape) + ", expected " +
                    shape_string(expected));
    if (meta.dtype != DType::F32 && meta.dtype != DType::F16 && meta.dtype != DType::BF16)
        throw Error(meta.file + ": tensor " + meta.name + " has dtype " + dtype_name(meta.dtype) +
                    ", expected F32, F16 or BF16");
}

}  // namespace

struct Checkpoint::Impl {
    std::string origin;  // the directory or file the user named
    std::vector<std::unique_ptr<Source>> sources;
    std::map<std::string, Entry> entries;
    std::map<std::string, std::string> metadata;
    bool have_metadata = false;
    // weights, or session for a conversation file: names the file in messages and bounds its JSON header.
    InputKind kind = InputKind::weights;

    Source& add_source(const fs::path& path) {
        auto source = std::make_unique<Source>();
        source->path = path;
        source->label = path.string();
        sources.push_back(std::move(source));
        return *sources.back();
    }

    void add_entry(Entry entry) {
        auto [it, inserted] = entries.emplace(entry.info.name, entry);
        if (!inserted)
            throw Error(entry.info.file + ": tensor " + entry.info.name + " also appears in " + it->second.info.file);
    }

    void index_safetensors(const fs::path& path);
    void index_safetensors_source(Source& source);
    void index_pytorch_zip(const fs::path& path);
    void index_file(const fs::path& path);
    void index_sharded(const fs::path& index_path);
};

// safetensors: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
// then the data section; data_offsets are relative to the start of the data section.
void Checkpoint::Impl::index_safetensors(const fs::path& path) {
    Source& source = add_source(path);
    source.bytes = std::make_unique<ByteSource>(path, kind);
    index_safetensors_source(source);
}

void Checkpoint::Impl::index_safetensors_source(Source& source) {
    const std::string& file = source.label;
    const ByteSource& bytes = *source.bytes;
    const uint64_t file_size = bytes.size();
    if (file_size < 8)
        throw Error(file + ": truncated safetensors file (" + std::to_string(file_size) +
                    " bytes, no header length)");
    uint8_t length_bytes[8];
    bytes.read(0, length_bytes, 8, file + ": safetensors header length");
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | length_bytes[i];
    // A repository cloned without git-lfs holds 130-byte text pointers in place of the weights.
    if (std::memcmp(length_bytes, "version ", 8) == 0)
        throw Error(file + ": is a git-lfs pointer, not the weights (the repository was cloned without git-lfs: "
                    "install git-lfs and run git lfs pull)");
    // A JSON file (a shard index, a config) given where weights belong starts with '{' and whitespace or a quote,
    // which read as a length of exabytes.
    if (length_bytes[0] == '{' && (length_bytes[1] == '"' || std::isspace(length_bytes[1]) || length_bytes[1] == '}'))
        throw Error(file + ": is a JSON file, not a safetensors " + input_kind_name(kind) +
                    " (a shard index must be named *.index.json)");
    const uint64_t header_limit = input_size_limit(kind);
    if (header_size > header_limit)
        throw Error(file + ": safetensors header length " + std::to_string(header_size) +
                    " is too large for a " + input_kind_name(kind) + " (the limit is " + size_in_words(header_limit) +
                    "; not a safetensors file?)");
    if (header_size > file_size - 8)
        throw Error(file + ": safetensors header length " + std::to_string(header_size) + " exceeds the file size (" +
                    std::to_string(file_size) + " bytes; file truncated?)");
    const uint64_t data_start = 8 + header_size;
    const uint64_t data_size = file_size - data_start;
    std::string header_text(static_cast<size_t>(header_size), '\0');
    bytes.read(8, header_text.data(), header_size, file + ": safetensors header");

    json header;
    // nlohmann keeps the last of two equal keys; a second description of a tensor is a damaged or crafted file.
    std::set<std::string> keys;
    const auto refuse_duplicates = [&](int depth, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::key && depth == 1 && !keys.insert(parsed.get<std::string>()).second)
            throw Error(file + ": safetensors header describes tensor " + parsed.get<std::string>() + " twice");
        return true;
    };
    try {
        header = json::parse(header_text, refuse_duplicates);
    } catch (const json::parse_error& e) {
        throw Error(file + ": safetensors header is not valid JSON (parse error at byte " + std::to_string(e.byte) + ")");
    } catch (const json::exception& e) {  // a number too large for a double
        throw Error(file + ": safetensors header is not valid JSON (" + json_reason(e) + ")");
    }
    if (!header.is_object()) throw Error(file + ": safetensors header is not a JSON object");

    struct Span { uint64_t begin, end; const std::string* name; };
    std::vector<Span> spans;
    for (const auto& [name, desc] : header.items()) {
        if (name == "__metadata__") {
            if (!desc.is_object()) throw Error(file + ": __metadata__ is not a JSON object");
            std::map<std::string, std::string> values;
            for (const auto& [key, value] : desc.items()) {
                if (!value.is_string()) throw Error(file + ": __metadata__ value " + key + " is not a string");
                values[key] = value.get<std::string>();
            }
            if (!have_metadata) metadata = std::move(values);
            have_metadata = true;
            continue;
        }
        const std::string where = file + ": tensor " + name;
        if (!desc.is_object()) throw Error(where + " has no {dtype, shape, data_offsets} description");

        const auto dtype_it = desc.find("dtype");
        if (dtype_it == desc.end() || !dtype_it->is_string()) throw Error(where + " has no dtype");
        Entry entry;
        entry.source = &source;
        entry.info.name = name;
        entry.info.file = file;
        if (!parse_dtype(dtype_it->get<std::string>(), entry.info.dtype))
            throw Error(where + " has unknown dtype \"" + dtype_it->get<std::string>() + "\"");

        const auto shape_it = desc.find("shape");
        if (shape_it == desc.end() || !shape_it->is_array()) throw Error(where + " has no shape");
        for (const auto& dim : *shape_it) {
            if (!dim.is_number_integer()) throw Error(where + " has a non-integer dimension in its shape");
            if (dim.is_number_unsigned() && dim.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
                throw Error(where + " has a dimension too large to be real");
            entry.info.shape.push_back(dim.get<int64_t>());
        }
        int64_t numel = 0;
        try {
            numel = shape_numel(entry.info.shape);
        } catch (const Error& e) {
            throw Error(where + " has an invalid shape: " + e.what());
        }
        const uint64_t expected_bytes = byte_count(numel, entry.info.dtype, where);

        const auto offsets_it = desc.find("data_offsets");
        if (offsets_it == desc.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
            !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned())
            throw Error(where + " has no valid data_offsets (two non-negative integers)");
        const uint64_t begin = (*offsets_it)[0].get<uint64_t>();
        const uint64_t end = (*offsets_it)[1].get<uint64_t>();
        std::string offsets = "[";
        offsets += std::to_string(begin) + ", " + std::to_string(end) + "]";
        if (end < begin) throw Error(where + " has data_offsets " + offsets + " that end before they begin");
        if (end > data_size)
            throw Error(where + " has data_offsets " + offsets + " past the end of the data (" +
                        std::to_string(data_size) + " bytes; file truncated?)");
        if (end - begin != expected_bytes)
            throw Error(where + " has " + std::to_string(end - begin) + " bytes of data, but shape " +
                        shape_string(entry.info.shape) + " of " + dtype_name(entry.info.dtype) + " needs " +
                        std::to_string(expected_bytes));
        entry.offset = data_start + begin;
        entry.nbytes = expected_bytes;
        entry.in_file = true;
        entry.file_offset = entry.offset;
        add_entry(std::move(entry));
        if (end > begin) spans.push_back({begin, end, &entries.at(name).info.name});
    }
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < spans.size(); ++i) {
        if (spans[i].begin < spans[i - 1].end)
            throw Error(file + ": tensors " + *spans[i - 1].name + " and " + *spans[i].name + " overlap");
    }
}

// PyTorch zip archive: <archive>/data.pkl pickles an OrderedDict of tensors whose storages are the entries
// <archive>/data/<key>. Storages are read on request (get), so opening only parses the pickle.
void Checkpoint::Impl::index_pytorch_zip(const fs::path& path) {
    Source& source = add_source(path);
    const std::string& file = source.label;
    // libzip reads the archive through a duplicate of our descriptor: the file is checked (a regular file, opened
    // without blocking) once, and libzip and the storage mappings see the same inode.
    source.archive = std::make_unique<ByteSource>(path, InputKind::weights);
    const int zip_fd = ::fcntl(source.archive->fd(), F_DUPFD_CLOEXEC, 0);
    if (zip_fd < 0) throw Error(file + ": cannot open the weight file (" + system_error(errno) + ")");
    int error_code = 0;
    source.zip = zip_fdopen(zip_fd, ZIP_RDONLY | ZIP_CHECKCONS, &error_code);
    if (!source.zip) {
        ::close(zip_fd);
        zip_error_t error;
        zip_error_init_with_code(&error, error_code);
        const std::string reason = zip_error_strerror(&error);
        zip_error_fini(&error);
        throw Error(file + ": not a readable PyTorch zip archive (" + reason + ")");
    }
    zip_t* zip = source.zip;

    // The one entry "<archive>/data.pkl" names the archive prefix.
    std::string prefix;
    zip_int64_t pickle_index = -1;
    const zip_int64_t count = zip_get_num_entries(zip, 0);
    for (zip_int64_t i = 0; i < count; ++i) {
        const char* raw_name = zip_get_name(zip, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
        if (!raw_name) continue;
        const std::string name = raw_name;
        const size_t slash = name.find('/');
        if (slash == std::string::npos || name.substr(slash + 1) != "data.pkl") continue;
        if (pickle_index >= 0) throw Error(file + ": archive holds more than one data.pkl");
        pickle_index = i;
        prefix = name.substr(0, slash + 1);
    }
    if (pickle_index < 0) throw Error(file + ": archive has no data.pkl (not a PyTorch checkpoint)");

    auto read_entry = [&](zip_uint64_t index, const std::string& what, uint64_t limit) {
        zip_stat_t st;
        if (zip_stat_index(zip, index, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
            throw Error(file + ": cannot read " + what + " (" + zip_message(zip) + ")");
        if (st.size > limit) throw Error(file + ": " + what + " is too large (" + std::to_string(st.size) + " bytes)");
        std::string data(static_cast<size_t>(st.size), '\0');
        zip_file_t* f = zip_fopen_index(zip, index, 0);
        if (!f) throw Error(file + ": cannot read " + what + " (" + zip_message(zip) + ")");
        const zip_int64_t got = data.empty() ? 0 : zip_fread(f, data.data(), data.size());
        const std::string reason = got < 0 ? zip_error_strerror(zip_file_get_error(f)) : "";
        zip_fclose(f);
        if (got < 0) throw Error(file + ": cannot read " + what + " (" + reason + ")");
        if (static_cast<uint64_t>(got) != data.size()) throw Error(file + ": " + what + " is truncated");
        return data;
    };
    // Newer torch versions record the byte order of the storages; only little-endian data can be used as is.
    const std::string byteorder_name = prefix + "byteorder";
    const zip_int64_t byteorder_index = zip_name_locate(zip, byteorder_name.c_str(), ZIP_FL_ENC_RAW);
    if (byteorder_index >= 0) {
        const std::string order = read_entry(static_cast<zip_uint64_t>(byteorder_index), "byteorder", 64);
        if (order != "little") throw Error(file + ": storages are stored " + order + "-endian, not little-endian");
    }
    const std::string program = read_entry(static_cast<zip_uint64_t>(pickle_index), "data.pkl", kMaxPickleBytes);
    // torch.save stores storages uncompressed: those can be mapped or read straight from the file, at offsets
    // found in the central directory and checked against the local header and libzip's sizes.
    const std::map<std::string, uint64_t> header_offsets = local_header_offsets(*source.archive);
    if (header_offsets.empty()) source.archive.reset();
    PickleReader reader(file + ": data.pkl");
    for (auto& [name, tensor] : reader.load_state_dict(program)) {
        const std::string where = file + ": tensor " + name;
        Entry entry;
        entry.source = &source;
        entry.info.name = name;
        entry.info.file = file;
        entry.info.dtype = tensor.storage.dtype;
        entry.info.shape = tensor.shape;
        entry.storage_key = tensor.storage.key;

        int64_t numel = 0;
        try {
            numel = shape_numel(tensor.shape);
        } catch (const Error& e) {
            throw Error(where + " has an invalid shape: " + e.what());
        }
        // Only contiguous (row-major) tensors: what torch.save writes for a state dict.
        if (tensor.stride.size() != tensor.shape.size())
            throw Error(where + " has " + std::to_string(tensor.stride.size()) + " strides for shape " +
                        shape_string(tensor.shape));
        int64_t expected_stride = 1;
        for (size_t i = tensor.shape.size(); i-- > 0;) {
            if (tensor.shape[i] != 1 && numel != 0 && tensor.stride[i] != expected_stride)
                throw Error(where + " is not contiguous (stride " + shape_string(tensor.stride) + " for shape " +
                            shape_string(tensor.shape) + ")");
            expected_stride *= std::max<int64_t>(tensor.shape[i], 1);  // cannot overflow: numel did not
        }
        if (tensor.storage_offset < 0) throw Error(where + " has a negative storage offset");
        if (!is_plain_file_name(tensor.storage.key))
            throw Error(where + " names an invalid storage " + single_quoted(tensor.storage.key));
        const uint64_t storage_bytes = byte_count(tensor.storage.numel, tensor.storage.dtype, where);
        if (tensor.storage_offset > tensor.storage.numel || numel > tensor.storage.numel - tensor.storage_offset)
            throw Error(where + " reads past the end of its storage " + single_quoted(tensor.storage.key));

        const std::string entry_name = prefix + "data/" + tensor.storage.key;
        const zip_int64_t index = zip_name_locate(zip, entry_name.c_str(), ZIP_FL_ENC_RAW);
        if (index < 0) throw Error(where + ": storage " + single_quoted(entry_name) + " is missing from the archive");
        zip_stat_t st;
        if (zip_stat_index(zip, static_cast<zip_uint64_t>(index), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
            throw Error(where + ": cannot read storage " + single_quoted(entry_name) + " (" + zip_message(zip) + ")");
        if (st.size < storage_bytes)
            throw Error(where + ": storage " + single_quoted(entry_name) + " holds " + std::to_string(st.size) +
                        " bytes, but " + std::to_string(storage_bytes) + " are needed");
        entry.zip_index = static_cast<zip_uint64_t>(index);
        entry.offset = static_cast<uint64_t>(tensor.storage_offset) * dtype_size(entry.info.dtype);
        entry.nbytes = byte_count(numel, entry.info.dtype, where);
        const auto header = header_offsets.find(entry_name);
        if (source.archive && header != header_offsets.end() && (st.valid & ZIP_STAT_COMP_METHOD) &&
            st.comp_method == ZIP_CM_STORE && (st.valid & ZIP_STAT_COMP_SIZE) && st.comp_size == st.size &&
            (!(st.valid & ZIP_STAT_ENCRYPTION_METHOD) || st.encryption_method == ZIP_EM_NONE)) {
            const uint64_t data = entry_data_offset(*source.archive, header->second, entry_name);
            if (data != 0 && data <= source.archive->size() && st.size <= source.archive->size() - data) {
                entry.in_file = true;
                entry.file_offset = data + entry.offset;
            }
        }
        add_entry(std::move(entry));
    }
}

void Checkpoint::Impl::index_file(const fs::path& path) {
    const std::string ext = path.extension().string();
    if (ext == ".bin" || ext == ".pt" || ext == ".pth") {
        index_pytorch_zip(path);
    } else {
        index_safetensors(path);
    }
}

// {"weight_map": {tensor name: shard file name}}: every shard is a plain file beside the index.
void Checkpoint::Impl::index_sharded(const fs::path& index_path) {
    const std::string file = index_path.string();
    json index;
    try {
        index = json::parse(read_input_file(index_path, InputKind::index));
    } catch (const json::parse_error& e) {
        throw Error(file + ": not valid JSON (parse error at byte " + std::to_string(e.byte) + ")");
    } catch (const json::exception& e) {
        throw Error(file + ": not valid JSON (" + json_reason(e) + ")");
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
        throw Error(file + ": has no \"weight_map\" object");
    const fs::path dir = index_path.parent_path();
    std::map<std::string, std::string> shard_of;
    std::set<std::string> shards;
    for (const auto& [name, shard] : index["weight_map"].items()) {
        if (!shard.is_string()) throw Error(file + ": shard of tensor " + name + " is not a string");
        const std::string shard_name = shard.get<std::string>();
        if (!is_plain_file_name(shard_name))
            throw Error(file + ": shard \"" + shard_name + "\" of tensor " + name +
                        " is not a plain file name in the model directory");
        shard_of[name] = shard_name;
        shards.insert(shard_name);
    }
    if (shards.empty()) throw Error(file + ": \"weight_map\" is empty");
    for (const std::string& shard : shards) {
        const fs::path shard_path = dir / shard;
        if (!path_exists(shard_path)) {
            const auto it = std::find_if(shard_of.begin(), shard_of.end(), [&](const auto& p) { return p.second == shard; });
            throw Error(file + ": shard \"" + shard + "\" (holding tensor " + it->first + ") does not exist");
        }
        index_file(shard_path);
    }
    for (const auto& [name, shard] : shard_of) {
        const auto it = entries.find(name);
        if (it == entries.end() || it->second.source->path.filename() != shard)
            throw Error(file + ": tensor " + name + " is mapped to shard \"" + shard + "\", which does not contain it");
    }
}

Checkpoint::Checkpoint() : impl_(std::make_unique<Impl>()) {}
Checkpoint::~Checkpoint() = default;
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;

Checkpoint Checkpoint::open(const fs::path& dir) {
    if (path_exists(dir) && !is_dir(dir)) return open_file(dir);  // a file, or a special file open_file refuses
    if (!is_dir(dir)) throw Error(dir.string() + ": model directory does not exist");
    Checkpoint checkpoint;
    checkpoint.impl_->origin = dir.string();
    Impl& impl = *checkpoint.impl_;
    if (path_exists(dir / "model.safetensors")) {
        impl.index_safetensors(dir / "model.safetensors");
    } else if (path_exists(dir / "model.safetensors.index.json")) {
        impl.index_sharded(dir / "model.safetensors.index.json");
    } else if (path_exists(dir / "pytorch_model.bin")) {
        impl.index_pytorch_zip(dir / "pytorch_model.bin");
    } else if (path_exists(dir / "pytorch_model.bin.index.json")) {
        impl.index_sharded(dir / "pytorch_model.bin.index.json");
    } else {
        throw Error(dir.string() + ": no model weights (model.safetensors, model.safetensors.index.json, "
                                   "pytorch_model.bin or pytorch_model.bin.index.json)");
    }
    return checkpoint;
}

Checkpoint Checkpoint::from_safetensors_bytes(std::string bytes, const std::string& label) {
    Checkpoint checkpoint;
    checkpoint.impl_->origin = label;
    Source& source = checkpoint.impl_->add_source(label);
    source.bytes = std::make_unique<ByteSource>(std::move(bytes));
    checkpoint.impl_->index_safetensors_source(source);
    return checkpoint;
}

Checkpoint Checkpoint::open_file(const fs::path& file, InputKind kind) {
    if (!path_exists(file)) throw Error(file.string() + ": " + input_kind_name(kind) + " does not exist");
    Checkpoint checkpoint;
    checkpoint.impl_->origin = file.string();
    checkpoint.impl_->kind = kind;
    const std::string name = file.filename().string();
    if (name.size() > 11 && name.ends_with(".index.json")) {
        checkpoint.impl_->index_sharded(file);
    } else {
        checkpoint.impl_->index_file(file);
    }
    return checkpoint;
}

bool Checkpoint::contains(const std::string& name) const { return impl_->entries.count(name) != 0; }

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> out;
    out.reserve(impl_->entries.size());
    for (const auto& [name, entry] : impl_->entries) out.push_back(name);
    return out;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
    const auto it = impl_->entries.find(name);
    if (it == impl_->entries.end()) throw Error(impl_->origin + ": tensor " + name + " is missing");
    return it->second.info;
}

std::vector<fs::path> Checkpoint::files() const {
    std::vector<fs::path> out;
    for (const auto& source : impl_->sources) out.push_back(source->path);
    return out;
}

Tensor Checkpoint::get(const std::string& name) const {
    info(name);  // throws when missing
    const Entry& entry = impl_->entries.at(name);
    Source& source = *entry.source;
    if (source.bytes) {
        Tensor out(entry.info.shape, entry.info.dtype);
        source.bytes->read(entry.offset, out.raw(), entry.nbytes, source.label + ": tensor " + name);
        return out;
    }

    Tensor out(entry.info.shape, entry.info.dtype);
    const std::string what = source.label + ": tensor " + name + ": storage " + single_quoted(entry.storage_key);
    std::lock_guard<std::mutex> lock(source.zip_mutex);
    zip_file_t* f = zip_fopen_index(source.zip, entry.zip_index, 0);
    if (!f) throw Error(what + " cannot be read (" + zip_message(source.zip) + ")");
    // Skip to the tensor's offset inside the storage (reading works for stored and compressed entries alike).
    std::vector<char> skip(std::min<uint64_t>(entry.offset, 1u << 20));
    uint64_t remaining = entry.offset;
    bool ok = true;
    while (ok && remaining > 0) {
        const zip_int64_t got = zip_fread(f, skip.data(), std::min<uint64_t>(remaining, skip.size()));
        ok = got > 0;
        if (ok) remaining -= static_cast<uint64_t>(got);
    }
    auto* dst = static_cast<char*>(out.raw());
    uint64_t done = 0;
    while (ok && done < entry.nbytes) {
        const zip_int64_t got = zip_fread(f, dst + done, entry.nbytes - done);
        ok = got > 0;
        if (ok) done += static_cast<uint64_t>(got);
    }
    const std::string reason = zip_error_strerror(zip_file_get_error(f));
    zip_fclose(f);
    if (!ok) throw Error(what + " cannot be read (" + reason + ")");
    return out;
}

Tensor Checkpoint::get_f32(const std::string& name, const Shape& expected) const {
    check_weight(info(name), expected);
    Tensor stored = get(name);
    // An F32 tensor that get() read into its own storage is returned as is: a second copy would double the peak
    // memory of loading (for umt5-small's 525 MB output projection, by half a gigabyte).
    if (stored.dtype() == DType::F32 && stored.owns_storage()) return stored;
    return stored.to_f32();
}

Tensor Checkpoint::get_mapped(const std::string& name, const Shape& expected) const {
    const TensorInfo& meta = info(name);
    check_weight(meta, expected);
    const Entry& entry = impl_->entries.at(name);
    // An element must not straddle its natural alignment: the mapping starts on a page, so the tensor's pointer
    // is aligned exactly as its offset in the file is.
    if (entry.in_file && entry.file_offset % dtype_size(meta.dtype) == 0) {
        const ByteSource& file = entry.source->bytes ? *entry.source->bytes : *entry.source->archive;
        if (const std::shared_ptr<const void> mapping = file.map(entry.file_offset, entry.nbytes, entry.source->label + ": tensor " + name))
            return Tensor::view(mapping.get(), meta.shape, meta.dtype, mapping);
    }
    return get(name);
}

void Checkpoint::read_f32_chunks(const std::string& name,
                                 const std::function<void(const float*, int64_t, int64_t)>& fn) const {
    const TensorInfo& meta = info(name);
    check_weight(meta, {});
    const Entry& entry = impl_->entries.at(name);
    if (!entry.in_file) {
        const Tensor all = get_f32(name);
        if (!all.empty()) fn(all.data<float>(), 0, all.numel());
        return;
    }
    const ByteSource& file = entry.source->bytes ? *entry.source->bytes : *entry.source->archive;
    const std::string what = entry.source->label + ": tensor " + name;
    const int64_t numel = shape_numel(meta.shape);
    const size_t element = dtype_size(meta.dtype);
    std::vector<float> values(static_cast<size_t>(std::min(numel, kChunkElements)));
    std::vector<uint16_t> halves(meta.dtype == DType::F32 ? 0 : values.size());
    for (int64_t first = 0; first < numel; first += kChunkElements) {
        const int64_t count = std::min(kChunkElements, numel - first);
        const uint64_t offset = entry.file_offset + static_cast<uint64_t>(first) * element;
        if (meta.dtype == DType::F32) {
            file.read(offset, values.data(), static_cast<uint64_t>(count) * 4, what);
        } else {
            file.read(offset, halves.data(), static_cast<uint64_t>(count) * 2, what);
            for (int64_t i = 0; i < count; ++i)
                values[i] = meta.dtype == DType::BF16 ? bf16_to_f32(halves[i]) : f16_to_f32(halves[i]);
        }
        fn(values.data(), first, count);
    }
}

const std::map<std::string, std::string>& Checkpoint::metadata() const { return impl_->metadata; }

std::map<std::string, std::string> read_safetensors_metadata(const fs::path& path, InputKind kind) {
    // Only the header is read, so metadata stays readable when the tensor data after it is damaged.
    const std::string file = path.string();
    const InputFile in = open_input_file(path, kind);
    if (in.size() < 8) throw Error(file + ": file too short for a safetensors header");
    unsigned char prefix[8];
    in.read_at(0, prefix, 8, file + ": safetensors header length");
    uint64_t length = 0;
    for (int i = 7; i >= 0; --i) length = (length << 8) | prefix[i];
    if (length > input_size_limit(kind))
        throw Error(file + ": safetensors header length " + std::to_string(length) + " is too large for a " +
                    input_kind_name(kind) + " (the limit is " + size_in_words(input_size_limit(kind)) + ")");
    if (length > in.size() - 8) throw Error(file + ": safetensors header is truncated");
    std::string text(static_cast<size_t>(length), '\0');
    in.read_at(8, text.data(), length, file + ": safetensors header");
    json header;
    try {
        header = json::parse(text);
    } catch (const json::parse_error& e) {
        throw Error(file + ": safetensors header is not valid JSON (byte " + std::to_string(e.byte) + ")");
    } catch (const json::exception& e) {
        throw Error(file + ": safetensors header is not valid JSON (" + json_reason(e) + ")");
    }
    std::map<std::string, std::string> metadata;
    if (!header.is_object()) throw Error(file + ": safetensors header is not a JSON object");
    auto it = header.find("__metadata__");
    if (it == header.end()) return metadata;
    if (!it->is_object()) throw Error(file + ": safetensors __metadata__ is not an object");
    for (const auto& [key, value] : it->items()) {
        if (!value.is_string()) throw Error(file + ": safetensors __metadata__ value of \"" + key + "\" is not a string");
        metadata[key] = value.get<std::string>();
    }
    return metadata;
}

void write_safetensors(const fs::path& path, const std::map<std::string, Tensor>& tensors) {
    write_safetensors(path, tensors, {{"format", "pt"}});
}

void write_safetensors(const fs::path& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    const std::string file = path.string();
    json header = json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto& [name, tensor] : tensors) {
        if (name == "__metadata__") throw Error(file + ": tensor name __metadata__ is reserved");
        const uint64_t end = offset + tensor.nbytes();
        header[name] = {{"dtype", dtype_name(tensor.dtype())}, {"shape", tensor.shape()},
                        {"data_offsets", {offset, end}}};
        offset = end;
    }
    std::string text;
    try {
        text = header.dump();  // keys sorted: deterministic
    } catch (const json::type_error&) {
        throw Error(file + ": a tensor name or metadata value is not valid UTF-8");
    }
    text.append((8 - (8 + text.size()) % 8) % 8, ' ');
    std::string prefix(8, '\0');
    for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((uint64_t(text.size()) >> (8 * i)) & 0xff);

    std::string temp = file + ".tmp-XXXXXX";
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) throw Error(file + ": cannot create a temporary file (" + system_error(errno) + ")");
    auto fail = [&](const std::string& what) {
        const int error = errno;
        ::close(fd);
        ::unlink(temp.c_str());
        throw Error(file + ": cannot " + what + " (" + system_error(error) + ")");
    };
    auto write_all = [&](const void* data, size_t size) {
        const auto* p = static_cast<const char*>(data);
        while (size > 0) {
            const ssize_t n = ::write(fd, p, size);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail("write");
            p += n;
            size -= static_cast<size_t>(n);
        }
    };
    write_all(prefix.data(), prefix.size());
    write_all(text.data(), text.size());
    for (const auto& [name, tensor] : tensors) {
        if (tensor.nbytes()) write_all(tensor.raw(), tensor.nbytes());
    }
    if (::fchmod(fd, 0644) != 0) fail("set permissions");
    if (::fsync(fd) != 0) fail("sync");
    if (::close(fd) != 0) {
        const int error = errno;
        ::unlink(temp.c_str());
        throw Error(file + ": cannot write (" + system_error(error) + ")");
    }
    if (::rename(temp.c_str(), file.c_str()) != 0) {
        const int error = errno;
        ::unlink(temp.c_str());
        throw Error(file + ": cannot replace (" + system_error(error) + ")");
    }
    // Make the rename itself durable.
    fs::path dir = path.parent_path();
    if (dir.empty()) dir = ".";
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        ::fsync(dir_fd);
        ::close(dir_fd);
    }
}

}  // namespace umt5
