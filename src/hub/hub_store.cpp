#include "hub/hub_store.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include <rapidjson/document.h>

#include "core/encoding.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "store/crypto.hpp"
#include "store/migrations.hpp"
#include "store/query.hpp"
#include "store/transfer_log.hpp"
#include "store/try.hpp"

namespace casebridge::hub {

namespace {

// The hub's own tables, versioned in meta.hub_schema_version (the store's tables and its
// PRAGMA user_version are the store's migrations, so the log commands read this file as any
// store). Records hold no name, date or identifier: the filter's bytes, keyed tokens and the
// coarse codes the hub accepts; a withdrawal sets all three to NULL.
constexpr std::string_view hub_v1 = R"sql(
CREATE TABLE hub_records (
    agency         TEXT NOT NULL,
    pseudonym      TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('active', 'withdrawn')),
    schema_version INTEGER NOT NULL,
    filter         BLOB,
    tokens         TEXT,
    coarse         TEXT,
    payload_sha256 TEXT,
    received_at    TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    withdrawn_at   TEXT,
    PRIMARY KEY (agency, pseudonym),
    CHECK (state = 'active' OR (filter IS NULL AND tokens IS NULL AND coarse IS NULL))
) STRICT;
CREATE INDEX hub_records_state ON hub_records(state, schema_version);

CREATE TABLE hub_cluster_refs (
    agency    TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    ref       TEXT NOT NULL,
    PRIMARY KEY (agency, pseudonym)
) STRICT;
CREATE INDEX hub_cluster_refs_ref ON hub_cluster_refs(ref);

CREATE TABLE hub_pairs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('review', 'duplicate')),
    agency_a    TEXT NOT NULL,
    pseudonym_a TEXT NOT NULL,
    agency_b    TEXT NOT NULL,
    pseudonym_b TEXT NOT NULL,
    score_milli INTEGER NOT NULL,
    cluster_ref TEXT
) STRICT;

CREATE TABLE hub_linkage_runs (
    id                    INTEGER PRIMARY KEY,
    ts                    TEXT NOT NULL,
    records               INTEGER NOT NULL,
    clusters              INTEGER NOT NULL,
    multi_agency_clusters INTEGER NOT NULL,
    auto_links            INTEGER NOT NULL,
    review_items          INTEGER NOT NULL,
    duplicates            INTEGER NOT NULL,
    merges                INTEGER NOT NULL,
    splits                INTEGER NOT NULL
) STRICT;
)sql";

// Version 2: review decisions (remembered; linkage follows them) and the key that binds
// exported review rows (SQLite's randomblob, seeded from the operating system).
constexpr std::string_view hub_v2 = R"sql(
CREATE TABLE hub_decisions (
    agency_a    TEXT NOT NULL,
    pseudonym_a TEXT NOT NULL,
    agency_b    TEXT NOT NULL,
    pseudonym_b TEXT NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('same', 'not_same')),
    actor       TEXT NOT NULL,
    decided_at  TEXT NOT NULL,
    PRIMARY KEY (agency_a, pseudonym_a, agency_b, pseudonym_b)
) STRICT;
INSERT INTO meta (key, value) VALUES ('hub_review_key', lower(hex(randomblob(32))));
)sql";

// Version 3: notices to agencies, numbered per agency (never changed or deleted), and the
// state last notified per record (its cluster reference and the other agencies' ids), which
// each linkage compares with its clusters. Agency ids are lists of ids separated by a space
// (ids have no spaces); no display name is stored.
constexpr std::string_view hub_v3 = R"sql(
CREATE TABLE hub_notices (
    agency     TEXT NOT NULL,
    id         INTEGER NOT NULL CHECK (id >= 1),
    kind       TEXT NOT NULL CHECK (kind IN ('possible_duplicate', 'retraction')),
    pseudonym  TEXT NOT NULL,
    reference  TEXT NOT NULL,
    others     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (agency, id)
) STRICT;

CREATE TABLE hub_notice_state (
    agency    TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    reference TEXT NOT NULL,
    others    TEXT NOT NULL,
    PRIMARY KEY (agency, pseudonym)
) STRICT;

ALTER TABLE hub_linkage_runs ADD COLUMN notices_issued INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hub_linkage_runs ADD COLUMN notices_retracted INTEGER NOT NULL DEFAULT 0;
)sql";

constexpr std::array<std::string_view, 3> hub_migrations = {hub_v1, hub_v2, hub_v3};

result<void> migrate_hub(store::db& d) {
    auto version = store::query_one(
        d,
        "SELECT value FROM meta WHERE key = 'hub_schema_version'",
        [](const store::stmt& row) { return std::stoi(row.column_text(0)); }
    );
    if (!version) {
        return version.error();
    }
    const int have = version->value_or(0);
    if (have > static_cast<int>(hub_migrations.size())) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);  // written by a newer build
    }
    for (int v = have + 1; v <= static_cast<int>(hub_migrations.size()); ++v) {
        auto t = store::txn::begin(d);
        if (!t) {
            return t.error();
        }
        STORE_TRY(d.exec(hub_migrations[static_cast<std::size_t>(v - 1)]));
        STORE_TRY(store::execute(
            d,
            "INSERT INTO meta (key, value) VALUES ('hub_schema_version', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            std::to_string(v)
        ));
        STORE_TRY(t->commit());
    }
    return {};
}

