// The one retry loop of the engine and of reconciliation: how long to wait before the next
// attempt (exponential backoff with jitter, never less than a Retry-After) and when to stop
// (a permanent error, attempts used up, a Retry-After longer than a run may wait, or the
// caller's wait saying stop). The waiting itself is the caller's: it logs, counts and sleeps
// in its own way (a flow run ends its sleeps when the daemon stops).
#pragma once

#include <chrono>
#include <optional>

#include "net/async.hpp"
#include "net/remote_error.hpp"

namespace casebridge::sync {

struct retry_policy {
    int max_attempts = 8;  ///< Attempts per request, the first included.
    std::chrono::milliseconds initial{500};
    std::chrono::milliseconds max{std::chrono::seconds(60)};
    /// A Retry-After longer than this is not waited for within a run: the record fails.
    std::chrono::seconds max_retry_after{std::chrono::minutes(5)};
};

/// The wait before attempt `attempt + 1` after `attempt` failed: min(max, initial·2^(attempt-1))
/// scaled by a jitter factor in [0.5, 1], and never less than `retry_after` when given.
std::chrono::milliseconds backoff_delay(
    const retry_policy& p,
    int attempt,
    std::optional<std::chrono::seconds> retry_after,
    double jitter01
);

/// True when attempt number `attempt`, failed with `e`, may be tried again: the error is
/// transient, attempts are left, and any Retry-After is one the run may wait for.
bool may_retry(const retry_policy& p, int attempt, const remote_error& e) noexcept;

/// Calls `op(attempt)` (attempt 1, 2, …) until it succeeds or may_retry says no; between
/// attempts it awaits `wait(attempt, error)`, which logs, counts and sleeps (backoff_delay)
/// and returns false to stop at once (the last error stands). Returns the last result.
template <typename T, typename Op, typename Wait>
awaitable<remote_result<T>> with_retries(const retry_policy& p, Op op, Wait wait) {
    for (int attempt = 1;; ++attempt) {
        auto r = co_await op(attempt);
        if (r || !may_retry(p, attempt, r.error())) {
            co_return r;
        }
        if (!co_await wait(attempt, r.error())) {
            co_return r;
        }
    }
}

}  // namespace casebridge::sync
