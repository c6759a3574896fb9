// The IMO hub's store: one SQLite file holding what agencies sent (keyed by agency and
// pseudonym: the encoding, identifier tokens, allowed coarse fields, schema version, state),
// the cluster refs of the last linkage, its review items and within-agency duplicates, the
// notices for each agency (numbered per agency) with the state last notified per record, and a
// chained transfer log in the same tables as every casebridge store, so `casebridge log
// verify --store` checks it. No name, date or identifier: encodings, tokens and coarse codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "linkage/encoder.hpp"
#include "linkage/link.hpp"
#include "store/sqlite.hpp"

namespace casebridge::hub {

/// One record as an agency sends it (already checked by the ingest API).
struct incoming_record {
    std::string pseudonym;                                    ///< Opaque, made by the agency.
    std::vector<std::uint64_t> filter;                        ///< encoded_words() words.
    std::vector<linkage::id_token> tokens;                    ///< Sorted by kind, one per kind.
    std::vector<std::pair<std::string, std::string>> coarse;  ///< Sorted by field name.
};

/// Why an agency withdraws a record (the contract's `reason`).
enum class withdrawal_reason { consent_withdrawn, case_closed, retention };
std::string_view to_string(withdrawal_reason r);
std::optional<withdrawal_reason> parse_withdrawal_reason(std::string_view s);

struct upsert_counts {
    std::int64_t stored = 0;     ///< New, changed, or re-activated after a withdrawal.
    std::int64_t unchanged = 0;  ///< Identical to what the hub held (active).
};

struct withdraw_counts {
    std::int64_t withdrawn = 0;
    std::int64_t unknown = 0;  ///< Never sent by this agency, or already withdrawn.
};

/// An active record for linkage.
struct active_record {
    std::string agency;
    std::string pseudonym;
    linkage::encoded_record encoding;
};

/// What `hub stats` prints: counts only.
struct hub_stats {
    std::vector<std::pair<std::string, std::int64_t>> active_per_agency;  ///< By agency id.
    std::vector<std::pair<std::string, std::int64_t>> withdrawn_per_agency;
    std::int64_t clusters = 0;               ///< Clusters of the last linkage (singletons too).
    std::int64_t multi_agency_clusters = 0;  ///< Clusters with records of two or more agencies.
    std::int64_t auto_links = 0;             ///< Links applied above the upper threshold.
    std::int64_t review_items = 0;
    std::int64_t within_agency_duplicates = 0;
    std::optional<std::string> last_linkage;  ///< RFC 3339 time of the last linkage.
};

/// A review item as exported: two records of different agencies scoring between the
/// thresholds.
struct review_item {
    std::int64_t id = 0;
    std::string agency_a, pseudonym_a, agency_b, pseudonym_b;
    std::int64_t score_milli = 0;  ///< Score in thousandths.
};

/// A score in thousandths as the review file and the console show it: "0.734".
std::string score_text(std::int64_t milli);

/// A person's decision about two records (remembered; linkage follows it).
struct pair_decision {
    std::string agency_a, pseudonym_a, agency_b, pseudonym_b;
    bool same = false;
};

struct decision_counts {
    std::int64_t recorded = 0;
    std::int64_t no_longer_held = 0;  ///< A record of the pair was withdrawn since the export.
};

/// What a linkage run changed, for its log entries and the caller.
struct linkage_summary {
    std::int64_t records = 0;
    std::int64_t clusters = 0;
    std::int64_t multi_agency_clusters = 0;
    std::int64_t auto_links = 0;
    std::int64_t review_items = 0;
    std::int64_t within_agency_duplicates = 0;
    std::int64_t merges = 0;
    std::int64_t splits = 0;
    std::int64_t notices_issued = 0;     ///< possible_duplicate notices made by this run.
    std::int64_t notices_retracted = 0;  ///< retraction notices made by this run.
};

/// What one notice tells one agency about one of its own records (docs/hub-api.md, notices).
enum class notice_kind {
    possible_duplicate,  ///< The record is in a cluster with records of other agencies.
    retraction,          ///< The last possible_duplicate of the record no longer holds.
};
std::string_view to_string(notice_kind k);

/// A notice as stored: numbered per agency from 1, never changed or deleted.
struct hub_notice {
    std::int64_t id = 0;  ///< The agency's own sequence: 1, 2, 3 ... without gaps.
    notice_kind kind = notice_kind::possible_duplicate;
    std::string pseudonym;  ///< The agency's own record.
    std::string reference;  ///< The cluster's reference (the same for every member).
    /// Ids of the other agencies in the cluster, sorted; empty for a retraction.
    std::vector<std::string> other_agencies;
    std::string created_at;  ///< RFC 3339.
};

/// Notices after a cursor, in id order.
struct notice_page {
    std::vector<hub_notice> notices;
    bool has_more = false;  ///< More notices follow the last one returned.
};

/// The hub's store. Not thread-safe: one thread uses it (hub::service owns that thread).
class hub_store {
public:
    /// Opens or creates `path` (mode 0600, WAL, synchronous=FULL, secure_delete so deleted
    /// encodings are overwritten in the file) and applies the store's and the hub's
    /// migrations. Errors: errc::store_failed.
    static result<hub_store> open(const std::filesystem::path& path, const clock_source& clock);

