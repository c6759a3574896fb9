#include "dss_files/dss_files_adapter.hpp"

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
#include "dss_files/exchange_files.hpp"
#include "exchange/csv.hpp"
#include "json/json.hpp"
#include "net/url.hpp"

namespace casebridge::dss_files {
namespace {

namespace fs = std::filesystem;
using rapidjson::Value;

constexpr std::string_view ack_prefix = "ack";
constexpr std::string_view case_prefix = "case";
constexpr std::string_view cursor_prefix = "v1:";
constexpr std::string_view part_cursor_prefix = "v2:";
constexpr std::string_view processed_folder = "processed";
constexpr std::string_view register_suffix = ".sent";
constexpr std::string_view reference_column = "dss_reference";
constexpr std::string_view updated_column = "updated_at";
constexpr std::string_view dss_offset = "+06:00";  // Bangladesh Standard Time, no DST

remote_error error_for(errc code, std::string detail, std::string record_id = {}) {
    auto e = make_remote_error(code, std::move(detail));
    e.record_id = std::move(record_id);
    return e;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// An inbound file of the stream with `prefix`: "<prefix>...csv", not hidden. In processed/,
// a name made unique by move_aside ("<name>.csv.2") also counts.
bool inbound_name(std::string_view name, std::string_view prefix, bool renamed_ok) {
    if (name.size() <= prefix.size() + 4 || name.substr(0, prefix.size()) != prefix) {
        return false;
    }
    if (ends_with(name, ".csv")) {
        return true;
    }
    if (!renamed_ok) {
        return false;
    }
    const auto dot = name.rfind('.');
    const auto digits = name.substr(dot + 1);
    return !digits.empty() &&
           std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
           ends_with(name.substr(0, dot), ".csv");
}

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

std::string file_time_rfc3339(const fs::path& p) {
    std::error_code ec;
    const auto ft = fs::last_write_time(p, ec);
    if (ec) {
        return {};
    }
    const auto sys = std::chrono::file_clock::to_sys(ft);
    return format_rfc3339(std::chrono::time_point_cast<std::chrono::seconds>(sys));
}

bool reference_like(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.' || c == '/';
    });
}

// "YYYY-MM-DD HH:MM[:SS]" in Bangladesh time, or RFC 3339 with an offset → RFC 3339 UTC.
std::optional<std::string> case_time(std::string_view text) {
    std::string t(text);
    const bool has_offset = ends_with(t, "Z") || ends_with(t, "z") ||
                            (t.size() > 6 && (t[t.size() - 6] == '+' || t[t.size() - 6] == '-') &&
                             t[t.size() - 3] == ':');
    if (!has_offset) {
        if (t.size() == 16) {
            t += ":00";
        }
        t += dss_offset;
    }
    const auto parsed = parse_rfc3339(t);
    if (!parsed) {
        return std::nullopt;
    }
    return format_rfc3339(*parsed);
}

std::string located(
    const std::string& file,
    const exchange::csv_position& at,
    std::string_view column,
    std::string_view message
) {
    return file + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": column " +
           std::string(column) + ": " + std::string(message);
}

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

file_identity identity_of(const struct stat& st) {
    return file_identity{
        static_cast<std::uint64_t>(st.st_dev),
        static_cast<std::uint64_t>(st.st_ino),
        static_cast<std::uint64_t>(st.st_size),
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

// Opens a regular file for reading (not through a symbolic link), with its identity.
boost::system::result<file_identity> open_regular(const fs::path& path, open_file& f) {
    f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f.fd < 0) {
        return boost::system::error_code(errno, boost::system::system_category());
    }
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) {
        return boost::system::error_code(errno, boost::system::system_category());
    }
    if (!S_ISREG(st.st_mode)) {
        return boost::system::error_code(EINVAL, boost::system::system_category());
    }
    return identity_of(st);
}

struct cursor_parts {
    std::string name;  // empty: no file returned yet
    std::string digest;
    std::uint64_t offset = 0;  // > 0: the file's rows are returned up to this byte
    std::size_t line = 0;      // the line at `offset`
};

// A cursor is printable ASCII: other bytes of a file name (and '%') are percent-encoded
// (upper-case hex), as cursors written by earlier versions are.
std::string encode_name(std::string_view name) {
    static const std::string printable = [] {
        std::string keep;
        for (char c = 0x21; c < 0x7f; ++c) {
            if (c != '%') {
                keep += c;
            }
        }
        return keep;
    }();
    return percent_encode(name, printable);
}

std::optional<std::string> decode_name(std::string_view text) {
    auto name = percent_decode(text, plus_sign::literal);
    if (!name) {
        return std::nullopt;
    }
    return std::move(*name);
}

// "v1:<name>:<digest>" once every row of the file is returned; "v2:<name>:<digest>:<offset>:
// <line>" while rows remain after byte `offset`.
std::string encode_cursor(const cursor_parts& at) {
    if (at.offset == 0) {
        return std::string(cursor_prefix) + encode_name(at.name) + ":" + at.digest;
    }
    return std::string(part_cursor_prefix) + encode_name(at.name) + ":" + at.digest + ":" +
           std::to_string(at.offset) + ":" + std::to_string(at.line);
}

std::optional<std::uint64_t> decimal(std::string_view s) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) {
        return std::nullopt;
    }
    return v;
}

