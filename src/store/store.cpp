#include "store/store.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sqlite3.h>

#include "core/atomic_file.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "store/crypto.hpp"
#include "store/migrations.hpp"
#include "store/query.hpp"
#include "store/try.hpp"

namespace casebridge::store {

namespace {

std::string ts_of(time_point t) {
    return format_rfc3339(t, 6);
}

std::optional<delivery_state> parse_state(std::string_view s) {
    for (auto st :
         {delivery_state::pending,
          delivery_state::in_flight,
          delivery_state::delivered,
          delivery_state::withheld,
          delivery_state::failed,
          delivery_state::dead}) {
        if (to_string(st) == s) {
            return st;
        }
    }
    return std::nullopt;
}

// The record linked to `from` in `system`, by `sql` (one id column; binds from.system,
// from.id, system), or nullopt.
result<std::optional<record_id>> link_of(
    db& database, std::string_view sql, const record_id& from, const token& system
) {
    auto s = database.prepare(sql);
    if (!s) {
        return s.error();
    }
    s->bind(1, std::string_view(from.system.str()))
        .bind(2, std::string_view(from.id.str()))
        .bind(3, std::string_view(system.str()));
    auto row = s->step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        return std::optional<record_id>();
    }
    auto id = token::make(s->column_text(0));
    if (!id) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    return std::optional<record_id>(record_id{system, *id});
}

/// The ids of `records` grouped by system, as JSON arrays (for `IN (SELECT value FROM
/// json_each(?))`), each id once.
std::map<std::string, std::string> ids_by_system(const std::vector<record_id>& records) {
    std::map<std::string, std::set<std::string_view>> grouped;
    for (const auto& r : records) {
        grouped[r.system.str()].insert(r.id.str());
    }
    std::map<std::string, std::string> out;
    for (const auto& [system, ids] : grouped) {
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> w(sb);
        w.StartArray();
        for (const auto id : ids) {
            w.String(id.data(), static_cast<rapidjson::SizeType>(id.size()));
        }
        w.EndArray();
        out.emplace(system, std::string(sb.GetString(), sb.GetSize()));
    }
    return out;
}

/// Reopens `records`: their links (either side) and deliveries no longer count towards
/// retention. One statement per table, side and system, whatever the number of records.
result<void> reopen_each(db& database, const std::vector<record_id>& records) {
    if (records.empty()) {
        return {};
    }
    const auto ids = ids_by_system(records);
    for (const char* sql : {
             "UPDATE links SET closed_at = NULL WHERE closed_at IS NOT NULL AND source_system = ?"
             " AND source_id IN (SELECT value FROM json_each(?))",
             "UPDATE links SET closed_at = NULL WHERE closed_at IS NOT NULL AND target_system = ?"
             " AND target_id IN (SELECT value FROM json_each(?))",
             "UPDATE deliveries SET closed_at = NULL WHERE closed_at IS NOT NULL AND"
             " source_system = ? AND source_id IN (SELECT value FROM json_each(?))",
         }) {
        for (const auto& [system, list] : ids) {
            auto s = database.prepare(sql);
            if (!s) {
                return s.error();
            }
            s->bind(1, std::string_view(system)).bind(2, std::string_view(list));
            STORE_TRY(s->run());
        }
    }
    return {};
}

/// For each of `records`, what `read(row, system)` makes of the row `sql` answers about it:
/// `sql` binds (a system, that system's ids as a JSON array, `other`) and its first column is
/// the id asked about. One query per system; the answers in the order of `records`, nullopt
/// where there is no row.
template <typename T, typename Read>
result<std::vector<std::optional<T>>> each_of(
    db& database,
    std::string_view sql,
    const std::vector<record_id>& records,
    std::string_view other,
    Read read
) {
    std::map<std::pair<std::string, std::string>, T> found;
    for (const auto& [system, ids] : ids_by_system(records)) {
        auto s = database.prepare(sql);
        if (!s) {
            return s.error();
        }
        bind_all(*s, system, ids, other);
        auto walked = for_each_row(*s, [&](const stmt& row) -> result<void> {
            result<T> value = read(row, system);
            if (!value) {
                return value.error();
            }
            found.insert_or_assign({system, row.column_text(0)}, std::move(*value));
            return {};
        });
        if (!walked) {
            return walked.error();
        }
    }
    std::vector<std::optional<T>> out;
    out.reserve(records.size());
    for (const auto& r : records) {
        const auto it = found.find({r.system.str(), r.id.str()});
        out.push_back(it == found.end() ? std::nullopt : std::optional<T>(it->second));
    }
    return out;
}

/// link_of() for many records: `sql` returns (the id asked about, the linked id) rows.
result<std::vector<std::optional<record_id>>> links_of(
    db& database, std::string_view sql, const std::vector<record_id>& from, const token& system
) {
    return each_of<record_id>(
        database,
        sql,
        from,
        system.str(),
        [&system](const stmt& row, const std::string&) -> result<record_id> {
            auto id = token::make(row.column_text(1));
            if (!id) {
                CASEBRIDGE_RETURN_ERROR(errc::store_failed);
            }
            return record_id{system, *id};
        }
    );
}

std::optional<token> opt_token(const stmt& s, int col) {
    if (s.column_is_null(col)) {
        return std::nullopt;
    }
    auto t = token::make(s.column_text(col));
    return t ? std::optional<token>(*t) : std::nullopt;
}

/// The delivery of `source` in `flow` from (state, attempts, source_version, next_retry,
/// reason) at columns `first`...
result<delivery> delivery_at(const stmt& s, int first, const token& flow, record_id source) {
    const auto state = parse_state(s.column_text(first));
    if (!state) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    delivery d{
        flow,
        std::move(source),
        *state,
        s.column_int(first + 1),
        opt_token(s, first + 2),
        std::nullopt,
        opt_token(s, first + 4)};
    if (!s.column_is_null(first + 3)) {
        d.next_retry = parse_rfc3339(s.column_text(first + 3));
    }
    return d;
}

}  // namespace