std::string filter_bytes(const std::vector<std::uint64_t>& words) {
    std::string out(words.size() * 8, '\0');
    for (std::size_t i = 0; i < words.size(); ++i) {
        for (std::size_t b = 0; b < 8; ++b) {
            out[i * 8 + b] = static_cast<char>((words[i] >> (8 * b)) & 0xFFU);
        }
    }
    return out;
}

std::vector<std::uint64_t> filter_words(std::string_view bytes) {
    std::vector<std::uint64_t> out(bytes.size() / 8, 0);
    for (std::size_t i = 0; i < out.size(); ++i) {
        for (std::size_t b = 0; b < 8; ++b) {
            out[i] |= std::uint64_t{static_cast<unsigned char>(bytes[i * 8 + b])} << (8 * b);
        }
    }
    return out;
}

/// Sixteen hex digits, most significant first.
std::string hex64(std::uint64_t v) {
    std::string bytes(8, '\0');
    for (int i = 7; i >= 0; --i) {
        bytes[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFFU);
        v >>= 8;
    }
    return to_hex(bytes);
}

/// "kind:hex kind:hex", sorted by kind.
std::string tokens_text(const std::vector<linkage::id_token>& tokens) {
    std::string out;
    for (const auto& t : tokens) {
        if (!out.empty()) {
            out += ' ';
        }
        out += std::to_string(t.kind) + ':' + hex64(t.value);
    }
    return out;
}

std::vector<linkage::id_token> parse_tokens(std::string_view text) {
    std::vector<linkage::id_token> out;
    std::size_t at = 0;
    while (at < text.size()) {
        const auto end = std::min(text.find(' ', at), text.size());
        const auto item = text.substr(at, end - at);
        const auto colon = item.find(':');
        if (colon != std::string_view::npos) {
            linkage::id_token t;
            t.kind = static_cast<std::uint32_t>(std::stoul(std::string(item.substr(0, colon))));
            t.value = std::stoull(std::string(item.substr(colon + 1)), nullptr, 16);
            out.push_back(t);
        }
        at = end + 1;
    }
    return out;
}

std::string coarse_json(const std::vector<std::pair<std::string, std::string>>& coarse) {
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    for (const auto& [k, v] : coarse) {
        d.AddMember(rapidjson::Value(k.c_str(), a), rapidjson::Value(v.c_str(), a), a);
    }
    return json::canonical(d);
}

/// SHA-256 of everything stored for a record: what "unchanged" compares, and the log's
/// payload_sha256 (of encodings and codes, not of any name or date).
store::sha256_digest payload_digest(
    int schema_version,
    const std::string& filter,
    const std::string& tokens,
    const std::string& coarse
) {
    const std::string text = "casebridge-hub-record/v1\n" + std::to_string(schema_version) + '\n' +
                             base64_encode(filter) + '\n' + tokens + '\n' + coarse + '\n';
    return store::sha256(text);
}

result<store::token> make_token(std::string_view s) {
    auto t = store::token::make(s);
    if (!t) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    return *t;
}

std::string key_of(const std::string& agency, const std::string& pseudonym) {
    std::string k = agency;
    k.push_back('\0');
    k += pseudonym;
    return k;
}

/// Agency ids joined by a space (ids have none), as hub_notices and hub_notice_state keep them.
std::string join_ids(const std::vector<std::string>& ids) {
    std::string out;
    for (const auto& id : ids) {
        if (!out.empty()) {
            out += ' ';
        }
        out += id;
    }
    return out;
}

std::vector<std::string> split_ids(std::string_view text) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at < text.size()) {
        const auto end = std::min(text.find(' ', at), text.size());
        if (end > at) {
            out.emplace_back(text.substr(at, end - at));
        }
        at = end + 1;
    }
    return out;
}

/// A record's notified (or to be notified) state: the cluster's ref and the other agencies.
struct notice_target {
    std::string agency;
    std::string pseudonym;
    std::string ref;
    std::string others;  ///< join_ids of the other agencies' ids, sorted.
};

/// A pseudonym as a log token; one that is not token text (never, after the ingest checks)
/// is logged as its SHA-256.
store::token pseudonym_token(const std::string& pseudonym) {
    if (auto t = store::token::make(pseudonym)) {
        return *t;
    }
    return *store::token::make("sha256:" + store::to_hex(store::sha256(pseudonym)));
}