// "v1:" (nothing returned yet), "v1:<file name>:<digest>" or "v2:<file name>:<digest>:<offset>:
// <line>", for a file of the stream with `prefix`.
std::optional<cursor_parts> decode_cursor(std::string_view c, std::string_view prefix) {
    constexpr std::size_t digest_size = 16;
    std::uint64_t offset = 0;
    std::uint64_t line = 0;
    if (c.substr(0, part_cursor_prefix.size()) == part_cursor_prefix) {
        const auto last = c.rfind(':');
        const auto before = last == std::string_view::npos ? last : c.rfind(':', last - 1);
        if (before == std::string_view::npos || before < part_cursor_prefix.size()) {
            return std::nullopt;
        }
        const auto o = decimal(c.substr(before + 1, last - before - 1));
        const auto l = decimal(c.substr(last + 1));
        if (!o || !l || *o == 0 || *l == 0) {
            return std::nullopt;
        }
        offset = *o;
        line = *l;
        c = c.substr(0, before);
        c.remove_prefix(part_cursor_prefix.size());
        if (c.empty()) {
            return std::nullopt;
        }
    } else if (c.substr(0, cursor_prefix.size()) == cursor_prefix) {
        c.remove_prefix(cursor_prefix.size());
    } else {
        return std::nullopt;
    }
    if (c.empty()) {
        return cursor_parts{};
    }
    if (c.size() < digest_size + 2 || c[c.size() - digest_size - 1] != ':') {
        return std::nullopt;
    }
    cursor_parts out;
    auto name = decode_name(c.substr(0, c.size() - digest_size - 1));
    if (!name) {
        return std::nullopt;
    }
    out.name = std::move(*name);
    out.digest = std::string(c.substr(c.size() - digest_size));
    out.offset = offset;
    out.line = static_cast<std::size_t>(line);
    const bool hex = std::all_of(out.digest.begin(), out.digest.end(), [](char ch) {
        return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
    });
    if (!hex || !inbound_name(out.name, prefix, false) ||
        out.name.find_first_of(std::string_view("/\0", 2)) != std::string::npos) {
        return std::nullopt;
    }
    return out;
}

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
) {
    const auto& dict = case_dictionary();
    std::optional<std::size_t> ref_col;
    case_columns out;
    for (std::size_t i = 0; i < header.size(); ++i) {
        const auto& name = header[i];
        if (dict.find(name) == nullptr) {
            // Not echoed: a file without a header row starts with a row of case data.
            const auto& at = positions[i];
            return file + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                   ": header column " + std::to_string(i + 1) +
                   " is not in the DSS case data dictionary";
        }
        if (name == reference_column) {
            ref_col = i;
        } else if (name == updated_column) {
            out.updated = i;
        }
    }
    if (!ref_col) {
        return file + ":1:1: the header needs the column dss_reference";
    }
    out.reference = *ref_col;
    return out;
}

// Checks one row of a case file; with `build`, also makes its record. The reason names the
// file, line, column and field; a repeated reference is the caller's to find.
boost::system::result<std::optional<external_record>, std::string> case_record_of(
    const case_columns& cols,
    const exchange::csv_row& header,
    const exchange::csv_record& row,
    const std::string& file,
    const std::string& file_time,
    bool build
) {
    const std::string& ref = row.fields[cols.reference];
    if (!reference_like(ref)) {
        return refusal{located(
            file,
            row.positions[cols.reference],
            reference_column,
            "a DSS reference is 1 to 64 letters, digits, - _ . /"
        )};
    }
    std::string updated = file_time;
    if (cols.updated) {
        const auto t = case_time(row.fields[*cols.updated]);
        if (!t) {
            return refusal{located(
                file,
                row.positions[*cols.updated],
                updated_column,
                "not a date and time (YYYY-MM-DD HH:MM:SS, Bangladesh time)"
            )};
        }
        updated = *t;
    }
    if (!build) {
        return std::optional<external_record>{};
    }
    external_record rec;
    rec.stream = std::string(cases_stream);
    rec.remote_id = ref;
    rec.updated_at = std::move(updated);
    auto& body = rec.body;
    body.SetObject();
    auto& a = body.GetAllocator();
    for (std::size_t c = 0; c < row.fields.size(); ++c) {
        if (!row.fields[c].empty()) {
            body.AddMember(Value(header[c].c_str(), a), Value(row.fields[c].c_str(), a), a);
        }
    }
    return std::optional<external_record>{std::move(rec)};
}

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
std::string compact_time(time_point t) {
    std::string s = format_rfc3339(t);
    s.erase(
        std::remove_if(s.begin(), s.end(), [](char c) { return c == '-' || c == ':'; }), s.end()
    );
    return s;
}