bool is_cursor_text(std::string_view s) noexcept {
    if (s.empty() || s.size() > 8192) {
        return false;
    }
    for (const char c : s) {
        if (c < 0x20 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

record_id record_id::pseudonymous(
    token system, token kind, std::string_view personal_value, const keyed_hasher& hasher
) {
    auto id = token::make("hmac:" + hasher.hmac_hex(kind.str(), personal_value));
    return record_id{std::move(system), std::move(*id)};
}

std::string_view to_string(delivery_state s) {
    switch (s) {
        case delivery_state::pending:
            return "pending";
        case delivery_state::in_flight:
            return "in_flight";
        case delivery_state::delivered:
            return "delivered";
        case delivery_state::withheld:
            return "withheld";
        case delivery_state::failed:
            return "failed";
        case delivery_state::dead:
            return "dead";
    }
    return "unknown";
}

store::store(db d, store_options o, const clock_source& clock)
    : db_(std::move(d)), options_(std::move(o)), clock_(&clock) {}
store::store(store&&) noexcept = default;
store& store::operator=(store&&) noexcept = default;
store::~store() = default;

result<store> store::open(
    const std::filesystem::path& path, store_options options, const clock_source& clock
) {
    std::optional<signer> key;
    if (options.signing_key) {
        auto k = signer::from_pem_file(*options.signing_key);
        if (!k) {
            return k.error();
        }
        key.emplace(std::move(*k));
    }
    auto d = db::open(path);
    if (!d) {
        return d.error();
    }
    STORE_TRY(migrate(*d));
    store s(std::move(*d), std::move(options), clock);
    s.signer_ = std::move(key);
    return s;
}

result<void> store::apply_delivery(const delivery& d) {
    auto s = db_.prepare(
        "INSERT INTO deliveries (flow, source_system, source_id, state, attempts, source_version,"
        " next_retry, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (source_system, source_id, flow) DO UPDATE SET state = excluded.state,"
        " attempts = excluded.attempts,"
        " source_version = coalesce(excluded.source_version, source_version),"
        " next_retry = excluded.next_retry, reason = excluded.reason,"
        " updated_at = excluded.updated_at"
    );
    if (!s) {
        return s.error();
    }
    s->bind(1, std::string_view(d.flow.str()))
        .bind(2, std::string_view(d.source.system.str()))
        .bind(3, std::string_view(d.source.id.str()))
        .bind(4, to_string(d.state))
        .bind(5, d.attempts);
    if (d.source_version) {
        s->bind(6, std::string_view(d.source_version->str()));
    }
    if (d.next_retry) {
        s->bind(7, std::string_view(ts_of(*d.next_retry)));
    }
    if (d.reason) {
        s->bind(8, std::string_view(d.reason->str()));
    }
    s->bind(9, std::string_view(ts_of(clock_->now())));
    return s->run();
}

result<std::int64_t> store::commit_page(const page_commit& page) {
    std::optional<checkpoint> cp;
    if (page.sync_later) {
        STORE_TRY(db_.exec("PRAGMA synchronous=NORMAL"));
    }
    auto last = write_page(page, cp);
    if (page.sync_later) {
        // Every other commit of this connection syncs: one that failed to say so must not
        // leave the connection skipping fsyncs.
        CASEBRIDGE_CHECK(db_.exec("PRAGMA synchronous=FULL").has_value());
    }
    if (!last) {
        return last.error();
    }
    // A commit that synced the WAL made every earlier frame of it durable too.
    unsynced_ = page.sync_later;
    if (cp) {
        // The witness, outside the store, may only name a head that a power cut keeps.
        STORE_TRY(sync_wal());
        STORE_TRY(write_witness(*cp));
    }
    return last;
}

result<void> store::sync_wal() {
    if (!unsynced_) {
        return {};
    }
    sqlite3_file* wal = nullptr;
    const int found =
        sqlite3_file_control(db_.handle(), "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
    if (found != SQLITE_OK || wal == nullptr || wal->pMethods == nullptr) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    // The call SQLite itself makes to sync the log at a commit with synchronous=FULL.
    if (wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) != SQLITE_OK) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    unsynced_ = false;
    return {};
}

result<std::int64_t> store::write_page(const page_commit& page, std::optional<checkpoint>& cp) {
    std::int64_t last = 0;
    {
        auto t = txn::begin(db_);
        if (!t) {
            return t.error();
        }
        const auto now = clock_->now();
        auto seq = append_entries(db_, page.entries, now);
        if (!seq) {
            return seq.error();
        }
        last = *seq;
        for (const auto& d : page.deliveries) {
            STORE_TRY(apply_delivery(d));
        }
        for (const auto& [flow, source] : page.settled_dead_letters) {
            auto s = db_.prepare(
                "DELETE FROM dead_letters WHERE flow = ? AND source_system = ? AND source_id = ?"
            );
            if (!s) {
                return s.error();
            }
            s->bind(1, std::string_view(flow.str()))
                .bind(2, std::string_view(source.system.str()))
                .bind(3, std::string_view(source.id.str()));
            STORE_TRY(s->run());
        }
        for (const auto& dl : page.dead_letters) {
            std::vector<token> names = dl.field_names;
            rapidjson::Document doc(rapidjson::kArrayType);
            for (const auto& n : names) {
                doc.PushBack(
                    rapidjson::Value(n.str().c_str(), doc.GetAllocator()), doc.GetAllocator()
                );
            }
            auto s = db_.prepare(
                "INSERT INTO dead_letters (flow, source_system, source_id, reason, field_names,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)"
            );
            if (!s) {
                return s.error();
            }
            s->bind(1, std::string_view(dl.flow.str()))
                .bind(2, std::string_view(dl.source.system.str()))
                .bind(3, std::string_view(dl.source.id.str()))
                .bind(4, std::string_view(dl.reason.str()))
                .bind(5, std::string_view(json::canonical(doc)))
                .bind(6, std::string_view(ts_of(now)));
            STORE_TRY(s->run());
        }
        for (const auto& [source, target] : page.links) {
            STORE_TRY(insert_link(source, target));
        }
        // Most records of a page are open and stay open. Reopenings are idempotent and
        // commute with each other, so a run of them is applied in one statement per table
        // (the page's ids as a JSON array); a closure ends the run, so the order holds.
        std::vector<record_id> reopened;
        for (const auto& [record, closed_at] : page.closures) {
            if (!closed_at) {
                reopened.push_back(record);
                continue;
            }
            STORE_TRY(reopen_each(db_, reopened));
            reopened.clear();
            STORE_TRY(apply_closure(record, closed_at));
        }
        STORE_TRY(reopen_each(db_, reopened));
        for (const auto& r : page.reviews) {
            auto s = db_.prepare(
                "INSERT INTO reviews (flow, source_system, source_id, kind, target_system,"
                " target_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            );
            if (!s) {
                return s.error();
            }
            s->bind(1, std::string_view(r.flow.str()))
                .bind(2, std::string_view(r.source.system.str()))
                .bind(3, std::string_view(r.source.id.str()))
                .bind(4, std::string_view(r.kind.str()));
            if (r.target) {
                s->bind(5, std::string_view(r.target->system.str()))
                    .bind(6, std::string_view(r.target->id.str()));
            }
            s->bind(7, std::string_view(ts_of(now)));
            STORE_TRY(s->run());
        }
        if (page.cursor_move) {
            if (!is_cursor_text(page.cursor_move->second)) {
                CASEBRIDGE_RETURN_ERROR(errc::store_failed);
            }
            auto s = db_.prepare(
                "INSERT INTO cursors (flow, position, log_seq, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (flow) DO UPDATE SET position = excluded.position,"
                " log_seq = excluded.log_seq, updated_at = excluded.updated_at"
            );
            if (!s) {
                return s.error();
            }
            s->bind(1, std::string_view(page.cursor_move->first.str()))
                .bind(2, std::string_view(page.cursor_move->second))
                .bind(3, last)
                .bind(4, std::string_view(ts_of(now)));
            STORE_TRY(s->run());
        }
        if (signer_ && options_.checkpoint_every > 0) {
            auto latest = latest_checkpoint(db_);
            if (!latest) {
                return latest.error();
            }
            const std::int64_t covered = *latest ? (*latest)->size : 0;
            if (last - covered >= options_.checkpoint_every) {
                auto c = add_checkpoint(db_, *signer_, now);
                if (!c) {
                    return c.error();
                }
                cp = *c;
            }
        }
        STORE_TRY(t->commit());
    }
    return last;
}

result<std::optional<checkpoint>> store::end_run() {
    STORE_TRY(sync_wal());
    if (!signer_) {
        return std::optional<checkpoint>();
    }
    auto t = txn::begin(db_);
    if (!t) {
        return t.error();
    }
    auto c = add_checkpoint(db_, *signer_, clock_->now());
    if (!c) {
        return c.error();
    }
    STORE_TRY(t->commit());
    STORE_TRY(write_witness(*c));
    return std::optional<checkpoint>(*c);
}

result<void> store::write_witness(const checkpoint& c) {
    if (!options_.witness_file) {
        return {};
    }
    return write_file_atomically(*options_.witness_file, c.to_json());
}

result<std::optional<cursor>> store::get_cursor(const token& flow) {
    auto s = db_.prepare("SELECT position, log_seq FROM cursors WHERE flow = ?");
    if (!s) {
        return s.error();
    }
    s->bind(1, std::string_view(flow.str()));
    auto row = s->step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        return std::optional<cursor>();
    }
    std::string pos = s->column_text(0);
    if (!is_cursor_text(pos)) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    return std::optional<cursor>(cursor{std::move(pos), s->column_int(1)});
}

result<std::optional<delivery>> store::get_delivery(const token& flow, const record_id& source) {
    auto s = db_.prepare(
        "SELECT state, attempts, source_version, next_retry, reason FROM deliveries"
        " WHERE flow = ? AND source_system = ? AND source_id = ?"
    );
    if (!s) {
        return s.error();
    }
    bind_all(*s, flow.str(), source.system.str(), source.id.str());
    auto row = s->step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        return std::optional<delivery>();
    }
    auto d = delivery_at(*s, 0, flow, source);
    if (!d) {
        return d.error();
    }
    return std::optional<delivery>(std::move(*d));
}

result<std::vector<std::optional<delivery>>> store::get_deliveries(
    const token& flow, const std::vector<record_id>& sources
) {
    return each_of<delivery>(
        db_,
        "SELECT source_id, state, attempts, source_version, next_retry, reason FROM deliveries"
        " WHERE source_system = ? AND source_id IN (SELECT value FROM json_each(?)) AND flow = ?",
        sources,
        flow.str(),
        [&flow](const stmt& row, const std::string& system) -> result<delivery> {
            auto sys = token::make(system);
            auto id = token::make(row.column_text(0));
            if (!sys || !id) {
                CASEBRIDGE_RETURN_ERROR(errc::store_failed);
            }
            return delivery_at(row, 1, flow, record_id{*sys, *id});
        }
    );
}

namespace {

/// Reads (flow, source_system, source_id, reason, field_names) at columns `first`...
result<dead_letter> read_dead_letter(const stmt& s, int first) {
    auto flow = token::make(s.column_text(first));
    auto sys = token::make(s.column_text(first + 1));
    auto id = token::make(s.column_text(first + 2));
    auto reason = token::make(s.column_text(first + 3));
    auto names = json::parse(s.column_text(first + 4));
    if (!flow || !sys || !id || !reason || !names || !names->IsArray()) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    dead_letter dl{*flow, record_id{*sys, *id}, *reason, {}};
    for (const auto& n : names->GetArray()) {
        auto t = n.IsString() ? token::make(n.GetString()) : result<token>(errc::store_failed);
        if (!t) {
            CASEBRIDGE_RETURN_ERROR(errc::store_failed);
        }
        dl.field_names.push_back(*t);
    }
    return dl;
}

}  // namespace

result<std::vector<dead_letter>> store::dead_letters(const token& flow) {
    auto listed = list_dead_letters(flow, -1);
    if (!listed) {
        return listed.error();
    }
    std::vector<dead_letter> out;
    for (auto& [row, dl] : *listed) {
        out.push_back(std::move(dl));
    }
    return out;
}

result<std::vector<std::pair<dead_letter_row, dead_letter>>> store::list_dead_letters(
    std::optional<token> flow, std::int64_t limit
) {
    auto s = db_.prepare(
        "SELECT id, created_at, flow, source_system, source_id, reason, field_names FROM"
        " dead_letters WHERE (?1 IS NULL OR flow = ?1) ORDER BY id LIMIT ?2"
    );
    if (!s) {
        return s.error();
    }
    if (flow) {
        s->bind(1, std::string_view(flow->str()));
    }
    s->bind(2, limit);
    std::vector<std::pair<dead_letter_row, dead_letter>> out;
    const auto read = [&out](const stmt& r) -> result<void> {
        auto dl = read_dead_letter(r, 2);
        if (!dl) {
            return dl.error();
        }
        out.emplace_back(dead_letter_row{r.column_int(0), r.column_text(1)}, std::move(*dl));
        return {};
    };
    STORE_TRY(for_each_row(*s, read));
    return out;
}

result<std::optional<dead_letter>> store::get_dead_letter(std::int64_t id) {
    auto s = db_.prepare(
        "SELECT flow, source_system, source_id, reason, field_names FROM dead_letters WHERE id = ?"
    );
    if (!s) {
        return s.error();
    }
    s->bind(1, id);
    auto row = s->step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        return std::optional<dead_letter>();
    }
    auto dl = read_dead_letter(*s, 0);
    if (!dl) {
        return dl.error();
    }
    return std::optional<dead_letter>(std::move(*dl));
}

result<std::vector<flow_cursor>> store::cursors() {
    auto s = db_.prepare("SELECT flow, position, log_seq, updated_at FROM cursors ORDER BY flow");
    if (!s) {
        return s.error();
    }
    std::vector<flow_cursor> out;
    const auto read = [&out](const stmt& r) -> result<void> {
        auto flow = token::make(r.column_text(0));
        if (!flow) {
            CASEBRIDGE_RETURN_ERROR(errc::store_failed);
        }
        out.push_back(flow_cursor{
            *flow, cursor{r.column_text(1), r.column_int(2)}, r.column_text(3)});
        return {};
    };
    STORE_TRY(for_each_row(*s, read));
    return out;
}

result<std::vector<delivery>> store::deliveries_in(
    const token& flow, delivery_state state, std::int64_t limit
) {
    auto s = db_.prepare(
        "SELECT source_system, source_id, attempts, source_version, reason FROM deliveries"
        " WHERE flow = ? AND state = ? ORDER BY updated_at LIMIT ?"
    );
    if (!s) {
        return s.error();
    }
    s->bind(1, std::string_view(flow.str())).bind(2, to_string(state)).bind(3, limit);
    std::vector<delivery> out;
    const auto read = [&](const stmt& r) -> result<void> {
        auto sys = token::make(r.column_text(0));
        auto id = token::make(r.column_text(1));
        if (!sys || !id) {
            CASEBRIDGE_RETURN_ERROR(errc::store_failed);
        }
        out.push_back(delivery{
            flow,
            record_id{*sys, *id},
            state,
            r.column_int(2),
            opt_token(r, 3),
            std::nullopt,
            opt_token(r, 4)});
        return {};
    };
    STORE_TRY(for_each_row(*s, read));
    return out;
}

result<std::vector<std::pair<delivery_state, std::int64_t>>> store::delivery_counts(
    const token& flow
) {
    auto s = db_.prepare("SELECT state, count(*) FROM deliveries WHERE flow = ? GROUP BY state");
    if (!s) {
        return s.error();
    }
    s->bind(1, std::string_view(flow.str()));
    std::vector<std::pair<delivery_state, std::int64_t>> out;
    const auto read = [&out](const stmt& r) -> result<void> {
        const auto st = parse_state(r.column_text(0));
        if (!st) {
            CASEBRIDGE_RETURN_ERROR(errc::store_failed);
        }
        out.emplace_back(*st, r.column_int(1));
        return {};
    };
    STORE_TRY(for_each_row(*s, read));
    std::sort(out.begin(), out.end());
    return out;
}

namespace {

constexpr std::string_view review_columns =
    "SELECT id, flow, source_system, source_id, kind, target_system, target_id, created_at"
    " FROM reviews";

/// Appends the review item of row `r` (review_columns) to `out`.
result<void> read_review(const stmt& r, std::vector<review_item>& out) {
    auto flow = token::make(r.column_text(1));
    auto sys = token::make(r.column_text(2));
    auto id = token::make(r.column_text(3));
    auto kind = token::make(r.column_text(4));
    if (!flow || !sys || !id || !kind) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    review_item item{
        r.column_int(0), *flow, record_id{*sys, *id}, *kind, std::nullopt, r.column_text(7)};
    if (!r.column_is_null(5)) {
        auto tsys = token::make(r.column_text(5));
        auto tid = token::make(r.column_text(6));
        if (!tsys || !tid) {
            CASEBRIDGE_RETURN_ERROR(errc::store_failed);
        }
        item.target = record_id{*tsys, *tid};
    }
    out.push_back(std::move(item));
    return {};
}

}  // namespace

result<std::vector<review_item>> store::reviews(std::int64_t limit) {
    auto s = db_.prepare(std::string(review_columns) + " ORDER BY id LIMIT ?");
    if (!s) {
        return s.error();
    }
    s->bind(1, limit);
    std::vector<review_item> out;
    STORE_TRY(for_each_row(*s, [&out](const stmt& r) { return read_review(r, out); }));
    return out;
}

result<std::optional<review_item>> store::close_review(
    std::int64_t id, outcome decision, const token& actor, const sha256_digest& reason_sha256
) {
    auto t = txn::begin(db_);
    if (!t) {
        return t.error();
    }
    std::vector<review_item> found;
    {
        auto s = db_.prepare(std::string(review_columns) + " WHERE id = ?");
        if (!s) {
            return s.error();
        }
        s->bind(1, id);
        STORE_TRY(for_each_row(*s, [&found](const stmt& r) { return read_review(r, found); }));
    }
    if (found.empty()) {
        return std::optional<review_item>();
    }
    std::optional<review_item> item = std::move(found.front());
    auto del = db_.prepare("DELETE FROM reviews WHERE id = ?");
    if (!del) {
        return del.error();
    }
    del->bind(1, id);
    STORE_TRY(del->run());
    log_entry_input e;
    e.kind = entry_kind::review_decision;
    e.flow = item->flow;
    e.source = item->source;
    e.target = item->target;
    e.result = decision;
    e.actor = actor;
    e.reason = item->kind;
    e.override_reason = token::make("sha256:" + to_hex(reason_sha256)).value();
    auto seq = append_entries(db_, {e}, clock_->now());
    if (!seq) {
        return seq.error();
    }
    STORE_TRY(t->commit());
    return item;
}

result<void> store::link(const record_id& source, const record_id& target) {
    return insert_link(source, target);
}

result<void> store::insert_link(const record_id& source, const record_id& target) {
    auto s = db_.prepare(
        "INSERT INTO links (source_system, source_id, target_system, target_id, created_at)"
        " VALUES (?, ?, ?, ?, ?)"
    );
    if (!s) {
        return s.error();
    }
    s->bind(1, std::string_view(source.system.str()))
        .bind(2, std::string_view(source.id.str()))
        .bind(3, std::string_view(target.system.str()))
        .bind(4, std::string_view(target.id.str()))
        .bind(5, std::string_view(ts_of(clock_->now())));
    auto r = s->run();
    if (r) {
        return {};
    }
    if (r.error() != errc::conflict) {
        return r;
    }
    // The pair may already be linked (idempotent), or one side is linked elsewhere.
    auto existing = linked(source, target.system);
    if (!existing) {
        return existing.error();
    }
    if (*existing && **existing == target) {
        return {};
    }
    CASEBRIDGE_RETURN_ERROR(errc::multiple_matches);
}

result<std::optional<record_id>> store::linked_from(
    const record_id& target, const token& source_system
) {
    return link_of(
        db_,
        "SELECT source_id FROM links WHERE target_system = ? AND target_id = ? AND"
        " source_system = ?",
        target,
        source_system
    );
}

result<std::optional<sent_event>> store::last_sent_to(const record_id& target) {
    auto s = db_.prepare(
        "SELECT flow, purpose, source_system, source_id FROM transfer_log WHERE"
        " target_system = ? AND target_id = ? AND outcome = 'sent' ORDER BY seq DESC LIMIT 1"
    );
    if (!s) {
        return s.error();
    }
    s->bind(1, std::string_view(target.system.str())).bind(2, std::string_view(target.id.str()));
    auto row = s->step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        return std::optional<sent_event>();
    }
    auto flow = token::make(s->column_text(0));
    auto purpose = token::make(s->column_text(1));
    auto system = token::make(s->column_text(2));
    auto id = token::make(s->column_text(3));
    if (!flow || !purpose || !system || !id) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    return std::optional<sent_event>(sent_event{*flow, *purpose, record_id{*system, *id}});
}

