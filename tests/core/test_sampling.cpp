// Sampler: greedy choice, repetition penalty, temperature / top-k / top-p sampling, seeding and option checks.
#include "core/formats/error.h"
#include "core/chat/sampling.h"

#include <QtTest>

#include <cmath>
#include <limits>
#include <numeric>

using umt5::Sampler;
using umt5::SamplingOptions;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<float> to_vector(const QList<float>& list) { return {list.begin(), list.end()}; }

int pick(Sampler& sampler, std::vector<float> logits, const std::vector<int>& previous = {}) {
    return sampler.next(logits.data(), static_cast<int64_t>(logits.size()), previous);
}

// Argmax, lowest id on ties, computed independently of the Sampler.
int argmax(const std::vector<float>& logits) {
    int best = 0;
    for (int i = 1; i < int(logits.size()); ++i)
        if (logits[i] > logits[best]) best = i;
    return best;
}

SamplingOptions sampling(float temperature, int top_k = 0, float top_p = 1.0f, uint64_t seed = 0) {
    SamplingOptions options;
    options.temperature = temperature;
    options.top_k = top_k;
    options.top_p = top_p;
    options.seed = seed;
    return options;
}

}  // namespace

class TestSampling : public QObject {
    Q_OBJECT

private slots:
    void greedy_data() {
        QTest::addColumn<QList<float>>("logits");
        QTest::addColumn<int>("expected");
        QTest::newRow("single") << QList<float>{0.0f} << 0;
        QTest::newRow("clear max") << QList<float>{0.1f, 2.5f, -1.0f} << 1;
        QTest::newRow("tie goes to lowest id") << QList<float>{1.0f, 3.0f, 3.0f, 2.0f} << 1;
        QTest::newRow("all equal") << QList<float>{-7.0f, -7.0f, -7.0f} << 0;
        QTest::newRow("max last") << QList<float>{-3.0f, -2.0f, -1.0f} << 2;
        QTest::newRow("NaN ignored") << QList<float>{kNaN, 1.0f, 1.0f} << 1;
        QTest::newRow("-inf") << QList<float>{-kInf, -30.0f} << 1;
        QTest::newRow("all -inf after NaN") << QList<float>{kNaN, -kInf, -kInf} << 1;
        QTest::newRow("+inf") << QList<float>{5.0f, kInf, kInf} << 1;
    }
    void greedy() {
        QFETCH(QList<float>, logits);
        QFETCH(int, expected);
        Sampler sampler(SamplingOptions{});
        QCOMPARE(pick(sampler, to_vector(logits)), expected);
    }

    void repetitionPenalty_data() {
        QTest::addColumn<QList<float>>("logits");
        QTest::addColumn<QList<int>>("previous");
        QTest::addColumn<float>("penalty");
        QTest::addColumn<QList<float>>("penalized");
        QTest::addColumn<int>("expected");
        // Positive logits are divided, negative ones multiplied, each distinct id once.
        QTest::newRow("divide and multiply") << QList<float>{2.0f, -1.0f, 0.5f, 3.0f} << QList<int>{0, 1, 1, 1}
                                             << 2.0f << QList<float>{1.0f, -2.0f, 0.5f, 3.0f} << 3;
        QTest::newRow("penalty moves argmax") << QList<float>{3.0f, 2.0f} << QList<int>{0} << 2.0f
                                              << QList<float>{1.5f, 2.0f} << 1;
        QTest::newRow("repeats count once") << QList<float>{3.0f, 1.2f} << QList<int>{0, 0, 0, 0} << 2.0f
                                            << QList<float>{1.5f, 1.2f} << 0;
        QTest::newRow("below one encourages") << QList<float>{2.0f, 3.0f, -4.0f} << QList<int>{0, 2} << 0.5f
                                              << QList<float>{4.0f, 3.0f, -2.0f} << 0;
        QTest::newRow("zero logit unchanged") << QList<float>{0.0f, -0.5f} << QList<int>{0, 1} << 1.5f
                                              << QList<float>{0.0f, -0.75f} << 0;
        QTest::newRow("out-of-range ids ignored") << QList<float>{1.0f, 2.0f} << QList<int>{-1, 2, 250000} << 3.0f
                                                  << QList<float>{1.0f, 2.0f} << 1;
        QTest::newRow("off at 1") << QList<float>{1.0f, -2.0f} << QList<int>{0, 1} << 1.0f
                                  << QList<float>{1.0f, -2.0f} << 0;
    }
    void repetitionPenalty() {
        QFETCH(QList<float>, logits);
        QFETCH(QList<int>, previous);
        QFETCH(float, penalty);
        QFETCH(QList<float>, penalized);
        QFETCH(int, expected);
        SamplingOptions options;
        options.repetition_penalty = penalty;
        Sampler sampler(options);
        std::vector<float> values = to_vector(logits);
        const std::vector<int> ids(previous.begin(), previous.end());
        QCOMPARE(sampler.next(values.data(), int64_t(values.size()), ids), expected);
        QCOMPARE(values, to_vector(penalized));
        // A second call with the same history penalises afresh (no state leaks between calls).
        values = to_vector(logits);
        QCOMPARE(sampler.next(values.data(), int64_t(values.size()), ids), expected);
        QCOMPARE(values, to_vector(penalized));
    }