std::string source_hash(std::string_view source_key) {
    return crypto::sha256_hex(source_key);
}

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

}  // namespace

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

    register_index& load_index() {
        if (index) {
            return *index;
        }
        index.emplace();
        auto files = list_files(cfg.sent_register, [](const std::string& n) {
            return ends_with(n, register_suffix) && n.front() != '.';
        });
        if (!files) {
            env.log.warn("dss.register_unreadable", "the sent register folder cannot be read");
            return *index;
        }
        std::int64_t unreadable = 0;
        for (const auto& name : *files) {
            open_file f;
            if (!open_regular(cfg.sent_register / name, f)) {
                ++unreadable;
                continue;
            }
            exchange::csv_fd_source source(f.fd);
            exchange::csv_reader reader(source);
            if (!reader.read_header() || reader.header().size() != 2 ||
                reader.header()[0] != "exchange_id") {
                ++unreadable;
                continue;
            }
            exchange::csv_record row;
            while (true) {
                auto got = reader.next(row);
                if (!got) {
                    ++unreadable;  // the rows before the fault still count as written
                    break;
                }
                if (!*got) {
                    break;
                }
                index->known.insert(row.fields[0]);
                index->by_source[row.fields[1]] = row.fields[0];
            }
        }
        if (unreadable > 0) {
            env.log.warn(
                "dss.register_unreadable",
                "register files unreadable, whole or in part: their exchange ids count as unknown",
                {.counts = {{"files", unreadable}}}
            );
        }
        return *index;
    }

    // --- outbound -------------------------------------------------------------------------

    remote_result<std::string> push(const external_record& record) {
        if (!record.stream.empty() && record.stream != events_stream) {
            return make_remote_error(errc::not_found, "the DSS adapter pushes to stream events");
        }
        if (record.source_key.empty() || record.updated_at.empty()) {
            return make_remote_error(
                errc::mapping_failed, "an event needs the source key and the source version"
            );
        }
        if (!record.body.IsObject()) {
            return make_remote_error(errc::mapping_failed, "record body is not an object");
        }
        pending_row row;
        row.exchange_id = exchange_id_for(record.source_key, record.updated_at);
        row.source_hash = source_hash(record.source_key);
        row.cells.assign(columns.size(), std::string{});
        row.cells[0] = row.exchange_id;
        for (const auto& m : record.body.GetObject()) {
            const std::string_view name(m.name.GetString(), m.name.GetStringLength());
            const auto it = std::find(columns.begin() + 1, columns.end(), name);
            if (it == columns.end()) {
                return error_for(
                    errc::mapping_failed,
                    "column " + std::string(name) + " is not in the DSS event data dictionary",
                    row.exchange_id
                );
            }
            if (m.value.IsNull()) {
                continue;
            }
            if (!m.value.IsString()) {
                return error_for(
                    errc::mapping_failed,
                    "column " + std::string(name) + ": the value is not text",
                    row.exchange_id
                );
            }
            std::string value(m.value.GetString(), m.value.GetStringLength());
            if (!exchange::valid_utf8(value) || value.find('\0') != std::string::npos) {
                return error_for(
                    errc::mapping_failed,
                    "column " + std::string(name) + ": the value is not valid UTF-8 text",
                    row.exchange_id
                );
            }
            row.cells[static_cast<std::size_t>(it - columns.begin())] = std::move(value);
        }
        return add_pending(std::move(row));
    }

    // Adds a row to the batch; a row with an exchange id already pending replaces it.
    std::string add_pending(pending_row row) {
        std::string id = row.exchange_id;
        if (const auto at = pending_index.find(id); at != pending_index.end()) {
            pending[at->second] = std::move(row);
        } else {
            pending_index.emplace(id, pending.size());
            pending.push_back(std::move(row));
        }
        return id;
    }

    // A consent-withdrawal notice: a row with its own exchange id and the withdrawn event's,
    // and nothing else.
    remote_result<std::string> notify_withdrawal(
        std::string_view stream,
        const std::string& shared,
        const std::string& source_key,
        const std::string& version
    ) {
        if (!stream.empty() && stream != events_stream) {
            return make_remote_error(errc::not_found, "the DSS adapter notifies on stream events");
        }
        const auto col = std::find(columns.begin(), columns.end(), "withdraws_exchange_id");
        if (col == columns.end()) {
            return make_remote_error(
                errc::invalid_config, "the event data dictionary has no withdraws_exchange_id"
            );
        }
        if (shared.empty() || source_key.empty() || version.empty()) {
            return make_remote_error(
                errc::mapping_failed, "a notice needs the event id, the source key and version"
            );
        }
        const std::string key = source_key + "#consent-withdrawn";
        pending_row row;
        row.exchange_id = exchange_id_for(key, version);
        row.source_hash = source_hash(key);
        row.cells.assign(columns.size(), std::string{});
        row.cells[0] = row.exchange_id;
        row.cells[static_cast<std::size_t>(col - columns.begin())] = shared;
        return add_pending(std::move(row));
    }

    remote_result<void> flush() {
        if (pending.empty()) {
            return {};
        }
        const auto passphrase = read_first_line(cfg.passphrase_file);
        if (!passphrase || passphrase->empty()) {
            return make_remote_error(
                errc::auth_failed, "the passphrase file is not readable or is empty"
            );
        }
        const time_point now = env.clock->now();
        std::size_t done = 0;
        while (done < pending.size()) {
            const std::size_t n = std::min(cfg.max_rows_per_batch, pending.size() - done);
            const auto first = pending.begin() + static_cast<std::ptrdiff_t>(done);
            const auto last = first + static_cast<std::ptrdiff_t>(n);
            auto written = write_one(first, last, *passphrase, now);
            if (!written) {
                forget(done);
                return written.error();
            }
            done += n;
        }
        forget(done);
        return {};
    }

    // Writes pending rows [first, last) as one batch: the register entry first (so that an
    // acknowledgement for a row written is never reported as unknown), then the batch.
    remote_result<void> write_one(
        std::vector<pending_row>::const_iterator first,
        std::vector<pending_row>::const_iterator last,
        const std::string& passphrase,
        time_point now
    ) {
        files::batch b;
        std::string ids;
        exchange::csv_writer reg;
        reg.row({"exchange_id", "source_key_sha256"});
        for (auto it = first; it != last; ++it) {
            ids += it->exchange_id + "\n";
            reg.row({it->exchange_id, it->source_hash});
            b.rows.push_back(it->cells);
        }
        // Same rows, same second: the same name, so a retried flush replaces its own file.
        b.id = cfg.sender + "-events-" + compact_time(now) + "-" +
               crypto::sha256_hex(ids).substr(0, 12);
        b.schema_version = schema_version;
        b.sender = cfg.sender;
        b.header = columns;
        b.dictionary = dictionary_csv;
        if (auto r = write_file_atomically(
                cfg.sent_register / (b.id + std::string(register_suffix)), reg.text()
            );
            !r) {
            return error_for(
                errc::remote_unavailable,
                "the sent register could not be written (" + error_name(r.error()) + ")",
                b.id
            );
        }
        const auto written = files::write_batch(cfg.outbox, b, passphrase, now);
        if (!written) {
            return error_for(
                errc::remote_unavailable,
                "the batch could not be written to the outbox (" + error_name(written.error()) +
                    ")",
                b.id
            );
        }
        if (index) {
            for (auto it = first; it != last; ++it) {
                index->known.insert(it->exchange_id);
                index->by_source[it->source_hash] = it->exchange_id;
            }
        }
        env.log.info(
            "dss.batch_written",
            "batch written to the outbox",
            {.counts = {{"rows", static_cast<std::int64_t>(b.rows.size())}}}
        );
        return {};
    }

    // Drops the first `n` pending rows (written).
    void forget(std::size_t n) {
        pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
        pending_index.clear();
        for (std::size_t i = 0; i < pending.size(); ++i) {
            pending_index.emplace(pending[i].exchange_id, i);
        }
    }

    remote_result<std::optional<std::string>> lookup(
        const std::string& stream, const std::string& source_key
    ) {
        if (stream != events_stream) {
            return make_remote_error(errc::not_found, "the DSS adapter looks up stream events");
        }
        const auto& idx = load_index();
        const auto it = idx.by_source.find(source_hash(source_key));
        if (it == idx.by_source.end()) {
            return std::optional<std::string>{};
        }
        return std::optional<std::string>{it->second};
    }

    // --- inbound --------------------------------------------------------------------------

    static std::optional<std::string_view> prefix_of(std::string_view stream) {
        if (stream == acknowledgements_stream) {
            return ack_prefix;
        }
        if (stream == cases_stream) {
            return case_prefix;
        }
        return std::nullopt;
    }

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
    ) {
        file_layout out;
        out.stream = stream;
        out.name = name;
        if (stream == cases_stream) {
            auto cols = case_columns_of(reader.header(), reader.header_positions(), name);
            if (!cols) {
                return refusal{cols.error()};
            }
            out.cases = *cols;
        } else {
            auto cols = files::ack_columns_of(reader.header(), name);
            if (!cols) {
                return refusal{cols.error().message};
            }
            out.ack = *cols;
        }
        return out;
    }

    // The key a row is known by: the exchange id or the DSS reference.
    static const std::string& key_of(const file_layout& l, const exchange::csv_record& row) {
        return row.fields[l.stream == cases_stream ? l.cases.reference : l.ack.id];
    }

    // Checks one row; with `build`, also makes its record. The error names file, line, column.
    boost::system::result<std::optional<external_record>, std::string> record_of(
        const file_layout& l,
        const exchange::csv_row& header,
        const exchange::csv_record& row,
        bool build
    ) {
        if (l.stream == cases_stream) {
            return case_record_of(l.cases, header, row, l.name, l.mtime, build);
        }
        auto ack = files::acknowledgement_of(l.ack, header, row, l.name);
        if (!ack) {
            return refusal{ack.error().message};
        }
        if (!build) {
            return std::optional<external_record>{};
        }
        external_record rec;
        rec.stream = std::string(acknowledgements_stream);
        rec.remote_id = ack->exchange_id;
        rec.updated_at = l.mtime;
        auto& body = rec.body;
        body.SetObject();
        auto& a = body.GetAllocator();
        const auto s = [&a](const std::string& v) { return Value(v.c_str(), a); };
        const auto& idx = load_index();
        const bool known = idx.known.find(ack->exchange_id) != idx.known.end();
        body.AddMember("exchange_id", s(ack->exchange_id), a);
        body.AddMember("status", s(ack->status), a);
        body.AddMember("dss_reference", s(ack->dss_reference), a);
        body.AddMember("reason", s(ack->reason), a);
        body.AddMember("file", s(l.name), a);
        body.AddMember("line", static_cast<std::uint64_t>(ack->line), a);
        body.AddMember("known_exchange_id", known, a);
        return std::optional<external_record>{std::move(rec)};
    }

    // The message for a row whose key was on an earlier line of the same file.
    static std::string repeated(
        const file_layout& l,
        const exchange::csv_row& header,
        const exchange::csv_record& row,
        std::size_t first_line
    ) {
        if (l.stream == cases_stream) {
            return located(
                l.name,
                row.positions[l.cases.reference],
                reference_column,
                "the same reference is on line " + std::to_string(first_line)
            );
        }
        return files::acknowledged_twice(header, l.ack, row, l.name);
    }

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
    file_check check_file(const fs::path& path, std::string_view stream) {
        repeat_finder repeats;
        using no_visit = std::optional<
            bool (*)(const file_layout&, const exchange::csv_row&, const exchange::csv_record&, const exchange::csv_reader&)>;
        auto out = pass(path, stream, nullptr, &repeats, false, no_visit{});
        if (out.refused.empty() && !out.io_failed && repeats.has_candidates()) {
            auto second = pass(path, stream, nullptr, &repeats, true, no_visit{});
            if (second.io_failed || !second.refused.empty()) {
                return second;
            }
            if (second.digest != out.digest) {
                second.io_failed = true;  // it changed between the two passes: read it later
                return second;
            }
        }
        if (out.refused.empty() && !out.io_failed) {
            checked = checked_file{path.filename().string(), out.digest, out.identity};
        }
        return out;
    }

    // The file last checked whole: a later page of it is read without checking it again.
    struct checked_file {
        std::string name;
        std::string digest;
        file_identity identity;
    };
    std::optional<checked_file> checked;

    // True when `path` is the file checked last, unchanged, with `digest`.
    bool still_checked(const fs::path& path, const std::string& digest) const {
        struct stat st {};
        return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && checked &&
               checked->name == path.filename().string() && checked->digest == digest &&
               checked->identity == identity_of(st);
    }

    // The digest of `name` in the inbox when it is still the file checked last, else of its
    // bytes read now; empty when it cannot be read.
    std::string digest_of(const fs::path& path) {
        if (checked && still_checked(path, checked->digest)) {
            return checked->digest;
        }
        open_file f;
        if (!open_regular(path, f)) {
            return {};
        }
        file_hasher hasher;
        std::string buf(exchange::csv_reader::chunk_bytes, '\0');
        while (true) {
            const ::ssize_t n = ::read(f.fd, buf.data(), buf.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                return {};
            }
            if (n == 0) {
                break;
            }
            hasher.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        }
        return hasher.digest();
    }

    // One page of a checked file: up to max_rows_per_page records from `from` (the file's
    // start when its offset is 0), and where the next page starts (offset 0: the file is done).
    struct file_page {
        std::vector<external_record> records;
        cursor_parts next;
        bool io_failed = false;
        std::string refused;
    };

    file_page page_of(const fs::path& path, std::string_view stream, const cursor_parts& from) {
        file_page out;
        out.next = from;
        std::int64_t unknown = 0;
        std::string failure;
        std::uint64_t end_offset = 0;
        std::size_t end_line = 0;
        const auto visit = [&](const file_layout& l,
                               const exchange::csv_row& header,
                               const exchange::csv_record& row,
                               const exchange::csv_reader& reader) {
            auto rec = record_of(l, header, row, true);
            if (!rec) {
                failure = rec.error();
                return false;
            }
            if (l.stream == acknowledgements_stream) {
                const auto& known = (*rec)->body["known_exchange_id"];
                unknown += known.GetBool() ? 0 : 1;
            }
            out.records.push_back(std::move(**rec));
            end_offset = reader.offset();
            end_line = reader.line();
            return out.records.size() < cfg.max_rows_per_page;
        };
        const auto read = pass(
            path,
            stream,
            from.offset > 0 ? &from : nullptr,
            nullptr,
            false,
            std::optional<decltype(visit)>(visit)
        );
        if (read.io_failed) {
            out.io_failed = true;
            return out;
        }
        if (!read.refused.empty() || !failure.empty()) {
            // The file was checked whole before: it changed since.
            out.io_failed = true;
            return out;
        }
        if (!checked || read.identity != checked->identity) {
            out.io_failed = true;  // changed between the check and this read
            return out;
        }
        out.next.offset = end_offset < read.identity.size ? end_offset : 0;
        out.next.line = out.next.offset == 0 ? 0 : end_line;
        if (unknown > 0) {
            env.log.warn(
                "dss.unknown_acknowledgements",
                "acknowledgements for exchange ids never written by this sender",
                {.counts = {{"acknowledgements", unknown}}}
            );
        }
        return out;
    }

    // Removes files of processed/ delivered more than processed_retention_days ago.
    void prune_processed() {
        if (cfg.processed_retention_days == 0) {
            return;
        }
        const fs::path dir = cfg.inbox / processed_folder;
        auto files = list_files(dir, [](const std::string& n) { return n.front() != '.'; });
        if (!files) {
            return;  // no processed/ folder yet
        }
        const auto cutoff = env.clock->now() - std::chrono::days(cfg.processed_retention_days);
        std::int64_t removed = 0;
        for (const auto& name : *files) {
            std::error_code ec;
            const auto ft = fs::last_write_time(dir / name, ec);
            if (!ec && std::chrono::file_clock::to_sys(ft) < cutoff && fs::remove(dir / name, ec)) {
                ++removed;
            }
        }
        if (removed > 0) {
            (void)fsync_directory(dir);
            env.log.info(
                "dss.processed_pruned",
                "processed inbound files past their retention removed",
                {.counts = {{"files", removed}}}
            );
        }
    }

    // Quarantines a refused file and returns the error that reports it.
    remote_error refuse(const std::string& name, const std::string& reason) {
        if (auto q = files::quarantine(cfg.inbox / name, reason); !q) {
            return error_for(
                errc::remote_unavailable,
                "an unreadable file could not be moved to rejected (" + error_name(q.error()) + ")",
                name
            );
        }
        env.log.warn("dss.file_rejected", "inbound file moved to rejected with its reason");
        return error_for(errc::bad_payload, reason, name);
    }

    remote_result<pull_page> pull(const std::string& stream, const std::optional<std::string>& c) {
        const auto prefix = prefix_of(stream);
        if (!prefix) {
            return make_remote_error(
                errc::not_found, "the DSS adapter pulls streams acknowledgements and cases"
            );
        }
        // The cursor names the last file returned, its digest and, while rows of it remain,
        // where they start. A file returned whole was settled by the engine: it moves on. A file
        // that has since been replaced by another of the same name stays.
        std::optional<cursor_parts> resume;
        if (c && !c->empty()) {
            const auto settled = decode_cursor(*c, *prefix);
            if (!settled) {
                return make_remote_error(errc::invalid_config, "unrecognised DSS cursor");
            }
            const fs::path path = cfg.inbox / settled->name;
            if (settled->offset > 0) {
                resume = settled;
            } else if (!settled->name.empty() && digest_of(path) == settled->digest) {
                if (auto moved = files::move_aside(path, processed_folder); !moved) {
                    return error_for(
                        errc::remote_unavailable,
                        "a settled file could not be moved to processed (" +
                            error_name(moved.error()) + ")",
                        settled->name
                    );
                }
            }
            if (!resume) {
                prune_processed();
            }
        }
        auto files = list_files(cfg.inbox, [&](const std::string& n) {
            return inbound_name(n, *prefix, false);
        });
        if (!files) {
            return make_remote_error(errc::remote_unavailable, "the inbox cannot be read");
        }
        pull_page page;
        page.next_cursor = c && !c->empty() ? *c : std::string(cursor_prefix);
        cursor_parts from;
        if (resume) {
            // Rows of a file remain: read on if it is still the same file, checking it whole
            // again after a restart.
            const fs::path path = cfg.inbox / resume->name;
            if (still_checked(path, resume->digest) ||
                check_file(path, stream).digest == resume->digest) {
                from = *resume;
            } else {
                env.log.warn(
                    "dss.file_changed",
                    "an inbound file changed or went away part-way through: read from the start"
                );
            }
        }
        if (from.name.empty()) {
            if (files->empty()) {
                return page;
            }
            from.name = files->front();
            const auto check = check_file(cfg.inbox / from.name, stream);
            if (check.io_failed) {
                return error_for(errc::remote_unavailable, "the file cannot be read", from.name);
            }
            if (!check.refused.empty()) {
                // Nothing of the file is returned: it is moved aside whole, with the reason.
                return refuse(from.name, check.refused);
            }
            from.digest = check.digest;
        }
        auto read = page_of(cfg.inbox / from.name, stream, from);
        if (read.io_failed) {
            checked.reset();
            return error_for(errc::remote_unavailable, "the file cannot be read", from.name);
        }
        env.log.info(
            "dss.file_read",
            "inbound file read",
            {.counts = {{"records", static_cast<std::int64_t>(read.records.size())}}}
        );
        page.records = std::move(read.records);
        page.next_cursor = encode_cursor(read.next);
        page.has_more = read.next.offset > 0 ||
                        std::count_if(files->begin(), files->end(), [&](const std::string& n) {
                            return n != from.name;
                        }) > 0;
        return page;
    }

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

    remote_result<external_record> fetch(const std::string& stream, const std::string& id) {
        const auto prefix = prefix_of(stream);
        if (!prefix) {
            return error_for(
                errc::not_found, "the DSS adapter keeps no copy of the events it wrote", id
            );
        }
        std::optional<external_record> best;
        std::string best_key;
        scan_inbound(
            stream,
            *prefix,
            [&](const std::string& key) { return key == id; },
            [&](const std::string& name, external_record&& rec) {
                // The newest version wins; among equal versions, the later file.
                std::string key = rec.updated_at + "\n" + name;
                if (!best || key > best_key) {
                    best_key = std::move(key);
                    best = std::move(rec);
                }
            },
            true
        );
        if (!best) {
            return error_for(errc::not_found, "no such record in the inbox files", id);
        }
        return std::move(*best);
    }

    // --- health ---------------------------------------------------------------------------

    remote_result<void> probe() const {
        const std::pair<const fs::path*, const char*> folders[] = {
            {&cfg.outbox, "the outbox folder is missing or not writable"},
            {&cfg.inbox, "the inbox folder is missing or not writable"},
            {&cfg.sent_register, "the sent register folder is missing or not writable"},
        };
        for (const auto& [dir, message] : folders) {
            std::error_code ec;
            if (!fs::is_directory(*dir, ec) || ::access(dir->c_str(), W_OK | X_OK) != 0) {
                return make_remote_error(errc::remote_unavailable, message);
            }
        }
        struct stat st {};
        if (::stat(cfg.passphrase_file.c_str(), &st) != 0) {
            return make_remote_error(errc::auth_failed, "the passphrase file is not readable");
        }
        if ((st.st_mode & 077U) != 0) {
            return make_remote_error(
                errc::auth_failed, "the passphrase file is readable by group or others"
            );
        }
        const auto passphrase = read_first_line(cfg.passphrase_file);
        if (!passphrase || passphrase->empty()) {
            return make_remote_error(
                errc::auth_failed, "the passphrase file is not readable or is empty"
            );
        }
        return {};
    }
};

