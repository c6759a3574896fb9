// clock_source: the one way casebridge reads the time, so tests can set it.
#pragma once

#include <chrono>
#include <mutex>

namespace casebridge {

using time_point = std::chrono::system_clock::time_point;

/// Wall-clock time (UTC) and a monotonic clock for deadlines and backoff.
class clock_source {
public:
    virtual ~clock_source() = default;
    /// UTC wall time: log timestamps, cursors, retention.
    virtual time_point now() const = 0;
    /// Monotonic time: deadlines, backoff and durations. Never jumps backwards.
    virtual std::chrono::steady_clock::time_point steady_now() const = 0;
};

/// The real clocks.
class system_clock_source final : public clock_source {
public:
    time_point now() const override { return std::chrono::system_clock::now(); }
    std::chrono::steady_clock::time_point steady_now() const override {
        return std::chrono::steady_clock::now();
    }
    /// A process-wide instance.
    static const system_clock_source& instance();
};

/// A clock that moves only when told to. Thread-safe.
class manual_clock final : public clock_source {
public:
    explicit manual_clock(time_point start);
    time_point now() const override;
    std::chrono::steady_clock::time_point steady_now() const override;
    /// Moves both clocks forward by `d`.
    void advance(std::chrono::nanoseconds d);
    /// Sets the wall clock (it may go backwards, as a real one can); the steady clock is kept.
    void set(time_point t);

private:
    mutable std::mutex mutex_;
    time_point wall_;
    std::chrono::steady_clock::time_point steady_;
};

}  // namespace casebridge
