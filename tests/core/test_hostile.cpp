// Hostile inputs to the engine, each asserting the exact one-line error (or warning) the user sees: absurd
// configurations, non-finite weights, vocabulary mismatches, missing or corrupt tokenizers, models too large for
// memory, oversized and invalid prompts, weight files truncated while open, damaged session files, and the JSON
// inputs the fuzzers broke (numbers too large for a double).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/formats/checkpoint.h"
#include "core/formats/config.h"
#include "core/formats/input_file.h"
#include "core/chat/conversation.h"
#include "core/engine/model.h"
#include "test_util.h"

using namespace umt5;
namespace fs = std::filesystem;

namespace {



// The message of the umt5::Error `f` throws, or "(no error)".
template <typename F> std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

uint64_t header_length(const std::string& bytes) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
    return n;
}

// Replaces the only occurrence of `from` in `text` by `to` (same length, so offsets stay valid).
std::string replace_once(std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    if (at == std::string::npos || text.find(from, at + 1) != std::string::npos || from.size() != to.size())
        return "replace_once failed for " + from;
    return text.replace(at, from.size(), to);
}

}  // namespace

class TestHostile : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void jsonNumberOverflow_data();
    void jsonNumberOverflow();
    void pathsTooLong();
    void configValues_data();
    void configValues();
    void nonFiniteWeightsWarn();
    void modelDirectory_data();
    void modelDirectory();
    void weightsTooLargeForMemory();
    void specialFiles_data();
    void specialFiles();
    void inputSizeLimits_data();
    void inputSizeLimits();
    void prompts_data();
    void prompts();
    void encoderLengthCap();
    void weightFileTruncatedAfterOpen();
    void loadedModelSurvivesFileChanges();
    void weightFileTruncatedWhileGenerating_data();
    void weightFileTruncatedWhileGenerating();
    void conversationFields_data();
    void conversationFields();
    void sessions_data();
    void sessions();

private:
    // A copy of tiny-a in a fresh directory, for tests that damage it.
    fs::path tiny_a_copy(const QString& name);

    QTemporaryDir temp_;
    std::shared_ptr<const Model> model_;
};

void TestHostile::initTestCase() {
    QVERIFY(temp_.isValid());
    model_ = Model::load(umt5test::tiny_a_dir());
}

fs::path TestHostile::tiny_a_copy(const QString& name) {
    const fs::path dir = fs::path(temp_.path().toStdString()) / name.toStdString();
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const char* f : {"config.json", "model.safetensors", "spiece.model"})
        fs::copy_file(umt5test::tiny_a_dir() / f, dir / f);
    return dir;
}

// Found by fuzz_config: nlohmann's parser reports a number too large for a double as out_of_range, not as a
// parse_error, so it escaped every `catch (json::parse_error&)` as a foreign exception.
void TestHostile::jsonNumberOverflow_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("expected");
    QTest::newRow("config") << "config" << "config.json: not valid JSON (number overflow parsing '46e536')";
    QTest::newRow("safetensors header")
        << "safetensors" << "mem: safetensors header is not valid JSON (number overflow parsing '1e999')";
    QTest::newRow("sharded index") << "index" << "INDEX: not valid JSON (number overflow parsing '1e400')";
    QTest::newRow("conversation") << "conversation"
                                  << "chat: the conversation is not valid JSON (number overflow parsing '1e999')";
}

void TestHostile::jsonNumberOverflow() {
    QFETCH(QString, kind);
    QFETCH(QString, expected);
    std::string error;
    std::string want = expected.toStdString();
    if (kind == "config") {
        error = error_of([] { ModelConfig::from_json(R"({"vocab_size": 46e536})"); });
    } else if (kind == "safetensors") {
        const std::string header = R"({"w":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})";
        std::string bytes(8, '\0');
        bytes[0] = static_cast<char>(header.size());
        error = error_of([&] { Checkpoint::from_safetensors_bytes(bytes + header + "abcd", "mem"); });
    } else if (kind == "index") {
        const fs::path index = fs::path(temp_.path().toStdString()) / "overflow.safetensors.index.json";
        umt5test::write_file(index, R"({"weight_map": {"x": "a.safetensors"}, "metadata": {"total_size": 1e400}})");
        error = error_of([&] { Checkpoint::open_file(index); });
        want.replace(want.find("INDEX"), 5, index.string());
    } else {
        error = error_of([] { Conversation::from_json(R"({"format":"umt5-session","version":1e999})", "chat"); });
    }
    QCOMPARE(QString::fromStdString(error), QString::fromStdString(want));
}

