#include "store/credential_refusals.hpp"

#include "core/time.hpp"
#include "store/store.hpp"

namespace casebridge::store {

result<std::optional<std::string>> refused_credentials(store& s, const token& system) {
    auto q = s.database().prepare("SELECT fingerprint FROM credential_refusals WHERE system = ?");
    if (!q) {
        return q.error();
    }
    q->bind(1, std::string_view(system.str()));
    auto row = q->step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        return std::optional<std::string>();
    }
    return std::optional<std::string>(q->column_text(0));
}

result<void> record_refused_credentials(
    store& s, const token& system, std::string_view fingerprint, time_point at
) {
    auto q = s.database().prepare(
        "INSERT INTO credential_refusals (system, fingerprint, refused_at) VALUES (?, ?, ?)"
        " ON CONFLICT (system) DO UPDATE SET fingerprint = excluded.fingerprint,"
        " refused_at = excluded.refused_at"
    );
    if (!q) {
        return q.error();
    }
    q->bind(1, std::string_view(system.str()))
        .bind(2, fingerprint)
        .bind(3, std::string_view(format_rfc3339(at)));
    auto done = q->step();
    if (!done) {
        return done.error();
    }
    return {};
}

result<void> clear_refused_credentials(store& s, const token& system) {
    auto q = s.database().prepare("DELETE FROM credential_refusals WHERE system = ?");
    if (!q) {
        return q.error();
    }
    q->bind(1, std::string_view(system.str()));
    auto done = q->step();
    if (!done) {
        return done.error();
    }
    return {};
}

}  // namespace casebridge::store