std::string_view config_schema() {
    return R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["outbox_dir", "inbox_dir", "sent_register_dir", "passphrase_file", "sender"],
  "properties": {
    "outbox_dir": {"type": "string", "minLength": 1},
    "inbox_dir": {"type": "string", "minLength": 1},
    "sent_register_dir": {"type": "string", "minLength": 1},
    "passphrase_file": {"type": "string", "minLength": 1},
    "sender": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"},
    "max_rows_per_batch": {"type": "integer", "minimum": 1, "maximum": 100000},
    "max_file_bytes": {"type": "integer", "minimum": 1024, "maximum": 1073741824},
    "max_rows_per_page": {"type": "integer", "minimum": 1, "maximum": 100000},
    "processed_retention_days": {"type": "integer", "minimum": 1, "maximum": 3650}
  }
})";
}

settings settings_from_json(const rapidjson::Value& config) {
    settings s;
    const auto str = [&](const char* k) { return std::string(config[k].GetString()); };
    s.outbox = str("outbox_dir");
    s.inbox = str("inbox_dir");
    s.sent_register = str("sent_register_dir");
    s.passphrase_file = str("passphrase_file");
    s.sender = str("sender");
    if (config.HasMember("max_rows_per_batch")) {
        s.max_rows_per_batch = config["max_rows_per_batch"].GetUint();
    }
    if (config.HasMember("max_file_bytes")) {
        s.max_file_bytes = config["max_file_bytes"].GetUint64();
    }
    if (config.HasMember("max_rows_per_page")) {
        s.max_rows_per_page = config["max_rows_per_page"].GetUint();
    }
    if (config.HasMember("processed_retention_days")) {
        s.processed_retention_days = config["processed_retention_days"].GetUint();
    }
    const auto same = [](const fs::path& a, const fs::path& b) {
        return a.lexically_normal() == b.lexically_normal();
    };
    if (same(s.outbox, s.inbox) || same(s.outbox, s.sent_register) ||
        same(s.inbox, s.sent_register)) {
        throw std::invalid_argument(
            "dss_files: outbox_dir, inbox_dir and sent_register_dir must differ"
        );
    }
    return s;
}