// Found by fuzz_sharded_index: a shard name longer than NAME_MAX made std::filesystem::is_regular_file throw
// filesystem_error ("File name too long") instead of a umt5::Error. Over-long user paths took the same road.
void TestHostile::pathsTooLong() {
    const fs::path index = fs::path(temp_.path().toStdString()) / "long.safetensors.index.json";
    const std::string shard = std::string(300, 'G') + ".safetensors";
    umt5test::write_file(index, R"({"weight_map": {"x": ")" + shard + R"("}})");
    QCOMPARE(QString::fromStdString(error_of([&] { Checkpoint::open_file(index); })),
             QString::fromStdString(index.string() + ": shard \"" + shard +
                                    "\" of tensor x is not a plain file name in the model directory"));
    const fs::path long_path = fs::path(temp_.path().toStdString()) / std::string(5000, 'd');
    QCOMPARE(QString::fromStdString(error_of([&] { Checkpoint::open(long_path); })),
             QString::fromStdString(long_path.string() + ": model directory does not exist"));
    QCOMPARE(QString::fromStdString(error_of([&] { Model::load(long_path); })),
             QString::fromStdString(long_path.string() + ": not a model directory"));
}

void TestHostile::configValues_data() {
    QTest::addColumn<QString>("json");
    QTest::addColumn<QString>("expected");
    auto row = [](const char* name, const char* json, const char* expected) {
        QTest::newRow(name) << json << (std::string("cfg.json: ") + expected).c_str();
    };
    row("negative d_kv", R"({"d_kv": -64})", "d_kv = -64 is outside [1, 4096]");
    row("zero heads", R"({"num_heads": 0})", "num_heads = 0 is outside [1, 1024]");
    row("zero d_model", R"({"d_model": 0})", "d_model = 0 is outside [1, 65536]");
    row("heads * d_kv too wide", R"({"num_heads": 1024, "d_kv": 4096})",
        "num_heads * d_kv = 4194304 is outside [1, 65536]");
    row("10^9 layers", R"({"num_layers": 1000000000})", "num_layers = 1000000000 is outside [1, 256]");
    row("10^9 decoder layers", R"({"num_decoder_layers": 1000000000})",
        "num_decoder_layers = 1000000000 is outside [1, 256]");
    row("huge vocabulary", R"({"vocab_size": 1000000000000})", "vocab_size = 1000000000000 is outside [2, 4000000]");
    row("vocabulary past int64", R"({"vocab_size": 18446744073709551615})", "field \"vocab_size\" is out of range");
    row("huge d_ff", R"({"d_ff": 9223372036854775807})", "d_ff = 9223372036854775807 is outside [1, 262144]");
    row("fractional d_model", R"({"d_model": 512.5})", "field \"d_model\" must be an integer");
    row("string heads", R"({"num_heads": "8"})", "field \"num_heads\" must be an integer");
    row("negative epsilon", R"({"layer_norm_epsilon": -1e-6})", "layer_norm_epsilon must be in (0, 1)");
    row("eos outside vocabulary", R"({"vocab_size": 100, "eos_token_id": 100})", "eos_token_id = 100 is outside [0, 99]");
    row("negative pad", R"({"pad_token_id": -1})", "pad_token_id = -1 is outside [0, 32127]");
    row("one bucket", R"({"relative_attention_num_buckets": 1})", "relative_attention_num_buckets = 1 is outside [2, 4096]");
    row("unknown activation", R"({"feed_forward_proj": "gated-swish"})", "feed_forward_proj \"gated-swish\" is not supported");
    row("not T5", R"({"model_type": "llama"})", "model_type \"llama\" is not a T5-family model");
    row("not an object", R"([1, 2])", "expected a JSON object");
    row("not JSON", R"({"d_model": )", "not valid JSON (byte 13)");
}

void TestHostile::configValues() {
    QFETCH(QString, json);
    QFETCH(QString, expected);
    const std::string error = error_of([&] { ModelConfig::from_json(json.toStdString(), "cfg.json"); });
    QCOMPARE(QString::fromStdString(error), expected);
}

