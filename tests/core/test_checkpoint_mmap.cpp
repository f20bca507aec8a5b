// Checkpoint::get_mapped and read_f32_chunks: mapped tensors hold the bytes get() reads (safetensors single,
// sharded and BF16; PyTorch archives), outlive their Checkpoint, fall back to reading when a tensor cannot be
// mapped (compressed archive entry, odd offset, bytes in memory), and a file cut short gives the one-line read
// error, never SIGBUS.
#include <QTemporaryDir>
#include <QtTest>
#include <zip.h>

#include <cstring>

#include "core/formats/checkpoint.h"
#include "core/engine/model.h"
#include "test_util.h"

using namespace umt5;
namespace fs = std::filesystem;

namespace {

// The message of the umt5::Error `f` throws, or "" when it throws nothing.
template <typename F> std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

bool same_bytes(const Tensor& a, const Tensor& b) {
    return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// A copy of tiny-b's pytorch_model.bin with every entry deflate-compressed.
void write_compressed_copy(const fs::path& from, const fs::path& to) {
    fs::copy_file(from, to);
    int error = 0;
    zip_t* zip = zip_open(to.c_str(), 0, &error);
    QVERIFY(zip);
    for (zip_int64_t i = 0; i < zip_get_num_entries(zip, 0); ++i)
        QCOMPARE(zip_set_file_compression(zip, static_cast<zip_uint64_t>(i), ZIP_CM_DEFLATE, 9), 0);
    QCOMPARE(zip_close(zip), 0);
}

}  // namespace

class TestCheckpointMmap : public QObject {
    Q_OBJECT
private slots:
    void mappedEqualsRead_data();
    void mappedEqualsRead();
    void compressedArchiveFallsBack();
    void oddOffsetAndMemoryFallBack();
    void mappingOutlivesCheckpoint();
    void truncatedFileNeverFaults();
    void truncatedFileFailsAtLoad();
};

void TestCheckpointMmap::mappedEqualsRead_data() {
    QTest::addColumn<QString>("path");  // a model directory or weight file, relative to tests/data
    QTest::newRow("tiny-a safetensors F32") << "umt5-tiny-a";
    QTest::newRow("tiny-b pytorch_model.bin") << "umt5-tiny-b/pytorch_model.bin";
    QTest::newRow("tiny-b BF16 safetensors") << "umt5-tiny-b-bf16";
    QTest::newRow("tiny-b sharded") << "umt5-tiny-b-sharded";
}

// Every tensor of every fixture is mapped (none is compressed or misaligned) and holds exactly get()'s bytes;
// read_f32_chunks passes get_f32()'s values in order.
void TestCheckpointMmap::mappedEqualsRead() {
    QFETCH(QString, path);
    const Checkpoint ck = Checkpoint::open(umt5test::data_dir() / path.toStdString());
    QVERIFY(ck.names().size() > 10);
    for (const std::string& name : ck.names()) {
        const Tensor mapped = ck.get_mapped(name);
        const Tensor read = ck.get(name);
        QVERIFY2(mapped.is_shared_view(), name.c_str());
        QVERIFY2(same_bytes(mapped, read), name.c_str());
        QCOMPARE(mapped.dtype(), ck.info(name).dtype);
        const Tensor f32 = ck.get_f32(name);
        std::vector<float> chunked;
        ck.read_f32_chunks(name, [&](const float* values, int64_t first, int64_t count) {
            QCOMPARE(first, static_cast<int64_t>(chunked.size()));
            chunked.insert(chunked.end(), values, values + count);
        });
        QCOMPARE(static_cast<int64_t>(chunked.size()), f32.numel());
        QVERIFY2(std::memcmp(chunked.data(), f32.raw(), f32.nbytes()) == 0, name.c_str());
    }
    const TensorInfo& shared = ck.info("shared.weight");
    QCOMPARE(QString::fromStdString(error_of([&] { ck.get_mapped("shared.weight", {1, 2}); })),
             QString::fromStdString(shared.file + ": tensor shared.weight has shape " + shape_string(shared.shape) +
                                    ", expected [1, 2]"));
}

void TestCheckpointMmap::compressedArchiveFallsBack() {
    QTemporaryDir tmp;
    const fs::path bin = fs::path(tmp.path().toStdString()) / "pytorch_model.bin";
    write_compressed_copy(umt5test::data_dir() / "umt5-tiny-b" / "pytorch_model.bin", bin);
    const Checkpoint compressed = Checkpoint::open_file(bin);
    const Checkpoint stored = Checkpoint::open_file(umt5test::data_dir() / "umt5-tiny-b" / "pytorch_model.bin");
    for (const std::string& name : compressed.names()) {
        const Tensor t = compressed.get_mapped(name);
        QVERIFY2(t.owns_storage() && !t.is_shared_view(), name.c_str());
        QVERIFY2(same_bytes(t, stored.get_mapped(name)), name.c_str());
    }
    std::vector<float> chunked;
    compressed.read_f32_chunks("shared.weight", [&](const float* values, int64_t, int64_t count) {
        chunked.insert(chunked.end(), values, values + count);
    });
    const Tensor f32 = stored.get_f32("shared.weight");
    QVERIFY(std::memcmp(chunked.data(), f32.raw(), f32.nbytes()) == 0);
}

// An F32 tensor 2 bytes into the data section cannot be mapped with its elements aligned; one held in memory has
// no file to map. Both come back read, with the same values.
void TestCheckpointMmap::oddOffsetAndMemoryFallBack() {
    std::string header = R"({"pad":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                         R"("w":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}})";
    header.append((8 - header.size() % 8) % 8, ' ');
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((uint64_t(header.size()) >> (8 * i)) & 0xff);
    const float values[2] = {1.5f, -3.0f};
    bytes += header + std::string("\x01\x02", 2) + std::string(reinterpret_cast<const char*>(values), 8);
    QTemporaryDir tmp;
    const fs::path file = fs::path(tmp.path().toStdString()) / "model.safetensors";
    umt5test::write_file(file, bytes);
    for (const Checkpoint& ck : {Checkpoint::open_file(file), Checkpoint::from_safetensors_bytes(bytes, "memory")}) {
        const Tensor w = ck.get_mapped("w");
        QVERIFY(w.owns_storage() && !w.is_shared_view());
        QCOMPARE(w.data<float>()[1], -3.0f);
        QVERIFY_THROWS_EXCEPTION(Error, ck.get_mapped("pad"));  // U8 is not a weight dtype
    }
}

