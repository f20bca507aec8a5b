// Transcripts: JSON export -> import round trips on multilingual text, golden Markdown/text/HTML/JSON files,
// JSON Schema validation of the exports (python3-jsonschema), exact import errors, atomic writes, and the
// `umt5 export` / `umt5 import` commands (PDF included).
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <sys/resource.h>

#include <csignal>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/formats/atomic_file.h"
#include "core/chat/conversation.h"
#include "core/formats/error.h"
#include "core/engine/model.h"
#include "core/chat/transcript.h"
#include "test_util.h"

using namespace umt5;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kGoldenDir = umt5test::data_dir() / "transcripts";
const fs::path kSchema = umt5test::data_dir().parent_path().parent_path() / "docs" / "transcript.schema.json";
const fs::path kValidator = umt5test::data_dir().parent_path() / "validate_schema.py";



template <typename F> std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// A turn in the session format's JSON (what Conversation::from_json reads).
json session_turn(const std::string& prompt, const std::string& answer, int64_t created_ms) {
    return {{"prompt", prompt},
            {"encoder_text", prompt},
            {"prompt_ids", {37, 423, 9, 1}},
            {"output_ids", {1042, 87, 1}},
            {"answer", answer},
            {"finish", "eos"},
            {"created_ms", created_ms},
            {"settings",
             {{"max_new_tokens", 64}, {"use_cache", true}, {"ignore_eos", false}, {"temperature", 0.0},
              {"top_k", 0}, {"top_p", 1.0}, {"repetition_penalty", 1.0}, {"seed", 0}}},
            {"stats",
             {{"encode_ms", 12.5}, {"first_token_ms", 20.25}, {"decode_ms", 40.0}, {"tokens", 3},
              {"tokens_per_s", 75.0}, {"cache", true}, {"encoder_reused", false}}}};
}

Conversation conversation_of(const json& turns, const std::string& title, bool carry_context = false,
                             const std::string& rng_state = "") {
    const json session = {{"format", "umt5-session"}, {"version", 1},           {"id", "0123456789abcdef"},
                          {"title", title},           {"carry_context", carry_context}, {"rng_state", rng_state},
                          {"turns", turns}};
    return Conversation::from_json(session.dump(), "test");
}

// The fixed conversation of the golden files: markup characters, right-to-left and CJK text, emoji, combining
// marks, indentation, an empty answer, and sampled, cache-less and reused-encoder turns.
Conversation golden_conversation() {
    json turns = json::array();
    turns.push_back(session_turn("translate English to German: *bold* _x_ [link](y) # > <b>&\"' `code` | a\\b",
                                 "Datei <nicht> gefunden & *so*", 1714566896789));
    turns.push_back(session_turn("ترجم إلى العربية: احفظ الملف\nשמור את הקובץ", "احفظ الملف\nשמור את הקובץ",
                                 1714566900000));
    json third = session_turn("日本語のテキスト 中文 한국어\n  indented 👩‍💻 👨‍👩‍👧 é e\u0301 Tiếng Việt\n",
                              "文件未找到 👍🏽 ok\n", 1714566999999);
    third["finish"] = "length";
    third["settings"] = {{"max_new_tokens", 16}, {"use_cache", false},  {"ignore_eos", true},
                         {"temperature", 0.7f},  {"top_k", 40},         {"top_p", 0.9f},
                         {"repetition_penalty", 1.1f}, {"seed", 42}};
    third["stats"] = {{"encode_ms", 0.0}, {"first_token_ms", 3.125}, {"decode_ms", 250.0}, {"tokens", 16},
                      {"tokens_per_s", 64.0}, {"cache", false}, {"encoder_reused", true}};
    turns.push_back(third);
    json fourth = session_turn("1. list\n---\n    code\n\n\nend", "", 1714567000000);
    fourth["finish"] = "stopped";
    fourth["output_ids"] = json::array();
    turns.push_back(fourth);
    return conversation_of(turns, "Multilingual <test> & \"quotes\"", true);
}

