// ThreadGovernor: the automatic thread setting's choice, fed synthetic step times (no clock, no OpenMP).
#include "core/engine/thread_governor.h"

#include <QtTest>

#include <functional>
#include <vector>

using umt5::ThreadGovernor;

namespace {

// A machine as the governor sees it: the time of step `step` run with `threads` threads.
using Machine = std::function<double(int step, int threads)>;

struct Trace {
    std::vector<int> threads;  // the count of every step
    std::vector<int> chosen;   // the governor's choice after every step
    int steps_at(int count, int from = 0) const {
        int n = 0;
        for (size_t i = static_cast<size_t>(from); i < threads.size(); ++i) n += threads[i] == count;
        return n;
    }
    // How many steps it took until the choice was `count` and stayed so to the end; -1 if it did not end there.
    int steps_until_chosen(int count) const {
        int steps = -1;
        for (size_t i = 0; i < chosen.size(); ++i) {
            if (chosen[i] != count) steps = -1;
            else if (steps < 0) steps = static_cast<int>(i) + 1;
        }
        return steps;
    }
};

Trace run(ThreadGovernor& governor, const Machine& machine, int steps, int first_step = 0) {
    Trace trace;
    for (int step = first_step; step < first_step + steps; ++step) {
        const int threads = governor.threads();
        trace.threads.push_back(threads);
        governor.record(machine(step, threads));
        trace.chosen.push_back(governor.chosen());
    }
    return trace;
}

// The measured shapes (bench/README.md, embedded model, milliseconds per cache-on step): an idle 2-core machine,
// and the same machine with one other busy process.
double idle_two_cores(int, int threads) { return threads == 1 ? 1.40 : 0.87; }
double busy_two_cores(int, int threads) { return threads == 1 ? 1.43 : 4.20; }

}  // namespace

class TestThreadGovernor : public QObject {
    Q_OBJECT
private slots:
    void startsWithEveryThread() {
        ThreadGovernor governor(2);
        QCOMPARE(governor.threads(), 2);
        QCOMPARE(governor.chosen(), 2);
        QVERIFY(!governor.comparing());
    }

    void settlesOnTheFasterCount_data() {
        QTest::addColumn<int>("maxThreads");
        QTest::addColumn<QString>("machine");
        QTest::addColumn<int>("expected");
        QTest::newRow("idle, 2 cores") << 2 << "idle" << 2;
        QTest::newRow("one busy process, 2 cores") << 2 << "busy" << 1;
        // 4 cores, one taken: up to 3 threads scale, the 4th collapses like the 2nd does on 2 cores.
        QTest::newRow("one busy process, 4 cores") << 4 << "busy4" << 3;
        QTest::newRow("idle, 4 cores") << 4 << "idle4" << 4;
    }
    void settlesOnTheFasterCount() {
        QFETCH(int, maxThreads);
        QFETCH(QString, machine);
        QFETCH(int, expected);
        const Machine machines[] = {idle_two_cores, busy_two_cores,
                                    [](int, int t) { return t <= 3 ? 4.0 / t : 4.2; },
                                    [](int, int t) { return 4.0 / t; }};
        const QStringList names{"idle", "busy", "busy4", "idle4"};
        ThreadGovernor governor(maxThreads);
        const Trace trace = run(governor, machines[names.indexOf(machine)], 600);
        QCOMPARE(governor.chosen(), expected);
        for (int threads : trace.threads) QVERIFY(threads >= 1 && threads <= maxThreads);
        // It got there early and later left it only for comparisons: 3 steps each, one every 128 steps or more.
        const int kept = trace.steps_at(expected, 100);
        QVERIFY2(kept >= 500 - 3 * (500 / 128 + 2), qPrintable(QString("only %1 of the last 500 steps").arg(kept)));
    }

    void busyCaseCostsFewSlowSteps() {
        // With the second core taken, every step at 2 threads costs 3x; over 1000 steps the governor may spend
        // only its first steps and the comparisons there.
        ThreadGovernor governor(2);
        const Trace trace = run(governor, busy_two_cores, 1000);
        QVERIFY2(trace.steps_at(2) <= 2 + 3 * (1 + 1000 / 128 + 4),
                 qPrintable(QString("%1 steps at 2 threads").arg(trace.steps_at(2))));
    }

    void comparisonInterleavesProbeAndChosen() {
        ThreadGovernor::Settings settings;
        settings.first_probe_after = 1;
        settings.probe_steps = 3;
        ThreadGovernor governor(2, settings);
        const Trace trace = run(governor, idle_two_cores, 7);
        QCOMPARE(trace.threads, (std::vector<int>{2, 1, 2, 1, 2, 1, 2}));
        QVERIFY(!governor.comparing());
        QCOMPARE(governor.chosen(), 2);
    }

