// Checkpoint loading: safetensors (single, sharded, BF16/F16), PyTorch zip archives, writing, and hostile files
// crafted at runtime (truncated, corrupt, overlapping, overflowing, disallowed pickle globals...).
#include <QTemporaryDir>
#include <QtTest>
#include <zip.h>

#include <cstring>
#include <fstream>
#include <map>

#include "core/formats/checkpoint.h"
#include "test_util.h"

using namespace umt5;
using namespace std::string_literals;
namespace fs = std::filesystem;

namespace {

fs::path tiny_b_dir() { return umt5test::data_dir() / "umt5-tiny-b"; }
fs::path tiny_b_bf16_dir() { return umt5test::data_dir() / "umt5-tiny-b-bf16"; }
fs::path tiny_b_sharded_dir() { return umt5test::data_dir() / "umt5-tiny-b-sharded"; }



std::string le64(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
}

// A safetensors file from a raw header and data section; the header length is computed unless given.
std::string safetensors_bytes(const std::string& header, const std::string& data, int64_t length = -1) {
    return le64(length < 0 ? header.size() : static_cast<uint64_t>(length)) + header + data;
}

std::string floats(std::initializer_list<float> values) {
    std::string s;
    for (float v : values) s.append(reinterpret_cast<const char*>(&v), 4);
    return s;
}

// The message of the umt5::Error `f` throws, or "" when it throws nothing.
template <typename F> std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// ---- PyTorch archives, built the way torch.save (protocol 2) writes them.

struct FakeTensor {
    std::string name;
    std::string storage_type = "FloatStorage";
    std::string key = "0";
    int64_t storage_numel = 0;
    int64_t offset = 0;
    Shape shape;
    std::vector<int64_t> stride;
};

class PickleWriter {
public:
    PickleWriter() { out_ = "\x80\x02"; }
    PickleWriter& op(const std::string& bytes) { out_ += bytes; return *this; }
    PickleWriter& global(const std::string& module, const std::string& name) {
        out_ += 'c' + module + '\n' + name + '\n';
        return *this;
    }
    PickleWriter& str(const std::string& s) {
        out_ += 'X';
        out_ += le64(s.size()).substr(0, 4);
        out_ += s;
        return *this;
    }
    PickleWriter& integer(int64_t v) {
        if (v >= 0 && v < 256) {
            out_ += 'K';
            out_ += static_cast<char>(v);
        } else {
            out_ += 'J';
            out_ += le64(static_cast<uint64_t>(v)).substr(0, 4);
        }
        return *this;
    }
    PickleWriter& int_tuple(const std::vector<int64_t>& values) {
        out_ += '(';
        for (int64_t v : values) integer(v);
        out_ += 't';
        return *this;
    }
    PickleWriter& tensor(const FakeTensor& t, const std::string& rebuild = "_rebuild_tensor_v2") {
        global("torch._utils", rebuild).op("((").str("storage").global("torch", t.storage_type);
        str(t.key).str("cpu").integer(t.storage_numel).op("tQ").integer(t.offset);
        int_tuple(t.shape).int_tuple(t.stride).op("\x89").global("collections", "OrderedDict").op(")R");
        return op("tR");
    }
    std::string state_dict(const std::vector<FakeTensor>& tensors) {
        global("collections", "OrderedDict").op(")R(");
        for (const auto& t : tensors) str(t.name).tensor(t);
        return op("u.").out_;
    }
    std::string bytes() const { return out_; }

private:
    std::string out_;
};

std::string state_dict_pickle(const std::vector<FakeTensor>& tensors) { return PickleWriter().state_dict(tensors); }

// A zip archive of `entries` (name -> bytes); storages are stored uncompressed unless `compress`.
void write_zip(const fs::path& path, const std::map<std::string, std::string>& entries, bool compress = false) {
    int error = 0;
    zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
    QVERIFY(zip);
    for (const auto& [name, bytes] : entries) {
        zip_source_t* source = zip_source_buffer(zip, bytes.data(), bytes.size(), 0);
        QVERIFY(source);
        const zip_int64_t index = zip_file_add(zip, name.c_str(), source, ZIP_FL_ENC_UTF_8);
        QVERIFY(index >= 0);
        zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
    }
    QCOMPARE(zip_close(zip), 0);
}

// A valid little archive: "w" F32 [2, 3] over storage 0, "v" a view of its second row, "h" F16 [2].
std::map<std::string, std::string> small_archive() {
    std::vector<FakeTensor> tensors = {
        {"w", "FloatStorage", "0", 6, 0, {2, 3}, {3, 1}},
        {"v", "FloatStorage", "0", 6, 3, {3}, {1}},
        {"h", "HalfStorage", "1", 2, 0, {2}, {1}},
    };
    std::string halves("\x00\x3c\x00\xc1", 4);  // 1.0, -2.5
    return {{"archive/data.pkl", state_dict_pickle(tensors)},
            {"archive/data/0", floats({1, 2, 3, 4, 5, 6})},
            {"archive/data/1", halves},
            {"archive/byteorder", "little"},
            {"archive/version", "3\n"}};
}

}  // namespace

