#include "core/engine/thread_governor.h"

#include <algorithm>
#include <climits>

namespace umt5 {

namespace {

double median(std::vector<double> values) {
    const size_t mid = values.size() / 2;
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
    const double upper = values[mid];
    if (values.size() % 2 == 1) return upper;
    return (*std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid)) + upper) / 2;
}

}  // namespace

ThreadGovernor::ThreadGovernor(int max_threads) : ThreadGovernor(max_threads, Settings{}) {}

ThreadGovernor::ThreadGovernor(int max_threads, Settings settings)
    : settings_(settings),
      max_(std::max(1, max_threads)),
      chosen_(max_),
      steps_until_compare_(max_ > 1 ? std::max(1, settings_.first_probe_after) : INT_MAX),
      interval_(std::max(1, settings_.min_interval)) {
    settings_.probe_steps = std::max(1, settings_.probe_steps);
    settings_.max_interval = std::max(interval_, settings_.max_interval);
}

int ThreadGovernor::threads() const { return comparing_ && next_is_probe_ ? probe_ : chosen_; }

void ThreadGovernor::record(double step_time) {
    if (comparing_) {
        const bool probed = next_is_probe_;
        (probed ? probe_times_ : chosen_times_).push_back(step_time);
        next_is_probe_ = !next_is_probe_;
        if (probed && before_ > 0 &&
            (step_time > settings_.decisive * before_ || step_time * settings_.decisive < before_))
            decide(step_time, before_);
        else if (static_cast<int>(chosen_times_.size()) >= settings_.probe_steps)
            decide(median(probe_times_), median(chosen_times_));
        return;
    }
    if (max_ == 1) return;
    recent_.push_back(step_time);
    if (recent_.size() > 3) recent_.erase(recent_.begin());
    // Three steps, so that one slow step (a page fault, a prefix fed at once) does not trigger a comparison.
    // Only with fewer threads to try: more threads do not help when the machine got busier.
    const bool slowed = chosen_ > 1 && reference_ > 0 && recent_.size() == 3 &&
                        median(recent_) > settings_.rise * reference_;
    if (slowed) {
        start_comparison(/*prefer_fewer=*/true);
    } else if (--steps_until_compare_ <= 0) {
        start_comparison(probe_fewer_next_);
        probe_fewer_next_ = !probe_fewer_next_;
    }
}

void ThreadGovernor::start_comparison(bool prefer_fewer) {
    const bool can_fewer = chosen_ > 1;
    const bool can_more = chosen_ < max_;
    probe_ = (prefer_fewer && can_fewer) || !can_more ? chosen_ - 1 : chosen_ + 1;
    comparing_ = true;
    next_is_probe_ = true;
    before_ = recent_.empty() ? 0 : median(recent_);
    probe_times_.clear();
    chosen_times_.clear();
}

void ThreadGovernor::decide(double probe, double chosen) {
    if (probe < (1 - settings_.margin) * chosen) {
        chosen_ = probe_;
        reference_ = probe;
        interval_ = std::max(1, settings_.min_interval);
    } else {
        reference_ = chosen;
        // What the probe steps cost beyond running them at the chosen count, in chosen-count steps.
        const double lost = chosen > 0 ? static_cast<double>(probe_times_.size()) * (probe / chosen - 1) : 0;
        const double affordable = settings_.budget > 0 ? lost / settings_.budget : 0;
        interval_ = std::min(2 * interval_, settings_.max_interval);
        if (affordable > interval_)
            interval_ = static_cast<int>(std::min<double>(affordable, std::max(interval_, settings_.longest_interval)));
    }
    steps_until_compare_ = interval_;
    comparing_ = false;
    recent_.clear();
}

}  // namespace umt5
