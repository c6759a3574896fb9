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

/// Where a flow has read up to, and the last log entry that covers it.
struct cursor {
    token position;  ///< Opaque to the store: the source's last_updated_at, a page token...
    std::int64_t log_seq = 0;
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
    std::optional<std::pair<token, token>> cursor_move;  ///< (flow, new position)
    std::vector<delivery> deliveries;
    std::vector<dead_letter> dead_letters;
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
    /// A checkpoint of the current head (end of a run). Nullopt without a signing key.
    result<std::optional<checkpoint>> end_run();

    result<std::optional<cursor>> get_cursor(const token& flow);
    result<std::optional<delivery>> get_delivery(const token& flow, const record_id& source);
    result<std::vector<dead_letter>> dead_letters(const token& flow);

    /// Records that `source` and `target` are the same case. Linking the same pair again is
    /// fine; linking `source` to a second record of the same target system (or a second source
    /// to `target`) is refused with errc::multiple_matches and changes nothing.
    result<void> link(const record_id& source, const record_id& target);
    /// The record linked to `source` in `target_system`.
    result<std::optional<record_id>> linked(const record_id& source, const token& target_system);
    /// Marks a record closed (its links and deliveries become subject to retention).
    result<void> mark_closed(const record_id& record, time_point closed_at);

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
    result<void> apply_delivery(const delivery& d);

    db db_;
    store_options options_;
    const clock_source* clock_;
    std::optional<signer> signer_;
};

}  // namespace casebridge::store
