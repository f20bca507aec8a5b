// Hostile and unlucky uses of session files and of the tool's outputs, each with the exact one-line message:
// session headers the reader would refuse, damaged caches (checksum), special files given as sessions or
// transcripts, outputs onto inputs or onto session and weight files, a closed or full stdout, decoder work too
// large to fit, invisible prompts, and a conversation continued with a model it was not written with.
#include <QElapsedTimer>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include <nlohmann/json.hpp>

#include "app/error_text.h"
#include "core/chat/conversation.h"
#include "core/chat/limits.h"
#include "core/chat/session_lock.h"
#include "core/engine/model.h"
#include "core/formats/checkpoint.h"
#include "test_util.h"

using namespace umt5;
namespace fs = std::filesystem;

namespace {

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

// A conversation of `turns` turns whose prompts and encoder texts are `text`, each answered by `outputs` tokens of
// id 7 (built as JSON: no model runs).
Conversation conversation_of(int turns, const std::string& text, int outputs = 1) {
    nlohmann::json list = nlohmann::json::array();
    for (int i = 0; i < turns; ++i)
        list.push_back({{"prompt", text}, {"encoder_text", text}, {"prompt_ids", {5, 1}},
                        {"output_ids", std::vector<int>(static_cast<size_t>(outputs), 7)},
                        {"answer", "a"}, {"finish", "length"}, {"created_ms", 1},
                        {"settings", {{"max_new_tokens", 1}, {"use_cache", true}, {"ignore_eos", false},
                                      {"temperature", 0.0}, {"top_k", 0}, {"top_p", 1.0},
                                      {"repetition_penalty", 1.0}, {"seed", 0}}},
                        {"stats", {{"encode_ms", 1.0}, {"first_token_ms", 1.0}, {"decode_ms", 1.0}, {"tokens", 1},
                                   {"tokens_per_s", 1.0}, {"cache", true}, {"encoder_reused", false}}}});
    const nlohmann::json j = {{"format", "umt5-session"}, {"version", 1}, {"id", "big"}, {"title", "t"},
                              {"carry_context", false}, {"turns", list}};
    return Conversation::from_json(j.dump(), "test");
}

// Runs `umt5 ARGS` through the shell with `redirect` appended (">&-", ">/dev/full").
umt5test::ToolRun run_redirected(const QStringList& args, const QString& redirect) {
    QProcess process;
    process.start("/bin/sh", QStringList{"-c", "exec \"$0\" \"$@\" " + redirect, umt5test::cli_path()} + args);
    process.waitForFinished(300000);
    return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
            QString::fromUtf8(process.readAllStandardOutput()), QString::fromUtf8(process.readAllStandardError())};
}

}  // namespace

class TestHostileSessions : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void headerOverTheReaderLimitIsNotWritten();
    void checksum_data();
    void checksum();
    void specialFilesAreRefused_data();
    void specialFilesAreRefused();
    void decoderLimits();
    void invisiblePrompts_data();
    void invisiblePrompts();
    void answerFromAnotherModel();
    void badAllocInWords();
    void outputPaths_data();
    void outputPaths();
    void failedStdout_data();
    void failedStdout();
    void lockIsReleased();

private:
    fs::path path(const std::string& name) const { return fs::path(temp_.path().toStdString()) / name; }
    QString qpath(const std::string& name) const { return QString::fromStdString(path(name).string()); }
    QString tiny_a() const { return QString::fromStdString(umt5test::tiny_a_dir().string()); }

    QTemporaryDir temp_;
    std::shared_ptr<const Model> model_;
    int rows_ = 0;  // numbers the directories of data rows
};

void TestHostileSessions::initTestCase() {
    QVERIFY(temp_.isValid());
    model_ = Model::load(umt5test::tiny_a_dir());
}