    void decisiveStepEndsTheComparison() {
        // One busy process: the first probe step at 1 thread is 2.9x faster than the 2-thread steps before it,
        // so the governor switches without running more steps at 2.
        ThreadGovernor governor(2);
        const Trace trace = run(governor, busy_two_cores, 3);
        QCOMPARE(trace.threads, (std::vector<int>{2, 2, 1}));
        QCOMPARE(governor.chosen(), 1);
        QVERIFY(!governor.comparing());
    }

    void costlyProbesComeRarely() {
        // Under a heavy load a step at 2 threads took 18x one at 1: each lost probe step costs 17 steps, so the
        // comparisons are spaced to keep that within the 3 % budget (one probe step in about 567).
        ThreadGovernor governor(2);
        const Trace trace = run(governor, [](int, int threads) { return threads == 1 ? 1.0 : 18.0; }, 3000);
        QCOMPARE(governor.chosen(), 1);
        QVERIFY2(trace.steps_at(2) <= 2 + 3000 * 3 / (100 * 17) + 2,
                 qPrintable(QString("%1 steps at 2 threads").arg(trace.steps_at(2))));
    }

    void followsLoadThatComesAndGoes() {
        // Idle, then another program takes the second core at step 300, and leaves at step 700.
        const Machine machine = [](int step, int threads) {
            return step >= 300 && step < 700 ? busy_two_cores(step, threads) : idle_two_cores(step, threads);
        };
        ThreadGovernor governor(2);
        run(governor, machine, 300);
        QCOMPARE(governor.chosen(), 2);
        const Trace busy = run(governor, machine, 400, 300);
        QCOMPARE(governor.chosen(), 1);
        // The chosen count's steps became 3x slower: a comparison starts after 3 such steps, not at the next
        // periodic one (up to 128 steps away).
        const int switched = busy.steps_until_chosen(1);
        QVERIFY2(switched >= 0 && switched <= 3 + 6, qPrintable(QString("1 thread after %1 steps").arg(switched)));
        const Trace after = run(governor, machine, 400, 700);
        QCOMPARE(governor.chosen(), 2);
        // Nothing slows down when the other program leaves; the periodic comparison finds it within its interval.
        const int back = after.steps_until_chosen(2);
        QVERIFY2(back >= 0 && back <= 128 + 6, qPrintable(QString("back to 2 threads after %1 steps").arg(back)));
    }

    void marginKeepsTheChoiceOnSmallDifferences_data() {
        QTest::addColumn<double>("oneThreadMs");
        QTest::addColumn<int>("expected");
        QTest::newRow("1 thread 5% faster: stays at 2") << 0.95 << 2;
        QTest::newRow("1 thread 20% faster: goes to 1") << 0.80 << 1;
    }
    void marginKeepsTheChoiceOnSmallDifferences() {
        QFETCH(double, oneThreadMs);
        QFETCH(int, expected);
        ThreadGovernor governor(2);
        run(governor, [&](int, int threads) { return threads == 1 ? oneThreadMs : 1.0; }, 200);
        QCOMPARE(governor.chosen(), expected);
    }

    void singleSlowStepDoesNotStartAComparison() {
        ThreadGovernor governor(2);
        run(governor, idle_two_cores, 20);  // past the first comparison (steps 3-8); the next starts at step 40
        QVERIFY(!governor.comparing());
        governor.record(50.0);  // one step 50x slower (a page fault, a prefix fed at once)
        QVERIFY(!governor.comparing());
        governor.record(0.87);
        governor.record(50.0);  // two of the last three slow: the median is slow
        QVERIFY(governor.comparing());
    }

    void growingStepsDoNotMisleadIt() {
        // Without the cache every step recomputes the prefix: times grow 2% a step, at both counts alike. The
        // interleaved comparison still sees 2 threads as faster.
        ThreadGovernor governor(2);
        run(governor, [](int step, int threads) { return idle_two_cores(step, threads) * (1 + 0.02 * step); }, 300);
        QCOMPARE(governor.chosen(), 2);
    }

    void oneThreadNeverCompares() {
        ThreadGovernor governor(1);
        const Trace trace = run(governor, busy_two_cores, 300);
        QCOMPARE(trace.steps_at(1), 300);
        QVERIFY(!governor.comparing());
    }
};

QTEST_APPLESS_MAIN(TestThreadGovernor)
#include "test_thread_governor.moc"