    void temperatureScalesInPlace() {
        Sampler sampler(sampling(2.0f));
        std::vector<float> logits{4.0f, -2.0f, 1.0f};
        sampler.next(logits.data(), 3, {});
        QCOMPARE(logits, (std::vector<float>{2.0f, -1.0f, 0.5f}));
    }

    // With top-k 1, or a nucleus so small it holds one token, sampling is greedy whatever the seed.
    void degenerateSamplingIsGreedy_data() {
        QTest::addColumn<int>("top_k");
        QTest::addColumn<float>("top_p");
        QTest::newRow("top-k 1") << 1 << 1.0f;
        QTest::newRow("top-p tiny") << 0 << 1e-6f;
        QTest::newRow("both") << 1 << 1e-6f;
    }
    void degenerateSamplingIsGreedy() {
        QFETCH(int, top_k);
        QFETCH(float, top_p);
        std::mt19937_64 rng(42);
        std::normal_distribution<float> normal(0.0f, 2.0f);
        for (uint64_t seed = 0; seed < 200; ++seed) {
            std::vector<float> logits(64);
            for (float& value : logits) value = normal(rng);
            if (seed % 3 == 0) logits[50] = logits[argmax(logits)];  // a tie with a later id
            Sampler sampler(sampling(1.5f, top_k, top_p, seed));
            QCOMPARE(pick(sampler, logits), argmax(logits));
        }
    }

    void seededDeterminism() {
        std::mt19937_64 rng(7);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::vector<std::vector<float>> steps(300, std::vector<float>(100));
        for (auto& logits : steps)
            for (float& value : logits) value = normal(rng);
        const auto run = [&](uint64_t seed, int top_k, float top_p) {
            SamplingOptions options = sampling(0.9f, top_k, top_p, seed);
            options.repetition_penalty = 1.3f;
            Sampler sampler(options);
            std::vector<int> ids;
            for (const auto& logits : steps) ids.push_back(pick(sampler, logits, ids));
            return ids;
        };
        for (auto [top_k, top_p] : {std::pair{0, 1.0f}, std::pair{20, 1.0f}, std::pair{0, 0.9f}, std::pair{40, 0.8f}}) {
            const std::vector<int> first = run(1234, top_k, top_p);
            QCOMPARE(run(1234, top_k, top_p), first);
            QVERIFY(run(1235, top_k, top_p) != first);
            // Sampling really samples: the picks are not all the argmax.
            int not_greedy = 0;
            for (size_t i = 0; i < steps.size(); ++i) not_greedy += first[i] != argmax(steps[i]);
            QVERIFY(not_greedy > 30);
        }
    }

    void rngStateContinuesTheRun() {
        std::mt19937_64 rng(11);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::vector<float> logits(40);
        for (float& value : logits) value = normal(rng);
        Sampler original(sampling(1.0f, 0, 0.95f, 99));
        for (int i = 0; i < 7; ++i) pick(original, logits);
        const std::string state = original.rng_state();
        QVERIFY(!state.empty());

        Sampler restored(sampling(1.0f, 0, 0.95f, 12345));
        restored.set_rng_state(state);
        QCOMPARE(restored.rng_state(), state);
        std::vector<int> expected, actual;
        for (int i = 0; i < 50; ++i) {
            expected.push_back(pick(original, logits));
            actual.push_back(pick(restored, logits));
        }
        QCOMPARE(actual, expected);
        // A sampler that was not restored goes its own way.
        Sampler fresh(sampling(1.0f, 0, 0.95f, 12345));
        std::vector<int> other;
        for (int i = 0; i < 50; ++i) other.push_back(pick(fresh, logits));
        QVERIFY(other != expected);
    }

