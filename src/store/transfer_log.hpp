// The DPISP transfer log: hash-chained entries of ids, field names, hashes and codes only,
// and Ed25519-signed checkpoints. The encoding is documented in docs/transfer-log.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/crypto.hpp"
#include "store/sqlite.hpp"
#include "store/types.hpp"

namespace casebridge::store {

enum class entry_kind {
    transfer,
    retention_purge,
    reconciliation,
    receipt,          ///< The IMO hub stored or changed an agency's encoded record.
    withdrawal,       ///< The IMO hub deleted an agency's record's encodings on its request.
    linkage,          ///< The IMO hub re-linked its records (a summary, merges and splits).
    review_decision,  ///< A person decided a review item (the hub's pairs, the daemon's items).
    notice,           ///< The IMO hub made a notice for an agency about one of its records.
};
enum class direction { outbound, inbound };
/// What happened to one sharing event.
enum class outcome {
    sent,
    withheld,
    failed,
    acknowledged,
    rejected,
    delivery_failed,
    purged,
    consent_withdrawn,  ///< A record shared earlier no longer has its basis.
    reconciled,         ///< A reconciliation compared the log with a target (counts only).
    received,           ///< The hub stored a record new or changed (entry_kind::receipt).
    withdrawn,          ///< The hub deleted a record's encodings (entry_kind::withdrawal).
    linked,             ///< A linkage run ended (counts only).
    merged,             ///< Linkage joined clusters (source: a cluster before, target: after).
    split,              ///< Linkage split a cluster (source: before, target: a cluster after).
    same_child,         ///< A review decided two records are one child (review_decision).
    not_same_child,     ///< A review decided two records are different children.
    flagged,            ///< An agency flagged its case after an IMO hub possible-duplicate notice.
    unflagged,          ///< An agency resolved such flags after the hub retracted the notice.
    notice_issued,      ///< A possible_duplicate notice for the target record (entry_kind::notice).
    notice_retracted,   ///< A retraction notice for the target record (entry_kind::notice).
    review_resolved,    ///< A person closed a review item as handled (entry_kind::review_decision).
    review_dismissed,   ///< A person closed a review item as needing nothing (review_decision).
};

std::string_view to_string(entry_kind k);
std::string_view to_string(direction d);
std::string_view to_string(outcome o);

/// A consent or legitimate-basis field and the codes it held (e.g. consent_info_sharing: unhcr).
struct consent_value {
    token field;
    std::vector<token> codes;
};

/// A named count (retention purges: "links", "deliveries").
struct entry_count {
    token name;
    std::int64_t value = 0;
};

/// What a caller gives to append one entry. Every member is a typed id, code, field name,
/// hash or number: there is nowhere to put a field value.
struct log_entry_input {
    entry_kind kind = entry_kind::transfer;
    std::optional<token> flow;
    std::optional<direction> dir;
    std::optional<token> purpose;
    std::optional<token> profile_id;
    std::optional<std::int64_t> profile_version;
    std::optional<sha256_digest> profile_hash;
    std::optional<token> legitimate_basis;
    std::vector<consent_value> consent;
    std::optional<record_id> source;
    std::optional<record_id> target;
    std::optional<token> correlation_key;
    std::vector<token> fields_sent;
    std::vector<token> fields_withheld;
    std::optional<sha256_digest> payload_sha256;
    outcome result = outcome::sent;
    std::optional<token> remote_txn_id;
    std::optional<std::int64_t> http_status;
    std::optional<std::int64_t> attempt;
    token actor = "casebridge";
    std::optional<token> override_reason;
    std::vector<entry_count> counts;
    /// Why (withheld, failed, rejected...): a reason code such as no_basis or unmapped_value.
    std::optional<token> reason;
    /// The mappings the record went through, "<id>@<version>" (store schema 5 and later).
    std::optional<token> mapping_in;
    std::optional<token> mapping_out;
};

/// A stored entry as read back: every column as text (NULL as nullopt), for show/export.
struct log_row {
    std::int64_t seq = 0;
    std::string ts;
    std::string canonical;  ///< The canonical encoding (docs/transfer-log.md).
    std::string entry_hash;