/// The notices a linkage makes, inside its transaction: compares each record's last notified
/// state with `desired` (records still active in a cluster of two or more agencies), writes
/// retraction and possible_duplicate notices, numbered per agency, with a `notice` log entry
/// each, and stores the new state. Returns (issued, retracted).
result<std::pair<std::int64_t, std::int64_t>> make_notices(
    store::db& d,
    const std::map<std::string, notice_target>& desired,
    const std::string& ts,
    std::vector<store::log_entry_input>& entries
) {
    auto old_rows = store::query_all(
        d,
        "SELECT agency, pseudonym, reference, others FROM hub_notice_state",
        [](const store::stmt& row) {
            return notice_target{
                row.column_text(0), row.column_text(1), row.column_text(2), row.column_text(3)};
        }
    );
    if (!old_rows) {
        return old_rows.error();
    }
    std::map<std::string, notice_target> old;
    for (auto& t : *old_rows) {
        auto k = key_of(t.agency, t.pseudonym);
        old.emplace(std::move(k), std::move(t));
    }
    std::set<std::string> keys;
    for (const auto& [k, t] : old) {
        keys.insert(k);
    }
    for (const auto& [k, t] : desired) {
        keys.insert(k);
    }

    auto insert = d.prepare(
        "INSERT INTO hub_notices (agency, id, kind, pseudonym, reference, others, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    );
    if (!insert) {
        return insert.error();
    }
    std::map<std::string, std::int64_t> last_id;  // per agency, read once
    std::int64_t issued = 0;
    std::int64_t retracted = 0;
    const auto add = [&](const notice_target& t, notice_kind kind, std::string_view reason
                     ) -> casebridge::result<void> {
        auto last = last_id.find(t.agency);
        if (last == last_id.end()) {
            auto n = store::query_int(
                d, "SELECT max(id) FROM hub_notices WHERE agency = ?", 0, t.agency
            );
            if (!n) {
                return n.error();
            }
            last = last_id.emplace(t.agency, *n).first;
        }
        const std::int64_t id = ++last->second;
        const bool dup = kind == notice_kind::possible_duplicate;
        const std::string others = dup ? t.others : std::string();
        insert->reset();
        store::bind_all(*insert, t.agency, id, to_string(kind), t.pseudonym, t.ref, others, ts);
        STORE_TRY(insert->run());
        auto agency = make_token(t.agency);
        auto ref = make_token(t.ref);
        auto why = make_token(reason);
        auto number = make_token("notice/" + std::to_string(id));
        if (!agency || !ref || !why || !number) {
            CASEBRIDGE_RETURN_ERROR(errc::store_failed);
        }
        store::log_entry_input e;
        e.kind = store::entry_kind::notice;
        e.flow = store::token("hub");
        e.dir = store::direction::outbound;
        e.purpose = store::token("imo_linkage");
        e.source = store::record_id{store::token("cluster"), *ref};
        e.target = store::record_id{*agency, pseudonym_token(t.pseudonym)};
        e.correlation_key = *number;
        e.result = dup ? store::outcome::notice_issued : store::outcome::notice_retracted;
        e.reason = *why;
        e.counts = {
            {store::token("other_agencies"), static_cast<std::int64_t>(split_ids(others).size())}};
        entries.push_back(std::move(e));
        ++(dup ? issued : retracted);
        return {};
    };

    for (const auto& k : keys) {
        const auto was = old.find(k);
        const auto want = desired.find(k);
        const bool had = was != old.end();
        const bool wants = want != desired.end();
        if (had && (!wants || want->second.ref != was->second.ref)) {
            std::string_view reason = "reference_changed";
            if (!wants) {
                auto active = store::query_int(
                    d,
                    "SELECT count(*) FROM hub_records WHERE agency = ? AND pseudonym = ? AND "
                    "state = 'active'",
                    0,
                    was->second.agency,
                    was->second.pseudonym
                );
                if (!active) {
                    return active.error();
                }
                reason = *active == 0 ? "record_withdrawn" : "link_ended";
            }
            STORE_TRY(add(was->second, notice_kind::retraction, reason));
        }
        if (wants && (!had || was->second.ref != want->second.ref ||
                      was->second.others != want->second.others)) {
            const std::string_view reason = !had ? "linked"
                                            : was->second.ref != want->second.ref
                                                ? "reference_changed"
                                                : "agencies_changed";
            STORE_TRY(add(want->second, notice_kind::possible_duplicate, reason));
        }
    }

    // The state notified from now on: exactly the desired one.
    STORE_TRY(d.exec("DELETE FROM hub_notice_state"));
    auto put = d.prepare(
        "INSERT INTO hub_notice_state (agency, pseudonym, reference, others) VALUES (?, ?, ?, ?)"
    );
    if (!put) {
        return put.error();
    }
    for (const auto& [k, t] : desired) {
        put->reset();
        store::bind_all(*put, t.agency, t.pseudonym, t.ref, t.others);
        STORE_TRY(put->run());
    }
    return std::pair{issued, retracted};
}

}  // namespace

std::string_view to_string(withdrawal_reason r) {
    switch (r) {
        case withdrawal_reason::consent_withdrawn:
            return "consent_withdrawn";
        case withdrawal_reason::case_closed:
            return "case_closed";
        case withdrawal_reason::retention:
            return "retention";
    }
    return "unknown";
}