result<ack_state> store::acknowledgement_of(const token& flow, const record_id& source) {
    auto sent = db_.prepare(
        "SELECT seq, target_system, target_id FROM transfer_log WHERE source_system = ? AND"
        " source_id = ? AND flow = ? AND outcome = 'sent' ORDER BY seq DESC LIMIT 1"
    );
    if (!sent) {
        return sent.error();
    }
    sent->bind(1, std::string_view(source.system.str()))
        .bind(2, std::string_view(source.id.str()))
        .bind(3, std::string_view(flow.str()));
    auto row = sent->step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        return ack_state::not_sent;
    }
    const std::int64_t seq = sent->column_int(0);
    const std::string target_system = sent->column_text(1);
    const std::string target_id = sent->column_text(2);
    auto answer = db_.prepare(
        "SELECT outcome FROM transfer_log WHERE target_system = ? AND target_id = ? AND seq > ?"
        " AND outcome IN ('acknowledged', 'rejected') ORDER BY seq DESC LIMIT 1"
    );
    if (!answer) {
        return answer.error();
    }
    answer->bind(1, std::string_view(target_system))
        .bind(2, std::string_view(target_id))
        .bind(3, seq);
    auto got = answer->step();
    if (!got) {
        return got.error();
    }
    if (!*got) {
        return ack_state::awaiting;
    }
    return answer->column_text(0) == "acknowledged" ? ack_state::acknowledged : ack_state::rejected;
}