// Issue 16: prompts of control characters, escaped twice in the header (7 bytes each, in the prompt and in its
// encoder text), made `generate --session` write files whose header was over the reader's 100 MiB; `continue`
// then refused them. The writer refuses instead, and what it does write reads back.
void TestHostileSessions::headerOverTheReaderLimitIsNotWritten() {
    const std::string controls(size_t{1} << 20, '\x01');
    const fs::path big = path("too-big.umt5session");
    const std::string error = error_of([&] { conversation_of(8, controls).save(big, nullptr, false); });
    const QRegularExpression want(QRegularExpression::escape(QString::fromStdString(big.string())) +
                                  ": cannot save the conversation: its header would be ([0-9]+) bytes, over the 100 "
                                  "MiB a session file may hold \\(very long texts or many turns\\); remove turns or "
                                  "start a new conversation$");
    const auto match = want.match(QString::fromStdString(error));
    QVERIFY2(match.hasMatch(), error.c_str());
    QVERIFY(match.captured(1).toLongLong() > (100ll << 20));
    QVERIFY(!fs::exists(big));

    const fs::path fits = path("fits.umt5session");
    conversation_of(7, controls).save(fits, nullptr, false);
    QVERIFY(header_length(umt5test::read_file(fits)) > (90ull << 20));
    const Conversation back = Conversation::load(fits, nullptr);
    QCOMPARE(back.turns().size(), size_t(7));
    QCOMPARE(back.turns().back().prompt, controls);
}

// Flipped bits in a session's cache tensors gave a different answer with no warning. A CRC-32 over the tensor
// data and the metadata now drops a cache that does not match it; the transcript stays and the answer is rebuilt.
void TestHostileSessions::checksum_data() {
    QTest::addColumn<QString>("damage");
    QTest::addColumn<bool>("cacheKept");
    QTest::newRow("intact") << "none" << true;
    QTest::newRow("bit flipped in the last tensor") << "last-byte" << false;
    QTest::newRow("bit flipped in the first tensor") << "first-byte" << false;
    QTest::newRow("transcript edited") << "transcript" << false;
    QTest::newRow("checksum edited") << "checksum" << false;
    QTest::newRow("written before checksums") << "no-checksum" << true;
}

void TestHostileSessions::checksum() {
    QFETCH(QString, damage);
    QFETCH(bool, cacheKept);
    const std::string d = damage.toStdString();
    const fs::path file = path("checksum-" + d + ".umt5session");
    GenerationOptions options;
    options.max_new_tokens = 3;
    options.ignore_eos = true;
    Conversation original;
    original.submit(*model_, "Hello world", options);
    original.save(file, model_.get(), true);
    std::string bytes = umt5test::read_file(file);
    const uint64_t data = 8 + header_length(bytes);
    if (d == "last-byte") bytes.back() ^= 0x10;
    if (d == "first-byte") bytes[data] ^= 0x01;
    auto replace = [&](const std::string& from, const std::string& to) {
        const size_t at = bytes.find(from);
        QVERIFY(at != std::string::npos && from.size() == to.size());
        bytes.replace(at, from.size(), to);
    };
    if (d == "transcript") replace("\\\"carry_context\\\":false", "\\\"carry_context\\\":true ");
    if (d == "checksum") {
        const size_t at = bytes.find("\"checksum\":\"") + 12;
        bytes[at] = bytes[at] == '0' ? '1' : '0';
    }
    if (d != "no-checksum") {
        umt5test::write_file(file, bytes);
    } else {
        const Checkpoint ck = Checkpoint::open_file(file);
        std::map<std::string, std::string> metadata = ck.metadata();
        QVERIFY(metadata.erase("checksum") == 1);
        std::map<std::string, Tensor> tensors;
        for (const std::string& name : ck.names()) tensors[name] = ck.get(name);
        write_safetensors(file, tensors, metadata);
    }

    std::string warning;
    Conversation loaded = Conversation::load(file, model_.get(), &warning);
    QCOMPARE(loaded.has_cache(), cacheKept);
    QCOMPARE(loaded.turns().size(), size_t(1));
    QCOMPARE(loaded.turns()[0].output_ids, original.turns()[0].output_ids);
    if (cacheKept) {
        QCOMPARE(QString::fromStdString(warning), QString());
    } else {
        const std::string why = "the saved cache is unusable (its checksum does not match: the file was changed or "
                                "damaged after it was saved)";
        QCOMPARE(QString::fromStdString(warning), QString::fromStdString(why + "; it will be rebuilt when needed"));
        QCOMPARE(QString::fromStdString(error_of([&] { Conversation::load_strict(file, *model_); })),
                 QString::fromStdString(file.string() + ": " + why));
    }
    // With or without the saved cache, continuing gives the answer an undamaged session gives.
    const GenerationResult more = loaded.continue_answer(*model_, options);
    const GenerationResult want = original.continue_answer(*model_, options);
    QCOMPARE(more.output_ids, want.output_ids);
}