class TestCheckpoint : public QObject {
    Q_OBJECT

private slots:
    void safetensorsTinyA();
    void missingTensorAndShapeMismatch();
    void halfPrecisionConversion();
    void shardedMatchesSingleFile();
    void pytorchBinMatchesSafetensors();
    void pytorchArchiveViewsAndCompression();
    void pytorchShardedIndex();
    void writeRoundTrip();
    void hostileSafetensors_data();
    void hostileSafetensors();
    void hostilePytorch_data();
    void hostilePytorch();
    void hostileIndex_data();
    void hostileIndex();
    void noWeights();

private:
    QTemporaryDir temp_;
};

void TestCheckpoint::safetensorsTinyA() {
    const Checkpoint ck = Checkpoint::open(umt5test::tiny_a_dir());
    const std::vector<std::string> names = ck.names();
    QCOMPARE(names.size(), size_t(53));
    QVERIFY(std::is_sorted(names.begin(), names.end()));
    QVERIFY(ck.contains("shared.weight"));
    QVERIFY(!ck.contains("lm_head.weight"));
    const TensorInfo& info = ck.info("shared.weight");
    QCOMPARE(info.dtype, DType::F32);
    QCOMPARE(info.shape, (Shape{3072, 64}));
    QCOMPARE(ck.files().size(), size_t(1));
    QCOMPARE(ck.files()[0].filename().string(), std::string("model.safetensors"));

    const Tensor stored = ck.get("shared.weight");
    QVERIFY(stored.owns_storage());  // read, not borrowed from a memory map
    const Tensor w = ck.get_f32("shared.weight", {3072, 64});
    QCOMPARE(w.data<float>()[0], -1.0917714834213257f);
    QCOMPARE(w.data<float>()[5 * 64 + 7], 0.2798513174057007f);
    QCOMPARE(w.data<float>()[3071 * 64 + 63], 2.331125497817993f);
    QCOMPARE(ck.get_f32("encoder.final_layer_norm.weight", {64}).data<float>()[3], 1.0f);
    QCOMPARE(ck.info("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight").shape, (Shape{32, 4}));
}

void TestCheckpoint::missingTensorAndShapeMismatch() {
    const fs::path dir = umt5test::tiny_a_dir();
    const Checkpoint ck = Checkpoint::open(dir);
    QCOMPARE(error_of([&] { ck.get("lm_head.weight"); }), dir.string() + ": tensor lm_head.weight is missing");
    QCOMPARE(error_of([&] { ck.info("nope"); }), dir.string() + ": tensor nope is missing");
    QCOMPARE(error_of([&] { ck.get_f32("shared.weight", {64, 3072}); }),
             (dir / "model.safetensors").string() + ": tensor shared.weight has shape [3072, 64], expected [64, 3072]");
}

