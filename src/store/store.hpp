// The store: one SQLite file with cursors, links, deliveries, dead letters, the transfer log
// and its checkpoints. No case content: ids, codes, field names, hashes and times only.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/crypto.hpp"
#include "store/sqlite.hpp"
#include "store/transfer_log.hpp"
#include "store/types.hpp"

namespace casebridge::store {

enum class delivery_state { pending, in_flight, delivered, withheld, failed, dead };
std::string_view to_string(delivery_state s);

/// The state of one source record in one flow.
struct delivery {
    token flow;
    record_id source;
    delivery_state state = delivery_state::pending;
    std::int64_t attempts = 0;
    std::optional<token> source_version;  ///< Last source version delivered.
    std::optional<time_point> next_retry;
    std::optional<token> reason;  ///< Reason code (dead letters, withheld, failures).
};

/// True for 1..8192 printable ASCII characters: an adapter's cursor (a timestamp window, a
/// paging cookie). Cursors hold times and remote paging state, never case content.
bool is_cursor_text(std::string_view s) noexcept;

/// Where a flow has read up to, and the last log entry that covers it.
struct cursor {
    std::string position;  ///< Opaque to the store: the adapter's cursor (is_cursor_text).
    std::int64_t log_seq = 0;
};

/// One cursor with its flow, for listings.
struct flow_cursor {
    token flow;
    cursor at;
    std::string updated_at;  ///< RFC 3339 UTC of the commit that moved it.
};

/// Something a person must look at: a consent withdrawn after sharing, several candidate
/// matches for one identity, a shared record disabled at its source. Ids and codes only.
struct review_item {
    std::int64_t id = 0;  ///< Set when read back.
    token flow;
    record_id source;
    token kind;  ///< consent_withdrawn | multiple_matches | source_disabled
    std::optional<record_id> target;
    std::string created_at;  ///< Set when read back.
};

/// A delivery as the transfer log recorded it (see store::last_sent_to).
struct sent_event {
    token flow;
    token purpose;
    record_id source;
};

/// What the receiver answered to the newest `sent` entry of a flow's record (see
/// store::acknowledgement_of).
enum class ack_state {
    not_sent,      ///< The flow never logged a send of the record.
    awaiting,      ///< Sent; no acknowledgement or rejection logged about it yet.
    acknowledged,  ///< The receiver accepted what was last sent.
    rejected,      ///< The receiver rejected it (or could not process it).
};

/// A dead letter as listed, with its row id and time.
struct dead_letter_row {
    std::int64_t id = 0;
    std::string created_at;
};

/// One dead letter: ids, a reason code and the names of the fields involved. No values.
struct dead_letter {
    token flow;
    record_id source;
    token reason;
    std::vector<token> field_names;
};

/// Everything a page of work changes, committed in one transaction: its log entries, the
/// cursor move and the delivery updates they cover. The cursor can only move through here,
/// so it is never ahead of its log.
struct page_commit {
    std::vector<log_entry_input> entries;
    /// (flow, new position); the position must be is_cursor_text.
    std::optional<std::pair<token, std::string>> cursor_move;
    std::vector<delivery> deliveries;
    std::vector<dead_letter> dead_letters;
    /// Source → target links made by this page's deliveries (see link()). A conflicting
    /// link fails the whole commit with errc::multiple_matches.
    std::vector<std::pair<record_id, record_id>> links;
    /// Records whose earlier dead letters in this flow are settled by this page (delivered,
    /// withheld, or dead again): their old dead-letter rows are deleted before this page's
    /// dead letters are added.
    std::vector<std::pair<token, record_id>> settled_dead_letters;
    std::vector<review_item> reviews;
    /// Records whose closure this page saw (store::mark_closed): a time closes the record's
    /// links and deliveries from then (an earlier mark stays); nullopt (reopened) clears the
    /// marks. Applied after the page's deliveries and links, in the same transaction.
    std::vector<std::pair<record_id, std::optional<time_point>>> closures;
    /// The commit may skip its fsync: it is on disk for every process that reads the store,
    /// and a crash of the process keeps it, but a power cut before the next commit that
    /// syncs (or sync_wal(), or end_run()) rolls it back whole (SQLite's WAL with
    /// synchronous=NORMAL). Only for a page's settle whose run goes on: the next page's
    /// intent commit, which every send waits for, makes it durable before any request
    /// leaves, and what a cut rolls back is a page whose sends the next run finds in flight.
    bool sync_later = false;
};

struct store_options {
    /// Signs checkpoints; without it none are written.
    std::optional<std::filesystem::path> signing_key;
    /// Also write each checkpoint (atomically) to this file, outside the store.
    std::optional<std::filesystem::path> witness_file;
    /// A checkpoint every this many entries (and at end_run()).
    std::int64_t checkpoint_every = 1000;
};

class store {
public:
    /// Opens or creates the store and applies migrations. Errors: errc::store_failed,
    /// errc::file_unreadable / invalid_config (signing key).
    static result<store> open(
        const std::filesystem::path& path, store_options options, const clock_source& clock
    );
    store(store&&) noexcept;
    store& operator=(store&&) noexcept;
    ~store();