namespace {
std::unique_ptr<adapter> create_adapter(const rapidjson::Value& config, adapter_env env) {
    return std::make_unique<dss_files_adapter>(settings_from_json(config), std::move(env));
}
}  // namespace

adapter_factory make_factory() {
    return adapter_factory{"dss_files", config_schema(), &create_adapter};
}

dss_files_adapter::dss_files_adapter(settings s, adapter_env env)
    : impl_(std::make_unique<impl>(std::move(s), std::move(env))) {
    CASEBRIDGE_CHECK(impl_->env.clock != nullptr);
    if (impl_->cfg.max_rows_per_batch < 1 || impl_->cfg.max_rows_per_page < 1 ||
        impl_->cfg.sender.empty()) {
        throw std::invalid_argument("dss_files: max_rows_per_batch and sender are required");
    }
}

dss_files_adapter::~dss_files_adapter() = default;

std::string dss_files_adapter::exchange_id_for(
    std::string_view source_key, std::string_view updated_at
) {
    return uuid_v5(std::string(source_key) + "@" + std::string(updated_at));
}

std::optional<acknowledgement> dss_files_adapter::acknowledgement_of(const external_record& record
) const {
    if (record.stream != acknowledgements_stream || !record.body.IsObject()) {
        return std::nullopt;
    }
    const auto& body = record.body;
    const auto text = [&body](const char* name) -> std::optional<std::string> {
        const auto it = body.FindMember(name);
        if (it == body.MemberEnd() || !it->value.IsString()) {
            return std::nullopt;
        }
        return std::string(it->value.GetString(), it->value.GetStringLength());
    };
    const auto id = text("exchange_id");
    const auto status = text("status");
    const auto known = body.FindMember("known_exchange_id");
    if (!id || !status || known == body.MemberEnd() || !known->value.IsBool()) {
        return std::nullopt;
    }
    acknowledgement a;
    a.exchange_id = *id;
    if (*status == "accepted") {
        a.status = acknowledgement::verdict::accepted;
    } else if (*status == "rejected") {
        a.status = acknowledgement::verdict::rejected;
    } else if (*status == "error") {
        a.status = acknowledgement::verdict::error;
    } else {
        return std::nullopt;
    }
    a.reference = text("dss_reference").value_or("");
    // The reader keeps a reason code as it is and replaces free text by a marker.
    const std::string reason = text("reason").value_or("");
    a.free_text_reason = reason == files::free_text_reason;
    a.reason_code = a.free_text_reason ? std::string() : reason;
    a.known = known->value.GetBool();
    return a;
}