void TestCheckpoint::halfPrecisionConversion() {
    // Hand-checked bit patterns: BF16 0x3f80 = 1, 0xc0a0 = -5, 0x3e20 = 0.15625, 0x7f80 = inf;
    // F16 0x3c00 = 1, 0xc500 = -5, 0x0001 = 2^-24 (subnormal), 0x7bff = 65504.
    Tensor bf16({4}, DType::BF16);
    const uint16_t bf16_bits[] = {0x3f80, 0xc0a0, 0x3e20, 0x7f80};
    std::memcpy(bf16.raw(), bf16_bits, sizeof bf16_bits);
    Tensor f16({2, 2}, DType::F16);
    const uint16_t f16_bits[] = {0x3c00, 0xc500, 0x0001, 0x7bff};
    std::memcpy(f16.raw(), f16_bits, sizeof f16_bits);
    const fs::path path = fs::path(temp_.path().toStdString()) / "half.safetensors";
    write_safetensors(path, {{"b", bf16}, {"h", f16}});

    const Checkpoint ck = Checkpoint::open_file(path);
    QCOMPARE(ck.info("b").dtype, DType::BF16);
    QCOMPARE(ck.info("h").dtype, DType::F16);
    const Tensor b = ck.get_f32("b", {4});
    QCOMPARE(b.dtype(), DType::F32);
    QCOMPARE(b.data<float>()[0], 1.0f);
    QCOMPARE(b.data<float>()[1], -5.0f);
    QCOMPARE(b.data<float>()[2], 0.15625f);
    QVERIFY(std::isinf(b.data<float>()[3]) && b.data<float>()[3] > 0);
    const Tensor h = ck.get_f32("h", {2, 2});
    QCOMPARE(h.data<float>()[0], 1.0f);
    QCOMPARE(h.data<float>()[1], -5.0f);
    QCOMPARE(h.data<float>()[2], std::ldexp(1.0f, -24));
    QCOMPARE(h.data<float>()[3], 65504.0f);
}

void TestCheckpoint::shardedMatchesSingleFile() {
    const Checkpoint sharded = Checkpoint::open(tiny_b_sharded_dir());
    const Checkpoint single = Checkpoint::open(tiny_b_bf16_dir());
    QCOMPARE(sharded.files().size(), size_t(2));
    QCOMPARE(sharded.names(), single.names());
    QCOMPARE(sharded.names().size(), size_t(64));
    QCOMPARE(sharded.info("decoder.final_layer_norm.weight").file,
             (tiny_b_sharded_dir() / "model-00001-of-00002.safetensors").string());
    QCOMPARE(sharded.info("shared.weight").file,
             (tiny_b_sharded_dir() / "model-00002-of-00002.safetensors").string());
    for (const std::string& name : single.names()) {
        const Tensor a = sharded.get(name);
        const Tensor b = single.get(name);
        QCOMPARE(a.dtype(), DType::BF16);
        QCOMPARE(a.shape(), b.shape());
        QVERIFY2(std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0, name.c_str());
    }
}

void TestCheckpoint::pytorchBinMatchesSafetensors() {
    // The fixture's weights are BF16-representable, so the F32 .bin and the BF16 copy hold the same numbers.
    const Checkpoint bin = Checkpoint::open(tiny_b_dir());
    const Checkpoint bf16 = Checkpoint::open(tiny_b_bf16_dir());
    QCOMPARE(bin.files()[0].filename().string(), std::string("pytorch_model.bin"));
    QCOMPARE(bin.names(), bf16.names());
    QCOMPARE(bin.info("lm_head.weight").shape, (Shape{3072, 48}));
    QCOMPARE(bin.info("encoder.block.2.layer.0.SelfAttention.q.weight").shape, (Shape{40, 48}));
    QCOMPARE(bin.info("decoder.block.1.layer.2.DenseReluDense.wo.weight").shape, (Shape{48, 80}));
    QCOMPARE(bin.info("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight").shape, (Shape{16, 5}));
    size_t nonzero = 0;
    for (const std::string& name : bin.names()) {
        QCOMPARE(bin.info(name).dtype, DType::F32);
        const Tensor a = bin.get_f32(name, bf16.info(name).shape);
        const Tensor b = bf16.get_f32(name);
        QVERIFY2(std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0, name.c_str());
        for (int64_t i = 0; i < a.numel(); ++i) nonzero += a.data<float>()[i] != 0.0f;
    }
    QVERIFY(nonzero > 400000);  // real data, not zero-filled buffers
}

