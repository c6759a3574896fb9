// RAII wrappers over the SQLite C API: a connection, a prepared statement, a transaction.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace casebridge::store {

class stmt;
struct statement_cache;

/// One SQLite connection. Not thread-safe: one thread (the store thread) uses it at a time.
class db {
public:
    /// Opens (creating if needed) `path` with WAL, synchronous=FULL, foreign_keys=ON and a
    /// busy timeout; the file is created with mode 0600. Errors: errc::store_failed.
    static result<db> open(const std::filesystem::path& path);
    /// Opens an existing `path` for reading only (log verify, export, show): never creates it,
    /// never writes to it (SQLite may add the -wal and -shm files a WAL reader needs beside
    /// it). Errors: errc::store_failed.
    static result<db> open_read_only(const std::filesystem::path& path);

    db(db&& other) noexcept;
    db& operator=(db&& other) noexcept;
    db(const db&) = delete;
    db& operator=(const db&) = delete;
    ~db();

    /// Runs one or more statements that return no rows. Errors: errc::store_failed.
    result<void> exec(std::string_view sql);
    /// Prepares one statement, or hands out the one prepared earlier for the same SQL text:
    /// statements are kept per connection (SQLITE_PREPARE_PERSISTENT) and go back, reset and
    /// unbound, when the stmt is destroyed, so a statement run per record is parsed once.
    /// Errors: errc::store_failed.
    result<stmt> prepare(std::string_view sql);
    /// Statements parsed by SQLite on this connection so far (the cache's misses).
    std::int64_t statements_prepared() const noexcept;
    /// The value of `PRAGMA name` as text (empty when it returns no row).
    result<std::string> pragma(std::string_view name);

    /// SQLite's message for the last failure on this connection (no values: SQL text only).
    std::string last_error() const;
    /// The extended result code of the last failure.
    int last_error_code() const;
    /// Rows changed by the last INSERT/UPDATE/DELETE.
    std::int64_t changes() const;
    std::int64_t last_insert_rowid() const;
    const std::filesystem::path& path() const noexcept { return path_; }
    sqlite3* handle() const noexcept { return db_; }

private:
    db(sqlite3* handle, std::filesystem::path path);
    void close() noexcept;
    sqlite3* db_ = nullptr;
    std::filesystem::path path_;
    std::shared_ptr<statement_cache> cache_;
};

/// A prepared statement. Bind parameters are 1-based; columns are 0-based.
class stmt {
public:
    stmt(stmt&& other) noexcept;
    stmt& operator=(stmt&& other) noexcept;
    stmt(const stmt&) = delete;
    stmt& operator=(const stmt&) = delete;
    ~stmt();

    stmt& bind(int index, std::int64_t value);
    stmt& bind(int index, std::string_view text);
    stmt& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    stmt& bind_blob(int index, std::string_view bytes);
    stmt& bind_null(int index);
    stmt& bind(int index, const std::optional<std::string>& text);

    /// Advances: true when a row is available, false when done. Errors: errc::store_failed,
    /// or errc::conflict when a UNIQUE/PRIMARY KEY constraint refused the row.
    result<bool> step();
    /// Steps to completion (for statements without rows).
    result<void> run();
    /// Makes the statement ready to run again with new bindings.
    void reset();

    std::int64_t column_int(int index) const;
    std::string column_text(int index) const;
    std::string column_blob(int index) const;
    bool column_is_null(int index) const;

private:
    friend class db;
    stmt(sqlite3_stmt* handle, sqlite3* owner, std::shared_ptr<statement_cache> cache)
        : stmt_(handle), db_(owner), cache_(std::move(cache)) {}
    void release() noexcept;
    sqlite3_stmt* stmt_ = nullptr;
    sqlite3* db_ = nullptr;
    std::shared_ptr<statement_cache> cache_;  ///< Where it goes back to; null: finalised.
};

/// Steps `s` through its rows and calls `fn(const stmt&)` on each; `fn` returns result<void>,
/// and an error from it ends the walk. Errors: those of stmt::step() and of `fn`.
template <typename Fn>
result<void> for_each_row(stmt& s, Fn&& fn) {
    for (;;) {
        auto row = s.step();
        if (!row) {
            return row.error();
        }
        if (!*row) {
            return {};
        }
        if (result<void> r = fn(static_cast<const stmt&>(s)); !r) {
            return r.error();
        }
    }
}

/// A transaction (BEGIN IMMEDIATE). Rolls back on destruction unless committed.
class txn {
public:
    /// Errors: errc::store_failed (e.g. the database is locked past the busy timeout).
    static result<txn> begin(db& database);
    txn(txn&& other) noexcept;
    txn& operator=(txn&&) = delete;
    txn(const txn&) = delete;
    txn& operator=(const txn&) = delete;
    ~txn();
    /// Commits; with synchronous=FULL the transaction is durable when this returns.
    result<void> commit();

private:
    explicit txn(db& database) : db_(&database) {}
    db* db_;
    bool open_ = true;
};

}  // namespace casebridge::store
