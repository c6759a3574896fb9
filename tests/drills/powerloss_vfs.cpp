// A SQLite VFS for the power-loss drill, preloaded into the daemon (LD_PRELOAD) and made the
// default VFS when the library loads.
//
// Writes are kept in memory, as a kernel's page cache keeps them, and reach the real file
// only when SQLite syncs the file. Every handle on one path shares that cache, so readers see
// what writers wrote. A SIGKILL of the process therefore throws away exactly the writes that
// were never synced: the state a power cut leaves behind. Modes (CASEBRIDGE_POWERLOSS_MODE):
//   drop  (default) as above;
//   leak  as `drop`, but about half the writes also reach the file at once, in the order they
//         are made, as a kernel flushing dirty pages early would do; so a cut leaves some
//         later writes on disk and loses earlier ones;
//   lie   syncs do nothing: a disk that acknowledges flushes it never made. Nothing the store
//         writes survives a cut. The drill uses it as its negative control.
// CASEBRIDGE_POWERLOSS_SYNC_DELAY_MS=N makes each sync take N ms more before anything reaches
// the disk (a slow disk), so that cuts land inside commits more often.
// CASEBRIDGE_POWERLOSS_STATS=FILE keeps one line in FILE with the unsynced 4 KiB blocks held
// at the last write and the syncs made, so the drill can report how much each cut dropped.
//
// Test code only; never linked into casebridge.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