void TestCheckpoint::pytorchArchiveViewsAndCompression() {
    for (bool compress : {false, true}) {
        const fs::path path = fs::path(temp_.path().toStdString()) / (compress ? "deflated.bin" : "stored.bin");
        write_zip(path, small_archive(), compress);
        const Checkpoint ck = Checkpoint::open_file(path);
        QCOMPARE(ck.names(), (std::vector<std::string>{"h", "v", "w"}));
        const Tensor w = ck.get_f32("w", {2, 3});
        QCOMPARE(w.data<float>()[5], 6.0f);
        const Tensor v = ck.get("v");
        QCOMPARE(v.shape(), (Shape{3}));
        QCOMPARE(v.data<float>()[0], 4.0f);
        QCOMPARE(v.data<float>()[2], 6.0f);
        const Tensor h = ck.get_f32("h");
        QCOMPARE(ck.info("h").dtype, DType::F16);
        QCOMPARE(h.data<float>()[0], 1.0f);
        QCOMPARE(h.data<float>()[1], -2.5f);
    }
}

void TestCheckpoint::pytorchShardedIndex() {
    const fs::path dir = fs::path(temp_.path().toStdString()) / "bin-sharded";
    fs::create_directories(dir);
    write_zip(dir / "pytorch_model-00001-of-00002.bin",
              {{"a/data.pkl", state_dict_pickle({{"x", "FloatStorage", "0", 2, 0, {2}, {1}}})},
               {"a/data/0", floats({7, 8})}});
    write_zip(dir / "pytorch_model-00002-of-00002.bin",
              {{"b/data.pkl", state_dict_pickle({{"y", "FloatStorage", "0", 1, 0, {1, 1}, {1, 1}}})},
               {"b/data/0", floats({9})}});
    umt5test::write_file(dir / "pytorch_model.bin.index.json",
               R"({"metadata": {}, "weight_map": {"x": "pytorch_model-00001-of-00002.bin",
                                                  "y": "pytorch_model-00002-of-00002.bin"}})");
    const Checkpoint ck = Checkpoint::open(dir);
    QCOMPARE(ck.files().size(), size_t(2));
    QCOMPARE(ck.get_f32("x").data<float>()[1], 8.0f);
    QCOMPARE(ck.get_f32("y", {1, 1}).data<float>()[0], 9.0f);
}