// NaN or infinite weights load (a model may still be usable, and the values are the user's), with one warning per
// tensor that has any, collected on the Model.
void TestHostile::nonFiniteWeightsWarn() {
    const fs::path dir = tiny_a_copy("non-finite");
    std::map<std::string, Tensor> tensors;
    {
        const Checkpoint ck = Checkpoint::open(dir);
        for (const std::string& name : ck.names()) tensors[name] = ck.get_f32(name);
    }
    float* shared = tensors["shared.weight"].data<float>();
    shared[0] = std::numeric_limits<float>::quiet_NaN();
    shared[5] = std::numeric_limits<float>::infinity();
    tensors["encoder.final_layer_norm.weight"].data<float>()[1] = -std::numeric_limits<float>::infinity();
    write_safetensors(dir / "model.safetensors", tensors);

    const auto model = Model::load(dir);
    const std::string file = (dir / "model.safetensors").string();
    const std::vector<std::string> expected = {
        file + ": tensor shared.weight has 2 NaN or infinite values (of 196608)",
        file + ": tensor encoder.final_layer_norm.weight has 1 NaN or infinite values (of 64)"};
    QCOMPARE(model->warnings(), expected);
    QVERIFY(model_->warnings().empty());
    // Still usable: encoding runs (and yields non-finite values, which is the user's business).
    Workspace ws;
    QCOMPARE(model->encode({5, 6, 1}, ws).shape(), (Shape{3, 64}));
}

void TestHostile::modelDirectory_data() {
    QTest::addColumn<QString>("damage");
    QTest::addColumn<QString>("expected");  // DIR stands for the model directory
    QTest::newRow("vocabulary smaller than the tokenizer")
        << "vocab-2000" << "DIR/spiece.model: the tokenizer has 3000 pieces but config.json's vocab_size is 2000";
    QTest::newRow("vocabulary larger than the weights")
        << "vocab-4096" << "DIR/model.safetensors: tensor shared.weight has shape [3072, 64], expected [4096, 64]";
    QTest::newRow("missing spiece.model")
        << "no-spiece" << "DIR/spiece.model: cannot open the sentencepiece model (no such file)";
    QTest::newRow("empty spiece.model")
        << "empty-spiece" << "DIR/spiece.model: cannot load the sentencepiece model (the file is empty)";
    QTest::newRow("corrupt spiece.model")
        << "garbage-spiece" << "DIR/spiece.model: cannot load the sentencepiece model (not a sentencepiece model file)";
    QTest::newRow("truncated spiece.model")
        << "truncated-spiece" << "DIR/spiece.model: cannot load the sentencepiece model (not a sentencepiece model file)";
    QTest::newRow("spiece.model is a directory")
        << "dir-spiece" << "DIR/spiece.model: the sentencepiece model is a directory, not a regular file";
    QTest::newRow("missing config.json")
        << "no-config" << "DIR/config.json: cannot open the model configuration (no such file)";
    QTest::newRow("truncated weights")
        << "truncated-weights"
        << "DIR/model.safetensors: safetensors header length 5944 exceeds the file size (5000 bytes; file truncated?)";
}

void TestHostile::modelDirectory() {
    QFETCH(QString, damage);
    QFETCH(QString, expected);
    const fs::path dir = tiny_a_copy(damage);
    const std::string d = damage.toStdString();
    std::string config = umt5test::read_file(dir / "config.json");
    if (d.rfind("vocab-", 0) == 0) {
        config = replace_once(config, "\"vocab_size\": 3072", "\"vocab_size\": " + d.substr(6));
        umt5test::write_file(dir / "config.json", config);
    }
    const std::string spiece = umt5test::read_file(dir / "spiece.model");
    if (d == "no-spiece") fs::remove(dir / "spiece.model");
    if (d == "empty-spiece") umt5test::write_file(dir / "spiece.model", "");
    if (d == "garbage-spiece") umt5test::write_file(dir / "spiece.model", std::string(4096, '\xa7'));
    if (d == "truncated-spiece") umt5test::write_file(dir / "spiece.model", spiece.substr(0, spiece.size() / 3));
    if (d == "dir-spiece") {
        fs::remove(dir / "spiece.model");
        fs::create_directory(dir / "spiece.model");
    }
    if (d == "no-config") fs::remove(dir / "config.json");
    if (d == "truncated-weights") fs::resize_file(dir / "model.safetensors", 5000);

    std::string want = expected.toStdString();
    want.replace(want.find("DIR"), 3, dir.string());
    QCOMPARE(QString::fromStdString(error_of([&] { Model::load(dir); })), QString::fromStdString(want));
}