// A FIFO given as --session blocked forever in open(); a directory gave "cannot read".
void TestHostileSessions::specialFilesAreRefused_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("expected");
    QTest::newRow("FIFO") << "fifo" << "PATH: the conversation file is a named pipe (FIFO), not a regular file";
    QTest::newRow("directory") << "dir" << "PATH: the conversation file is a directory, not a regular file";
    QTest::newRow("character device") << "null"
                                        << "PATH: the conversation file is a character device, not a regular file";
}

void TestHostileSessions::specialFilesAreRefused() {
    QFETCH(QString, kind);
    QFETCH(QString, expected);
    fs::path file = path("special-" + kind.toStdString());
    if (kind == "fifo") QCOMPARE(::mkfifo(file.c_str(), 0600), 0);
    if (kind == "dir") fs::create_directory(file);
    if (kind == "null") fs::create_symlink("/dev/null", file);
    const QString want = QString(expected).replace("PATH", QString::fromStdString(file.string()));
    QCOMPARE(QString::fromStdString(error_of([&] { Conversation::load(file, model_.get()); })), want);
    // The tool: generate --session and import --in, which blocked in open() on a FIFO.
    if (kind != "fifo") return;
    const umt5test::ToolRun generate =
        umt5test::run_tool({"generate", "--model", tiny_a(), "--prompt", "Hello", "--session", qpath("special-fifo")});
    QCOMPARE(generate.exit_code, 1);
    QCOMPARE(generate.err.trimmed(), "umt5: error: " + want);
    const umt5test::ToolRun import =
        umt5test::run_tool({"import", "--in", qpath("special-fifo"), "--session", qpath("from-fifo.umt5session")});
    QCOMPARE(import.exit_code, 1);
    QCOMPARE(import.err.trimmed(), "umt5: error: " + qpath("special-fifo") +
                                       ": the transcript is a named pipe (FIFO), not a regular file");
}

// `umt5 score` with 20,000 decoder ids grew quadratically to 6.5 GB and printed std::bad_alloc.
void TestHostileSessions::decoderLimits() {
    QStringList many;
    for (int i = 0; i < 20000; ++i) many << "7";
    const umt5test::ToolRun score =
        umt5test::run_tool({"score", "--model", tiny_a(), "--input-ids", "5,6,1", "--decoder-ids", many.join(','),
                            "--out", qpath("s.safetensors")});
    QCOMPARE(score.exit_code, 1);
    QCOMPARE(score.err.trimmed(), QString("umt5: error: the decoder input is 20000 tokens long; the limit is 4096"));
    QVERIFY(!fs::exists(path("s.safetensors")));
    QCOMPARE(QString::fromStdString(error_of([&] { check_score_limits(model_->config(), 3, kMaxDecoderTokens); })),
             QString("(no error)"));

    GenerationOptions options;
    options.max_new_tokens = 5000;
    QCOMPARE(QString::fromStdString(error_of([&] { generate(*model_, "Hello", options); })),
             QString("an answer can have at most 4096 tokens (asked for 5000)"));
    Conversation conversation;
    QCOMPARE(QString::fromStdString(error_of([&] { conversation.submit(*model_, "Hello", options); })),
             QString("an answer can have at most 4096 tokens (asked for 5000)"));
    QVERIFY(conversation.empty());  // a refused request adds no turn
    Conversation long_answer = conversation_of(1, "Hello", 4000);
    options.max_new_tokens = 100;
    QCOMPARE(QString::fromStdString(error_of([&] { long_answer.continue_answer(*model_, options); })),
             QString("the answer has 4000 tokens and can have at most 4096: 96 more, not 100"));

    const std::string memory = error_of([] { check_memory(size_t{1} << 62, "scoring 9 decoder ids"); });
    QVERIFY2(QRegularExpression("^scoring 9 decoder ids needs about 4398046511104 MiB of memory, but only [0-9]+ MiB "
                                "are available$")
                 .match(QString::fromStdString(memory))
                 .hasMatch(),
             memory.c_str());
}