TranscriptInfo golden_info() {
    TranscriptInfo info;
    info.model_name = "demo-umt5";
    info.model_path = "/models/demo-umt5";
    info.model_identity = "7879af42ad6c419a";
    info.model_config = "vocab=32128;d_model=512";
    info.exported_ms = 1714567000123;
    return info;
}

// Validates `document` against docs/transcript.schema.json; returns the validator's report ("" when valid).
// A missing python3-jsonschema makes this fail, not skip.
QString schema_errors(const std::string& document, int* exit_code = nullptr) {
    QProcess process;
    process.start("/usr/bin/python3", {QString::fromStdString(kValidator.string()),
                                       QString::fromStdString(kSchema.string()), "-"});
    process.write(QByteArray::fromStdString(document));
    process.closeWriteChannel();
    process.waitForFinished(60000);
    const int code = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    if (exit_code) *exit_code = code;
    const QString report = QString::fromUtf8(process.readAllStandardOutput() + process.readAllStandardError());
    return code == 0 ? QString() : QStringLiteral("exit %1: %2").arg(code).arg(report);
}

// What a Markdown paragraph written by export_markdown renders as: hard breaks, backslash escapes and numeric
// character references undone.
std::string markdown_rendered(const std::string& markdown) {
    std::string out;
    for (size_t i = 0; i < markdown.size(); ++i) {
        if (markdown[i] == '\\' && i + 1 < markdown.size()) {
            out += markdown[++i];
        } else if (markdown.compare(i, 2, "&#") == 0) {
            const size_t end = markdown.find(';', i);
            out += static_cast<char>(std::stoi(markdown.substr(i + 2, end - i - 2)));
            i = end;
        } else {
            out += markdown[i];
        }
    }
    return out;
}

std::string html_unescaped(std::string text) {
    for (const auto& [entity, c] : std::vector<std::pair<std::string, std::string>>{
             {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}}) {
        for (size_t at = text.find(entity); at != std::string::npos; at = text.find(entity, at + c.size()))
            text.replace(at, entity.size(), c);
    }
    return text;
}


QString q(const fs::path& path) { return QString::fromStdString(path.string()); }

}  // namespace

class TestTranscript : public QObject {
    Q_OBJECT

private slots:
    void roundTrip_data() {
        QTest::addColumn<QString>("text");
        QTest::newRow("ascii") << "translate English to German: File not found";
        QTest::newRow("arabic") << "ترجم إلى العربية: لم يتم العثور على الملف";
        QTest::newRow("hebrew") << "הקובץ לא נמצא (שגיאה 404)";
        QTest::newRow("cjk") << "找不到文件。ファイルが見つかりません。파일을 찾을 수 없습니다";
        QTest::newRow("emoji zwj") << "👩‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇩🇪";
        QTest::newRow("combining marks") << "e\u0301 a\u0308 Tiếng Việt नमस्ते ก\u0e34";
        QTest::newRow("markdown specials") << "*bold* _it_ [a](b) # h > q `c` ~s~ | t | 1. x\n- y\n===";
        QTest::newRow("html specials") << "<script>alert('x')</script> & \"quoted\" &amp; &#39;";
        QTest::newRow("newlines and spaces") << "\n  leading\n\ttab\n\ntrailing  \n\n";
        QTest::newRow("mixed directions") << "Save حفظ שמור 保存 😀\r\nend";
        QTest::newRow("empty") << "";
    }
    void roundTrip() {
        QFETCH(QString, text);
        const std::string s = text.toStdString();
        json turns = json::array();
        turns.push_back(session_turn(s.empty() ? "x" : s, s, 1714566896789));
        json sampled = session_turn("p\n" + s, s + s, 1);
        sampled["settings"] = {{"max_new_tokens", 7},   {"use_cache", false},   {"ignore_eos", true},
                               {"temperature", 0.7f},   {"top_k", 40},          {"top_p", 0.9f},
                               {"repetition_penalty", 1.1f}, {"seed", 18446744073709551615ull}};
        sampled["stats"]["first_token_ms"] = 0.1 + 0.2;
        sampled["finish"] = "stopped";
        turns.push_back(sampled);
        Sampler sampler(SamplingOptions{0.7f, 40, 0.9f, 1.1f, 7});
        std::vector<float> logits(8, 0.5f);
        sampler.next(logits.data(), 8, {});
        const Conversation original = conversation_of(turns, s, true, sampler.rng_state());

        const std::string exported = export_json(original, golden_info());
        const Conversation imported = import_json(exported, "round-trip.json");
        QCOMPARE(imported.to_json(), original.to_json());
        QVERIFY(!imported.has_cache());
        QCOMPARE(imported.turns().at(0).answer, s);
        QCOMPARE(imported.turns().at(1).options.sampling.temperature, 0.7f);
        QCOMPARE(imported.turns().at(1).options.sampling.seed, 18446744073709551615ull);
        QCOMPARE(imported.turns().at(1).stats.first_token_ms, 0.1 + 0.2);
        // Exporting the import again gives the same bytes.
        QCOMPARE(export_json(imported, golden_info()), exported);
        QCOMPARE(schema_errors(exported), QString());
    }

