// What a conversation remembers about its answers beyond their text, and keeps in its session file: the model
// (name, precision) that wrote each answer, the earlier versions of a regenerated answer, the model's directory
// (for `umt5 continue` without --model) and when the conversation was made. Older files without these still load.
#include <QtTest>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/chat/conversation.h"
#include "core/engine/model.h"
#include "test_util.h"

using namespace umt5;

namespace {

GenerationOptions sampled(int tokens, uint64_t seed) {
    GenerationOptions o;
    o.max_new_tokens = tokens;
    o.sampling.temperature = 1.0f;
    o.sampling.seed = seed;
    return o;
}

}  // namespace

class TestConversationHistory : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    std::shared_ptr<const Model> tiny_;
    std::shared_ptr<const Model> tiny_int8_;

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        tiny_ = Model::load(umt5test::tiny_a_dir());
        LoadOptions int8;
        int8.precision = Precision::Int8;
        tiny_int8_ = Model::load(umt5test::tiny_a_dir(), int8);
    }

    void answersKeepTheirModel() {
        Conversation c;
        c.submit(*tiny_, "Open the file", sampled(4, 1));
        c.submit(*tiny_int8_, "Close the file", sampled(4, 2));
        QCOMPARE(c.turns()[0].model_name, std::string("umt5-tiny-a"));
        QCOMPARE(c.turns()[0].model_precision, std::string("fp32"));
        QCOMPARE(c.turns()[1].model_precision, std::string("int8"));
        QCOMPARE(c.model_path(), std::filesystem::absolute(umt5test::tiny_a_dir()).string());
        QVERIFY(c.created_ms() > 0);

        const std::filesystem::path path = dir_.filePath("labels.umt5session").toStdString();
        c.save(path, tiny_int8_.get(), false);
        const Conversation back = Conversation::load(path, nullptr);
        QCOMPARE(back.turns()[0].model_precision, std::string("fp32"));
        QCOMPARE(back.turns()[1].model_name, std::string("umt5-tiny-a"));
        QCOMPARE(back.turns()[1].model_precision, std::string("int8"));
        QCOMPARE(back.model_path(), c.model_path());
        QCOMPARE(back.created_ms(), c.created_ms());
    }

    void regenerateKeepsEarlierAnswers() {
        Conversation c;
        const GenerationResult first = c.submit(*tiny_, "Open the file", sampled(6, 11));
        c.regenerate(*tiny_int8_, sampled(6, 12));
        c.regenerate(*tiny_, sampled(6, 13));
        const Turn& turn = c.turns().back();
        QCOMPARE(turn.earlier_answers.size(), size_t{2});
        QCOMPARE(turn.earlier_answers[0].output_ids, first.output_ids);
        QCOMPARE(turn.earlier_answers[0].answer, first.text);
        QCOMPARE(turn.earlier_answers[0].options.sampling.seed, uint64_t{11});
        QCOMPARE(turn.earlier_answers[1].model_precision, std::string("int8"));
        QCOMPARE(turn.options.sampling.seed, uint64_t{13});

        const std::filesystem::path path = dir_.filePath("versions.umt5session").toStdString();
        c.save(path, tiny_.get(), true);
        const Conversation back = Conversation::load(path, tiny_.get());
        const Turn& restored = back.turns().back();
        QCOMPARE(restored.earlier_answers.size(), size_t{2});
        QCOMPARE(restored.earlier_answers[0].output_ids, first.output_ids);
        QCOMPARE(restored.earlier_answers[1].answer, turn.earlier_answers[1].answer);
        QCOMPARE(restored.earlier_answers[1].options.sampling.seed, uint64_t{12});
        QCOMPARE(restored.earlier_answers[1].model_precision, std::string("int8"));
        QCOMPARE(restored.output_ids, turn.output_ids);
        QVERIFY(back.has_cache());  // the cache still belongs to the current answer
    }

    void olderFilesStillLoad() {
        // A file from before these fields: no model per turn, no earlier answers, no model_path, no created_ms.
        Conversation c;
        c.submit(*tiny_, "Open the file", sampled(3, 5));
        nlohmann::json j = nlohmann::json::parse(c.to_json());
        j.erase("model_path");
        j.erase("created_ms");
        for (auto& turn : j["turns"]) turn.erase("model");
        const Conversation old = Conversation::from_json(j.dump(), "old.umt5session");
        QCOMPARE(old.turns()[0].model_name, std::string());
        QCOMPARE(old.model_path(), std::string());
        QCOMPARE(old.created_ms(), c.turns()[0].created_ms);  // the first turn's time stands in
    }
};

QTEST_APPLESS_MAIN(TestConversationHistory)
#include "test_conversation_history.moc"