// Every model file (and, through read_input_file, sessions and transcripts) may be a FIFO, a symlink to
// /dev/zero, a directory or a socket. Before open_input_file a FIFO blocked forever in open() and /dev/zero read
// until memory ran out; now each is refused in one line naming the file. A symlink to a regular file is followed.
void TestHostile::specialFiles_data() {
    QTest::addColumn<QString>("file");  // in the model directory
    QTest::addColumn<QString>("type");  // fifo, zero (symlink to /dev/zero), dir, socket, link (to a good copy)
    QTest::addColumn<QString>("expected");  // FILE stands for the file's path
    const char* files[][2] = {{"config.json", "model configuration"},
                              {"spiece.model", "sentencepiece model"},
                              {"model.safetensors", "weight file"},
                              {"model.safetensors.index.json", "shard index"},
                              {"shard.safetensors", "weight file"},
                              {"pytorch_model.bin", "weight file"}};
    for (const auto& [file, what] : files) {
        const std::string w = what;
        QTest::addRow("%s FIFO", file) << file << "fifo" << QString::fromStdString("FILE: the " + w + " is a named pipe (FIFO), not a regular file");
        QTest::addRow("%s -> /dev/zero", file) << file << "zero" << QString::fromStdString("FILE: the " + w + " is a character device, not a regular file");
        QTest::addRow("%s directory", file) << file << "dir" << QString::fromStdString("FILE: the " + w + " is a directory, not a regular file");
        QTest::addRow("%s socket", file) << file << "socket" << QString::fromStdString("FILE: cannot open the " + w + " (it is a socket or a device without a driver, not a regular file)");
        QTest::addRow("%s symlink to a copy", file) << file << "link" << "(no error)";
    }
}

void TestHostile::specialFiles() {
    QFETCH(QString, file);
    QFETCH(QString, type);
    QFETCH(QString, expected);
    const std::string f = file.toStdString(), t = type.toStdString();
    static int row = 0;  // short directory names: a socket's path must fit in 108 bytes
    const fs::path dir = tiny_a_copy("s" + QString::number(row++));
    const fs::path good = dir / "good";
    fs::create_directory(good);
    // The weight layouts other than model.safetensors: the index names one shard, or an archive.
    if (f == "model.safetensors.index.json" || f == "shard.safetensors") {
        fs::rename(dir / "model.safetensors", good / "shard.safetensors");
        umt5test::write_file(good / "model.safetensors.index.json", [&] {
            nlohmann::json index;
            for (const std::string& name : Checkpoint::open_file(good / "shard.safetensors").names())
                index["weight_map"][name] = "shard.safetensors";
            return index.dump();
        }());
        fs::copy_file(good / (f == "shard.safetensors" ? "model.safetensors.index.json" : "shard.safetensors"),
                      dir / (f == "shard.safetensors" ? "model.safetensors.index.json" : "shard.safetensors"));
    } else if (f == "pytorch_model.bin") {
        fs::remove(dir / "model.safetensors");
        fs::copy_file(umt5test::data_dir() / "umt5-tiny-b" / "pytorch_model.bin", good / f);
        fs::copy_file(umt5test::data_dir() / "umt5-tiny-b" / "config.json", dir / "config.json",
                      fs::copy_options::overwrite_existing);
        fs::copy_file(umt5test::data_dir() / "umt5-tiny-b" / "spiece.model", dir / "spiece.model",
                      fs::copy_options::overwrite_existing);
    } else {
        fs::rename(dir / f, good / f);
    }
    const fs::path path = dir / f;
    if (t == "fifo") QCOMPARE(::mkfifo(path.c_str(), 0600), 0);
    if (t == "zero") fs::create_symlink("/dev/zero", path);
    if (t == "dir") fs::create_directory(path);
    if (t == "link") fs::create_symlink(good / f, path);
    int listener = -1;
    if (t == "socket") {
        listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        QVERIFY(path.string().size() < sizeof(address.sun_path));
        std::strcpy(address.sun_path, path.c_str());
        QCOMPARE(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
    }
    std::string want = expected.toStdString();
    if (want.find("FILE") != std::string::npos) want.replace(want.find("FILE"), 4, path.string());
    const std::string error = error_of([&] { Model::load(dir); });
    if (listener >= 0) ::close(listener);
    QCOMPARE(QString::fromStdString(error), QString::fromStdString(want));
}

// Each kind's limit, tested with a sparse file one byte over it (no disk space used): refused before a byte is
// read. Before, a 200 MB config.json took 3.8 GB to parse. Whole-file kinds are checked by read_input_file;
// weights and sessions bound their JSON header, checked from the 8-byte length before allocating.
void TestHostile::inputSizeLimits_data() {
    QTest::addColumn<int>("kind");
    QTest::addColumn<QString>("expected");  // FILE stands for the file's path
    QTest::newRow("config") << int(InputKind::config)
                            << "FILE: the model configuration is too large (1048577 bytes; the limit is 1 MiB)";
    QTest::newRow("tokenizer") << int(InputKind::tokenizer)
                               << "FILE: the sentencepiece model is too large (67108865 bytes; the limit is 64 MiB)";
    QTest::newRow("index") << int(InputKind::index)
                           << "FILE: the shard index is too large (16777217 bytes; the limit is 16 MiB)";
    QTest::newRow("transcript") << int(InputKind::transcript)
                                << "FILE: the transcript is too large (33554433 bytes; the limit is 32 MiB)";
    QTest::newRow("weights header") << int(InputKind::weights)
                                    << "FILE: safetensors header length 16777217 is too large for a weight file (the "
                                       "limit is 16 MiB; not a safetensors file?)";
    QTest::newRow("session header") << int(InputKind::session)
                                    << "FILE: safetensors header length 104857601 is too large for a conversation "
                                       "file (the limit is 100 MiB; not a safetensors file?)";
}

void TestHostile::inputSizeLimits() {
    QFETCH(int, kind);
    QFETCH(QString, expected);
    const InputKind k = static_cast<InputKind>(kind);
    const fs::path path = fs::path(temp_.path().toStdString()) / ("limit-" + std::to_string(kind));
    const uint64_t over = input_size_limit(k) + 1;
    std::string want = expected.toStdString();
    want.replace(want.find("FILE"), 4, path.string());
    if (k == InputKind::weights || k == InputKind::session) {
        std::string length(8, '\0');
        for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((over >> (8 * i)) & 0xff);
        umt5test::write_file(path, length);
        fs::resize_file(path, 8 + over);
        QCOMPARE(QString::fromStdString(error_of([&] { Checkpoint::open_file(path, k); })), QString::fromStdString(want));
        return;
    }
    umt5test::write_file(path, "");
    fs::resize_file(path, over);
    QCOMPARE(QString::fromStdString(error_of([&] { read_input_file(path, k); })), QString::fromStdString(want));
    fs::resize_file(path, over - 1);  // at the limit: read
    QCOMPARE(read_input_file(path, k).size(), size_t(over - 1));
}

// A configuration whose weights would need about 3.7 TiB, next to tiny files: refused before allocating anything.
void TestHostile::weightsTooLargeForMemory() {
    const fs::path dir = tiny_a_copy("too-large");
    umt5test::write_file(dir / "config.json", R"({"vocab_size": 4000000, "d_model": 65536, "num_heads": 16, "d_kv": 4096,
        "d_ff": 262144, "num_layers": 4, "feed_forward_proj": "gated-gelu"})");
    const std::string error = error_of([&] { Model::load(dir); });
    // F32 floats as Model::load counts them: tied embeddings (no lm_head.weight), 4 + 4 layers, inner_dim 65536.
    const size_t attention = 4ull * 65536 * 65536, ff = 3ull * 262144 * 65536;
    const size_t bytes = (4000000ull * 65536 + 4 * (attention + ff) + 4 * (2 * attention + ff)) * 4;
    const QRegularExpression pattern(QRegularExpression::anchoredPattern(
        QRegularExpression::escape(QString::fromStdString(dir.string() + ": the model needs " +
                                                          std::to_string(bytes >> 20) + " MiB for its weights but only ")) +
        "[0-9]+ MiB are available"));
    QVERIFY2(pattern.match(QString::fromStdString(error)).hasMatch(), error.c_str());
}

