// The dss_files adapter's inside, shared by its source files (not part of its interface): file,
// cursor and register helpers, and the adapter's state with its steps, defined in outbound.cpp
// (batches, the sent register, withdrawals), inbound.cpp (acknowledgement and case files, the
// pull cursor) and dss_files_adapter.cpp (the adapter interface).
#pragma once

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter/secret.hpp"
#include "core/atomic_file.hpp"
#include "core/crypto.hpp"
#include "core/encoding.hpp"
#include "core/result.hpp"
#include "core/time.hpp"
#include "core/uuid.hpp"
#include "dss_files/data_dictionary.hpp"
#include "dss_files/dss_files_adapter.hpp"
#include "dss_files/exchange_files.hpp"
#include "exchange/csv.hpp"
#include "json/json.hpp"
#include "net/url.hpp"

namespace casebridge::dss_files {

namespace fs = std::filesystem;
using rapidjson::Value;
inline constexpr std::string_view ack_prefix = "ack";
inline constexpr std::string_view case_prefix = "case";
inline constexpr std::string_view cursor_prefix = "v1:";
inline constexpr std::string_view part_cursor_prefix = "v2:";
inline constexpr std::string_view processed_folder = "processed";
inline constexpr std::string_view register_suffix = ".sent";
inline constexpr std::string_view reference_column = "dss_reference";
inline constexpr std::string_view updated_column = "updated_at";
inline constexpr std::string_view dss_offset = "+06:00";  // Bangladesh Standard Time, no DST

remote_error error_for(errc code, std::string detail, std::string record_id = {});

bool ends_with(std::string_view s, std::string_view suffix);

// An inbound file of the stream with `prefix`: "<prefix>...csv", not hidden. In processed/,
// a name made unique by move_aside ("<name>.csv.2") also counts.
bool inbound_name(std::string_view name, std::string_view prefix, bool renamed_ok);

// Regular files (not symbolic links) of `dir` whose names pass `keep`, sorted by name.
template <typename Keep>
boost::system::result<std::vector<std::string>> list_files(const fs::path& dir, Keep keep) {
    std::vector<std::string> names;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
        return boost::system::error_code(ec.value(), boost::system::system_category());
    }
    for (const auto& entry : it) {
        const auto name = entry.path().filename().string();
        if (!keep(name)) {
            continue;
        }
        std::error_code sec;
        if (entry.symlink_status(sec).type() == fs::file_type::regular) {
            names.push_back(name);
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::string file_time_rfc3339(const fs::path& p);

bool reference_like(std::string_view s);

// "YYYY-MM-DD HH:MM[:SS]" in Bangladesh time, or RFC 3339 with an offset → RFC 3339 UTC.
std::optional<std::string> case_time(std::string_view text);

std::string located(
    const std::string& file,
    const exchange::csv_position& at,
    std::string_view column,
    std::string_view message
);

// SHA-256 over bytes given in pieces; `digest()` gives the first 16 hex digits (the file
// digest in a cursor).
class file_hasher {
public:
    file_hasher() : ctx_(EVP_MD_CTX_new()) {
        CASEBRIDGE_CHECK(ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1);
    }
    file_hasher(const file_hasher&) = delete;
    file_hasher& operator=(const file_hasher&) = delete;
    ~file_hasher() { EVP_MD_CTX_free(ctx_); }
    void update(std::string_view bytes) {
        CASEBRIDGE_CHECK(EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()) == 1);
    }
    std::string digest() {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        CASEBRIDGE_CHECK(EVP_DigestFinal_ex(ctx_, md, &n) == 1);
        // The first 8 bytes, as hex.
        return to_hex({reinterpret_cast<const char*>(md), std::min<std::size_t>(8, n)});
    }

private:
    EVP_MD_CTX* ctx_;
};

// An open file descriptor, closed on scope exit.
struct open_file {
    int fd = -1;
    open_file() = default;
    open_file(const open_file&) = delete;
    open_file& operator=(const open_file&) = delete;
    ~open_file() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

// What tells one version of a file from another without reading it again.
struct file_identity {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const file_identity&) const = default;
};

file_identity identity_of(const struct stat& st);

// Opens a regular file for reading (not through a symbolic link), with its identity.
boost::system::result<file_identity> open_regular(const fs::path& path, open_file& f);

struct cursor_parts {
    std::string name;  // empty: no file returned yet
    std::string digest;
    std::uint64_t offset = 0;  // > 0: the file's rows are returned up to this byte
    std::size_t line = 0;      // the line at `offset`
};

// A cursor is printable ASCII: other bytes of a file name (and '%') are percent-encoded
// (upper-case hex), as cursors written by earlier versions are.
std::string encode_name(std::string_view name);

std::optional<std::string> decode_name(std::string_view text);

// "v1:<name>:<digest>" once every row of the file is returned; "v2:<name>:<digest>:<offset>:
// <line>" while rows remain after byte `offset`.
std::string encode_cursor(const cursor_parts& at);

std::optional<std::uint64_t> decimal(std::string_view s);

// "v1:" (nothing returned yet), "v1:<file name>:<digest>" or "v2:<file name>:<digest>:<offset>:
// <line>", for a file of the stream with `prefix`.
std::optional<cursor_parts> decode_cursor(std::string_view c, std::string_view prefix);

// The reason a file or row is refused, as the error of any result<T, std::string> (spelt out:
// a record is constructible from a string, which makes the plain conversion ambiguous).
struct refusal {
    std::string text;
    template <typename T>
    operator boost::system::result<T, std::string>() && {  // NOLINT(google-explicit-constructor)
        return boost::system::result<T, std::string>(
            boost::system::in_place_error, std::move(text)
        );
    }
};

// Where the columns of a case file are.
struct case_columns {
    std::size_t reference = 0;
    std::optional<std::size_t> updated;
};

// The columns named by a case file's header, or why it is refused ("file:line:column: ...").
boost::system::result<case_columns, std::string> case_columns_of(
    const exchange::csv_row& header,
    const std::vector<exchange::csv_position>& positions,
    const std::string& file
);

// Checks one row of a case file; with `build`, also makes its record. The reason names the
// file, line, column and field; a repeated reference is the caller's to find.
boost::system::result<std::optional<external_record>, std::string> case_record_of(
    const case_columns& cols,
    const exchange::csv_row& header,
    const exchange::csv_record& row,
    const std::string& file,
    const std::string& file_time,
    bool build
);

// Finds keys seen twice in one pass over a file without holding every key: a fixed-size Bloom
// filter marks keys seen; keys it may have seen before become candidates, and a second pass
// (only when there are candidates) tells real repeats from false alarms exactly.
class repeat_finder {
public:
    static constexpr std::size_t filter_bytes = 4 * 1024 * 1024;

    repeat_finder() : bits_(filter_bytes / sizeof(std::uint64_t), 0) {}

    // Notes a key of the first pass.
    void add(std::string_view key) {
        const auto [h1, h2] = hashes(key);
        bool all = true;
        const std::uint64_t m = bits_.size() * 64;
        for (std::uint64_t i = 0; i < hash_count; ++i) {
            const std::uint64_t bit = (h1 + i * h2) % m;
            auto& word = bits_[bit / 64];
            const std::uint64_t mask = std::uint64_t{1} << (bit % 64);
            all = all && (word & mask) != 0;
            word |= mask;
        }
        if (all) {
            candidates_.emplace(key, 0);
        }
    }

    bool has_candidates() const noexcept { return !candidates_.empty(); }
    std::size_t candidates() const noexcept { return candidates_.size(); }

    // Second pass: the line where `key` was first seen when this is a repeat, else 0.
    std::size_t repeat_of(std::string_view key, std::size_t line) {
        const auto it = candidates_.find(key);
        if (it == candidates_.end()) {
            return 0;
        }
        if (it->second == 0) {
            it->second = line;
            return 0;
        }
        return it->second;
    }

private:
    static constexpr std::uint64_t hash_count = 5;

    static std::pair<std::uint64_t, std::uint64_t> hashes(std::string_view key) {
        // Two FNV-1a variants; the second is made odd so that the probes cover the filter.
        std::uint64_t a = 14695981039346656037ULL;
        std::uint64_t b = 0x84222325cbf29ce4ULL;
        for (const char c : key) {
            a = (a ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
            b = (b ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
        }
        b ^= b >> 29U;
        return {a ^ (a >> 31U), b | 1U};
    }

    std::vector<std::uint64_t> bits_;
    std::map<std::string, std::size_t, std::less<>> candidates_;  // key → first line seen
};

// 20251120T093000Z
std::string compact_time(time_point t);

std::string source_hash(std::string_view source_key);

struct pending_row {
    std::string exchange_id;
    std::string source_hash;
    exchange::csv_row cells;
};

// What the register says: every exchange id written, and the last one per source key.
struct register_index {
    std::set<std::string, std::less<>> known;
    std::map<std::string, std::string, std::less<>> by_source;  // source hash → exchange id
};

struct dss_files_adapter::impl {
    settings cfg;
    adapter_env env;
    std::vector<std::string> columns;  // outbound header, exchange_id first
    std::string schema_version;
    std::string dictionary_csv;
    std::vector<pending_row> pending;
    std::map<std::string, std::size_t, std::less<>> pending_index;  // exchange id → row
    std::optional<register_index> index;                            // loaded on first use

    impl(settings s, adapter_env e) : cfg(std::move(s)), env(std::move(e)) {
        const auto& dict = event_dictionary();
        columns = dict.columns();
        CASEBRIDGE_CHECK(!columns.empty() && columns.front() == "exchange_id");
        std::string joined;
        for (const auto& c : columns) {
            joined += c + "\n";
        }
        schema_version = "dss.event:" + crypto::sha256_hex(joined).substr(0, 12);
        dictionary_csv = dict.to_csv();
    }

    // --- the register of exchange ids written -------------------------------------------
    register_index& load_index();

    // --- outbound -------------------------------------------------------------------------
    remote_result<std::string> push(const external_record& record);

    // Adds a row to the batch; a row with an exchange id already pending replaces it.
    std::string add_pending(pending_row row);

    // A consent-withdrawal notice: a row with its own exchange id and the withdrawn event's,
    // and nothing else.
    remote_result<std::string> notify_withdrawal(
        std::string_view stream,
        const std::string& shared,
        const std::string& source_key,
        const std::string& version
    );

    remote_result<void> flush();

    // Writes pending rows [first, last) as one batch: the register entry first (so that an
    // acknowledgement for a row written is never reported as unknown), then the batch.
    remote_result<void> write_one(
        std::vector<pending_row>::const_iterator first,
        std::vector<pending_row>::const_iterator last,
        const std::string& passphrase,
        time_point now
    );

    // Drops the first `n` pending rows (written).
    void forget(std::size_t n);

    remote_result<std::optional<std::string>> lookup(
        const std::string& stream, const std::string& source_key
    );

    // --- inbound --------------------------------------------------------------------------
    static std::optional<std::string_view> prefix_of(std::string_view stream);

    // How the rows of one inbound file are read: the columns its header names.
    struct file_layout {
        std::string_view stream;
        std::string name;
        std::string mtime;
        files::ack_columns ack;
        case_columns cases;
    };

    // The layout of a file from its header, or why the file is refused.
    boost::system::result<file_layout, std::string> layout_of(
        std::string_view stream, const exchange::csv_reader& reader, const std::string& name
    );

    // The key a row is known by: the exchange id or the DSS reference.
    static const std::string& key_of(const file_layout& l, const exchange::csv_record& row);

    // Checks one row; with `build`, also makes its record. The error names file, line, column.
    boost::system::result<std::optional<external_record>, std::string> record_of(
        const file_layout& l,
        const exchange::csv_row& header,
        const exchange::csv_record& row,
        bool build
    );

    // The message for a row whose key was on an earlier line of the same file.
    static std::string repeated(
        const file_layout& l,
        const exchange::csv_row& header,
        const exchange::csv_record& row,
        std::size_t first_line
    );

    // The outcome of reading a file through once.
    struct file_check {
        std::string refused;  // why the whole file is refused ("file:line:column: message")
        bool io_failed = false;
        std::string digest;  // of the file's bytes: part of the cursor
        file_identity identity;
        std::size_t rows = 0;
    };

    // One row-by-row pass over a file. Without `visit`: every row checked (and the digest
    // taken); with it: `visit(layout, header, row)` for each row from `from` on, until it
    // returns false. Memory is one read buffer and one row, whatever the file's size.
    template <typename Visit>
    file_check pass(
        const fs::path& path,
        std::string_view stream,
        const cursor_parts* from,
        repeat_finder* repeats,
        bool second_pass,
        Visit visit
    ) {
        file_check out;
        const std::string name = path.filename().string();
        open_file f;
        auto id = open_regular(path, f);
        if (!id) {
            out.io_failed = true;
            return out;
        }
        out.identity = *id;
        if (id->size > cfg.max_file_bytes) {
            out.refused = name + ":1:1: the file is larger than max_file_bytes";
            return out;
        }
        exchange::csv_fd_source source(f.fd);
        file_hasher hasher;
        if (from == nullptr) {
            source.on_bytes = [&hasher](std::string_view bytes) { hasher.update(bytes); };
        }
        exchange::csv_reader reader(source);
        const auto failed = [&](const exchange::csv_error& e) {
            if (e.io) {
                out.io_failed = true;
            } else {
                out.refused = e.describe(name);
            }
            return out;
        };
        if (auto h = reader.read_header(); !h) {
            return failed(h.error());
        }
        auto layout = layout_of(stream, reader, name);
        if (!layout) {
            out.refused = layout.error();
            return out;
        }
        layout->mtime = file_time_rfc3339(path);
        if (from != nullptr) {
            if (auto r = reader.resume(from->offset, from->line); !r) {
                return failed(r.error());
            }
        }
        exchange::csv_record row;
        while (true) {
            auto got = reader.next(row);
            if (!got) {
                return failed(got.error());
            }
            if (!*got) {
                break;
            }
            ++out.rows;
            if (visit) {
                if (!(*visit)(*layout, reader.header(), row, reader)) {
                    return out;
                }
                continue;
            }
            if (second_pass) {
                const std::size_t first = repeats->repeat_of(key_of(*layout, row), row.line);
                if (first != 0) {
                    out.refused = repeated(*layout, reader.header(), row, first);
                    return out;
                }
                continue;
            }
            if (auto r = record_of(*layout, reader.header(), row, false); !r) {
                out.refused = r.error();
                return out;
            }
            repeats->add(key_of(*layout, row));
        }
        if (from == nullptr) {
            out.digest = hasher.digest();
        }
        return out;
    }

    // Reads a whole file once (twice when a key may repeat): is every row acceptable, and
    // what is the file's digest? A refused file yields nothing.
    file_check check_file(const fs::path& path, std::string_view stream);

    // The file last checked whole: a later page of it is read without checking it again.
    struct checked_file {
        std::string name;
        std::string digest;
        file_identity identity;
    };

    std::optional<checked_file> checked;

    // True when `path` is the file checked last, unchanged, with `digest`.
    bool still_checked(const fs::path& path, const std::string& digest) const;

    // The digest of `name` in the inbox when it is still the file checked last, else of its
    // bytes read now; empty when it cannot be read.
    std::string digest_of(const fs::path& path);

    // One page of a checked file: up to max_rows_per_page records from `from` (the file's
    // start when its offset is 0), and where the next page starts (offset 0: the file is done).
    struct file_page {
        std::vector<external_record> records;
        cursor_parts next;
        bool io_failed = false;
        std::string refused;
    };

    file_page page_of(const fs::path& path, std::string_view stream, const cursor_parts& from);

    // Removes files of processed/ delivered more than processed_retention_days ago.
    void prune_processed();

    // Quarantines a refused file and returns the error that reports it.
    remote_error refuse(const std::string& name, const std::string& reason);

    remote_result<pull_page> pull(const std::string& stream, const std::optional<std::string>& c);

    // Calls on(file name, record) for each row of `stream`'s inbound files (processed/ first,
    // then the inbox, each in name order) whose key `wanted` accepts; a file that cannot be
    // read or is refused is skipped. With `one_per_file`, a file's pass ends at its first such
    // row (a key is on one row of a file).
    template <typename Wanted, typename On>
    void scan_inbound(
        const std::string& stream, std::string_view prefix, Wanted wanted, On on, bool one_per_file
    ) {
        for (const bool processed : {true, false}) {
            const fs::path dir = processed ? cfg.inbox / processed_folder : cfg.inbox;
            auto files = list_files(dir, [&](const std::string& n) {
                return inbound_name(n, prefix, processed);
            });
            if (!files) {
                continue;  // no processed/ folder yet
            }
            for (const auto& name : *files) {
                if (const auto check = check_file(dir / name, stream);
                    check.io_failed || !check.refused.empty()) {
                    continue;
                }
                const auto visit = [&](const file_layout& l,
                                       const exchange::csv_row& header,
                                       const exchange::csv_record& row,
                                       const exchange::csv_reader&) {
                    if (!wanted(key_of(l, row))) {
                        return true;
                    }
                    auto rec = record_of(l, header, row, true);
                    if (!rec) {
                        return false;
                    }
                    on(name, std::move(**rec));
                    return !one_per_file;
                };
                (void)pass(
                    dir / name,
                    stream,
                    nullptr,
                    nullptr,
                    false,
                    std::optional<decltype(visit)>(visit)
                );
            }
        }
    }

    remote_result<external_record> fetch(const std::string& stream, const std::string& id);

    // --- health ---------------------------------------------------------------------------
    remote_result<void> probe() const;
};

}  // namespace casebridge::dss_files