    void rngStateRejectsGarbage_data() {
        QTest::addColumn<QString>("state");
        QTest::newRow("empty") << "";
        QTest::newRow("words") << "not a state";
        QTest::newRow("too short") << "1 2 3";
        QTest::newRow("trailing garbage") << "TRAILING";
    }
    void rngStateRejectsGarbage() {
        QFETCH(QString, state);
        Sampler sampler(sampling(1.0f, 0, 1.0f, 3));
        const std::string before = sampler.rng_state();
        std::string text = state.toStdString();
        if (text == "TRAILING") text = before + " 17";
        QVERIFY_THROWS_EXCEPTION(umt5::Error, sampler.set_rng_state(text));
        QCOMPARE(sampler.rng_state(), before);  // a rejected state leaves the generator alone
    }

    // Frequencies over many draws match the intended distribution. The probabilities sit on permuted ids so a
    // sampler that ignored the ordering would fail.
    void distribution_data() {
        QTest::addColumn<float>("temperature");
        QTest::addColumn<int>("top_k");
        QTest::addColumn<float>("top_p");
        QTest::addColumn<QList<double>>("expected");  // for ids 0, 1, 2 whose probabilities are 0.1, 0.7, 0.2
        QTest::newRow("plain") << 1.0f << 0 << 1.0f << QList<double>{0.1, 0.7, 0.2};
        // p^(1/2), normalised.
        QTest::newRow("temperature 2") << 2.0f << 0 << 1.0f << QList<double>{0.1976, 0.5229, 0.2795};
        // p^2, normalised: 0.01, 0.49, 0.04 over 0.54.
        QTest::newRow("temperature 0.5") << 0.5f << 0 << 1.0f << QList<double>{0.0185, 0.9074, 0.0741};
        QTest::newRow("top-k 2") << 1.0f << 2 << 1.0f << QList<double>{0.0, 0.7778, 0.2222};
        QTest::newRow("top-k past vocab") << 1.0f << 10 << 1.0f << QList<double>{0.1, 0.7, 0.2};
        QTest::newRow("top-p 0.8 keeps two") << 1.0f << 0 << 0.8f << QList<double>{0.0, 0.7778, 0.2222};
        QTest::newRow("top-p 0.95 keeps all") << 1.0f << 0 << 0.95f << QList<double>{0.1, 0.7, 0.2};
        QTest::newRow("top-p 0.5 keeps one") << 1.0f << 0 << 0.5f << QList<double>{0.0, 1.0, 0.0};
    }
    void distribution() {
        QFETCH(float, temperature);
        QFETCH(int, top_k);
        QFETCH(float, top_p);
        QFETCH(QList<double>, expected);
        // A fourth token that is practically impossible, and a constant offset that must not matter.
        const std::vector<float> logits{std::log(0.1f) + 5.0f, std::log(0.7f) + 5.0f, std::log(0.2f) + 5.0f, -80.0f};
        Sampler sampler(sampling(temperature, top_k, top_p, 20240601));
        const int draws = 20000;
        std::vector<int> counts(logits.size(), 0);
        for (int i = 0; i < draws; ++i) ++counts[pick(sampler, logits)];
        QCOMPARE(counts[3], 0);
        for (int id = 0; id < 3; ++id) {
            const double frequency = double(counts[id]) / draws;
            QVERIFY2(std::abs(frequency - expected[id]) < 0.03,
                     qPrintable(QString("id %1: frequency %2, expected %3").arg(id).arg(frequency).arg(expected[id])));
            if (expected[id] == 0.0) QCOMPARE(counts[id], 0);
        }
    }

    // A nucleus of hundreds of tokens, checked against a nucleus computed here by sorting everything.
    void largeNucleus_data() {
        QTest::addColumn<float>("top_p");
        QTest::addColumn<int>("top_k");
        QTest::newRow("top-p 0.9") << 0.9f << 0;
        QTest::newRow("top-p 0.5") << 0.5f << 0;
        QTest::newRow("top-p 0.9, top-k 300") << 0.9f << 300;
    }
    void largeNucleus() {
        QFETCH(float, top_p);
        QFETCH(int, top_k);
        const int vocab = 500;
        std::mt19937_64 rng(3);
        std::normal_distribution<float> normal(0.0f, 0.7f);
        std::vector<float> logits(vocab);
        for (float& value : logits) value = normal(rng);

        std::vector<int> order(vocab);
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
        const int candidates = top_k > 0 ? top_k : vocab;
        double total = 0.0;
        for (int j = 0; j < candidates; ++j) total += std::exp(double(logits[order[j]]));
        std::vector<bool> in_nucleus(vocab, false);
        double cumulative = 0.0;
        int nucleus = 0;
        while (nucleus < candidates && cumulative < top_p * total) {
            cumulative += std::exp(double(logits[order[nucleus]]));
            in_nucleus[order[nucleus++]] = true;
        }
        QVERIFY(nucleus > 100);

        Sampler sampler(sampling(1.0f, top_k, top_p, 8));
        std::vector<int> counts(vocab, 0);
        for (int i = 0; i < 20000; ++i) ++counts[pick(sampler, logits)];
        for (int id = 0; id < vocab; ++id)
            QVERIFY2(in_nucleus[id] || counts[id] == 0, qPrintable(QString("id %1 is outside the nucleus").arg(id)));
        int seen = 0;
        for (int id = 0; id < vocab; ++id) seen += in_nucleus[id] && counts[id] > 0;
        QVERIFY2(seen > nucleus * 9 / 10, qPrintable(QString("%1 of %2 nucleus ids drawn").arg(seen).arg(nucleus)));
    }