    /// Upserts an agency's batch in one transaction: all or nothing. A record identical to
    /// the active one held is unchanged (no log entry); every other is stored with a
    /// `receipt` log entry (ids, field names and counts only). Errors: errc::store_failed.
    result<upsert_counts> upsert(
        std::string_view agency, int schema_version, const std::vector<incoming_record>& records
    );
    /// Withdraws an agency's records in one transaction: deletes their encoding, tokens and
    /// coarse fields (a tombstone of agency and pseudonym stays) with a `withdrawal` log entry
    /// each. Another agency's pseudonym, an unknown or a withdrawn one counts as unknown.
    result<withdraw_counts> withdraw(
        std::string_view agency,
        const std::vector<std::string>& pseudonyms,
        withdrawal_reason reason
    );

    /// Active records of `schema_version`, ordered by agency and pseudonym.
    result<std::vector<active_record>> active_records(int schema_version);
    /// The refs of the last linkage ("agency\0pseudonym" → ref).
    result<linkage::previous_refs> cluster_refs();
    /// Replaces the cluster refs, review items and duplicates with a linkage result over
    /// `records` (the set it was computed on), and logs a summary entry and one entry per
    /// merge or split, in one transaction. In the same transaction it makes the agencies'
    /// notices: each record's cluster and other agencies are compared with what the hub last
    /// notified for it (retraction and possible_duplicate notices, one `notice` log entry
    /// each); a withdrawn record with a notified state gets its retraction here.
    result<linkage_summary> save_linkage(
        const linkage::record_set& records, const linkage::linkage_result& linked
    );

    result<hub_stats> stats();

    /// True when a record was received, changed or withdrawn since the last linkage run (or
    /// records exist and none has run): what a hub that stopped before linking them owes.
    result<bool> linkage_due();

    /// The current review items, by id.
    result<std::vector<review_item>> review_items();
    /// One current review item; nothing when no item has that id.
    result<std::optional<review_item>> find_review_item(std::int64_t id);
    /// Records decisions in one transaction with a `review_decision` log entry each (actor:
    /// who decided); a later decision about the same pair replaces the earlier one. Pairs
    /// with a record no longer active are skipped and counted.
    result<decision_counts> record_decisions(
        const std::vector<pair_decision>& decisions, std::string_view actor
    );
    /// Every remembered decision about two active records.
    result<std::vector<pair_decision>> decisions();
    /// A random key made when the store was created (hex), binding exported review rows.
    result<std::string> review_key();

    /// The notices of `agency` with an id above `after`, at most `limit` (at least 1), in id
    /// order. Errors: errc::store_failed.
    result<notice_page> notices(std::string_view agency, std::int64_t after, std::size_t limit);

    store::db& database() noexcept { return db_; }

private:
    hub_store(store::db d, const clock_source& clock) : db_(std::move(d)), clock_(&clock) {}
    store::db db_;
    const clock_source* clock_;
};

}  // namespace casebridge::hub