std::optional<withdrawal_reason> parse_withdrawal_reason(std::string_view s) {
    for (const auto r :
         {withdrawal_reason::consent_withdrawn,
          withdrawal_reason::case_closed,
          withdrawal_reason::retention}) {
        if (to_string(r) == s) {
            return r;
        }
    }
    return std::nullopt;
}

std::string_view to_string(notice_kind k) {
    return k == notice_kind::retraction ? "retraction" : "possible_duplicate";
}

result<hub_store> hub_store::open(const std::filesystem::path& path, const clock_source& clock) {
    auto d = store::db::open(path);
    if (!d) {
        return d.error();
    }
    // Withdrawn encodings are overwritten with zeros in the file, not only unlinked.
    STORE_TRY(d->exec("PRAGMA secure_delete=ON"));
    auto v = store::migrate(*d);
    if (!v) {
        return v.error();
    }
    STORE_TRY(migrate_hub(*d));
    return hub_store(std::move(*d), clock);
}

result<upsert_counts> hub_store::upsert(
    std::string_view agency, int schema_version, const std::vector<incoming_record>& records
) {
    auto agency_token = make_token(agency);
    if (!agency_token) {
        return agency_token.error();
    }
    auto t = store::txn::begin(db_);
    if (!t) {
        return t.error();
    }
    auto find = db_.prepare(
        "SELECT state, payload_sha256 FROM hub_records WHERE agency = ? AND pseudonym = ?"
    );
    auto write = db_.prepare(
        "INSERT INTO hub_records (agency, pseudonym, state, schema_version, filter, tokens, "
        "coarse, payload_sha256, received_at, updated_at, withdrawn_at) "
        "VALUES (?1, ?2, 'active', ?3, ?4, ?5, ?6, ?7, ?8, ?8, NULL) "
        "ON CONFLICT(agency, pseudonym) DO UPDATE SET state = 'active', "
        "schema_version = excluded.schema_version, filter = excluded.filter, "
        "tokens = excluded.tokens, coarse = excluded.coarse, "
        "payload_sha256 = excluded.payload_sha256, updated_at = excluded.updated_at, "
        "withdrawn_at = NULL"
    );
    if (!find) {
        return find.error();
    }
    if (!write) {
        return write.error();
    }
    const time_point now = clock_->now();
    const std::string ts = format_rfc3339(now, 6);
    upsert_counts counts;
    std::vector<store::log_entry_input> entries;
    for (const auto& r : records) {
        const std::string filter = filter_bytes(r.filter);
        const std::string tokens = tokens_text(r.tokens);
        const std::string coarse = coarse_json(r.coarse);
        const auto digest = payload_digest(schema_version, filter, tokens, coarse);
        const std::string digest_hex = store::to_hex(digest);
        find->reset();
        find->bind(1, agency).bind(2, std::string_view(r.pseudonym));
        auto row = find->step();
        if (!row) {
            return row.error();
        }
        std::string reason = "new";
        if (*row) {
            const std::string state = find->column_text(0);
            if (state == "active" && find->column_text(1) == digest_hex) {
                ++counts.unchanged;
                continue;
            }
            reason = state == "active" ? "changed" : "reactivated";
        }
        write->reset();
        write->bind(1, agency)
            .bind(2, std::string_view(r.pseudonym))
            .bind(3, std::int64_t{schema_version})
            .bind_blob(4, filter)
            .bind(5, std::string_view(tokens))
            .bind(6, std::string_view(coarse))
            .bind(7, std::string_view(digest_hex))
            .bind(8, std::string_view(ts));
        STORE_TRY(write->run());
        ++counts.stored;

        auto pseudonym = make_token(r.pseudonym);
        auto why = make_token(reason);
        if (!pseudonym || !why) {
            CASEBRIDGE_RETURN_ERROR(errc::store_failed);
        }
        store::log_entry_input e;
        e.kind = store::entry_kind::receipt;
        e.flow = store::token("hub");
        e.dir = store::direction::inbound;
        e.purpose = store::token("imo_linkage");
        e.source = store::record_id{*agency_token, *pseudonym};
        e.fields_sent = {store::token("filter")};
        if (!r.tokens.empty()) {
            e.fields_sent.push_back(store::token("tokens"));
        }
        for (const auto& [name, value] : r.coarse) {
            auto n = make_token(name);
            if (!n) {
                return n.error();
            }
            e.fields_sent.push_back(*n);
        }
        e.payload_sha256 = digest;
        e.result = store::outcome::received;
        e.actor = *agency_token;
        e.reason = *why;
        e.counts = {
            {store::token("linkage_schema_version"), schema_version},
            {store::token("tokens"), static_cast<std::int64_t>(r.tokens.size())}};
        entries.push_back(std::move(e));
    }
    if (!entries.empty()) {
        auto seq = store::append_entries(db_, entries, now);
        if (!seq) {
            return seq.error();
        }
    }
    STORE_TRY(t->commit());
    return counts;
}

