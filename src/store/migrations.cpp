#include "store/migrations.hpp"

#include <array>
#include <string>

#include "store/try.hpp"

namespace casebridge::store {

namespace {

// Version 1: the whole first schema. Identifiers that name a person appear only as
// "hmac:<hex>" pseudonyms; record ids that are random system ids are kept as they are.
constexpr std::string_view v1 = R"sql(
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE transfer_log (
    seq              INTEGER PRIMARY KEY,
    ts               TEXT NOT NULL,
    kind             TEXT NOT NULL,
    flow             TEXT,
    direction        TEXT,
    purpose          TEXT,
    profile_id       TEXT,
    profile_version  INTEGER,
    profile_hash     TEXT,
    legitimate_basis TEXT,
    consent          TEXT NOT NULL,
    source_system    TEXT,
    source_id        TEXT,
    target_system    TEXT,
    target_id        TEXT,
    correlation_key  TEXT,
    fields_sent      TEXT NOT NULL,
    fields_withheld  TEXT NOT NULL,
    payload_sha256   TEXT,
    outcome          TEXT NOT NULL,
    remote_txn_id    TEXT,
    http_status      INTEGER,
    attempt          INTEGER,
    actor            TEXT NOT NULL,
    override_reason  TEXT,
    counts           TEXT NOT NULL,
    prev_hash        TEXT NOT NULL,
    entry_hash       TEXT NOT NULL
) STRICT;
CREATE INDEX transfer_log_source ON transfer_log(source_system, source_id);
CREATE INDEX transfer_log_target ON transfer_log(target_system, target_id);
CREATE INDEX transfer_log_ts ON transfer_log(ts);

CREATE TABLE checkpoints (
    size       INTEGER PRIMARY KEY,
    head_hash  TEXT NOT NULL,
    ts         TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL
) STRICT;

CREATE TABLE cursors (
    flow       TEXT PRIMARY KEY,
    position   TEXT NOT NULL,
    log_seq    INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE links (
    source_system TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    target_system TEXT NOT NULL,
    target_id     TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    closed_at     TEXT,
    PRIMARY KEY (source_system, source_id, target_system),
    UNIQUE (target_system, target_id, source_system)
) STRICT;

CREATE TABLE deliveries (
    flow           TEXT NOT NULL,
    source_system  TEXT NOT NULL,
    source_id      TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN
                       ('pending', 'in_flight', 'delivered', 'withheld', 'failed', 'dead')),
    attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    source_version TEXT,
    next_retry     TEXT,
    reason         TEXT,
    updated_at     TEXT NOT NULL,
    closed_at      TEXT,
    PRIMARY KEY (flow, source_system, source_id)
) STRICT;

CREATE TABLE dead_letters (
    id            INTEGER PRIMARY KEY,
    flow          TEXT NOT NULL,
    source_system TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    field_names   TEXT NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;
)sql";

// Version 2: where dead letters are looked up by record, and retention scans closed rows.
constexpr std::string_view v2 = R"sql(
CREATE INDEX dead_letters_record ON dead_letters(flow, source_system, source_id);
CREATE INDEX links_closed ON links(closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX deliveries_closed ON deliveries(closed_at) WHERE closed_at IS NOT NULL;
)sql";

// Version 3: review items; the transfer log's reason code; consent withdrawals as an outcome.
constexpr std::string_view v3 = R"sql(
CREATE TABLE reviews (
    id            INTEGER PRIMARY KEY,
    flow          TEXT NOT NULL,
    source_system TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    target_system TEXT,
    target_id     TEXT,
    created_at    TEXT NOT NULL
) STRICT;
ALTER TABLE transfer_log ADD COLUMN reason TEXT;
)sql";

// Version 4: credentials a system refused (a keyed hash per system), so a wrong password is
// not sent again after a restart (store/credential_refusals.hpp).
constexpr std::string_view v4 = R"sql(
CREATE TABLE credential_refusals (
    system      TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    refused_at  TEXT NOT NULL
) STRICT;
)sql";

// Version 5: the mappings a transfer went through ("<id>@<version>", in and out), in every
// transfer-log entry written from now on (left out of the hash when NULL, so older entries
// keep theirs).
constexpr std::string_view v5 = R"sql(
ALTER TABLE transfer_log ADD COLUMN mapping_in TEXT;
ALTER TABLE transfer_log ADD COLUMN mapping_out TEXT;
)sql";

// Version 6: deliveries found by record alone. A record's closure (or reopening) touches its
// deliveries in every flow, and the primary key leads with the flow, so each closure scanned
// the whole table: a full sync cost time in the square of the caseload (43 s of CPU for 50,000
// cases against 1.7 s for 10,000, tests/bench/e2e_bench.cpp).
constexpr std::string_view v6 = R"sql(
CREATE INDEX deliveries_record ON deliveries(source_system, source_id);
)sql";

// Version 7: one index over a delivery's ids instead of two. The primary key leads with the
// record (source_system, source_id, flow), so it also finds a record's deliveries in every
// flow and `deliveries_record` goes; the flow-first questions (what is in flight, counts by
// state) get (flow, state, updated_at), whose entries are written near the end of their range.
// Every delivery written inserted into two indexes keyed by ids in no order; each such insert
// dirties a leaf of its own once the index outgrows the page cache's hot set, and those leaves
// are what a commit writes (docs/performance.md, "Why the cost per case grows with the
// caseload"). The table is rebuilt with its rows.
constexpr std::string_view v7 = R"sql(
CREATE TABLE deliveries_v7 (
    flow           TEXT NOT NULL,
    source_system  TEXT NOT NULL,
    source_id      TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN
                       ('pending', 'in_flight', 'delivered', 'withheld', 'failed', 'dead')),
    attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    source_version TEXT,
    next_retry     TEXT,
    reason         TEXT,
    updated_at     TEXT NOT NULL,
    closed_at      TEXT,
    PRIMARY KEY (source_system, source_id, flow)
) STRICT;
INSERT INTO deliveries_v7 (flow, source_system, source_id, state, attempts, source_version,
                           next_retry, reason, updated_at, closed_at)
    SELECT flow, source_system, source_id, state, attempts, source_version, next_retry, reason,
           updated_at, closed_at
    FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_v7 RENAME TO deliveries;
CREATE INDEX deliveries_closed ON deliveries(closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX deliveries_flow_state ON deliveries(flow, state, updated_at);
)sql";

constexpr std::array<migration, 7> all = {{
    {1, v1},
    {2, v2},
    {3, v3},
    {4, v4},
    {5, v5},
    {6, v6},
    {7, v7},
}};

}  // namespace

std::span<const migration> migrations() {
    return all;
}

int schema_version() {
    return all.back().to;
}

result<int> migrate(db& database, int up_to) {
    auto current = database.pragma("user_version");
    if (!current) {
        return current.error();
    }
    int version = std::stoi(current->empty() ? std::string("0") : *current);
    if (version > schema_version()) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    const int target = up_to < 0 ? schema_version() : up_to;
    for (const auto& m : all) {
        if (m.to <= version || m.to > target) {
            continue;
        }
        auto t = txn::begin(database);
        if (!t) {
            return t.error();
        }
        STORE_TRY(database.exec(m.sql));
        STORE_TRY(database.exec("PRAGMA user_version=" + std::to_string(m.to)));
        STORE_TRY(t->commit());
        version = m.to;
    }
    return version;
}

}  // namespace casebridge::store