    /// The entry as one JSON object: its canonical columns plus `entry_hash` (export and the
    /// admin API). Nullopt when the stored encoding does not parse.
    std::optional<rapidjson::Document> to_json() const;
};

/// A signed statement "the log had `size` entries and its head hash was `head_hash`".
struct checkpoint {
    std::int64_t size = 0;
    std::string head_hash;   ///< hex
    std::string ts;          ///< RFC 3339 UTC
    std::string public_key;  ///< hex of the raw Ed25519 key
    std::string signature;   ///< base64

    /// The signed bytes: "casebridge-transfer-log-checkpoint/v1\n<size>\n<head>\n<ts>\n".
    std::string body() const;
    /// The witness file form (JSON object).
    std::string to_json() const;
    /// Errors: errc::invalid_json, errc::schema_violation.
    static result<checkpoint> from_json(std::string_view text);
};

/// The names of the hashed columns, in table order (export header).
std::span<const std::string_view> log_columns();

/// Appends entries inside the caller's open transaction. Returns the last sequence number.
/// Errors: errc::store_failed.
result<std::int64_t> append_entries(
    db& database, const std::vector<log_entry_input>& entries, time_point now
);

/// Signs and stores a checkpoint of the current head inside the caller's transaction (no-op
/// returning the latest one when the head is already covered). Errors: errc::store_failed.
result<checkpoint> add_checkpoint(db& database, const signer& key, time_point now);

/// The latest stored checkpoint, if any.
result<std::optional<checkpoint>> latest_checkpoint(db& database);

/// The number of the last entry (0 when empty).
result<std::int64_t> last_seq(db& database);

/// What `verify` found.
struct verify_report {
    bool ok = true;
    std::int64_t entries = 0;      ///< Entries whose hash and chain link verified.
    std::int64_t checkpoints = 0;  ///< Stored checkpoints verified (plus the external one).
    std::int64_t bad_seq = 0;      ///< First bad sequence number (0 if none or not entry-bound).
    std::string problem;           ///< What is wrong, fixed text plus numbers; no values.
    bool key_pinned = false;       ///< Signatures checked against a key given by the caller.
};

struct verify_options {
    std::optional<std::string> public_key;          ///< Raw 32 bytes; pins the signing key.
    std::optional<checkpoint> external_checkpoint;  ///< Held outside the store.
};

/// Recomputes the chain, checks every stored checkpoint's head and signature, the external
/// checkpoint, and that no cursor points past the last entry.
result<verify_report> verify(db& database, const verify_options& options);

/// Which entries read_entries returns; every part is optional.
struct log_query {
    std::optional<std::string> since;      ///< ts >= since (RFC 3339 text compare, UTC).
    std::optional<std::string> until;      ///< ts < until.
    std::optional<std::string> flow;       ///< Entries of this flow only.
    std::optional<std::int64_t> limit;     ///< At most this many (the first, in order).
    std::optional<std::string> record;     ///< Naming this id as source or target (any system).
    std::optional<std::string> recipient;  ///< Whose target system is this.
    std::optional<std::string> outcome;    ///< With this outcome.
    std::optional<std::string> reason;     ///< With this reason code.
    bool newest_first = false;             ///< Newest first (the limit then keeps the newest).
};

/// The entries `query` selects, in order; only those rows are read from the file.
result<std::vector<log_row>> read_entries(db& database, const log_query& query);

/// Entries in [since, until) (RFC 3339 text compare on UTC timestamps), in order.
result<std::vector<log_row>> read_entries(
    db& database, std::optional<std::string> since, std::optional<std::string> until
);

/// Transfer entries (kind `transfer`) per UTC day and outcome since `since` (RFC 3339), in
/// day order: (day "YYYY-MM-DD", outcome, count).
struct daily_count {
    std::string day;
    std::string outcome;
    std::int64_t count = 0;
};
result<std::vector<daily_count>> daily_outcomes(db& database, const std::string& since);

/// Entries naming `record` as source or target, in order.
result<std::vector<log_row>> read_entries_for(db& database, const record_id& record);

}  // namespace casebridge::store
