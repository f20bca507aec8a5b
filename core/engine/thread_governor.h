#pragma once
// The decision logic of the automatic thread setting: which OpenMP thread count the next decoder step runs with,
// from the measured times of the steps before it. Pure logic (no clock, no OpenMP), so it can be fed synthetic
// timings; core/engine/runtime.* applies its choice.
//
// Why: oneDNN opens an OpenMP parallel region for every product, and its threads wait for each other at the end
// of each one. On an idle 2-core machine two threads decode the embedded model 1.6x faster than one (1146 against
// 712 tok/s); with one other busy process the second thread keeps losing its core and two threads fall to 238 tok/s
// while one still makes 700 (bench/README.md, "Threads under load"). Passive waiting (OMP_WAIT_POLICY=PASSIVE)
// avoids the collapse but costs the idle case most of its speed (195 tok/s), so neither fixed choice is right.
//
// How: the governor keeps a chosen count and, now and then, compares it with a neighbour (one thread fewer or
// more) by running a few steps at each, interleaved: probe, chosen, probe, chosen, ... so a prefix that grows
// (and step times with it) weighs on both alike. The medians decide; the probe must be `margin` faster to win.
// A probe step twice as slow, or twice as fast, as the chosen count's last steps decides at once: on this 2-core
// machine under a heavy build load one step at 2 threads took 18 times as long as one at 1, so every further
// probe step there costs many tokens. While the choice holds, comparisons come half as often each time (down to
// one every `max_interval` steps), and never so often that the probe steps a comparison lost cost more than
// `budget` of the steps until the next. After a switch, or when the chosen count's recent steps have become
// `rise` times slower than at the last comparison (another program started; then it tries fewer threads), the
// next comparison comes soon.
#include <vector>

namespace umt5 {

class ThreadGovernor {
public:
    struct Settings {
        int probe_steps = 3;         // steps at the probed count per comparison (and as many at the chosen one)
        double margin = 0.1;         // the probe's median must be this fraction faster than the chosen count's
        int first_probe_after = 2;   // steps before the first comparison
        int min_interval = 16;       // steps between comparisons after a switch
        int max_interval = 128;      // ... doubling up to this while the choice holds
        double rise = 1.5;           // compare at once when the chosen count's last 3 steps are this much slower
        double decisive = 2.0;       // a probe step this much slower or faster than the chosen count's decides
        double budget = 0.03;        // the most a lost comparison may cost, as a fraction of the steps until the next
        int longest_interval = 4096;  // ... but at least one comparison in this many steps
    };

    // Counts from 1 to max_threads (at least 1); it starts at max_threads, the choice for an idle machine.
    explicit ThreadGovernor(int max_threads);
    ThreadGovernor(int max_threads, Settings settings);

    // The thread count for the next step.
    int threads() const;
    // The count chosen from the comparisons so far (what threads() returns outside a comparison).
    int chosen() const { return chosen_; }
    int max_threads() const { return max_; }
    bool comparing() const { return comparing_; }
    // The time of the step just run with threads() threads, in any unit (only ratios matter).
    void record(double step_time);

private:
    void start_comparison(bool prefer_fewer);
    void decide(double probe, double chosen);

    Settings settings_;
    int max_;
    int chosen_;
    bool comparing_ = false;
    int probe_ = 0;              // the count being compared with chosen_
    bool next_is_probe_ = true;  // within a comparison: whether the next step runs at probe_
    bool probe_fewer_next_ = true;  // direction of the next periodic comparison when both neighbours exist
    int steps_until_compare_;
    int interval_;
    double reference_ = 0;       // chosen_'s median step at the last comparison (0: none yet)
    double before_ = 0;          // chosen_'s median step just before the running comparison (0: none)
    std::vector<double> recent_;  // chosen_'s last steps outside comparisons (at most 3)
    std::vector<double> probe_times_, chosen_times_;
};

}  // namespace umt5