void TestCheckpointMmap::mappingOutlivesCheckpoint() {
    Tensor mapped;
    Tensor read;
    {
        const Checkpoint ck = Checkpoint::open(umt5test::data_dir() / "umt5-tiny-b-bf16");
        mapped = ck.get_mapped("shared.weight");
        read = ck.get("shared.weight");
    }
    QVERIFY(mapped.is_shared_view());
    QVERIFY(same_bytes(mapped, read));
}

// Cut short after open(): get_mapped checks the file's current size and reads instead, so it throws get()'s
// one-line error rather than handing out a mapping whose pages are gone.
void TestCheckpointMmap::truncatedFileNeverFaults() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    fs::copy_file(umt5test::tiny_a_dir() / "model.safetensors", dir / "model.safetensors");
    fs::copy_file(umt5test::data_dir() / "umt5-tiny-b" / "pytorch_model.bin", dir / "pytorch_model.bin");
    const Checkpoint safetensors = Checkpoint::open_file(dir / "model.safetensors");
    const Checkpoint archive = Checkpoint::open_file(dir / "pytorch_model.bin");
    QVERIFY(archive.get_mapped("shared.weight").is_shared_view());
    fs::resize_file(dir / "model.safetensors", fs::file_size(dir / "model.safetensors") / 2);
    fs::resize_file(dir / "pytorch_model.bin", 1000);

    const std::string file = (dir / "model.safetensors").string();
    const std::string read_error = file + ": tensor shared.weight cannot be read (the file is shorter than when it was "
                                          "opened: changed on disk?)";
    QCOMPARE(QString::fromStdString(error_of([&] { safetensors.get_mapped("shared.weight"); })),
             QString::fromStdString(read_error));
    QCOMPARE(QString::fromStdString(error_of([&] { safetensors.read_f32_chunks("shared.weight", [](auto...) {}); })),
             QString::fromStdString(read_error));
    QCOMPARE(QString::fromStdString(error_of([&] { archive.get_mapped("shared.weight"); })),
             QString::fromStdString((dir / "pytorch_model.bin").string() +
                                    ": tensor shared.weight: storage '0' cannot be read (Premature end of file)"));
}

// A weight file cut short before loading fails Model::load with one line naming the file and the tensor.
void TestCheckpointMmap::truncatedFileFailsAtLoad() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    for (const char* name : {"config.json", "spiece.model", "model.safetensors"})
        fs::copy_file(umt5test::tiny_a_dir() / name, dir / name);
    const fs::path file = dir / "model.safetensors";
    fs::resize_file(file, fs::file_size(file) - 1000);
    const std::string error = error_of([&] { Model::load(dir); });
    QVERIFY2(error.rfind(file.string() + ": tensor ", 0) == 0, error.c_str());
    QVERIFY2(error.find("past the end of the data") != std::string::npos, error.c_str());
    QVERIFY(error.find('\n') == std::string::npos);
}

QTEST_APPLESS_MAIN(TestCheckpointMmap)
#include "test_checkpoint_mmap.moc"
