// What a reconciliation reads from and writes to the store besides the store's own API: the
// last `sent` entry of a record, the removal of a link to a record the target lost
// (before a repair creates it again), its one log entry per run, and open review items.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/transfer_log.hpp"
#include "store/types.hpp"

namespace casebridge::store {

class store;

/// The newest `sent` entry of a record: when (RFC 3339, as logged) and the target id it names.
struct last_sent_entry {
    std::string at;
    std::string target_id;  ///< Empty when the entry names none.
};

/// The newest `sent` entry of `flow` for `source`, or nullopt.
result<std::optional<last_sent_entry>> last_sent(
    store& s, const token& flow, const record_id& source
);

/// The time (RFC 3339, as logged) of the newest reconciliation entry of `flow` that ran to its
/// end (one stopped early does not count), or nullopt: the daemon schedules the next from it.
result<std::optional<std::string>> last_reconciled_at(store& s, const token& flow);

/// Removes the link from `source` to its record in `target_system` (the target no longer holds
/// it; a repair creates it again and links the new record). Nothing to remove is fine.
result<void> unlink(store& s, const record_id& source, const token& target_system);

/// Appends one entry in its own transaction (BEGIN IMMEDIATE, so the chain stays whole with
/// another writer on the file). Returns its sequence number.
result<std::int64_t> append_entry(store& s, const log_entry_input& entry, time_point now);

/// The number of open review items of `kind` for (`flow`, `source`).
result<std::int64_t> open_reviews(
    store& s, const token& flow, const record_id& source, const token& kind
);

}  // namespace casebridge::store