result<std::optional<record_id>> store::linked(
    const record_id& source, const token& target_system
) {
    return link_of(
        db_,
        "SELECT target_id FROM links WHERE source_system = ? AND source_id = ? AND"
        " target_system = ?",
        source,
        target_system
    );
}

result<std::vector<std::optional<record_id>>> store::linked_each(
    const std::vector<record_id>& sources, const token& target_system
) {
    return links_of(
        db_,
        "SELECT source_id, target_id FROM links WHERE source_system = ? AND source_id IN"
        " (SELECT value FROM json_each(?)) AND target_system = ?",
        sources,
        target_system
    );
}

result<std::vector<std::optional<record_id>>> store::linked_from_each(
    const std::vector<record_id>& targets, const token& source_system
) {
    return links_of(
        db_,
        "SELECT target_id, source_id FROM links WHERE target_system = ? AND target_id IN"
        " (SELECT value FROM json_each(?)) AND source_system = ?",
        targets,
        source_system
    );
}

result<void> store::mark_closed(const record_id& record, std::optional<time_point> closed_at) {
    auto t = txn::begin(db_);
    if (!t) {
        return t.error();
    }
    STORE_TRY(apply_closure(record, closed_at));
    return t->commit();
}

result<void> store::apply_closure(const record_id& record, std::optional<time_point> closed_at) {
    if (!closed_at) {
        return reopen_each(db_, {record});
    }
    const std::string ts = ts_of(*closed_at);
    for (const char* sql : {
             "UPDATE links SET closed_at = ?3 WHERE closed_at IS NULL AND"
             " ((source_system = ?1 AND source_id = ?2) OR (target_system = ?1 AND target_id = "
             "?2))",
             "UPDATE deliveries SET closed_at = ?3 WHERE closed_at IS NULL AND"
             " source_system = ?1 AND source_id = ?2",
         }) {
        auto s = db_.prepare(sql);
        if (!s) {
            return s.error();
        }
        s->bind(1, std::string_view(record.system.str()))
            .bind(2, std::string_view(record.id.str()))
            .bind(3, std::string_view(ts));
        STORE_TRY(s->run());
    }
    return {};
}