namespace {

constexpr std::int64_t block_size = 4096;
constexpr std::int64_t no_truncate = INT64_MAX;

enum class mode { drop, leak, lie };

/// The unsynced state of one path (its "page cache").
struct cache {
    std::map<std::int64_t, std::vector<unsigned char>> blocks;  ///< Dirty blocks by index.
    std::int64_t size = 0;                                      ///< Logical file size.
    std::int64_t truncated_to = no_truncate;  ///< Lowest unsynced truncation point.
};

struct state {
    std::mutex mutex;
    sqlite3_vfs* real = nullptr;
    sqlite3_vfs vfs{};
    mode m = mode::drop;
    std::map<std::string, std::shared_ptr<cache>> caches;
    std::int64_t dirty_blocks = 0;
    std::int64_t syncs = 0;
    int stats_fd = -1;
    unsigned sync_delay_us = 0;
    std::mt19937 rng{12345};
};

state& g() {
    static state* s = new state;  // never destroyed: SQLite may run during exit
    return *s;
}

struct pl_file {
    sqlite3_file base;
    sqlite3_file* real;
    cache* c;
    std::shared_ptr<cache>* owner;
};

void write_stats() {
    auto& s = g();
    if (s.stats_fd < 0) {
        return;
    }
    char line[96];
    const int n = std::snprintf(
        line,
        sizeof line,
        "unsynced_blocks=%012lld syncs=%012lld\n",
        static_cast<long long>(s.dirty_blocks),
        static_cast<long long>(s.syncs)
    );
    if (n > 0) {
        (void)!::pwrite(s.stats_fd, line, static_cast<std::size_t>(n), 0);
    }
}

/// Reads real bytes [off, off+n) into out, zero where the real file is short or where an
/// unsynced truncation has cut it.
void read_real(pl_file* f, unsigned char* out, int n, std::int64_t off) {
    std::memset(out, 0, static_cast<std::size_t>(n));
    const std::int64_t limit = std::min<std::int64_t>(off + n, f->c->truncated_to);
    if (limit <= off) {
        return;
    }
    // A short read fills the rest with zeros, which is what we want.
    (void)f->real->pMethods->xRead(f->real, out, static_cast<int>(limit - off), off);
}

std::vector<unsigned char>& dirty_block(pl_file* f, std::int64_t b) {
    auto it = f->c->blocks.find(b);
    if (it != f->c->blocks.end()) {
        return it->second;
    }
    std::vector<unsigned char> data(block_size);
    read_real(f, data.data(), static_cast<int>(block_size), b * block_size);
    ++g().dirty_blocks;
    return f->c->blocks.emplace(b, std::move(data)).first->second;
}

int x_close(sqlite3_file* file) {
    auto* f = reinterpret_cast<pl_file*>(file);
    int rc = SQLITE_OK;
    if (f->real->pMethods != nullptr) {
        rc = f->real->pMethods->xClose(f->real);
    }
    std::lock_guard lock(g().mutex);
    delete f->owner;
    f->owner = nullptr;
    f->c = nullptr;
    return rc;
}

int x_read(sqlite3_file* file, void* buf, int amount, sqlite3_int64 off) {
    auto* f = reinterpret_cast<pl_file*>(file);
    std::lock_guard lock(g().mutex);
    auto* out = static_cast<unsigned char*>(buf);
    std::memset(out, 0, static_cast<std::size_t>(amount));
    const std::int64_t end = std::min<std::int64_t>(off + amount, f->c->size);
    std::int64_t pos = off;
    while (pos < end) {
        const std::int64_t b = pos / block_size;
        const std::int64_t in_block = pos % block_size;
        const std::int64_t n = std::min(block_size - in_block, end - pos);
        auto it = f->c->blocks.find(b);
        if (it != f->c->blocks.end()) {
            std::memcpy(
                out + (pos - off), it->second.data() + in_block, static_cast<std::size_t>(n)
            );
        } else {
            read_real(f, out + (pos - off), static_cast<int>(n), pos);
        }
        pos += n;
    }
    return off + amount <= f->c->size ? SQLITE_OK : SQLITE_IOERR_SHORT_READ;
}

int x_write(sqlite3_file* file, const void* buf, int amount, sqlite3_int64 off) {
    auto* f = reinterpret_cast<pl_file*>(file);
    auto& s = g();
    std::lock_guard lock(s.mutex);
    const auto* in = static_cast<const unsigned char*>(buf);
    std::int64_t pos = off;
    const std::int64_t end = off + amount;
    while (pos < end) {
        const std::int64_t b = pos / block_size;
        const std::int64_t in_block = pos % block_size;
        const std::int64_t n = std::min(block_size - in_block, end - pos);
        auto& data = dirty_block(f, b);
        std::memcpy(data.data() + in_block, in + (pos - off), static_cast<std::size_t>(n));
        pos += n;
    }
    f->c->size = std::max<std::int64_t>(f->c->size, end);
    if (s.m == mode::leak && (s.rng() & 1U) == 0) {
        const int rc = f->real->pMethods->xWrite(f->real, buf, amount, off);
        if (rc != SQLITE_OK) {
            return rc;
        }
    }
    write_stats();
    return SQLITE_OK;
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
    auto* f = reinterpret_cast<pl_file*>(file);
    std::lock_guard lock(g().mutex);
    auto& blocks = f->c->blocks;
    for (auto it = blocks.lower_bound((size + block_size - 1) / block_size); it != blocks.end();) {
        it = blocks.erase(it);
        --g().dirty_blocks;
    }
    if (size % block_size != 0) {
        auto it = blocks.find(size / block_size);
        if (it != blocks.end()) {
            std::fill(it->second.begin() + size % block_size, it->second.end(), 0);
        }
    }
    f->c->size = size;
    f->c->truncated_to = std::min<std::int64_t>(f->c->truncated_to, size);
    return SQLITE_OK;
}

int x_sync(sqlite3_file* file, int flags) {
    auto* f = reinterpret_cast<pl_file*>(file);
    auto& s = g();
    if (s.sync_delay_us > 0) {
        ::usleep(s.sync_delay_us);
    }
    std::lock_guard lock(s.mutex);
    if (s.m == mode::lie) {
        return SQLITE_OK;
    }
    cache& c = *f->c;
    for (auto& [b, data] : c.blocks) {
        const std::int64_t n = std::min(block_size, c.size - b * block_size);
        if (n > 0) {
            const int rc = f->real->pMethods->xWrite(
                f->real, data.data(), static_cast<int>(n), b * block_size
            );
            if (rc != SQLITE_OK) {
                return rc;
            }
        }
    }
    s.dirty_blocks -= static_cast<std::int64_t>(c.blocks.size());
    c.blocks.clear();
    sqlite3_int64 real_size = 0;
    if (f->real->pMethods->xFileSize(f->real, &real_size) == SQLITE_OK && real_size > c.size) {
        const int rc = f->real->pMethods->xTruncate(f->real, c.size);
        if (rc != SQLITE_OK) {
            return rc;
        }
    }
    c.truncated_to = no_truncate;
    ++s.syncs;
    write_stats();
    return f->real->pMethods->xSync(f->real, flags);
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
    auto* f = reinterpret_cast<pl_file*>(file);
    std::lock_guard lock(g().mutex);
    *size = f->c->size;
    return SQLITE_OK;
}

int x_lock(sqlite3_file* file, int level) {
    auto* f = reinterpret_cast<pl_file*>(file);
    return f->real->pMethods->xLock(f->real, level);
}
int x_unlock(sqlite3_file* file, int level) {
    auto* f = reinterpret_cast<pl_file*>(file);
    return f->real->pMethods->xUnlock(f->real, level);
}
int x_check_reserved(sqlite3_file* file, int* out) {
    auto* f = reinterpret_cast<pl_file*>(file);
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}
int x_file_control(sqlite3_file* file, int op, void* arg) {
    auto* f = reinterpret_cast<pl_file*>(file);
    if (op == SQLITE_FCNTL_SIZE_HINT || op == SQLITE_FCNTL_CHUNK_SIZE) {
        return SQLITE_OK;  // sizes live in the cache; do not grow the real file behind it
    }
    if (op == SQLITE_FCNTL_VFSNAME) {
        *static_cast<char**>(arg) = sqlite3_mprintf("powerloss");
        return SQLITE_OK;
    }
    return f->real->pMethods->xFileControl(f->real, op, arg);
}
int x_sector_size(sqlite3_file* file) {
    auto* f = reinterpret_cast<pl_file*>(file);
    return f->real->pMethods->xSectorSize(f->real);
}
int x_device_characteristics(sqlite3_file* file) {
    auto* f = reinterpret_cast<pl_file*>(file);
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}
int x_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
    auto* f = reinterpret_cast<pl_file*>(file);
    return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}