void TestCheckpoint::writeRoundTrip() {
    const fs::path dir = fs::path(temp_.path().toStdString()) / "write";
    fs::create_directories(dir);
    std::map<std::string, Tensor> tensors;
    Tensor f32({2, 3}, DType::F32);
    for (int i = 0; i < 6; ++i) f32.data<float>()[i] = 0.5f * static_cast<float>(i) - 1.0f;
    Tensor ids({5}, DType::I64);
    for (int i = 0; i < 5; ++i) ids.data<int64_t>()[i] = int64_t(1) << (10 * i);
    Tensor bf16({3}, DType::BF16);  // odd byte count: later tensors start unaligned
    for (int i = 0; i < 3; ++i) bf16.data<uint16_t>()[i] = f32_to_bf16(static_cast<float>(i) + 0.25f);
    Tensor byte({1}, DType::U8);
    byte.data<uint8_t>()[0] = 0xab;
    tensors["z.f32"] = f32;
    tensors["ids"] = ids;
    tensors["a.bf16"] = bf16;
    tensors["b.byte"] = byte;
    tensors["empty"] = Tensor({0, 4}, DType::F32);
    tensors["scalar"] = Tensor(Shape{}, DType::I32);
    tensors["scalar"].data<int32_t>()[0] = -7;

    const fs::path path = dir / "out.safetensors";
    umt5test::write_file(path, "old contents");
    write_safetensors(path, tensors);
    const std::string first = umt5test::read_file(path);
    write_safetensors(path, tensors);
    QCOMPARE(umt5test::read_file(path), first);  // deterministic
    QCOMPARE(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), std::ptrdiff_t(1));  // no temp left

    uint64_t header_size = 0;
    std::memcpy(&header_size, first.data(), 8);
    QCOMPARE((8 + header_size) % 8, uint64_t(0));
    QVERIFY(first.find("\"a.bf16\"") < first.find("\"z.f32\""));  // sorted header

    const Checkpoint ck = Checkpoint::open_file(path);
    QCOMPARE(ck.names().size(), tensors.size());
    for (const auto& [name, tensor] : tensors) {
        const Tensor back = ck.get(name);
        QCOMPARE(back.dtype(), tensor.dtype());
        QCOMPARE(back.shape(), tensor.shape());
        QVERIFY2(back.nbytes() == 0 || std::memcmp(back.raw(), tensor.raw(), tensor.nbytes()) == 0, name.c_str());
    }
    QCOMPARE(ck.get("ids").data<int64_t>()[4], int64_t(1) << 40);
    QCOMPARE(ck.get_f32("a.bf16").data<float>()[2], 2.25f);

    QCOMPARE(ck.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));

    // Caller metadata replaces the default and is read back verbatim.
    const std::map<std::string, std::string> metadata{{"format", "umt5-conversation"}, {"text", "Grüße \"x\"\n{}"}};
    write_safetensors(path, {{"ids", ids}}, metadata);
    QCOMPARE(read_safetensors_metadata(path), metadata);
    write_safetensors(path, {{"ids", ids}}, {});
    QVERIFY(read_safetensors_metadata(path).empty());
    QVERIFY(umt5test::read_file(path).find("__metadata__") == std::string::npos);
    const std::string bad_utf8 = error_of([&] { write_safetensors(path, {{"ids", ids}}, {{"k", "\xff"}}); });
    QCOMPARE(bad_utf8, path.string() + ": a tensor name or metadata value is not valid UTF-8");
    QCOMPARE(read_safetensors_metadata(path).size(), size_t(0));  // the failed write left the file alone

    const std::string unwritable = error_of([&] { write_safetensors(dir / "missing-dir" / "x.safetensors", tensors); });
    QVERIFY2(unwritable.find("x.safetensors: cannot create a temporary file") != std::string::npos, unwritable.c_str());
}