result<store::retention_backlog> store::awaiting_purge(std::chrono::seconds retention) {
    retention_backlog out;
    const std::string cutoff = ts_of(clock_->now() - retention);
    for (auto [sql, all, due] : {
             std::tuple{
                 "SELECT count(*), count(*) FILTER (WHERE closed_at < ?) FROM links"
                 " WHERE closed_at IS NOT NULL",
                 &out.closed_links,
                 &out.due_links},
             std::tuple{
                 "SELECT count(*), count(*) FILTER (WHERE closed_at < ?) FROM deliveries"
                 " WHERE closed_at IS NOT NULL",
                 &out.closed_deliveries,
                 &out.due_deliveries},
         }) {
        auto s = db_.prepare(sql);
        if (!s) {
            return s.error();
        }
        s->bind(1, std::string_view(cutoff));
        auto row = s->step();
        if (!row) {
            return row.error();
        }
        *all = s->column_int(0);
        *due = s->column_int(1);
    }
    return out;
}

result<store::purge_counts> store::purge(std::chrono::seconds retention, token actor) {
    STORE_TRY(db_.exec("PRAGMA secure_delete=ON"));
    purge_counts counts;
    {
        auto t = txn::begin(db_);
        if (!t) {
            return t.error();
        }
        const auto now = clock_->now();
        const std::string cutoff = ts_of(now - retention);
        for (auto [sql, out] : {
                 std::pair{
                     "DELETE FROM links WHERE closed_at IS NOT NULL AND closed_at < ?",
                     &counts.links},
                 std::pair{
                     "DELETE FROM deliveries WHERE closed_at IS NOT NULL AND closed_at < ?",
                     &counts.deliveries},
             }) {
            auto s = db_.prepare(sql);
            if (!s) {
                return s.error();
            }
            s->bind(1, std::string_view(cutoff));
            STORE_TRY(s->run());
            *out = db_.changes();
        }
        log_entry_input e;
        e.kind = entry_kind::retention_purge;
        e.result = outcome::purged;
        e.actor = std::move(actor);
        e.counts = {{"links", counts.links}, {"deliveries", counts.deliveries}};
        auto seq = append_entries(db_, {e}, now);
        if (!seq) {
            return seq.error();
        }
        counts.log_seq = *seq;
        STORE_TRY(t->commit());
    }
    // Leave no deleted rows behind in the WAL.
    STORE_TRY(db_.exec("PRAGMA wal_checkpoint(TRUNCATE)"));
    return counts;
}

result<verify_report> store::verify(const verify_options& options) {
    return ::casebridge::store::verify(db_, options);
}

}  // namespace casebridge::store