int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
    auto* f = reinterpret_cast<pl_file*>(file);
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}
void x_shm_barrier(sqlite3_file* file) {
    auto* f = reinterpret_cast<pl_file*>(file);
    f->real->pMethods->xShmBarrier(f->real);
}
int x_shm_unmap(sqlite3_file* file, int del) {
    auto* f = reinterpret_cast<pl_file*>(file);
    return f->real->pMethods->xShmUnmap(f->real, del);
}

// Version 2: no xFetch, so SQLite never maps the file and bypasses the cache.
const sqlite3_io_methods io_methods = {
    2,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    nullptr,
    nullptr,
};

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
    auto& s = g();
    auto* f = reinterpret_cast<pl_file*>(file);
    f->base.pMethods = nullptr;
    f->real = reinterpret_cast<sqlite3_file*>(f + 1);
    const int rc = s.real->xOpen(s.real, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        return rc;
    }
    std::lock_guard lock(s.mutex);
    const std::string key = name != nullptr ? name : "";
    auto& shared = s.caches[key];
    if (!shared || key.empty()) {
        shared = std::make_shared<cache>();
        sqlite3_int64 size = 0;
        if (f->real->pMethods->xFileSize(f->real, &size) == SQLITE_OK) {
            shared->size = size;
        }
    }
    f->owner = new std::shared_ptr<cache>(shared);
    f->c = shared.get();
    f->base.pMethods = &io_methods;
    return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
    auto& s = g();
    {
        std::lock_guard lock(s.mutex);
        auto it = s.caches.find(name);
        if (it != s.caches.end()) {
            s.dirty_blocks -= static_cast<std::int64_t>(it->second->blocks.size());
            it->second->blocks.clear();
            it->second->size = 0;
            s.caches.erase(it);
        }
    }
    return s.real->xDelete(s.real, name, sync_dir);
}

int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
    return g().real->xAccess(g().real, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
    return g().real->xFullPathname(g().real, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) {
    return g().real->xDlOpen(g().real, name);
}
void x_dl_error(sqlite3_vfs*, int n, char* out) {
    g().real->xDlError(g().real, n, out);
}
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))() {
    return g().real->xDlSym(g().real, h, sym);
}
void x_dl_close(sqlite3_vfs*, void* h) {
    g().real->xDlClose(g().real, h);
}
int x_randomness(sqlite3_vfs*, int n, char* out) {
    return g().real->xRandomness(g().real, n, out);
}
int x_sleep(sqlite3_vfs*, int micros) {
    return g().real->xSleep(g().real, micros);
}
int x_current_time(sqlite3_vfs*, double* out) {
    return g().real->xCurrentTime(g().real, out);
}
int x_get_last_error(sqlite3_vfs*, int n, char* out) {
    return g().real->xGetLastError != nullptr ? g().real->xGetLastError(g().real, n, out) : 0;
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
    return g().real->xCurrentTimeInt64(g().real, out);
}

__attribute__((constructor)) void install() {
    auto& s = g();
    s.real = sqlite3_vfs_find(nullptr);
    if (s.real == nullptr) {
        std::fputs("powerloss vfs: no default SQLite VFS\n", stderr);
        std::abort();
    }
    if (const char* m = std::getenv("CASEBRIDGE_POWERLOSS_MODE"); m != nullptr) {
        const std::string v = m;
        s.m = v == "lie" ? mode::lie : v == "leak" ? mode::leak : mode::drop;
    }
    if (const char* d = std::getenv("CASEBRIDGE_POWERLOSS_SYNC_DELAY_MS"); d != nullptr) {
        s.sync_delay_us = static_cast<unsigned>(std::strtoul(d, nullptr, 10)) * 1000U;
    }
    if (const char* p = std::getenv("CASEBRIDGE_POWERLOSS_STATS"); p != nullptr && *p != '\0') {
        s.stats_fd = ::open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    }
    s.rng.seed(static_cast<unsigned>(::getpid()));
    sqlite3_vfs& v = s.vfs;
    v.iVersion = 2;
    v.szOsFile = static_cast<int>(sizeof(pl_file)) + s.real->szOsFile;
    v.mxPathname = s.real->mxPathname;
    v.zName = "powerloss";
    v.xOpen = x_open;
    v.xDelete = x_delete;
    v.xAccess = x_access;
    v.xFullPathname = x_full_pathname;
    v.xDlOpen = x_dl_open;
    v.xDlError = x_dl_error;
    v.xDlSym = x_dl_sym;
    v.xDlClose = x_dl_close;
    v.xRandomness = x_randomness;
    v.xSleep = x_sleep;
    v.xCurrentTime = x_current_time;
    v.xGetLastError = x_get_last_error;
    v.xCurrentTimeInt64 = x_current_time_int64;
    if (sqlite3_vfs_register(&v, 1) != SQLITE_OK) {
        std::fputs("powerloss vfs: register failed\n", stderr);
        std::abort();
    }
    write_stats();
}

}  // namespace