awaitable<remote_result<std::map<std::string, acknowledgement_summary>>>
dss_files_adapter::acknowledgements_for(std::string stream, std::vector<std::string> remote_ids) {
    if (stream != events_stream) {
        co_return make_remote_error(
            errc::not_found, "the DSS adapter reads acknowledgements of stream events"
        );
    }
    const std::set<std::string, std::less<>> wanted(remote_ids.begin(), remote_ids.end());
    std::map<std::string, acknowledgement_summary> out;
    std::map<std::string, std::string> latest_key;            // id → version + file
    std::map<std::string, std::set<std::string>> references;  // id → accepted references
    impl_->scan_inbound(
        std::string(acknowledgements_stream),
        ack_prefix,
        [&](const std::string& key) { return wanted.count(key) != 0; },
        [&](const std::string& name, external_record&& rec) {
            auto ack = acknowledgement_of(rec);
            if (!ack) {
                return;
            }
            if (ack->status == acknowledgement::verdict::accepted) {
                references[ack->exchange_id].insert(ack->reference);
            }
            std::string key = rec.updated_at + "\n" + name;
            auto& seen = latest_key[ack->exchange_id];
            if (seen.empty() || key > seen) {
                seen = std::move(key);
                out[ack->exchange_id].latest = std::move(*ack);
            }
        },
        false
    );
    for (auto& [id, summary] : out) {
        summary.accepted_references = references[id].size();
    }
    co_return out;
}