    void impossibleTokensNeverChosen() {
        Sampler sampler(sampling(1.0f, 0, 1.0f, 5));
        const std::vector<float> logits{-kInf, 0.0f, kNaN, -kInf, 0.0f};
        int counts[5] = {};
        for (int i = 0; i < 2000; ++i) ++counts[pick(sampler, logits)];
        QCOMPARE(counts[0] + counts[2] + counts[3], 0);
        QVERIFY(counts[1] > 800 && counts[4] > 800);
    }

    void invalidLogits() {
        Sampler greedy(SamplingOptions{});
        QVERIFY_THROWS_EXCEPTION(umt5::Error, pick(greedy, {kNaN, kNaN}));
        QVERIFY_THROWS_EXCEPTION(umt5::Error, pick(greedy, {}));
        Sampler sampler(sampling(1.0f));
        QVERIFY_THROWS_EXCEPTION(umt5::Error, pick(sampler, {-kInf, kNaN}));
    }

    void invalidOptions_data() {
        QTest::addColumn<float>("temperature");
        QTest::addColumn<int>("top_k");
        QTest::addColumn<float>("top_p");
        QTest::addColumn<float>("penalty");
        QTest::addColumn<QString>("message");
        QTest::newRow("negative temperature") << -0.5f << 0 << 1.0f << 1.0f
                                              << "sampling temperature must be a finite number >= 0 (got -0.5)";
        QTest::newRow("NaN temperature") << kNaN << 0 << 1.0f << 1.0f
                                         << "sampling temperature must be a finite number >= 0 (got NaN)";
        QTest::newRow("infinite temperature") << kInf << 0 << 1.0f << 1.0f << "sampling temperature must be";
        QTest::newRow("top-p 0") << 1.0f << 0 << 0.0f << 1.0f << "top-p must be greater than 0 and at most 1 (got 0)";
        QTest::newRow("top-p above 1") << 1.0f << 0 << 1.5f << 1.0f
                                       << "top-p must be greater than 0 and at most 1 (got 1.5)";
        QTest::newRow("top-p negative") << 1.0f << 0 << -0.1f << 1.0f << "top-p must be";
        QTest::newRow("top-p NaN") << 1.0f << 0 << kNaN << 1.0f << "top-p must be";
        QTest::newRow("top-k negative") << 1.0f << -3 << 1.0f << 1.0f << "top-k must be >= 0 (got -3)";
        QTest::newRow("penalty 0") << 1.0f << 0 << 1.0f << 0.0f
                                   << "repetition penalty must be a finite number > 0 (got 0)";
        QTest::newRow("penalty negative") << 0.0f << 0 << 1.0f << -1.2f << "repetition penalty must be";
        QTest::newRow("penalty NaN") << 0.0f << 0 << 1.0f << kNaN << "repetition penalty must be";
        QTest::newRow("valid: greedy defaults") << 0.0f << 0 << 1.0f << 1.0f << "";
        QTest::newRow("valid: edges") << 1e-4f << 1 << 1e-7f << 1e-3f << "";
    }
    void invalidOptions() {
        QFETCH(float, temperature);
        QFETCH(int, top_k);
        QFETCH(float, top_p);
        QFETCH(float, penalty);
        QFETCH(QString, message);
        SamplingOptions options = sampling(temperature, top_k, top_p);
        options.repetition_penalty = penalty;
        QString thrown;
        try {
            Sampler sampler(options);
            QCOMPARE(sampler.options().top_k, top_k);
        } catch (const umt5::Error& error) {
            thrown = QString::fromStdString(error.what());
        }
        if (message.isEmpty()) {
            QCOMPARE(thrown, QString());
        } else {
            QVERIFY2(thrown.startsWith(message), qPrintable(thrown));
        }
    }
};

QTEST_APPLESS_MAIN(TestSampling)
#include "test_sampling.moc"