void TestHostileSessions::invisiblePrompts_data() {
    QTest::addColumn<QString>("prompt");
    QTest::addColumn<QString>("expected");
    const QString refused = "the prompt is empty: it holds only white space or invisible characters";
    QTest::newRow("ideographic space") << QString::fromUtf8("\u3000\u3000") << refused;
    QTest::newRow("no-break and em spaces") << QString::fromUtf8(" \u00a0\u2003\n") << refused;
    QTest::newRow("zero width") << QString::fromUtf8("\u200b\ufeff\u2060") << refused;
    QTest::newRow("control characters") << QString::fromUtf8("\x01\x02\x7f") << refused;
    QTest::newRow("ASCII blanks") << " \t\n" << "the prompt is empty";
    QTest::newRow("a word among spaces") << QString::fromUtf8("\u3000Hello\u3000") << "(no error)";
}

void TestHostileSessions::invisiblePrompts() {
    QFETCH(QString, prompt);
    QFETCH(QString, expected);
    GenerationOptions options;
    options.max_new_tokens = 1;
    const std::string text = prompt.toStdString();
    QCOMPARE(QString::fromStdString(error_of([&] { generate(*model_, text, options); })), expected);
    Conversation conversation;
    QCOMPARE(QString::fromStdString(error_of([&] { conversation.submit(*model_, text, options); })), expected);
}

// Continuing, with tiny-a (3072 tokens), a conversation the demo model (16000 tokens) wrote said only
// "token id 5862 is outside the vocabulary of 3072".
void TestHostileSessions::answerFromAnotherModel() {
    const QString session = qpath("german.umt5session");
    const umt5test::ToolRun first =
        umt5test::run_tool({"generate", "--prompt", "translate English to German: File not found", "--session",
                            session});
    QCOMPARE(first.exit_code, 0);
    QCOMPARE(first.out.trimmed(), QString("Datei nicht gefunden"));
    const umt5test::ToolRun more = umt5test::run_tool({"continue", "--model", tiny_a(), "--session", session});
    QCOMPARE(more.exit_code, 1);
    QCOMPARE(more.err.trimmed().split('\n').last(),
             QString("umt5: error: the latest answer was generated by another model: its token id 5862 is outside "
                     "the vocabulary of 3072 of \"umt5-tiny-a\"; continue it with the model that wrote it, or "
                     "regenerate it"));
}

void TestHostileSessions::badAllocInWords() {
    QCOMPARE(QString::fromStdString(error_text(std::bad_alloc())),
             QString("not enough memory for this request (an allocation failed); try a shorter text, fewer tokens or "
                     "a smaller model"));
    QCOMPARE(QString::fromStdString(error_text(Error("x: y"))), QString("x: y"));
}