result<withdraw_counts> hub_store::withdraw(
    std::string_view agency, const std::vector<std::string>& pseudonyms, withdrawal_reason reason
) {
    auto agency_token = make_token(agency);
    if (!agency_token) {
        return agency_token.error();
    }
    auto t = store::txn::begin(db_);
    if (!t) {
        return t.error();
    }
    const time_point now = clock_->now();
    const std::string ts = format_rfc3339(now, 6);
    // Only the caller's own active record changes: another agency's pseudonym matches no row.
    auto wipe = db_.prepare(
        "UPDATE hub_records SET state = 'withdrawn', filter = NULL, tokens = NULL, "
        "coarse = NULL, payload_sha256 = NULL, updated_at = ?3, withdrawn_at = ?3 "
        "WHERE agency = ?1 AND pseudonym = ?2 AND state = 'active'"
    );
    auto unref = db_.prepare("DELETE FROM hub_cluster_refs WHERE agency = ?1 AND pseudonym = ?2");
    auto unpair = db_.prepare(
        "DELETE FROM hub_pairs WHERE (agency_a = ?1 AND pseudonym_a = ?2) OR "
        "(agency_b = ?1 AND pseudonym_b = ?2)"
    );
    auto undecide = db_.prepare(
        "DELETE FROM hub_decisions WHERE (agency_a = ?1 AND pseudonym_a = ?2) OR "
        "(agency_b = ?1 AND pseudonym_b = ?2)"
    );
    if (!undecide) {
        return undecide.error();
    }
    if (!wipe) {
        return wipe.error();
    }
    if (!unref) {
        return unref.error();
    }
    if (!unpair) {
        return unpair.error();
    }
    withdraw_counts counts;
    std::vector<store::log_entry_input> entries;
    std::set<std::string> seen;
    for (const auto& p : pseudonyms) {
        if (!seen.insert(p).second) {
            ++counts.unknown;  // the same pseudonym twice in one request: once withdrawn
            continue;
        }
        wipe->reset();
        wipe->bind(1, agency).bind(2, std::string_view(p)).bind(3, std::string_view(ts));
        STORE_TRY(wipe->run());
        if (db_.changes() == 0) {
            ++counts.unknown;
            continue;
        }
        for (auto* s : {&*unref, &*unpair, &*undecide}) {
            s->reset();
            s->bind(1, agency).bind(2, std::string_view(p));
            STORE_TRY(s->run());
        }
        ++counts.withdrawn;
        auto pseudonym = make_token(p);
        if (!pseudonym) {
            return pseudonym.error();
        }
        store::log_entry_input e;
        e.kind = store::entry_kind::withdrawal;
        e.flow = store::token("hub");
        e.dir = store::direction::inbound;
        e.purpose = store::token("imo_linkage");
        e.source = store::record_id{*agency_token, *pseudonym};
        e.fields_withheld = {
            store::token("filter"), store::token("tokens"), store::token("coarse")};
        e.result = store::outcome::withdrawn;
        e.actor = *agency_token;
        auto why = make_token(to_string(reason));
        if (!why) {
            return why.error();
        }
        e.reason = *why;
        entries.push_back(std::move(e));
    }
    if (!entries.empty()) {
        auto seq = store::append_entries(db_, entries, now);
        if (!seq) {
            return seq.error();
        }
    }
    STORE_TRY(t->commit());
    return counts;
}

result<std::vector<active_record>> hub_store::active_records(int schema_version) {
    return store::query_all(
        db_,
        "SELECT agency, pseudonym, filter, tokens FROM hub_records "
        "WHERE state = 'active' AND schema_version = ? ORDER BY agency, pseudonym",
        [](const store::stmt& row) {
            active_record r;
            r.agency = row.column_text(0);
            r.pseudonym = row.column_text(1);
            r.encoding.filter = filter_words(row.column_blob(2));
            r.encoding.tokens = parse_tokens(row.column_text(3));
            return r;
        },
        schema_version
    );
}

result<linkage::previous_refs> hub_store::cluster_refs() {
    auto s = db_.prepare("SELECT agency, pseudonym, ref FROM hub_cluster_refs");
    if (!s) {
        return s.error();
    }
    linkage::previous_refs out;
    const auto read = [&out](const store::stmt& row) -> result<void> {
        out.emplace(key_of(row.column_text(0), row.column_text(1)), row.column_text(2));
        return {};
    };
    STORE_TRY(store::for_each_row(*s, read));
    return out;
}

