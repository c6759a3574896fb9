#include "sync/retry.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace casebridge::sync {

std::chrono::milliseconds backoff_delay(
    const retry_policy& p,
    int attempt,
    std::optional<std::chrono::seconds> retry_after,
    double jitter01
) {
    const int shift = std::clamp(attempt - 1, 0, 30);
    const double base = std::min(
        static_cast<double>(p.max.count()),
        static_cast<double>(p.initial.count()) * std::ldexp(1.0, shift)
    );
    const double factor = 0.5 + 0.5 * std::clamp(jitter01, 0.0, 1.0);
    auto wait = std::chrono::milliseconds(static_cast<std::int64_t>(base * factor));
    if (retry_after) {
        wait = std::max<std::chrono::milliseconds>(wait, *retry_after);
    }
    return wait;
}

bool may_retry(const retry_policy& p, int attempt, const remote_error& e) noexcept {
    if (!e.transient() || attempt >= p.max_attempts) {
        return false;
    }
    return !e.retry_after || *e.retry_after <= p.max_retry_after;
}

}  // namespace casebridge::sync
