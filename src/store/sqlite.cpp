#include "store/sqlite.hpp"

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include "store/try.hpp"

namespace casebridge::store {

namespace {
constexpr int busy_timeout_ms = 5000;
/// Distinct SQL texts kept per connection, and idle copies kept per text: statements built
/// with a varying text (IN lists of a page's size) are finalised instead of piling up.
constexpr std::size_t max_cached_texts = 256;
constexpr std::size_t max_idle_per_text = 4;

struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};
}  // namespace

/// The idle prepared statements of one connection, by SQL text. Shared with the statements it
/// handed out, so one destroyed after its connection is finalised, never cached.
struct statement_cache {
    std::unordered_map<std::string, std::vector<sqlite3_stmt*>, text_hash, std::equal_to<>> idle;
    bool open = true;
    std::int64_t prepared = 0;

    void finalize_all() noexcept {
        for (auto& [sql, list] : idle) {
            for (auto* s : list) {
                sqlite3_finalize(s);
            }
        }
        idle.clear();
    }
};

db::db(sqlite3* handle, std::filesystem::path path)
    : db_(handle), path_(std::move(path)), cache_(std::make_shared<statement_cache>()) {}

void db::close() noexcept {
    if (cache_) {
        cache_->finalize_all();
        cache_->open = false;
    }
    if (db_ != nullptr) {
        sqlite3_close_v2(db_);
        db_ = nullptr;
    }
}

namespace {

/// Before SQLite's first use: no global memory statistics. Nothing here reads them, and
/// keeping them takes a process-wide mutex around every allocation SQLite makes (7 % of the
/// store thread's time in a profile of the end-to-end benchmark). When something has already
/// initialised SQLite (a test's VFS), the setting is refused and nothing changes.
void configure_sqlite_once() {
    static const int configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)configured;
}

}  // namespace

