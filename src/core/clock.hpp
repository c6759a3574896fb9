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
    /// The real time a wait of `d` on this clock takes (backoff, Retry-After): `d` itself for
    /// the real clocks. A manual clock told to move on waits moves itself by `d` and answers
    /// zero, so a test of a five-minute wait runs at once and still sees five minutes pass.
    virtual std::chrono::nanoseconds wait_time(std::chrono::nanoseconds d) const { return d; }
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
    /// From now on, a wait on this clock (clock_source::wait_time) moves it forward by the
    /// wait's length instead of taking real time.
    void move_on_waits(bool on = true);
    std::chrono::nanoseconds wait_time(std::chrono::nanoseconds d) const override;

private:
    mutable std::mutex mutex_;
    // Mutable: a wait (a const read of the clock by the code under test) may move it.
    mutable time_point wall_;
    mutable std::chrono::steady_clock::time_point steady_;
    bool move_on_waits_ = false;
};

}  // namespace casebridge
