#include "support/wal_sync_watch.hpp"

#include <atomic>
#include <stdexcept>

#include <sqlite3.h>

namespace casebridge::test {
namespace {

/// Our handle, followed in the same allocation by the real VFS's handle.
struct watched_file {
    sqlite3_file base;
    sqlite3_file* real;
    bool wal;
    bool dirty;
};

sqlite3_vfs* real_vfs = nullptr;  ///< Kept after the watch ends: a handle may outlive it.
bool active = false;
sqlite3_vfs watch_vfs{};
sqlite3_io_methods watch_methods{};
std::atomic<std::int64_t> wal_syncs{0};
std::atomic<int> dirty_files{0};

sqlite3_file* real_of(sqlite3_file* f) {
    return reinterpret_cast<watched_file*>(f)->real;
}

void mark_dirty(sqlite3_file* f) {
    auto* w = reinterpret_cast<watched_file*>(f);
    if (w->wal && !w->dirty) {
        w->dirty = true;
        ++dirty_files;
    }
}

void mark_clean(sqlite3_file* f) {
    auto* w = reinterpret_cast<watched_file*>(f);
    if (w->wal && w->dirty) {
        w->dirty = false;
        --dirty_files;
    }
}

int x_close(sqlite3_file* f) {
    mark_clean(f);
    return real_of(f)->pMethods->xClose(real_of(f));
}
int x_read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) {
    return real_of(f)->pMethods->xRead(real_of(f), p, n, off);
}
int x_write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
    mark_dirty(f);
    return real_of(f)->pMethods->xWrite(real_of(f), p, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
    mark_dirty(f);
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
    const int rc = real_of(f)->pMethods->xSync(real_of(f), flags);
    if (rc == SQLITE_OK && reinterpret_cast<watched_file*>(f)->wal) {
        mark_clean(f);
        ++wal_syncs;
    }
    return rc;
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
int x_lock(sqlite3_file* f, int level) {
    return real_of(f)->pMethods->xLock(real_of(f), level);
}
int x_unlock(sqlite3_file* f, int level) {
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}
int x_check_reserved_lock(sqlite3_file* f, int* out) {
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int x_sector_size(sqlite3_file* f) {
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}
int x_device_characteristics(sqlite3_file* f) {
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
    return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) {
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}
int x_shm_unmap(sqlite3_file* f, int remove) {
    return real_of(f)->pMethods->xShmUnmap(real_of(f), remove);
}
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
    return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
    auto* w = reinterpret_cast<watched_file*>(f);
    w->real = reinterpret_cast<sqlite3_file*>(w + 1);
    w->wal = (flags & SQLITE_OPEN_WAL) != 0;
    w->dirty = false;
    const int rc = real_vfs->xOpen(real_vfs, name, w->real, flags, out_flags);
    // SQLite calls xClose only on a handle whose pMethods is set.
    w->base.pMethods = w->real->pMethods != nullptr ? &watch_methods : nullptr;
    return rc;
}
int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
    return real_vfs->xAccess(real_vfs, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) {
    return real_vfs->xDlOpen(real_vfs, name);
}
void x_dl_error(sqlite3_vfs*, int n, char* out) {
    real_vfs->xDlError(real_vfs, n, out);
}
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) {
    return real_vfs->xDlSym(real_vfs, h, sym);
}
void x_dl_close(sqlite3_vfs*, void* h) {
    real_vfs->xDlClose(real_vfs, h);
}
int x_randomness(sqlite3_vfs*, int n, char* out) {
    return real_vfs->xRandomness(real_vfs, n, out);
}
int x_sleep(sqlite3_vfs*, int us) {
    return real_vfs->xSleep(real_vfs, us);
}
int x_current_time(sqlite3_vfs*, double* out) {
    return real_vfs->xCurrentTime(real_vfs, out);
}
int x_get_last_error(sqlite3_vfs*, int n, char* out) {
    return real_vfs->xGetLastError != nullptr ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

}  // namespace

wal_sync_watch::wal_sync_watch() {
    if (active) {
        throw std::logic_error("wal_sync_watch: one at a time");
    }
    sqlite3_initialize();
    real_vfs = sqlite3_vfs_find(nullptr);
    if (real_vfs == nullptr || real_vfs->iVersion < 2) {
        throw std::runtime_error("wal_sync_watch: no default VFS to watch");
    }
    watch_methods = sqlite3_io_methods{};
    watch_methods.iVersion = 3;
    watch_methods.xClose = x_close;
    watch_methods.xRead = x_read;
    watch_methods.xWrite = x_write;
    watch_methods.xTruncate = x_truncate;
    watch_methods.xSync = x_sync;
    watch_methods.xFileSize = x_file_size;
    watch_methods.xLock = x_lock;
    watch_methods.xUnlock = x_unlock;
    watch_methods.xCheckReservedLock = x_check_reserved_lock;
    watch_methods.xFileControl = x_file_control;
    watch_methods.xSectorSize = x_sector_size;
    watch_methods.xDeviceCharacteristics = x_device_characteristics;
    watch_methods.xShmMap = x_shm_map;
    watch_methods.xShmLock = x_shm_lock;
    watch_methods.xShmBarrier = x_shm_barrier;
    watch_methods.xShmUnmap = x_shm_unmap;
    watch_methods.xFetch = x_fetch;
    watch_methods.xUnfetch = x_unfetch;
    watch_vfs = sqlite3_vfs{};
    watch_vfs.iVersion = 2;
    watch_vfs.szOsFile = static_cast<int>(sizeof(watched_file)) + real_vfs->szOsFile;
    watch_vfs.mxPathname = real_vfs->mxPathname;
    watch_vfs.zName = "casebridge-wal-sync-watch";
    watch_vfs.xOpen = x_open;
    watch_vfs.xDelete = x_delete;
    watch_vfs.xAccess = x_access;
    watch_vfs.xFullPathname = x_full_pathname;
    watch_vfs.xDlOpen = x_dl_open;
    watch_vfs.xDlError = x_dl_error;
    watch_vfs.xDlSym = x_dl_sym;
    watch_vfs.xDlClose = x_dl_close;
    watch_vfs.xRandomness = x_randomness;
    watch_vfs.xSleep = x_sleep;
    watch_vfs.xCurrentTime = x_current_time;
    watch_vfs.xGetLastError = x_get_last_error;
    watch_vfs.xCurrentTimeInt64 = x_current_time_int64;
    wal_syncs = 0;
    dirty_files = 0;
    if (sqlite3_vfs_register(&watch_vfs, 1) != SQLITE_OK) {
        throw std::runtime_error("wal_sync_watch: the VFS could not be registered");
    }
    active = true;
}

wal_sync_watch::~wal_sync_watch() {
    sqlite3_vfs_register(real_vfs, 1);
    sqlite3_vfs_unregister(&watch_vfs);
    active = false;
}

std::int64_t wal_sync_watch::syncs() const noexcept {
    return wal_syncs.load();
}

bool wal_sync_watch::unsynced() const noexcept {
    return dirty_files.load() > 0;
}

}  // namespace casebridge::test