result<db> db::open(const std::filesystem::path& path) {
    configure_sqlite_once();
    // Create the file 0600 before SQLite does, so no other local user can read it.
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    ::close(fd);
    sqlite3* handle = nullptr;
    const int rc = sqlite3_open_v2(
        path.c_str(),
        &handle,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
        nullptr
    );
    db d(handle, path);
    if (rc != SQLITE_OK) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    sqlite3_extended_result_codes(handle, 1);
    sqlite3_busy_timeout(handle, busy_timeout_ms);
    auto mode = d.pragma("journal_mode=WAL");
    if (!mode || *mode != "wal") {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    STORE_TRY(d.exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
    return d;
}

result<db> db::open_read_only(const std::filesystem::path& path) {
    configure_sqlite_once();
    sqlite3* handle = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
    db d(handle, path);
    if (rc != SQLITE_OK) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    sqlite3_extended_result_codes(handle, 1);
    sqlite3_busy_timeout(handle, busy_timeout_ms);
    STORE_TRY(d.exec("PRAGMA query_only=ON"));
    return d;
}

db::db(db&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      cache_(std::move(other.cache_)) {}

db& db::operator=(db&& other) noexcept {
    if (this != &other) {
        close();
        db_ = std::exchange(other.db_, nullptr);
        path_ = std::move(other.path_);
        cache_ = std::move(other.cache_);
    }
    return *this;
}

db::~db() {
    close();
}

result<void> db::exec(std::string_view sql) {
    const std::string text(sql);
    if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    return {};
}

result<stmt> db::prepare(std::string_view sql) {
    if (auto it = cache_->idle.find(sql); it != cache_->idle.end() && !it->second.empty()) {
        sqlite3_stmt* s = it->second.back();
        it->second.pop_back();
        return stmt(s, db_, cache_);
    }
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v3(
        db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s, nullptr
    );
    if (rc != SQLITE_OK || s == nullptr) {
        if (s != nullptr) {
            sqlite3_finalize(s);
        }
        CASEBRIDGE_RETURN_ERROR(errc::store_failed);
    }
    ++cache_->prepared;
    return stmt(s, db_, cache_);
}

std::int64_t db::statements_prepared() const noexcept {
    return cache_ ? cache_->prepared : 0;
}

result<std::string> db::pragma(std::string_view name) {
    auto s = prepare("PRAGMA " + std::string(name));
    if (!s) {
        return s.error();
    }
    auto row = s->step();
    if (!row) {
        return row.error();
    }
    return *row ? s->column_text(0) : std::string();
}

std::string db::last_error() const {
    return db_ != nullptr ? sqlite3_errmsg(db_) : "closed";
}
int db::last_error_code() const {
    return db_ != nullptr ? sqlite3_extended_errcode(db_) : 0;
}
std::int64_t db::changes() const {
    return sqlite3_changes64(db_);
}
std::int64_t db::last_insert_rowid() const {
    return sqlite3_last_insert_rowid(db_);
}

stmt::stmt(stmt&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      db_(std::exchange(other.db_, nullptr)),
      cache_(std::move(other.cache_)) {}

stmt& stmt::operator=(stmt&& other) noexcept {
    if (this != &other) {
        release();
        stmt_ = std::exchange(other.stmt_, nullptr);
        db_ = std::exchange(other.db_, nullptr);
        cache_ = std::move(other.cache_);
    }
    return *this;
}

stmt::~stmt() {
    release();
}

void stmt::release() noexcept {
    if (stmt_ == nullptr) {
        return;
    }
    auto* s = std::exchange(stmt_, nullptr);
    if (cache_ && cache_->open) {
        // Reset ends any read it holds open; the text is the key it was prepared under.
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        const char* sql = sqlite3_sql(s);
        auto& cache = *cache_;
        if (sql != nullptr) {
            auto it = cache.idle.find(std::string_view(sql));
            if (it == cache.idle.end() && cache.idle.size() < max_cached_texts) {
                it = cache.idle.emplace(std::string(sql), std::vector<sqlite3_stmt*>{}).first;
            }
            if (it != cache.idle.end() && it->second.size() < max_idle_per_text) {
                it->second.push_back(s);
                cache_.reset();
                return;
            }
        }
    }
    sqlite3_finalize(s);
    cache_.reset();
}

stmt& stmt::bind(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
}

stmt& stmt::bind(int index, std::string_view text) {
    sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    return *this;
}

stmt& stmt::bind_blob(int index, std::string_view bytes) {
    sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
    return *this;
}

stmt& stmt::bind_null(int index) {
    sqlite3_bind_null(stmt_, index);
    return *this;
}

stmt& stmt::bind(int index, const std::optional<std::string>& text) {
    return text ? bind(index, std::string_view(*text)) : bind_null(index);
}

result<bool> stmt::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    const int ext = sqlite3_extended_errcode(db_);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
        static constexpr boost::source_location loc = BOOST_CURRENT_LOCATION;
        return result<bool>(boost::system::in_place_error, make_error(errc::conflict, &loc));
    }
    static constexpr boost::source_location loc = BOOST_CURRENT_LOCATION;
    return result<bool>(boost::system::in_place_error, make_error(errc::store_failed, &loc));
}

result<void> stmt::run() {
    for (;;) {
        auto r = step();
        if (!r) {
            reset();
            return r.error();
        }
        if (!*r) {
            reset();
            return {};
        }
    }
}

void stmt::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

std::int64_t stmt::column_int(int index) const {
    return sqlite3_column_int64(stmt_, index);
}

std::string stmt::column_text(int index) const {
    const auto* p = sqlite3_column_text(stmt_, index);
    const int n = sqlite3_column_bytes(stmt_, index);
    return p != nullptr ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
                        : std::string();
}

std::string stmt::column_blob(int index) const {
    const void* p = sqlite3_column_blob(stmt_, index);
    const int n = sqlite3_column_bytes(stmt_, index);
    return p != nullptr ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n))
                        : std::string();
}

bool stmt::column_is_null(int index) const {
    return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

result<txn> txn::begin(db& database) {
    STORE_TRY(database.exec("BEGIN IMMEDIATE"));
    return txn(database);
}

txn::txn(txn&& other) noexcept : db_(other.db_), open_(std::exchange(other.open_, false)) {}

txn::~txn() {
    if (open_) {
        (void)db_->exec("ROLLBACK");
    }
}

result<void> txn::commit() {
    open_ = false;
    if (auto r = db_->exec("COMMIT"); !r) {
        (void)db_->exec("ROLLBACK");
        return r;
    }
    return {};
}

}  // namespace casebridge::store