void TestCheckpoint::hostileSafetensors_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("reason");
    auto row = [](const char* name, const std::string& bytes, const QString& reason) {
        QTest::newRow(name) << QByteArray(bytes.data(), static_cast<qsizetype>(bytes.size())) << reason;
    };
    const std::string good_data = floats({1, 2, 3, 4});
    const std::string good = safetensors_bytes(
        R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", good_data);
    row("empty file", "", "truncated safetensors file (0 bytes, no header length)");
    row("short length", std::string("\x10\x00\x00", 3), "truncated safetensors file (3 bytes, no header length)");
    row("header length past the end", safetensors_bytes("{}", "", 1000),
        "safetensors header length 1000 exceeds the file size (10 bytes; file truncated?)");
    row("absurd header length", safetensors_bytes("{}", "", int64_t(1) << 40),
        "safetensors header length 1099511627776 is too large for a weight file (the limit is 16 MiB; not a safetensors file?)");
    row("corrupt json", safetensors_bytes(R"({"w": {"dtype": )", ""),
        "safetensors header is not valid JSON (parse error at byte 17)");
    row("invalid utf8", safetensors_bytes("{\"\xff\":1}", ""), "safetensors header is not valid JSON");
    row("not an object", safetensors_bytes("[1, 2]", ""), "safetensors header is not a JSON object");
    row("metadata not strings", safetensors_bytes(R"({"__metadata__": {"n": 1}})", ""),
        "__metadata__ value n is not a string");
    row("description not an object", safetensors_bytes(R"({"w": 5})", ""),
        "tensor w has no {dtype, shape, data_offsets} description");
    row("missing dtype", safetensors_bytes(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", floats({1})),
        "tensor w has no dtype");
    row("unknown dtype", safetensors_bytes(R"({"w":{"dtype":"F8_XYZ","shape":[4],"data_offsets":[0,4]}})", "abcd"),
        "tensor w has unknown dtype \"F8_XYZ\"");
    row("fractional dimension", safetensors_bytes(R"({"w":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}})", "a"),
        "tensor w has a non-integer dimension in its shape");
    row("negative dimension", safetensors_bytes(R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", "a"),
        "tensor w has an invalid shape: negative dimension in shape [-1]");
    row("overflowing shape",
        safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", "abcd"),
        "tensor w has an invalid shape: shape [4294967296, 4294967296] has too many elements");
    row("byte count overflow",
        safetensors_bytes(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}})",
                          std::string(8, 'x')),
        "tensor w is too large");
    row("huge dimension", safetensors_bytes(R"({"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,1]}})", "a"),
        "tensor w has a dimension too large to be real");
    row("negative offset", safetensors_bytes(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", "a"),
        "tensor w has no valid data_offsets (two non-negative integers)");
    row("end before begin", safetensors_bytes(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[3,1]}})", "abcd"),
        "tensor w has data_offsets [3, 1] that end before they begin");
    row("offsets out of range", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", "abcd"),
        "tensor w has data_offsets [0, 16] past the end of the data (4 bytes; file truncated?)");
    row("truncated data", good.substr(0, good.size() - 1),
        "tensor w has data_offsets [0, 16] past the end of the data (15 bytes; file truncated?)");
    row("wrong byte count", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", good_data),
        "tensor w has 12 bytes of data, but shape [2] of F32 needs 8");
    row("overlapping tensors",
        safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", good_data),
        "tensors a and b overlap");
}

void TestCheckpoint::hostileSafetensors() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, reason);
    const fs::path path = fs::path(temp_.path().toStdString()) / "hostile.safetensors";
    umt5test::write_file(path, bytes.toStdString());
    const std::string message = error_of([&] { Checkpoint::open_file(path); });
    QVERIFY2(message.rfind(path.string() + ": ", 0) == 0, message.c_str());  // names the file first
    QVERIFY2(message.find(reason.toStdString()) != std::string::npos, message.c_str());
    QVERIFY(message.find('\n') == std::string::npos);
}