result<linkage_summary> hub_store::save_linkage(
    const linkage::record_set& records, const linkage::linkage_result& linked
) {
    auto t = store::txn::begin(db_);
    if (!t) {
        return t.error();
    }
    const time_point now = clock_->now();
    linkage_summary sum;
    sum.records = static_cast<std::int64_t>(records.size());
    sum.clusters = static_cast<std::int64_t>(linked.clusters.size());
    sum.auto_links = static_cast<std::int64_t>(linked.auto_links);
    sum.review_items = static_cast<std::int64_t>(linked.review.size());
    sum.within_agency_duplicates = static_cast<std::int64_t>(linked.duplicates.size());

    STORE_TRY(db_.exec("DELETE FROM hub_cluster_refs; DELETE FROM hub_pairs;"));
    // Only records still active: one withdrawn while this run computed keeps no ref.
    auto ref = db_.prepare(
        "INSERT INTO hub_cluster_refs (agency, pseudonym, ref) SELECT ?1, ?2, ?3 WHERE EXISTS "
        "(SELECT 1 FROM hub_records WHERE agency = ?1 AND pseudonym = ?2 AND state = 'active')"
    );
    if (!ref) {
        return ref.error();
    }
    // What each record still active should have been notified of (the contract's desired
    // state): its cluster's ref and the other agencies, when the cluster holds two or more.
    std::map<std::string, notice_target> desired;
    for (const auto& c : linked.clusters) {
        std::set<std::uint16_t> agencies;
        std::vector<std::uint32_t> held;  // members still active (the ref was written)
        std::set<std::string> held_agencies;
        for (const auto i : c.members) {
            agencies.insert(records.agency(i));
            ref->reset();
            ref->bind(1, std::string_view(records.agency_name(records.agency(i))))
                .bind(2, std::string_view(records.key(i)))
                .bind(3, std::string_view(c.ref));
            STORE_TRY(ref->run());
            if (db_.changes() == 1) {
                held.push_back(i);
                held_agencies.insert(records.agency_name(records.agency(i)));
            }
        }
        if (agencies.size() >= 2) {
            ++sum.multi_agency_clusters;
        }
        if (held_agencies.size() < 2) {
            continue;
        }
        for (const auto i : held) {
            const std::string& agency = records.agency_name(records.agency(i));
            std::vector<std::string> others;
            for (const auto& a : held_agencies) {
                if (a != agency) {
                    others.push_back(a);
                }
            }
            desired.emplace(
                key_of(agency, records.key(i)),
                notice_target{agency, records.key(i), c.ref, join_ids(others)}
            );
        }
    }
    auto pair = db_.prepare(
        "INSERT INTO hub_pairs (kind, agency_a, pseudonym_a, agency_b, pseudonym_b, score_milli, "
        "cluster_ref) VALUES (?, ?, ?, ?, ?, ?, ?)"
    );
    if (!pair) {
        return pair.error();
    }
    const auto add_pair = [&](std::string_view kind,
                              std::uint32_t a,
                              std::uint32_t b,
                              float score,
                              const std::string& cluster_ref) -> casebridge::result<void> {
        pair->reset();
        pair->bind(1, kind)
            .bind(2, std::string_view(records.agency_name(records.agency(a))))
            .bind(3, std::string_view(records.key(a)))
            .bind(4, std::string_view(records.agency_name(records.agency(b))))
            .bind(5, std::string_view(records.key(b)));
        // Scores in thousandths (the statement API binds integers and text).
        pair->bind(6, static_cast<std::int64_t>(score * 1000.0F + 0.5F));
        if (cluster_ref.empty()) {
            pair->bind_null(7);
        } else {
            pair->bind(7, std::string_view(cluster_ref));
        }
        return pair->run();
    };
    for (const auto& p : linked.review) {
        STORE_TRY(add_pair("review", p.a, p.b, p.score, {}));
    }
    for (const auto& d : linked.duplicates) {
        STORE_TRY(add_pair("duplicate", d.a, d.b, d.score, d.cluster_ref));
    }

    std::vector<store::log_entry_input> entries;
    for (const auto& ev : linked.events) {
        const bool merged = ev.what == linkage::cluster_event::kind::merged;
        if (merged) {
            ++sum.merges;
        } else {
            ++sum.splits;
        }
        for (const auto& before : ev.before) {
            for (const auto& after : ev.after) {
                auto b = make_token(before);
                auto a = make_token(after);
                if (!b || !a) {
                    CASEBRIDGE_RETURN_ERROR(errc::store_failed);
                }
                store::log_entry_input e;
                e.kind = store::entry_kind::linkage;
                e.flow = store::token("hub");
                e.purpose = store::token("imo_linkage");
                e.source = store::record_id{store::token("cluster"), *b};
                e.target = store::record_id{store::token("cluster"), *a};
                e.result = merged ? store::outcome::merged : store::outcome::split;
                e.counts = {
                    {store::token("clusters_before"), static_cast<std::int64_t>(ev.before.size())},
                    {store::token("clusters_after"), static_cast<std::int64_t>(ev.after.size())}};
                entries.push_back(std::move(e));
            }
        }
    }
    auto made = make_notices(db_, desired, format_rfc3339(now, 6), entries);
    if (!made) {
        return made.error();
    }
    sum.notices_issued = made->first;
    sum.notices_retracted = made->second;

    store::log_entry_input summary;
    summary.kind = store::entry_kind::linkage;
    summary.flow = store::token("hub");
    summary.purpose = store::token("imo_linkage");
    summary.result = store::outcome::linked;
    summary.counts = {
        {store::token("records"), sum.records},
        {store::token("clusters"), sum.clusters},
        {store::token("multi_agency_clusters"), sum.multi_agency_clusters},
        {store::token("auto_links"), sum.auto_links},
        {store::token("review_items"), sum.review_items},
        {store::token("within_agency_duplicates"), sum.within_agency_duplicates},
        {store::token("merges"), sum.merges},
        {store::token("splits"), sum.splits},
        {store::token("notices_issued"), sum.notices_issued},
        {store::token("notices_retracted"), sum.notices_retracted}};
    entries.push_back(std::move(summary));
    auto seq = store::append_entries(db_, entries, now);
    if (!seq) {
        return seq.error();
    }
    STORE_TRY(store::execute(
        db_,
        "INSERT INTO hub_linkage_runs (ts, records, clusters, multi_agency_clusters, auto_links, "
        "review_items, duplicates, merges, splits, notices_issued, notices_retracted) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        format_rfc3339(now, 6),
        sum.records,
        sum.clusters,
        sum.multi_agency_clusters,
        sum.auto_links,
        sum.review_items,
        sum.within_agency_duplicates,
        sum.merges,
        sum.splits,
        sum.notices_issued,
        sum.notices_retracted
    ));
    STORE_TRY(t->commit());
    return sum;
}