// `export --out` onto the session replaced it with Markdown; `score --out` onto model.safetensors replaced the
// weights. Both exited 0.
void TestHostileSessions::outputPaths_data() {
    QTest::addColumn<QString>("command");
    QTest::addColumn<QString>("target");    // what --out (or import's --session) names
    QTest::addColumn<bool>("force");
    QTest::addColumn<QString>("expected");  // "" = success; OUT stands for the target's path
    QTest::newRow("export onto its session") << "export" << "session" << false
        << "OUT: refusing to write --out over --session, an input of this command";
    QTest::newRow("export onto its session, forced") << "export" << "session" << true
        << "OUT: refusing to write --out over --session, an input of this command";
    QTest::newRow("export onto a hard link to its session") << "export" << "link" << true
        << "OUT: refusing to write --out over --session, an input of this command";
    QTest::newRow("export onto another session") << "export" << "other" << false
        << "OUT: refusing to replace a conversation file with --out; add --force to replace it";
    QTest::newRow("export onto another session, forced") << "export" << "other" << true << "";
    QTest::newRow("score onto the model's weights") << "score" << "model" << true
        << "OUT: refusing to write --out over the model's model.safetensors, an input of this command";
    QTest::newRow("score onto other weights") << "score" << "weights" << false
        << "OUT: refusing to replace a weights file with --out; add --force to replace it";
    QTest::newRow("score onto other weights, forced") << "score" << "weights" << true << "";
    QTest::newRow("score onto an earlier score") << "score" << "score" << false << "";
    QTest::newRow("score onto a session") << "score" << "other" << false
        << "OUT: refusing to replace a conversation file with --out; add --force to replace it";
    QTest::newRow("import onto its transcript") << "import" << "transcript" << true
        << "OUT: refusing to write --session over --in, an input of this command";
}

void TestHostileSessions::outputPaths() {
    QFETCH(QString, command);
    QFETCH(QString, target);
    QFETCH(bool, force);
    QFETCH(QString, expected);
    const fs::path dir = path("out-" + std::to_string(++rows_));
    fs::create_directories(dir);
    const fs::path model = dir / "model";
    fs::create_directories(model);
    for (const char* f : {"config.json", "model.safetensors", "spiece.model"})
        fs::copy_file(umt5test::tiny_a_dir() / f, model / f);
    const fs::path session = dir / "chat.umt5session";
    conversation_of(1, "Hello").save(session, nullptr, false);
    const fs::path transcript = dir / "chat.json";
    QCOMPARE(umt5test::run_tool({"export", "--session", QString::fromStdString(session.string()), "--format", "json",
                                 "--out", QString::fromStdString(transcript.string())}).exit_code, 0);
    fs::path out;
    if (target == "session") out = session;
    if (target == "link") fs::create_hard_link(session, out = dir / "link.md");
    if (target == "other") conversation_of(2, "Other").save(out = dir / "other.umt5session", nullptr, false);
    if (target == "model") out = model / "model.safetensors";
    if (target == "weights") fs::copy_file(model / "model.safetensors", out = dir / "weights.safetensors");
    if (target == "score") out = dir / "score.safetensors";
    if (target == "transcript") out = transcript;
    const QString q_out = QString::fromStdString(out.string());
    QStringList args;
    if (command == "export")
        args = {"export", "--session", QString::fromStdString(session.string()), "--format", "md", "--out", q_out};
    if (command == "score") {
        args = {"score", "--model", QString::fromStdString(model.string()), "--input-ids", "5,6,1", "--decoder-ids",
                "0,7", "--out", q_out};
        if (target == "score") QCOMPARE(umt5test::run_tool(args).exit_code, 0);  // the earlier score
    }
    if (command == "import") args = {"import", "--in", QString::fromStdString(transcript.string()), "--session", q_out};
    if (force) args << "--force";
    const std::string before = fs::exists(out) ? umt5test::read_file(out) : std::string();
    const umt5test::ToolRun run = umt5test::run_tool(args);
    if (expected.isEmpty()) {
        QCOMPARE(run.err, QString());
        QCOMPARE(run.exit_code, 0);
        QVERIFY(umt5test::read_file(out) != before || target == "score");
    } else {
        QCOMPARE(run.err.trimmed(), "umt5: error: " + QString(expected).replace("OUT", q_out));
        QCOMPARE(run.exit_code, 1);
        QVERIFY(umt5test::read_file(out) == before);  // untouched
    }
}