void TestHostile::prompts_data() {
    QTest::addColumn<QByteArray>("prompt");
    QTest::addColumn<QString>("expected");
    QByteArray long_text;
    while (long_text.size() < 100000) long_text += "word ";
    long_text.truncate(100000);
    QTest::newRow("100k characters") << long_text << "the prompt is 40001 tokens long; the limit is 2048";
    QTest::newRow("100k characters of one letter") << QByteArray(100000, 'x') << "the prompt is 100002 tokens long; the limit is 2048";
    QTest::newRow("over the byte limit") << QByteArray(3 << 20, 'x')
                                         << "the prompt is 3145728 bytes long; the limit is 1048576 bytes";
    QTest::newRow("invalid byte") << QByteArray("abc\xff") << "prompt is not valid UTF-8 (byte 3)";
    QTest::newRow("truncated sequence") << QByteArray("ok \xe3\x81") << "prompt is not valid UTF-8 (byte 3)";
    QTest::newRow("overlong") << QByteArray("\xc0\xaf") << "prompt is not valid UTF-8 (byte 0)";
    QTest::newRow("surrogate") << QByteArray("x\xed\xa0\x80") << "prompt is not valid UTF-8 (byte 1)";
    QTest::newRow("empty") << QByteArray("") << "the prompt is empty";
    QTest::newRow("blank") << QByteArray(" \n\t ") << "the prompt is empty";
    QTest::newRow("fine") << QByteArray("Hello world") << "(no error)";
}