std::size_t dss_files_adapter::pending_rows() const noexcept {
    return impl_->pending.size();
}

awaitable<remote_result<pull_page>> dss_files_adapter::pull(
    std::string stream, std::optional<std::string> cursor
) {
    co_return impl_->pull(stream, cursor);
}

awaitable<remote_result<external_record>> dss_files_adapter::fetch(
    std::string stream, std::string remote_id
) {
    co_return impl_->fetch(stream, remote_id);
}

awaitable<remote_result<std::string>> dss_files_adapter::push(external_record record) {
    co_return impl_->push(record);
}

awaitable<remote_result<std::string>> dss_files_adapter::notify_withdrawal(
    std::string stream, std::string shared_remote_id, std::string source_key, std::string version
) {
    co_return impl_->notify_withdrawal(stream, shared_remote_id, source_key, version);
}

awaitable<remote_result<std::optional<std::string>>> dss_files_adapter::lookup(
    std::string stream, std::string source_key
) {
    co_return impl_->lookup(stream, source_key);
}

void dss_files_adapter::discard_pending() noexcept {
    impl_->forget(impl_->pending.size());
}

awaitable<remote_result<void>> dss_files_adapter::flush() {
    co_return impl_->flush();
}

awaitable<remote_result<void>> dss_files_adapter::probe() {
    co_return impl_->probe();
}

}  // namespace casebridge::dss_files
