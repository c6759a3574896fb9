// duration_histogram: a Prometheus-style histogram of durations, safe to observe from any
// thread (relaxed atomics) and cheap to read for the metrics endpoint.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>

namespace casebridge {

class duration_histogram {
public:
    static constexpr std::size_t max_bounds = 16;

    /// `upper_bounds_seconds`: ascending upper bounds of the buckets (at most max_bounds;
    /// extra ones are ignored). A last bucket above them all is implied (+Inf).
    explicit duration_histogram(std::initializer_list<double> upper_bounds_seconds) noexcept {
        for (double b : upper_bounds_seconds) {
            if (size_ == max_bounds) {
                break;
            }
            bounds_[size_++] = b;
        }
    }
    duration_histogram(const duration_histogram&) = delete;
    duration_histogram& operator=(const duration_histogram&) = delete;

    void observe(std::chrono::nanoseconds d) noexcept {
        const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                                std::max(d, std::chrono::nanoseconds::zero())
        )
                                .count();
        const double seconds = static_cast<double>(micros) / 1e6;
        std::size_t i = 0;
        while (i < size_ && seconds > bounds_[i]) {
            ++i;
        }
        counts_[i].fetch_add(1, std::memory_order_relaxed);
        sum_micros_.fetch_add(micros, std::memory_order_relaxed);
    }

    std::span<const double> bounds() const noexcept { return {bounds_.data(), size_}; }
    /// Observations in bucket `i` alone (not cumulative); i == bounds().size() is +Inf.
    std::int64_t bucket(std::size_t i) const noexcept {
        return i <= size_ ? counts_[i].load(std::memory_order_relaxed) : 0;
    }
    std::int64_t count() const noexcept {
        std::int64_t n = 0;
        for (std::size_t i = 0; i <= size_; ++i) {
            n += bucket(i);
        }
        return n;
    }
    double sum_seconds() const noexcept {
        return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
    }

private:
    std::array<double, max_bounds> bounds_{};
    std::size_t size_ = 0;
    std::array<std::atomic<std::int64_t>, max_bounds + 1> counts_{};
    std::atomic<std::int64_t> sum_micros_{0};
};

}  // namespace casebridge