void TestHostile::prompts() {
    QFETCH(QByteArray, prompt);
    QFETCH(QString, expected);
    const std::string text(prompt.constData(), static_cast<size_t>(prompt.size()));
    QCOMPARE(QString::fromStdString(error_of([&] { model_->prompt_ids(text); })), expected);
}

void TestHostile::encoderLengthCap() {
    Workspace ws;
    std::vector<int> ids(Model::kMaxEncoderTokens + 1, 7);
    QCOMPARE(QString::fromStdString(error_of([&] { model_->encode(ids, ws); })),
             QString("the encoder input is 2049 tokens long; the limit is 2048"));
    QCOMPARE(QString::fromStdString(error_of([&] { model_->encode({7, 5000, 1}, ws); })),
             QString("token id 5000 is outside the vocabulary of 3072"));
    ids.pop_back();
    QCOMPARE(model_->encode(ids, ws).shape(), (Shape{Model::kMaxEncoderTokens, 64}));
}

// Weight files are read, not mapped: a file cut short after Checkpoint::open makes get() fail with an error for
// the tensors whose bytes are gone (a memory map would have raised SIGBUS), while those before the cut still read.
void TestHostile::weightFileTruncatedAfterOpen() {
    const fs::path dir = tiny_a_copy("truncated-after-open");
    const fs::path file = dir / "model.safetensors";
    const Checkpoint ck = Checkpoint::open(dir);
    const Tensor before = ck.get_f32("shared.weight");
    fs::resize_file(file, 8 + header_length(umt5test::read_file(file)) + 1000);
    QCOMPARE(QString::fromStdString(error_of([&] { ck.get_f32("shared.weight"); })),
             QString::fromStdString(file.string() +
                                    ": tensor shared.weight cannot be read (the file is shorter than when it was "
                                    "opened: changed on disk?)"));
    // Emptied and rewritten in place with other bytes: reads see the new bytes or fail, never crash.
    fs::resize_file(file, 0);
    QVERIFY(error_of([&] { ck.get("encoder.final_layer_norm.weight"); }).find("cannot be read") != std::string::npos);
    QCOMPARE(before.shape(), (Shape{3072, 64}));

    // PyTorch archives are read through libzip, which reports the missing bytes as a read error.
    const fs::path bin = dir / "pytorch_model.bin";
    fs::copy_file(umt5test::data_dir() / "umt5-tiny-b" / "pytorch_model.bin", bin);
    const Checkpoint archive = Checkpoint::open_file(bin);
    fs::resize_file(bin, 1000);
    QCOMPARE(QString::fromStdString(error_of([&] { archive.get_f32("shared.weight"); })),
             QString::fromStdString(bin.string() + ": tensor shared.weight: storage '0' cannot be read (Premature end of file)"));
}

// A loaded model keeps its packed weights, and its embedding table mapped: replacing the weight file the way
// downloads and editors do (write another file, rename it over) or deleting it changes nothing, because the
// mapping keeps the old file. Truncating it in place is weightFileTruncatedWhileGenerating.
void TestHostile::loadedModelSurvivesFileChanges() {
    const fs::path dir = tiny_a_copy("loaded-then-changed");
    const auto model = Model::load(dir);
    Workspace ws;
    const Tensor before = model->encode({5, 6, 7, 1}, ws);
    const fs::path file = dir / "model.safetensors";
    umt5test::write_file(dir / "replacement", std::string(fs::file_size(file), '\x7f'));
    fs::rename(dir / "replacement", file);
    QCOMPARE(umt5test::read_file(file).substr(0, 4), std::string(4, '\x7f'));
    QVERIFY(std::memcmp(before.raw(), model->encode({5, 6, 7, 1}, ws).raw(), before.nbytes()) == 0);
    fs::remove(file);
    fs::remove(dir / "spiece.model");
    const Tensor after = model->encode({5, 6, 7, 1}, ws);
    QCOMPARE(std::memcmp(before.raw(), after.raw(), before.nbytes()), 0);
    QCOMPARE(model->prompt_ids("Hello"), model_->prompt_ids("Hello"));
}

// The embedding table (and the int8 rescoring rows) stay memory-mapped while a model is loaded. Copying another
// file over the weights (cp truncates first) while generating used to end the process with SIGBUS at the next
// row lookup; now the lookup throws, naming the file and tensor, and so does every later one.
void TestHostile::weightFileTruncatedWhileGenerating_data() {
    QTest::addColumn<QString>("weights");  // the weight file of the model: tiny-a's safetensors or tiny-b's archive
    QTest::addColumn<int>("precision");
    QTest::newRow("safetensors, embedding") << "model.safetensors" << int(Precision::F32);
    QTest::newRow("PyTorch archive, int8") << "pytorch_model.bin" << int(Precision::Int8);
}

