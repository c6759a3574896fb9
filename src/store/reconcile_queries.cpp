#include "store/reconcile_queries.hpp"

#include "store/sqlite.hpp"
#include "store/store.hpp"
#include "store/try.hpp"

namespace casebridge::store {

result<std::optional<last_sent_entry>> last_sent(
    store& s, const token& flow, const record_id& source
) {
    auto q = s.database().prepare(
        "SELECT ts, COALESCE(target_id, '') FROM transfer_log WHERE source_system = ? AND "
        "source_id = ? AND flow = ?"
        " AND outcome = 'sent' ORDER BY seq DESC LIMIT 1"
    );
    if (!q) {
        return q.error();
    }
    q->bind(1, std::string_view(source.system.str()))
        .bind(2, std::string_view(source.id.str()))
        .bind(3, std::string_view(flow.str()));
    auto row = q->step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        return std::optional<last_sent_entry>();
    }
    return std::optional<last_sent_entry>(last_sent_entry{q->column_text(0), q->column_text(1)});
}

result<std::optional<std::string>> last_reconciled_at(store& s, const token& flow) {
    auto q = s.database().prepare(
        "SELECT ts FROM transfer_log WHERE kind = 'reconciliation' AND flow = ?"
        " AND reason IS NULL ORDER BY seq DESC LIMIT 1"
    );
    if (!q) {
        return q.error();
    }
    q->bind(1, std::string_view(flow.str()));
    auto row = q->step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        return std::optional<std::string>();
    }
    return std::optional<std::string>(q->column_text(0));
}

result<void> unlink(store& s, const record_id& source, const token& target_system) {
    auto q = s.database().prepare(
        "DELETE FROM links WHERE source_system = ? AND source_id = ? AND target_system = ?"
    );
    if (!q) {
        return q.error();
    }
    q->bind(1, std::string_view(source.system.str()))
        .bind(2, std::string_view(source.id.str()))
        .bind(3, std::string_view(target_system.str()));
    auto done = q->step();
    if (!done) {
        return done.error();
    }
    return {};
}

result<std::int64_t> append_entry(store& s, const log_entry_input& entry, time_point now) {
    auto t = txn::begin(s.database());
    if (!t) {
        return t.error();
    }
    auto seq = append_entries(s.database(), {entry}, now);
    if (!seq) {
        return seq.error();
    }
    STORE_TRY(t->commit());
    return *seq;
}

result<std::int64_t> open_reviews(
    store& s, const token& flow, const record_id& source, const token& kind
) {
    auto q = s.database().prepare(
        "SELECT count(*) FROM reviews WHERE flow = ? AND source_system = ? AND source_id = ?"
        " AND kind = ?"
    );
    if (!q) {
        return q.error();
    }
    q->bind(1, std::string_view(flow.str()))
        .bind(2, std::string_view(source.system.str()))
        .bind(3, std::string_view(source.id.str()))
        .bind(4, std::string_view(kind.str()));
    auto row = q->step();
    if (!row) {
        return row.error();
    }
    return q->column_int(0);
}

}  // namespace casebridge::store