    /// Commits a page (see page_commit); writes a checkpoint when `checkpoint_every` entries
    /// have passed since the last one. Returns the last log sequence number.
    /// Errors: errc::store_failed.
    result<std::int64_t> commit_page(const page_commit& page);
    /// Makes every commit so far durable: the fsync of the write-ahead log that commits
    /// with page_commit::sync_later skipped. Nothing to do (and no fsync) when none did.
    result<void> sync_wal();
    /// Whether a commit made with page_commit::sync_later is not yet synced.
    bool has_unsynced_commit() const noexcept { return unsynced_; }
    /// The end of a run: every commit synced, then a checkpoint of the current head
    /// (nullopt without a signing key).
    result<std::optional<checkpoint>> end_run();

    result<std::optional<cursor>> get_cursor(const token& flow);
    result<std::optional<delivery>> get_delivery(const token& flow, const record_id& source);
    /// get_delivery() for each of `sources` (a page), one query per source system: the
    /// answers in the order of `sources`.
    result<std::vector<std::optional<delivery>>> get_deliveries(
        const token& flow, const std::vector<record_id>& sources
    );
    result<std::vector<dead_letter>> dead_letters(const token& flow);
    /// Dead letters of every flow (or one), oldest first, at most `limit`.
    result<std::vector<std::pair<dead_letter_row, dead_letter>>> list_dead_letters(
        std::optional<token> flow, std::int64_t limit
    );
    /// One dead letter by row id.
    result<std::optional<dead_letter>> get_dead_letter(std::int64_t id);
    /// Every flow's cursor.
    result<std::vector<flow_cursor>> cursors();
    /// Deliveries of `flow` in `state` (e.g. in_flight after a crash), at most `limit`.
    result<std::vector<delivery>> deliveries_in(
        const token& flow, delivery_state state, std::int64_t limit
    );
    /// Number of deliveries per state for `flow` (for metrics), in delivery_state order.
    result<std::vector<std::pair<delivery_state, std::int64_t>>> delivery_counts(const token& flow);
    /// Open review items, oldest first, at most `limit`.
    result<std::vector<review_item>> reviews(std::int64_t limit);
    /// Closes review item `id` with a person's decision, in one transaction: the item goes and
    /// a `review_decision` entry names the record, the item's kind (as its reason), the outcome,
    /// `actor`, and `reason_sha256` (the written reason's digest: its text may hold a case
    /// detail, so only the digest is kept). The closed item, or nullopt when there is no open
    /// item `id`.
    result<std::optional<review_item>> close_review(
        std::int64_t id, outcome decision, const token& actor, const sha256_digest& reason_sha256
    );

    /// Records that `source` and `target` are the same case. Linking the same pair again is
    /// fine; linking `source` to a second record of the same target system (or a second source
    /// to `target`) is refused with errc::multiple_matches and changes nothing.
    result<void> link(const record_id& source, const record_id& target);
    /// The record linked to `source` in `target_system`.
    result<std::optional<record_id>> linked(const record_id& source, const token& target_system);
    /// The record in `source_system` that `target` is linked from (the reverse of linked()).
    result<std::optional<record_id>> linked_from(
        const record_id& target, const token& source_system
    );
    /// linked() for each of `sources` (a page), one query per source system; in their order.
    result<std::vector<std::optional<record_id>>> linked_each(
        const std::vector<record_id>& sources, const token& target_system
    );
    /// linked_from() for each of `targets`, one query per target system; in their order.
    result<std::vector<std::optional<record_id>>> linked_from_each(
        const std::vector<record_id>& targets, const token& source_system
    );
    /// The newest `sent` log entry whose target is `target` (a DSS exchange id, say): the flow
    /// that sent it, its purpose and the source record. Nullopt when nothing was sent there.
    result<std::optional<sent_event>> last_sent_to(const record_id& target);
    /// The receiver's answer to the newest `sent` entry of `flow` for `source`: the
    /// acknowledged or rejected entry about the same target written after it, if any.
    result<ack_state> acknowledgement_of(const token& flow, const record_id& source);
    /// Marks a record closed (its links and deliveries become subject to retention), or open
    /// again (nullopt: the marks are cleared). A record already closed keeps its first mark.
    result<void> mark_closed(const record_id& record, std::optional<time_point> closed_at);

    /// Links and deliveries of closed records: all of them, and those closed before now -
    /// `retention` (what a purge would delete now).
    struct retention_backlog {
        std::int64_t closed_links = 0;
        std::int64_t closed_deliveries = 0;
        std::int64_t due_links = 0;
        std::int64_t due_deliveries = 0;
    };
    result<retention_backlog> awaiting_purge(std::chrono::seconds retention);

    struct purge_counts {
        std::int64_t links = 0;
        std::int64_t deliveries = 0;
        std::int64_t log_seq = 0;  ///< The retention_purge entry written.
    };
    /// Deletes links and deliveries closed before now - `retention`, with secure_delete, and
    /// appends a retention_purge log entry with the counts, in one transaction.
    result<purge_counts> purge(std::chrono::seconds retention, token actor);

    result<verify_report> verify(const verify_options& options);
    db& database() noexcept { return db_; }

private:
    store(db d, store_options o, const clock_source& clock);
    result<void> write_witness(const checkpoint& c);
    result<std::int64_t> write_page(const page_commit& page, std::optional<checkpoint>& cp);
    result<void> apply_delivery(const delivery& d);
    result<void> insert_link(const record_id& source, const record_id& target);
    result<void> apply_closure(const record_id& record, std::optional<time_point> closed_at);

    db db_;
    store_options options_;
    const clock_source* clock_;
    std::optional<signer> signer_;
    bool unsynced_ = false;  ///< A commit with sync_later since the last fsync of the WAL.
};

}  // namespace casebridge::store