void TestHostile::weightFileTruncatedWhileGenerating() {
    QFETCH(QString, weights);
    QFETCH(int, precision);
    const fs::path dir = tiny_a_copy("truncated-while-generating-" + QString::number(precision));
    if (weights == "pytorch_model.bin") {
        fs::remove(dir / "model.safetensors");
        for (const char* f : {"config.json", "spiece.model", "pytorch_model.bin"})
            fs::copy_file(umt5test::data_dir() / "umt5-tiny-b" / f, dir / f, fs::copy_options::overwrite_existing);
    }
    const fs::path file = dir / weights.toStdString();
    LoadOptions load;
    load.precision = static_cast<Precision>(precision);
    const auto model = Model::load(dir, load);
    GenerationOptions options;
    options.max_new_tokens = 6;
    // The next step's first read of the file is the embedding row of the token just generated.
    const std::string expected = file.string() + ": tensor shared.weight: the file was truncated or replaced in place while the model was using it; load "
                                 "the model again";
    int tokens = 0;
    const std::string error = error_of([&] {
        generate(*model, "Hello world", options, [&](const TokenEvent&) {
            if (tokens++ == 0) fs::resize_file(file, 0);  // what `cp other.safetensors model.safetensors` does first
            return true;
        });
    });
    QCOMPARE(tokens, 1);
    QCOMPARE(QString::fromStdString(error), QString::fromStdString(expected));
    const std::string again = error_of([&] { generate(*model, "Hello world", options); });
    QCOMPARE(QString::fromStdString(again), QString::fromStdString(expected));
}

// Found with the UBSan build of fuzz_session: nlohmann's get<int>() casts a float such as 1e300 to int (undefined
// behaviour) and wraps 4294967297 to 1, so numeric fields of a conversation are range-checked.
void TestHostile::conversationFields_data() {
    QTest::addColumn<QString>("path");   // JSON pointer of the field to replace
    QTest::addColumn<QString>("value");  // JSON text
    QTest::addColumn<QString>("expected");
    QTest::newRow("float id") << "/turns/0/prompt_ids/0" << "1e300" << "\"prompt_ids\" is not an integer";
    QTest::newRow("id past int") << "/turns/0/output_ids/0" << "4294967297" << "\"output_ids\" is out of range";
    QTest::newRow("negative id past int") << "/turns/0/output_ids/0" << "-2147483649" << "\"output_ids\" is out of range";
    QTest::newRow("ids not an array") << "/turns/0/prompt_ids" << "\"1 2\"" << "\"prompt_ids\" is not an array";
    QTest::newRow("float max_new_tokens")
        << "/turns/0/settings/max_new_tokens" << "1e300" << "\"max_new_tokens\" is not an integer";
    QTest::newRow("temperature past float")
        << "/turns/0/settings/temperature" << "1e300" << "\"temperature\" is out of range";
    QTest::newRow("negative seed") << "/turns/0/settings/seed" << "-1" << "\"seed\" is out of range";
    QTest::newRow("float tokens") << "/turns/0/stats/tokens" << "0.5" << "\"tokens\" is not an integer";
    QTest::newRow("float created_ms") << "/turns/0/created_ms" << "1e30" << "\"created_ms\" is not an integer";
    QTest::newRow("float version") << "/version" << "1.5" << "\"version\" is not an integer";
    QTest::newRow("string top_p") << "/turns/0/settings/top_p" << "\"0.9\"" << "\"top_p\" is not a number";
}

void TestHostile::conversationFields() {
    QFETCH(QString, path);
    QFETCH(QString, value);
    QFETCH(QString, expected);
    Conversation conversation;
    GenerationOptions options;
    options.max_new_tokens = 2;
    conversation.submit(*model_, "Hello world", options);
    nlohmann::json j = nlohmann::json::parse(conversation.to_json());
    j[nlohmann::json::json_pointer(path.toStdString())] = nlohmann::json::parse(value.toStdString());
    QCOMPARE(QString::fromStdString(error_of([&] { Conversation::from_json(j.dump(), "chat"); })),
             "chat: damaged conversation (" + expected + ")");
}

