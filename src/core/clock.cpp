#include "core/clock.hpp"

#include <algorithm>

namespace casebridge {

const system_clock_source& system_clock_source::instance() {
    static const system_clock_source clock;
    return clock;
}

manual_clock::manual_clock(time_point start) : wall_(start), steady_() {}

time_point manual_clock::now() const {
    std::lock_guard lock(mutex_);
    return wall_;
}

std::chrono::steady_clock::time_point manual_clock::steady_now() const {
    std::lock_guard lock(mutex_);
    return steady_;
}

void manual_clock::advance(std::chrono::nanoseconds d) {
    std::lock_guard lock(mutex_);
    wall_ += std::chrono::duration_cast<time_point::duration>(d);
    steady_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
}

void manual_clock::set(time_point t) {
    std::lock_guard lock(mutex_);
    wall_ = t;
}

void manual_clock::move_on_waits(bool on) {
    std::lock_guard lock(mutex_);
    move_on_waits_ = on;
}

std::chrono::nanoseconds manual_clock::wait_time(std::chrono::nanoseconds d) const {
    std::lock_guard lock(mutex_);
    if (!move_on_waits_ || d <= std::chrono::nanoseconds::zero()) {
        return std::max(d, std::chrono::nanoseconds::zero());
    }
    wall_ += std::chrono::duration_cast<time_point::duration>(d);
    steady_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
    return std::chrono::nanoseconds::zero();
}

}  // namespace casebridge