result<bool> hub_store::linkage_due() {
    // Times are RFC 3339 text from one clock, so they compare as text; ">=" errs towards
    // linking again when a receipt and a linkage share a millisecond.
    auto n = store::query_int(
        db_,
        "SELECT EXISTS (SELECT 1 FROM hub_records, (SELECT coalesce((SELECT ts FROM "
        "hub_linkage_runs ORDER BY id DESC LIMIT 1), '') AS last) WHERE updated_at >= last OR "
        "coalesce(withdrawn_at, '') >= last)",
        0
    );
    if (!n) {
        return result<bool>(boost::system::in_place_error, n.error());
    }
    return *n != 0;
}

result<hub_stats> hub_store::stats() {
    hub_stats out;
    auto per = db_.prepare(
        "SELECT agency, state, count(*) FROM hub_records GROUP BY agency, state ORDER BY agency"
    );
    if (!per) {
        return per.error();
    }
    const auto read = [&out](const store::stmt& row) -> result<void> {
        auto& list =
            row.column_text(1) == "active" ? out.active_per_agency : out.withdrawn_per_agency;
        list.emplace_back(row.column_text(0), row.column_int(2));
        return {};
    };
    STORE_TRY(store::for_each_row(*per, read));
    const struct {
        std::int64_t* into;
        std::string_view sql;
    } counts[] = {
        {&out.clusters, "SELECT count(DISTINCT ref) FROM hub_cluster_refs"},
        {&out.multi_agency_clusters,
         "SELECT count(*) FROM (SELECT ref FROM hub_cluster_refs GROUP BY ref "
         "HAVING count(DISTINCT agency) >= 2)"},
        {&out.review_items, "SELECT count(*) FROM hub_pairs WHERE kind = 'review'"},
        {&out.within_agency_duplicates, "SELECT count(*) FROM hub_pairs WHERE kind = 'duplicate'"},
        {&out.auto_links,
         "SELECT coalesce((SELECT auto_links FROM hub_linkage_runs ORDER BY id DESC LIMIT 1), 0)"},
    };
    for (const auto& c : counts) {
        auto n = store::query_int(db_, c.sql, 0);
        if (!n) {
            return n.error();
        }
        *c.into = *n;
    }
    auto last = store::query_one(
        db_,
        "SELECT ts FROM hub_linkage_runs ORDER BY id DESC LIMIT 1",
        [](const store::stmt& row) { return row.column_text(0); }
    );
    if (!last) {
        return last.error();
    }
    out.last_linkage = std::move(*last);
    return out;
}

namespace {

/// The pair with its records in key order ("agency\0pseudonym"), as decisions are stored.
pair_decision ordered(pair_decision d) {
    if (key_of(d.agency_b, d.pseudonym_b) < key_of(d.agency_a, d.pseudonym_a)) {
        std::swap(d.agency_a, d.agency_b);
        std::swap(d.pseudonym_a, d.pseudonym_b);
    }
    return d;
}

}  // namespace

std::string score_text(std::int64_t milli) {
    const std::string digits = std::to_string(1000 + milli % 1000).substr(1);
    return std::to_string(milli / 1000) + "." + digits;
}

namespace {

constexpr const char* review_columns =
    "SELECT id, agency_a, pseudonym_a, agency_b, pseudonym_b, score_milli FROM hub_pairs "
    "WHERE kind = 'review'";

review_item review_row(const store::stmt& row) {
    return review_item{
        row.column_int(0),
        row.column_text(1),
        row.column_text(2),
        row.column_text(3),
        row.column_text(4),
        row.column_int(5)};
}

}  // namespace

result<std::vector<review_item>> hub_store::review_items() {
    return store::query_all(db_, std::string(review_columns) + " ORDER BY id", review_row);
}

result<std::optional<review_item>> hub_store::find_review_item(std::int64_t id) {
    return store::query_one(db_, std::string(review_columns) + " AND id = ?1", review_row, id);
}