    // Markdown and HTML render exactly the original characters.
    void readableFormatsKeepText_data() { roundTrip_data(); }
    void readableFormatsKeepText() {
        QFETCH(QString, text);
        const std::string s = text.toStdString();
        json turns = json::array();
        turns.push_back(session_turn("prompt", s, 0));
        const Conversation conversation = conversation_of(turns, "t");

        const std::string markdown = export_markdown(conversation, golden_info());
        const std::string model_label = "**demo-umt5**\n\n";
        const size_t begin = markdown.find(model_label) + model_label.size();
        const std::string paragraph = markdown.substr(begin, markdown.find("\n\n*", begin) - begin);
        QCOMPARE(paragraph.find("\n\n"), std::string::npos);  // one paragraph, whatever the text
        if (s.empty())
            QCOMPARE(paragraph, std::string("*(empty)*"));
        else
            QCOMPARE(markdown_rendered(paragraph), s);
        // Syntax never survives unescaped (a backslash right before it makes it text).
        for (const char* raw : {"*bold*", "[a](b)", "<script>", "\n- y", "\n===", "\n\n"}) {
            if (s.find(raw) == std::string::npos) continue;
            for (size_t at = paragraph.find(raw); at != std::string::npos; at = paragraph.find(raw, at + 1))
                QVERIFY2(raw[0] != '\n' && at > 0 && paragraph[at - 1] == '\\', raw);
        }

        const std::string html = export_html(conversation, golden_info());
        const std::string open = "<div class=\"message model\">\n<div class=\"speaker\">demo-umt5</div>\n"
                                 "<div class=\"text\" dir=\"auto\">";
        const size_t start = html.find(open) + open.size();
        const std::string body = html.substr(start, html.find("</div>", start) - start);
        QCOMPARE(html_unescaped(body), s);
        QCOMPARE(body.find_first_of("<>\"'"), std::string::npos);
    }

