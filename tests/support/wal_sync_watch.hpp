// A SQLite VFS over the default one that watches the write-ahead log files: their syncs, and
// whether one was written since it was last synced (what a power cut would lose).
#pragma once

#include <cstdint>

namespace casebridge::test {

/// Made the default VFS while it lives (databases opened meanwhile use it); at most one at a
/// time. Everything it counts, it counts over every connection opened meanwhile.
class wal_sync_watch {
public:
    wal_sync_watch();
    ~wal_sync_watch();
    wal_sync_watch(const wal_sync_watch&) = delete;
    wal_sync_watch& operator=(const wal_sync_watch&) = delete;

    /// Syncs of write-ahead log files so far.
    std::int64_t syncs() const noexcept;
    /// Whether a write-ahead log file open now holds a write made since its last sync.
    bool unsynced() const noexcept;
};

}  // namespace casebridge::test
