// A token bucket: at most `rate` requests per second on average, bursts of up to `rate`
// (at least one). Pure: the caller gives the time, so tests run it on a virtual clock.
#pragma once

#include <algorithm>
#include <chrono>

namespace casebridge::net_limits {

class token_bucket {
public:
    using time_point = std::chrono::steady_clock::time_point;
    using duration = std::chrono::steady_clock::duration;

    /// `rate` ≤ 0: no limit.
    explicit token_bucket(double rate) noexcept : rate_(rate), burst_(std::max(1.0, rate)) {}

    /// Takes a token at `now` and returns zero, or returns how long to wait before asking
    /// again (nothing taken). The first call finds the bucket full.
    duration take(time_point now) noexcept {
        if (rate_ <= 0) {
            return duration::zero();
        }
        if (!started_) {
            started_ = true;
            tokens_ = burst_;
            refilled_ = now;
        }
        if (now > refilled_) {
            const double elapsed = std::chrono::duration<double>(now - refilled_).count();
            tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
            refilled_ = now;
        }
        if (tokens_ >= 1.0) {
            tokens_ -= 1.0;
            return duration::zero();
        }
        const auto wait = std::chrono::duration<double>((1.0 - tokens_) / rate_);
        // Rounded up: a wait that ends a tick early would find the token not yet there.
        return std::max(duration(1), std::chrono::ceil<duration>(wait));
    }

private:
    double rate_;
    double burst_;
    double tokens_ = 0;
    time_point refilled_{};
    bool started_ = false;
};

}  // namespace casebridge::net_limits
