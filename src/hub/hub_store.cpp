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

constexpr std::array<std::string_view, 2> hub_migrations = {hub_v1, hub_v2};

result<void> migrate_hub(store::db& d) {
    auto q = d.prepare("SELECT value FROM meta WHERE key = 'hub_schema_version'");
    if (!q) {
        return q.error();
    }
    auto row = q->step();
    if (!row) {
        return row.error();
    }
    const int have = *row ? std::stoi(q->column_text(0)) : 0;
    q->reset();
    if (have > static_cast<int>(hub_migrations.size())) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);  // written by a newer build
    }
    for (int v = have + 1; v <= static_cast<int>(hub_migrations.size()); ++v) {
        auto t = store::txn::begin(d);
        if (!t) {
            return t.error();
        }
        STORE_TRY(d.exec(hub_migrations[static_cast<std::size_t>(v - 1)]));
        auto set = d.prepare(
            "INSERT INTO meta (key, value) VALUES ('hub_schema_version', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        );
        if (!set) {
            return set.error();
        }
        set->bind(1, std::string_view(std::to_string(v)));
        STORE_TRY(set->run());
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

std::string hex64(std::uint64_t v) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; --i) {
        out[static_cast<std::size_t>(i)] = digits[v & 0xFU];
        v >>= 4;
    }
    return out;
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
    auto s = db_.prepare(
        "SELECT agency, pseudonym, filter, tokens FROM hub_records "
        "WHERE state = 'active' AND schema_version = ? ORDER BY agency, pseudonym"
    );
    if (!s) {
        return s.error();
    }
    s->bind(1, std::int64_t{schema_version});
    std::vector<active_record> out;
    const auto read = [&out](const store::stmt& row) -> result<void> {
        active_record r;
        r.agency = row.column_text(0);
        r.pseudonym = row.column_text(1);
        r.encoding.filter = filter_words(row.column_blob(2));
        r.encoding.tokens = parse_tokens(row.column_text(3));
        out.push_back(std::move(r));
        return {};
    };
    STORE_TRY(store::for_each_row(*s, read));
    return out;
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
    for (const auto& c : linked.clusters) {
        std::set<std::uint16_t> agencies;
        for (const auto i : c.members) {
            agencies.insert(records.agency(i));
            ref->reset();
            ref->bind(1, std::string_view(records.agency_name(records.agency(i))))
                .bind(2, std::string_view(records.key(i)))
                .bind(3, std::string_view(c.ref));
            STORE_TRY(ref->run());
        }
        if (agencies.size() >= 2) {
            ++sum.multi_agency_clusters;
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
        {store::token("splits"), sum.splits}};
    entries.push_back(std::move(summary));
    auto seq = store::append_entries(db_, entries, now);
    if (!seq) {
        return seq.error();
    }
    auto run = db_.prepare(
        "INSERT INTO hub_linkage_runs (ts, records, clusters, multi_agency_clusters, auto_links, "
        "review_items, duplicates, merges, splits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    if (!run) {
        return run.error();
    }
    run->bind(1, std::string_view(format_rfc3339(now, 6)))
        .bind(2, sum.records)
        .bind(3, sum.clusters)
        .bind(4, sum.multi_agency_clusters)
        .bind(5, sum.auto_links)
        .bind(6, sum.review_items)
        .bind(7, sum.within_agency_duplicates)
        .bind(8, sum.merges)
        .bind(9, sum.splits);
    STORE_TRY(run->run());
    STORE_TRY(t->commit());
    return sum;
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
    const auto count = [this](std::string_view sql) -> casebridge::result<std::int64_t> {
        auto s = db_.prepare(sql);
        if (!s) {
            return s.error();
        }
        auto row = s->step();
        if (!row) {
            return row.error();
        }
        return *row ? s->column_int(0) : 0;
    };
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
        auto n = count(c.sql);
        if (!n) {
            return n.error();
        }
        *c.into = *n;
    }
    auto last = db_.prepare("SELECT ts FROM hub_linkage_runs ORDER BY id DESC LIMIT 1");
    if (!last) {
        return last.error();
    }
    auto row = last->step();
    if (!row) {
        return row.error();
    }
    if (*row) {
        out.last_linkage = last->column_text(0);
    }
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

result<std::vector<review_item>> hub_store::review_items() {
    auto s = db_.prepare(
        "SELECT id, agency_a, pseudonym_a, agency_b, pseudonym_b, score_milli FROM hub_pairs "
        "WHERE kind = 'review' ORDER BY id"
    );
    if (!s) {
        return s.error();
    }
    std::vector<review_item> out;
    const auto read = [&out](const store::stmt& row) -> result<void> {
        out.push_back(
            {row.column_int(0),
             row.column_text(1),
             row.column_text(2),
             row.column_text(3),
             row.column_text(4),
             row.column_int(5)}
        );
        return {};
    };
    STORE_TRY(store::for_each_row(*s, read));
    return out;
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
    auto s = db_.prepare(
        "SELECT d.agency_a, d.pseudonym_a, d.agency_b, d.pseudonym_b, d.decision "
        "FROM hub_decisions d ORDER BY d.agency_a, d.pseudonym_a, d.agency_b, d.pseudonym_b"
    );
    if (!s) {
        return s.error();
    }
    std::vector<pair_decision> out;
    const auto read = [&out](const store::stmt& row) -> result<void> {
        out.push_back(
            {row.column_text(0),
             row.column_text(1),
             row.column_text(2),
             row.column_text(3),
             row.column_text(4) == "same"}
        );
        return {};
    };
    STORE_TRY(store::for_each_row(*s, read));
    return out;
}

result<std::string> hub_store::review_key() {
    auto s = db_.prepare("SELECT value FROM meta WHERE key = 'hub_review_key'");
    if (!s) {
        return s.error();
    }
    auto row = s->step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    return s->column_text(0);
}

}  // namespace casebridge::hub