result<decision_counts> hub_store::record_decisions(
    const std::vector<pair_decision>& decisions, std::string_view actor
) {
    auto actor_token = make_token(actor);
    if (!actor_token) {
        return actor_token.error();
    }
    auto t = store::txn::begin(db_);
    if (!t) {
        return t.error();
    }
    const time_point now = clock_->now();
    const std::string ts = format_rfc3339(now, 6);
    auto active = db_.prepare(
        "SELECT count(*) FROM hub_records WHERE state = 'active' AND "
        "((agency = ?1 AND pseudonym = ?2) OR (agency = ?3 AND pseudonym = ?4))"
    );
    auto put = db_.prepare(
        "INSERT INTO hub_decisions (agency_a, pseudonym_a, agency_b, pseudonym_b, decision, "
        "actor, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
        "decision = excluded.decision, actor = excluded.actor, decided_at = excluded.decided_at"
    );
    if (!active) {
        return active.error();
    }
    if (!put) {
        return put.error();
    }
    decision_counts counts;
    std::vector<store::log_entry_input> entries;
    for (const auto& given : decisions) {
        const auto d = ordered(given);
        active->reset();
        active->bind(1, std::string_view(d.agency_a))
            .bind(2, std::string_view(d.pseudonym_a))
            .bind(3, std::string_view(d.agency_b))
            .bind(4, std::string_view(d.pseudonym_b));
        auto row = active->step();
        if (!row) {
            return row.error();
        }
        if (active->column_int(0) != 2) {
            ++counts.no_longer_held;
            continue;
        }
        put->reset();
        put->bind(1, std::string_view(d.agency_a))
            .bind(2, std::string_view(d.pseudonym_a))
            .bind(3, std::string_view(d.agency_b))
            .bind(4, std::string_view(d.pseudonym_b))
            .bind(5, d.same ? "same" : "not_same")
            .bind(6, actor)
            .bind(7, std::string_view(ts));
        STORE_TRY(put->run());
        ++counts.recorded;
        auto aa = make_token(d.agency_a);
        auto pa = make_token(d.pseudonym_a);
        auto ab = make_token(d.agency_b);
        auto pb = make_token(d.pseudonym_b);
        if (!aa || !pa || !ab || !pb) {
            CASEBRIDGE_RETURN_ERROR(errc::store_failed);
        }
        store::log_entry_input e;
        e.kind = store::entry_kind::review_decision;
        e.flow = store::token("hub");
        e.purpose = store::token("imo_linkage");
        e.source = store::record_id{*aa, *pa};
        e.target = store::record_id{*ab, *pb};
        e.result = d.same ? store::outcome::same_child : store::outcome::not_same_child;
        e.actor = *actor_token;
        entries.push_back(std::move(e));
    }
    if (!entries.empty()) {
        auto seq = store::append_entries(db_, entries, now);
        if (!seq) {
            return seq.error();
        }
    }
    STORE_TRY(t->commit());
    return counts;
}

result<std::vector<pair_decision>> hub_store::decisions() {
    return store::query_all(
        db_,
        "SELECT d.agency_a, d.pseudonym_a, d.agency_b, d.pseudonym_b, d.decision "
        "FROM hub_decisions d ORDER BY d.agency_a, d.pseudonym_a, d.agency_b, d.pseudonym_b",
        [](const store::stmt& row) {
            return pair_decision{
                row.column_text(0),
                row.column_text(1),
                row.column_text(2),
                row.column_text(3),
                row.column_text(4) == "same"};
        }
    );
}

result<std::string> hub_store::review_key() {
    auto key = store::query_one(
        db_,
        "SELECT value FROM meta WHERE key = 'hub_review_key'",
        [](const store::stmt& row) { return row.column_text(0); }
    );
    if (!key) {
        return key.error();
    }
    if (!*key) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    return std::move(**key);
}

result<notice_page> hub_store::notices(
    std::string_view agency, std::int64_t after, std::size_t limit
) {
    limit = std::max<std::size_t>(limit, 1);
    // One more than asked: whether more follow.
    auto rows = store::query_all(
        db_,
        "SELECT id, kind, pseudonym, reference, others, created_at FROM hub_notices "
        "WHERE agency = ? AND id > ? ORDER BY id LIMIT ?",
        [](const store::stmt& row) {
            hub_notice n;
            n.id = row.column_int(0);
            n.kind = row.column_text(1) == "retraction" ? notice_kind::retraction
                                                        : notice_kind::possible_duplicate;
            n.pseudonym = row.column_text(2);
            n.reference = row.column_text(3);
            n.other_agencies = split_ids(row.column_text(4));
            n.created_at = row.column_text(5);
            return n;
        },
        agency,
        after,
        static_cast<std::int64_t>(limit) + 1
    );
    if (!rows) {
        return rows.error();
    }
    notice_page page;
    page.has_more = rows->size() > limit;
    if (page.has_more) {
        rows->resize(limit);
    }
    page.notices = std::move(*rows);
    return page;
}

}  // namespace casebridge::hub