    // Punctuation that cannot start Markdown syntax where it stands is left alone, so the file reads like the
    // text ("demo-umt5", not "demo\-umt5"); block markers are escaped only at the start of a line.
    void markdownEscapesOnlySyntax_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("plain punctuation") << "demo-umt5 /tmp/x.bin 1.5 a+b (c) 'q' \"d\" x: y! 50% ="
                                           << "demo-umt5 /tmp/x.bin 1.5 a+b (c) 'q' \"d\" x: y! 50% =";
        QTest::newRow("inline syntax") << "*a* _b_ `c` [d] <e> &f |g| ~h~ #i \\j"
                                       << "\\*a\\* \\_b\\_ \\`c\\` \\[d\\] \\<e> \\&f \\|g\\| \\~h\\~ \\#i \\\\j";
        QTest::newRow("list item") << "- item" << "\\- item";
        QTest::newRow("plus item") << "+ item" << "\\+ item";
        QTest::newRow("numbered") << "12. item" << "12\\. item";
        QTest::newRow("numbered paren") << "3) item" << "3\\) item";
        QTest::newRow("number mid-line") << "take 12. item" << "take 12. item";
        QTest::newRow("quote") << "> quoted" << "\\> quoted";
        QTest::newRow("underline") << "===" << "\\===";
        QTest::newRow("second line") << "a\n- b" << "a\\\n\\- b";
    }
    void markdownEscapesOnlySyntax() {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        json turns = json::array();
        turns.push_back(session_turn("prompt", text.toStdString(), 0));
        const std::string markdown = export_markdown(conversation_of(turns, "t"), golden_info());
        const std::string model_label = "**demo-umt5**\n\n";
        const size_t begin = markdown.find(model_label) + model_label.size();
        const std::string paragraph = markdown.substr(begin, markdown.find("\n\n*", begin) - begin);
        QCOMPARE(QString::fromStdString(paragraph), expected);
        QCOMPARE(markdown_rendered(paragraph), text.toStdString());
        QVERIFY(markdown.find("- **Model path:** /models/demo-umt5\n") != std::string::npos);
    }

    void golden_data() {
        QTest::addColumn<QString>("file");
        QTest::newRow("markdown") << "conversation.md";
        QTest::newRow("text") << "conversation.txt";
        QTest::newRow("html") << "conversation.html";
        QTest::newRow("json") << "conversation.json";
    }
    // Set UMT5_UPDATE_GOLDEN=1 to rewrite the files after an intended change (and review the diff).
    void golden() {
        QFETCH(QString, file);
        const Conversation conversation = golden_conversation();
        const TranscriptInfo info = golden_info();
        const std::string name = file.toStdString();
        std::string actual;
        if (name.ends_with(".md")) actual = export_markdown(conversation, info);
        if (name.ends_with(".txt")) actual = export_text(conversation, info);
        if (name.ends_with(".html")) actual = export_html(conversation, info);
        if (name.ends_with(".json")) actual = export_json(conversation, info);
        const fs::path golden = kGoldenDir / name;
        if (qEnvironmentVariableIsSet("UMT5_UPDATE_GOLDEN")) umt5test::write_file(golden, actual);
        QVERIFY2(fs::exists(golden), golden.c_str());
        const std::string expected = umt5test::read_file(golden);
        if (actual != expected) {
            const fs::path dump = fs::temp_directory_path() / ("actual-" + name);
            umt5test::write_file(dump, actual);
            QFAIL(qPrintable(QString("%1 differs from the export; see %2").arg(q(golden), q(dump))));
        }
    }

    void goldenHtmlIsSelfContained() {
        const std::string html = umt5test::read_file(kGoldenDir / "conversation.html");
        QVERIFY(html.find("<meta charset=\"utf-8\">") != std::string::npos);
        QVERIFY(html.find("@media (prefers-color-scheme: dark)") != std::string::npos);
        QCOMPARE(std::count(html.begin(), html.end(), '\n') > 0, true);
        // Every message text, prompt and answer, decides its own direction.
        const std::regex message("<div class=\"text\" dir=\"auto\">");
        const auto count = std::distance(std::sregex_iterator(html.begin(), html.end(), message), {});
        QCOMPARE(count, static_cast<long>(2 * golden_conversation().turns().size()));
        QVERIFY(html.find("<script") == std::string::npos);
        QVERIFY(html.find("&lt;b&gt;&amp;&quot;&#39;") != std::string::npos);
    }

    void goldenJsonImports() {
        const Conversation imported = import_json(umt5test::read_file(kGoldenDir / "conversation.json"), "conversation.json");
        QCOMPARE(imported.to_json(), golden_conversation().to_json());
    }

    void schemaRejects_data() {
        QTest::addColumn<QString>("pointer");
        QTest::addColumn<QString>("value");
        QTest::newRow("valid") << "" << "";
        QTest::newRow("future version") << "/version" << "2";
        QTest::newRow("wrong format") << "/format" << "\"umt5-session\"";
        QTest::newRow("bad finish") << "/turns/0/finish" << "\"done\"";
        QTest::newRow("bad created") << "/turns/0/created" << "\"yesterday\"";
        QTest::newRow("negative id") << "/turns/0/prompt_ids/0" << "-1";
        QTest::newRow("string seed") << "/turns/2/settings/seed" << "\"42\"";
        QTest::newRow("unknown member") << "/turns/0/stats/extra" << "1";
        QTest::newRow("bad conversation id") << "/conversation/id" << "\"Not An Id\"";
    }
    // The schema is strict enough to catch exporter mistakes: the golden JSON passes, each mutation fails.
    void schemaRejects() {
        QFETCH(QString, pointer);
        QFETCH(QString, value);
        json document = json::parse(umt5test::read_file(kGoldenDir / "conversation.json"));
        if (!pointer.isEmpty()) document[json::json_pointer(pointer.toStdString())] = json::parse(value.toStdString());
        int code = -1;
        const QString report = schema_errors(document.dump(), &code);
        if (pointer.isEmpty()) {
            QCOMPARE(report, QString());
        } else {
            QVERIFY2(code == 1, qPrintable(report));  // 2 would mean a broken schema or a missing validator
        }
    }

    void importErrors_data() {
        QTest::addColumn<QString>("pointer");  // "" = use `value` as the whole text
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("error");
        QTest::newRow("not json") << "" << "{\"format\": \"umt5-transcript\", "
                                  << "in.json: not a valid JSON document (error at byte 31)";
        QTest::newRow("truncated") << "" << "{\"format\": \"umt5-transcript\", \"version\": 1, \"turns\": [{\"pro"
                                   << "in.json: not a valid JSON document (error at byte 60)";
        QTest::newRow("huge number") << "" << "{\"format\": \"umt5-transcript\", \"version\": 1e400}"
                                     << "in.json: not a valid JSON document (number overflow parsing '1e400')";
        QTest::newRow("array") << "" << "[1, 2]"
                               << "in.json: not a umT5 transcript (\"format\" is not \"umt5-transcript\")";
        QTest::newRow("wrong format") << "/format" << "\"umt5-session\""
                                      << "in.json: not a umT5 transcript (\"format\" is not \"umt5-transcript\")";
        QTest::newRow("future version") << "/version" << "2"
                                        << "in.json: transcript version 2 is newer than this program supports "
                                           "(version 1)";
        QTest::newRow("version zero") << "/version" << "0"
                                      << "in.json: damaged transcript: version must be a positive integer";
        QTest::newRow("version text") << "/version" << "\"1\""
                                      << "in.json: damaged transcript: version must be a positive integer";
        QTest::newRow("turns not array") << "/turns" << "{}" << "in.json: damaged transcript: turns must be an array";
        QTest::newRow("prompt number") << "/turns/1/prompt" << "5"
                                       << "in.json: damaged transcript: turns[1].prompt must be a string";
        QTest::newRow("bad finish") << "/turns/0/finish" << "\"done\""
                                    << "in.json: damaged transcript: turns[0].finish must be \"eos\", \"length\", "
                                       "\"stopped\", \"input_length\" or \"repetition\"";
        QTest::newRow("negative id") << "/turns/0/output_ids/1" << "-3"
                                     << "in.json: damaged transcript: turns[0].output_ids[1] must be between 0 and "
                                        "2147483647";
        QTest::newRow("bad id") << "/conversation/id" << "\"../x\""
                                << "in.json: damaged transcript: conversation.id must be 1 to 64 characters among "
                                   "a-z, 0-9, '-' and '_'";
        QTest::newRow("bad top_p") << "/turns/2/settings/top_p" << "0"
                                   << "in.json: damaged transcript: turns[2].settings are invalid: top-p must be "
                                      "greater than 0 and at most 1 (got 0)";
        QTest::newRow("bad rng state") << "/conversation/rng_state" << "\"not a state\""
                                       << "in.json: damaged transcript: conversation.rng_state is not a sampler state";
        QTest::newRow("negative time") << "/turns/3/created_ms" << "-1"
                                       << "in.json: damaged transcript: turns[3].created_ms must be between 0 and "
                                          "253402300799999";
    }
    void importErrors() {
        QFETCH(QString, pointer);
        QFETCH(QString, value);
        QFETCH(QString, error);
        std::string text = value.toStdString();
        if (!pointer.isEmpty()) {
            json document = json::parse(umt5test::read_file(kGoldenDir / "conversation.json"));
            document[json::json_pointer(pointer.toStdString())] = json::parse(value.toStdString());
            text = document.dump();
        }
        QCOMPARE(QString::fromStdString(error_of([&] { import_json(text, "in.json"); })), error);
    }

    void missingFieldsAreNamed_data() {
        QTest::addColumn<QString>("pointer");
        QTest::newRow("version") << "/version";
        QTest::newRow("conversation") << "/conversation";
        QTest::newRow("title") << "/conversation/title";
        QTest::newRow("answer") << "/turns/0/answer";
        QTest::newRow("seed") << "/turns/2/settings/seed";
        QTest::newRow("tokens") << "/turns/1/stats/tokens";
    }
    void missingFieldsAreNamed() {
        QFETCH(QString, pointer);
        json document = json::parse(umt5test::read_file(kGoldenDir / "conversation.json"));
        const json::json_pointer at(pointer.toStdString());
        document[at.parent_pointer()].erase(at.back());
        QString expected = pointer.mid(1).replace('/', '.');
        expected.replace(QRegularExpression("\\.([0-9]+)"), "[\\1]");
        QCOMPARE(QString::fromStdString(error_of([&] { import_json(document.dump(), "in.json"); })),
                 "in.json: damaged transcript: " + expected + " is missing");
    }

    void atomicWriteReplaces() {
        QTemporaryDir dir;
        const fs::path path = fs::path(dir.path().toStdString()) / "out.md";
        write_file_atomically(path, "first");
        QCOMPARE(umt5test::read_file(path), std::string("first"));
        write_file_atomically(path, std::string(100000, 'x'));
        QCOMPARE(umt5test::read_file(path), std::string(100000, 'x'));
        QCOMPARE(names_in(path.parent_path()), std::vector<std::string>{"out.md"});
        QCOMPARE(fs::status(path).permissions() & fs::perms::others_write, fs::perms::none);
    }

    void atomicWriteFailureKeepsOldFile_data() {
        QTest::addColumn<QString>("scenario");
        QTest::newRow("target is a directory") << "directory";
        QTest::newRow("missing directory") << "missing";
        QTest::newRow("write fails midway") << "file-size-limit";
    }
    void atomicWriteFailureKeepsOldFile() {
        QFETCH(QString, scenario);
        QTemporaryDir dir;
        const fs::path root(dir.path().toStdString());
        const fs::path old_file = root / "transcript.md";
        umt5test::write_file(old_file, "old content");
        std::string error;
        if (scenario == "directory") {
            fs::create_directory(root / "taken");
            umt5test::write_file(root / "taken" / "inside", "keep");
            error = error_of([&] { write_file_atomically(root / "taken", "new"); });
            QVERIFY(error.starts_with((root / "taken").string() + ": cannot replace the file: "));
            QCOMPARE(umt5test::read_file(root / "taken" / "inside"), std::string("keep"));
        } else if (scenario == "missing") {
            error = error_of([&] { write_file_atomically(root / "nowhere" / "transcript.md", "new"); });
            QCOMPARE(error, (root / "nowhere" / "transcript.md").string() + ": cannot write: No such file or directory");
        } else {
            // A file size limit makes write() fail after the first bytes: the half-written temporary file must go.
            rlimit saved{};
            getrlimit(RLIMIT_FSIZE, &saved);
            const auto previous = std::signal(SIGXFSZ, SIG_IGN);
            rlimit limited = saved;
            limited.rlim_cur = 4096;
            setrlimit(RLIMIT_FSIZE, &limited);
            error = error_of([&] { write_file_atomically(old_file, std::string(1 << 20, 'n')); });
            setrlimit(RLIMIT_FSIZE, &saved);
            std::signal(SIGXFSZ, previous);
            QCOMPARE(error, old_file.string() + ": cannot write: File too large");
        }
        QCOMPARE(umt5test::read_file(old_file), std::string("old content"));
        // No temporary file is left behind.
        std::vector<std::string> expected{"transcript.md"};
        if (scenario == "directory") expected.insert(expected.begin(), "taken");
        QCOMPARE(names_in(root), expected);
    }

    void iso8601() {
        QCOMPARE(iso8601_utc(0), std::string("1970-01-01T00:00:00.000Z"));
        QCOMPARE(iso8601_utc(1714566896789), std::string("2024-05-01T12:34:56.789Z"));
        QCOMPARE(iso8601_utc(951782400000), std::string("2000-02-29T00:00:00.000Z"));
        QCOMPARE(iso8601_utc(253402300799999), std::string("9999-12-31T23:59:59.999Z"));
    }

    void cliExport_data() {
        QTest::addColumn<QString>("format");
        QTest::newRow("md") << "md";
        QTest::newRow("txt") << "txt";
        QTest::newRow("html") << "html";
        QTest::newRow("json") << "json";
        QTest::newRow("pdf") << "pdf";
    }
    void cliExport() {
        QFETCH(QString, format);
        QTemporaryDir dir;
        const fs::path root(dir.path().toStdString());
        const Conversation conversation = golden_conversation();
        conversation.save(root / "c.umt5session", nullptr, false);
        const fs::path out = root / ("c." + format.toStdString());
        const umt5test::ToolRun run = umt5test::run_tool({"export", "--session", q(root / "c.umt5session"), "--format", format, "--out", q(out)});
        QVERIFY2(run.exit_code == 0, qPrintable(run.err));
        QCOMPARE(run.err, QString());
        const std::string bytes = umt5test::read_file(out);
        TranscriptInfo info;  // no model: the session has no cache to name one
        if (format == "pdf") {
            QVERIFY(bytes.starts_with("%PDF-"));
            QVERIFY(bytes.find("%%EOF") != std::string::npos);
            QVERIFY(bytes.find("/Type /Page\n") != std::string::npos || bytes.find("/Type /Page ") != std::string::npos ||
                    bytes.find("/Type /Page/") != std::string::npos);
            const std::regex count("/Count ([0-9]+)");
            std::smatch match;
            QVERIFY(std::regex_search(bytes, match, count));
            QVERIFY(std::stoi(match[1]) >= 1);
            // Arabic, Hebrew and CJK text found fonts with their glyphs (fonts-noto-core, fonts-noto-cjk).
            for (const char* font : {"/BaseFont /NotoSansArabic", "/BaseFont /NotoSansHebrew", "/BaseFont /NotoSansCJK"})
                QVERIFY2(bytes.find(font) != std::string::npos, font);
            // Emoji are drawn as colour images: Noto Color Emoji embedded as a font has no outlines to show.
            QVERIFY(bytes.find("NotoColorEmoji") == std::string::npos);
            QVERIFY(bytes.find("/Subtype /Image") != std::string::npos);
        } else {
            // Only the export time differs from the library's output.
            const json parsed = format == "json" ? json::parse(bytes) : json();
            info.exported_ms = format == "json" ? parsed.at("exported_ms").get<int64_t>() : 0;
            std::string expected;
            if (format == "md") expected = export_markdown(conversation, info);
            if (format == "txt") expected = export_text(conversation, info);
            if (format == "html") expected = export_html(conversation, info);
            if (format == "json") expected = export_json(conversation, info);
            const std::regex stamp("Exported:(\\*\\*)? (<time datetime=\"[^\"]*\">)?[0-9: -]+ UTC");
            QCOMPARE(std::regex_replace(bytes, stamp, "Exported: T"), std::regex_replace(expected, stamp, "Exported: T"));
            if (format == "json") QCOMPARE(schema_errors(bytes), QString());
        }
        QCOMPARE(names_in(root).size(), size_t{2});
    }

    void cliExportNamesGivenModel() {
        QTemporaryDir dir;
        const fs::path root(dir.path().toStdString());
        golden_conversation().save(root / "c.umt5session", nullptr, false);
        const umt5test::ToolRun run = umt5test::run_tool({"export", "--session", q(root / "c.umt5session"), "--format", "json", "--out",
                                  q(root / "c.json"), "--model", q(umt5test::tiny_a_dir())});
        QVERIFY2(run.exit_code == 0, qPrintable(run.err));
        const auto model = Model::load(umt5test::tiny_a_dir());
        const json document = json::parse(umt5test::read_file(root / "c.json"));
        QCOMPARE(document["model"]["identity"].get<std::string>(), model->identity());
        QCOMPARE(document["model"]["config"].get<std::string>(), model->config().canonical());
        QCOMPARE(document["model"]["name"].get<std::string>(), std::string("umt5-tiny-a"));
    }

    void cliExportFailureWritesNothing() {
        QTemporaryDir dir;
        const fs::path root(dir.path().toStdString());
        golden_conversation().save(root / "c.umt5session", nullptr, false);
        const umt5test::ToolRun run = umt5test::run_tool({"export", "--session", q(root / "c.umt5session"), "--format", "md", "--out",
                                  q(root / "missing" / "c.md")});
        QCOMPARE(run.exit_code, 1);
        QCOMPARE(run.err, "umt5: error: " + q(root / "missing" / "c.md") + ": cannot write: No such file or directory\n");
        QCOMPARE(names_in(root), std::vector<std::string>{"c.umt5session"});
    }

    void cliImportRoundTrip() {
        QTemporaryDir dir;
        const fs::path root(dir.path().toStdString());
        const fs::path json_path = root / "in.json";
        umt5test::write_file(json_path, umt5test::read_file(kGoldenDir / "conversation.json"));
        const fs::path session = root / "out.umt5session";
        umt5test::ToolRun run = umt5test::run_tool({"import", "--in", q(json_path), "--session", q(session)});
        QVERIFY2(run.exit_code == 0, qPrintable(run.err));
        QCOMPARE(Conversation::load(session, nullptr).to_json(), golden_conversation().to_json());
        // An existing session is replaced only on request.
        run = umt5test::run_tool({"import", "--in", q(json_path), "--session", q(session)});
        QCOMPARE(run.exit_code, 1);
        QCOMPARE(run.err, "umt5: error: " + q(session) + " exists; add --force to replace it\n");
        run = umt5test::run_tool({"import", "--in", q(json_path), "--session", q(session), "--force"});
        QCOMPARE(run.exit_code, 0);
    }

    void cliImportErrorLeavesSession_data() {
        QTest::addColumn<QString>("content");
        QTest::addColumn<QString>("error");
        QTest::newRow("corrupted") << "{\"format\": \"umt5-transcript\", \"vers"
                                   << "not a valid JSON document (error at byte 36)";
        QTest::newRow("future version") << "{\"format\": \"umt5-transcript\", \"version\": 7}"
                                        << "transcript version 7 is newer than this program supports (version 1)";
        QTest::newRow("empty") << "" << "not a valid JSON document (error at byte 1)";
    }
    void cliImportErrorLeavesSession() {
        QFETCH(QString, content);
        QFETCH(QString, error);
        QTemporaryDir dir;
        const fs::path root(dir.path().toStdString());
        const fs::path session = root / "keep.umt5session";
        golden_conversation().save(session, nullptr, false);
        const std::string before = umt5test::read_file(session);
        umt5test::write_file(root / "bad.json", content.toStdString());
        const umt5test::ToolRun run = umt5test::run_tool({"import", "--in", q(root / "bad.json"), "--session", q(session), "--force"});
        QCOMPARE(run.exit_code, 1);
        QCOMPARE(run.err, "umt5: error: " + q(root / "bad.json") + ": " + error + "\n");
        QCOMPARE(umt5test::read_file(session), before);
        QCOMPARE(names_in(root), (std::vector<std::string>{"bad.json", "keep.umt5session"}));
    }
};

QTEST_GUILESS_MAIN(TestTranscript)
#include "test_transcript.moc"