// With stdout closed or on a full disk, `generate` exited 0 having written nothing. A closed stdout also let the
// next file opened take descriptor 1: the streamed answer would have gone into the session's temporary file.
void TestHostileSessions::failedStdout_data() {
    QTest::addColumn<QString>("redirect");
    QTest::addColumn<QStringList>("extra");
    QTest::addColumn<QString>("reason");
    QTest::newRow("closed") << ">&-" << QStringList{} << "Bad file descriptor";
    QTest::newRow("closed, with --session") << ">&-" << QStringList{"--session", "SESSION"} << "Bad file descriptor";
    QTest::newRow("full") << ">/dev/full" << QStringList{} << "No space left on device";
    QTest::newRow("full, --json") << ">/dev/full" << QStringList{"--json"} << "No space left on device";
    QTest::newRow("full, with --session") << ">/dev/full" << QStringList{"--session", "SESSION"}
                                          << "No space left on device";
}

void TestHostileSessions::failedStdout() {
    QFETCH(QString, redirect);
    QFETCH(QStringList, extra);
    QFETCH(QString, reason);
    const QString session = qpath("stdout-" + std::to_string(++rows_) + ".umt5session");
    extra.replaceInStrings("SESSION", session);
    const umt5test::ToolRun run = run_redirected(
        QStringList{"generate", "--model", tiny_a(), "--prompt", "Hello world", "--max-new-tokens", "3"} + extra,
        redirect);
    QCOMPARE(run.err.trimmed(), "umt5: error: cannot write to standard output (" + reason + ")");
    QCOMPARE(run.exit_code, 1);
    QVERIFY(!QFile::exists(session));  // the turn whose answer could not be shown is not saved
    // The other commands that print: continue, and bench's report.
    const umt5test::ToolRun ok = umt5test::run_tool({"generate", "--model", tiny_a(), "--prompt", "Hello world",
                                                     "--max-new-tokens", "3", "--session", session});
    QCOMPARE(ok.exit_code, 0);
    const umt5test::ToolRun more =
        run_redirected({"continue", "--model", tiny_a(), "--session", session, "--max-new-tokens", "2",
                        "--ignore-eos"}, redirect);
    QCOMPARE(more.exit_code, 1);
    QCOMPARE(more.err.trimmed(), "umt5: error: cannot write to standard output (" + reason + ")");
}

// Another program updating the session waits (and says so) until the lock is released, then adds its turn; the
// lock file goes with the lock.
void TestHostileSessions::lockIsReleased() {
    const fs::path session = path("locked.umt5session");
    std::optional<SessionLock> lock(std::in_place, session);
    QVERIFY(fs::exists(SessionLock::lock_path(session)));
    QProcess other;
    other.start(umt5test::cli_path(), {"generate", "--model", tiny_a(), "--prompt", "Hello", "--max-new-tokens", "1",
                                       "--session", QString::fromStdString(session.string())});
    QVERIFY(other.waitForStarted());
    QByteArray err;
    QElapsedTimer clock;
    clock.start();
    while (!err.contains("waiting for another program") && clock.elapsed() < 60000) {
        other.waitForReadyRead(100);
        err += other.readAllStandardError();
    }
    QCOMPARE(QString::fromUtf8(err).trimmed(),
             "umt5: waiting for another program that is using " + QString::fromStdString(session.string()));
    QCOMPARE(other.state(), QProcess::Running);
    QVERIFY(!fs::exists(session));
    lock.reset();
    QVERIFY(other.waitForFinished(120000));
    QCOMPARE(other.exitCode(), 0);
    QCOMPARE(Conversation::load(session, nullptr).turns().size(), size_t(1));
    QVERIFY(!fs::exists(SessionLock::lock_path(session)));
}

QTEST_GUILESS_MAIN(TestHostileSessions)
#include "test_hostile_sessions.moc"