void TestCheckpoint::hostilePytorch_data() {
    QTest::addColumn<QByteArray>("pickle");          // replaces archive/data.pkl when not empty
    QTest::addColumn<QString>("drop");               // an archive entry to leave out
    QTest::addColumn<int>("truncate");               // cut the zip to this many bytes when > 0; -1: big-endian
    QTest::addColumn<QString>("reason");
    auto row = [](const char* name, const std::string& pickle, const QString& drop, int truncate,
                  const QString& reason) {
        QTest::newRow(name) << QByteArray(pickle.data(), static_cast<qsizetype>(pickle.size())) << drop << truncate
                            << reason;
    };
    auto pickle_of = [](std::vector<FakeTensor> tensors) { return state_dict_pickle(tensors); };
    const std::string proto("\x80\x02", 2);

    row("truncated zip", "", "", 200, "not a readable PyTorch zip archive");
    row("no data.pkl", "", "archive/data.pkl", 0, "archive has no data.pkl (not a PyTorch checkpoint)");
    row("big-endian storages", "", "", -1, "storages are stored big-endian, not little-endian");
    row("missing storage", "", "archive/data/1", 0,
        "tensor h: storage 'archive/data/1' is missing from the archive");
    row("bad opcode", proto + "\xff."s, "", 0, "data.pkl: unsupported pickle opcode 0xff at byte 2");
    row("truncated pickle", state_dict_pickle({{"w", "FloatStorage", "0", 6, 0, {2, 3}, {3, 1}}}).substr(0, 60), "", 0,
        "data.pkl: truncated pickle");
    row("truncated string", proto + "X\xff\xff\xff\x7f" "abc."s, "", 0, "truncated pickle (string of 2147483647 bytes)");
    row("disallowed global", proto + "cos\nsystem\nX\x02\x00\x00\x00lsR."s, "", 0,
        "data.pkl: disallowed global 'os.system' at byte 2");
    row("disallowed stack global", proto + "X\x08\x00\x00\x00" "builtins" "X\x04\x00\x00\x00" "eval" "\x93."s, "", 0,
        "data.pkl: disallowed global 'builtins.eval'");
    row("storage class called", proto + "ctorch\nFloatStorage\n)R.", "", 0,
        "global 'torch.FloatStorage' cannot be called");
    row("stack underflow", proto + "0.", "", 0, "data.pkl: pickle stack underflow at byte 2");
    row("pop through a mark", proto + "N(0.", "", 0, "pickle stack underflow at byte 4");
    row("tuple without mark", proto + "t.", "", 0, "pickle MARK missing at byte 2");
    row("missing memo", proto + "h\x05."s, "", 0, "memo key 5 is missing at byte 2");
    row("empty at stop", proto + ".", "", 0, "pickle stack is empty at STOP");
    row("no stop", proto + "N", "", 0, "truncated pickle at byte 3");
    row("huge long", proto + "\x8a\x09" + std::string(9, '\x01') + ".", "", 0, "integer of 9 bytes is too large");
    row("not a dict", proto + "N.", "", 0, "data.pkl: the pickle is not a state dict");
    row("self-containing list", proto + "]q\x00h\x00" "a."s, "", 0, "the pickle is not a state dict");
    row("setitem on a list", proto + "]NNs.", "", 0, "SETITEM on an object of the wrong type");
    row("value not a tensor", proto + "}X\x01\x00\x00\x00kK\x05s."s, "", 0, "state dict entry 'k' is not a tensor");
    row("bad persistent id", proto + "}X\x01\x00\x00\x00k(X\x03\x00\x00\x00" "abct" "Qs."s, "", 0,
        "unsupported persistent id (expected a torch storage)");
    row("rebuild with wrong arguments", proto + "ctorch._utils\n_rebuild_tensor_v2\n)R.", "", 0,
        "_rebuild_tensor_v2 with a wrong argument count");
    row("non-contiguous", pickle_of({{"w", "FloatStorage", "0", 6, 0, {2, 3}, {1, 2}}}), "", 0,
        "tensor w is not contiguous (stride [1, 2] for shape [2, 3])");
    row("past the storage", pickle_of({{"w", "FloatStorage", "0", 6, 2, {2, 3}, {3, 1}}}), "", 0,
        "tensor w reads past the end of its storage '0'");
    row("storage smaller than declared", pickle_of({{"w", "FloatStorage", "0", 7, 0, {7}, {1}}}), "", 0,
        "tensor w: storage 'archive/data/0' holds 24 bytes, but 28 are needed");
    row("storage key traversal", pickle_of({{"w", "FloatStorage", "../0", 6, 0, {6}, {1}}}), "", 0,
        "tensor w names an invalid storage '../0'");
    row("negative dimension", pickle_of({{"w", "FloatStorage", "0", 6, 0, {-2, 3}, {3, 1}}}), "", 0,
        "tensor w has an invalid shape: negative dimension in shape [-2, 3]");
    row("negative offset", pickle_of({{"w", "FloatStorage", "0", 6, -1, {2}, {1}}}), "", 0,
        "tensor w has a negative storage offset");
    row("duplicate names", pickle_of({{"w", "FloatStorage", "0", 6, 0, {6}, {1}}, {"w", "FloatStorage", "0", 6, 0, {6}, {1}}}),
        "", 0, "tensor w also appears in");
}