void TestHostile::sessions_data() {
    QTest::addColumn<QString>("damage");
    QTest::addColumn<bool>("recovered");   // the transcript loads (with `expected` as the warning)
    QTest::addColumn<QString>("expected");  // FILE stands for the session file, N for computed numbers
    QTest::newRow("empty file") << "empty" << false << "FILE: file too short for a safetensors header";
    QTest::newRow("zero-filled") << "zeros" << false << "FILE: safetensors header is not valid JSON (byte 1)";
    QTest::newRow("header cut") << "cut-header" << false << "FILE: safetensors header is truncated";
    QTest::newRow("header length absurd")
        << "garbage" << false
        << "FILE: safetensors header length 8247062282340889459 is too large for a conversation file (the limit is "
           "100 MiB)";
    QTest::newRow("header not JSON") << "header-byte" << false << "FILE: safetensors header is not valid JSON (byte 1)";
    QTest::newRow("transcript without turns")
        << "no-turns" << false << "FILE: damaged conversation (key 'turns' not found)";
    QTest::newRow("unknown finish reason")
        << "finish" << false << "FILE: damaged conversation (unknown finish reason \"EOS\")";
    QTest::newRow("cache data cut off")
        << "cut-data" << true
        << "the saved cache is unusable (FILE: tensor decoder.0.cross.k has data_offsets [0, N] past the end of the "
           "data (0 bytes; file truncated?)); it will be rebuilt when needed";
    QTest::newRow("cache layer count wrong")
        << "layers" << true
        << "the saved cache is unusable (wrong number of cache layers); it will be rebuilt when needed";
    QTest::newRow("cache layer count not an integer")
        << "layers-float" << true
        << "the saved cache is damaged (\"layers\" is not an integer); it will be rebuilt when needed";
    QTest::newRow("cache info not JSON")
        << "cache-json" << true
        << "the saved cache is damaged (parse error at line 1, column 1: syntax error while parsing value - invalid "
           "literal; last read: 'x'); it will be rebuilt when needed";
}

void TestHostile::sessions() {
    QFETCH(QString, damage);
    QFETCH(bool, recovered);
    QFETCH(QString, expected);
    const std::string d = damage.toStdString();
    const fs::path path = fs::path(temp_.path().toStdString()) / (d + ".umt5session");
    Conversation conversation;
    GenerationOptions options;
    options.max_new_tokens = 3;
    conversation.submit(*model_, "Hello world", options);
    conversation.save(path, model_.get(), true);
    std::string bytes = umt5test::read_file(path);
    const uint64_t header = header_length(bytes);
    const auto prompt_rows = conversation.turns().back().prompt_ids.size();

    if (d == "empty") bytes.clear();
    if (d == "zeros") bytes.assign(bytes.size(), '\0');
    if (d == "cut-header") bytes.resize(8 + header / 2);
    if (d == "garbage") bytes.replace(0, 8, "sssssssr");
    if (d == "header-byte") bytes[8] = 'x';
    if (d == "no-turns") bytes = replace_once(bytes, "\\\"turns\\\"", "\\\"turnz\\\"");
    if (d == "finish") bytes = replace_once(bytes, "\\\"finish\\\":\\\"length\\\"", "\\\"finish\\\":\\\"EOS\\\"   ");
    if (d == "cut-data") bytes.resize(8 + header);
    if (d == "layers-float")  // "layers":2e0, at the same length (the unused "model_config" key loses 2 letters)
        bytes = replace_once(bytes, "\\\"layers\\\":2,\\\"model_config\\\"", "\\\"layers\\\":2e0,\\\"model_conf\\\"");
    if (d == "layers") bytes = replace_once(bytes, "\\\"layers\\\":2", "\\\"layers\\\":3");
    if (d == "cache-json") bytes = replace_once(bytes, "\"cache\":\"{", "\"cache\":\"x");
    umt5test::write_file(path, bytes);

    std::string want = expected.toStdString();
    if (want.find("FILE") != std::string::npos) want.replace(want.find("FILE"), 4, path.string());
    if (want.find("[0, N]") != std::string::npos)
        want.replace(want.find("[0, N]"), 6, "[0, " + std::to_string(prompt_rows * 64 * 4) + "]");
    if (recovered) {
        std::string warning;
        const Conversation loaded = Conversation::load(path, model_.get(), &warning);
        QCOMPARE(QString::fromStdString(warning), QString::fromStdString(want));
        QCOMPARE(loaded.turns().size(), size_t(1));
        QCOMPARE(loaded.turns().back().answer, conversation.turns().back().answer);
        QVERIFY(!loaded.has_cache());
    } else {
        QCOMPARE(QString::fromStdString(error_of([&] { Conversation::load(path, model_.get()); })),
                 QString::fromStdString(want));
    }
    QCOMPARE(umt5test::read_file(path), bytes);  // a failed load never modifies the file
}

QTEST_GUILESS_MAIN(TestHostile)
#include "test_hostile.moc"