void TestCheckpoint::hostilePytorch() {
    QFETCH(QByteArray, pickle);
    QFETCH(QString, drop);
    QFETCH(int, truncate);
    QFETCH(QString, reason);
    const fs::path path = fs::path(temp_.path().toStdString()) / "hostile.bin";
    std::map<std::string, std::string> entries = small_archive();
    if (!pickle.isEmpty()) entries["archive/data.pkl"] = pickle.toStdString();
    entries.erase(drop.toStdString());
    if (truncate < 0) entries["archive/byteorder"] = "big";
    write_zip(path, entries);
    if (truncate > 0) umt5test::write_file(path, umt5test::read_file(path).substr(0, static_cast<size_t>(truncate)));

    const std::string message = error_of([&] { Checkpoint::open_file(path); });
    QVERIFY2(message.rfind(path.string() + ": ", 0) == 0, message.c_str());
    QVERIFY2(message.find(reason.toStdString()) != std::string::npos, message.c_str());
    QVERIFY(message.find('\n') == std::string::npos);
}

void TestCheckpoint::hostileIndex_data() {
    QTest::addColumn<QString>("index");
    QTest::addColumn<QString>("reason");
    QTest::newRow("path traversal")
        << R"({"weight_map": {"w": "../model.safetensors"}})"
        << R"(shard "../model.safetensors" of tensor w is not a plain file name in the model directory)";
    QTest::newRow("absolute path") << R"({"weight_map": {"w": "/etc/passwd"}})"
                                   << R"(shard "/etc/passwd" of tensor w is not a plain file name)";
    QTest::newRow("missing shard") << R"({"weight_map": {"w": "shard-2.safetensors"}})"
                                   << R"(shard "shard-2.safetensors" (holding tensor w) does not exist)";
    QTest::newRow("tensor not in shard") << R"({"weight_map": {"w": "shard-1.safetensors", "q": "shard-1.safetensors"}})"
                                         << R"(tensor q is mapped to shard "shard-1.safetensors", which does not contain it)";
    QTest::newRow("no weight map") << R"({"metadata": {}})" << R"(has no "weight_map" object)";
    QTest::newRow("corrupt json") << R"({"weight_map": )" << "not valid JSON";
    QTest::newRow("shard not a string") << R"({"weight_map": {"w": 3}})" << "shard of tensor w is not a string";
}

void TestCheckpoint::hostileIndex() {
    QFETCH(QString, index);
    QFETCH(QString, reason);
    const fs::path dir = fs::path(temp_.path().toStdString()) / "hostile-index" / QTest::currentDataTag();
    fs::create_directories(dir);
    write_safetensors(dir / "shard-1.safetensors", {{"w", Tensor({2}, DType::F32)}});
    write_safetensors(dir.parent_path() / "model.safetensors", {{"w", Tensor({2}, DType::F32)}});
    const fs::path index_path = dir / "model.safetensors.index.json";
    umt5test::write_file(index_path, index.toStdString());
    const std::string message = error_of([&] { Checkpoint::open(dir); });
    QVERIFY2(message.rfind(index_path.string() + ": ", 0) == 0, message.c_str());
    QVERIFY2(message.find(reason.toStdString()) != std::string::npos, message.c_str());
}

void TestCheckpoint::noWeights() {
    const fs::path dir = fs::path(temp_.path().toStdString()) / "empty-model";
    fs::create_directories(dir);
    QCOMPARE(error_of([&] { Checkpoint::open(dir); }),
             dir.string() + ": no model weights (model.safetensors, model.safetensors.index.json, "
                            "pytorch_model.bin or pytorch_model.bin.index.json)");
    QCOMPARE(error_of([&] { Checkpoint::open(dir / "nope"); }), (dir / "nope").string() + ": model directory does not exist");
}

QTEST_APPLESS_MAIN(TestCheckpoint)
#include "test_checkpoint.moc"
