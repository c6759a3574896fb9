#include "dss_files/dss_files_adapter.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "adapter/secret.hpp"
#include "core/atomic_file.hpp"
#include "core/crypto.hpp"
#include "core/result.hpp"
#include "core/time.hpp"
#include "core/uuid.hpp"
#include "dss_files/data_dictionary.hpp"
#include "exchange/csv.hpp"
#include "exchange/dss_files.hpp"
#include "json/json.hpp"

namespace casebridge::dss_files {
namespace {

namespace fs = std::filesystem;
using rapidjson::Value;

constexpr std::string_view ack_prefix = "ack";
constexpr std::string_view case_prefix = "case";
constexpr std::string_view cursor_prefix = "v1:";
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

// The first 16 hex digits of the SHA-256 of a file's bytes.
std::string file_digest(std::string_view bytes) {
    return crypto::sha256_hex(bytes).substr(0, 16);
}

struct cursor_parts {
    std::string name;  // empty: no file returned yet
    std::string digest;
};

// A cursor is printable ASCII: other bytes of a file name (and '%') are percent-encoded.
std::string encode_name(std::string_view name) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f || c == '%') {
            out += '%';
            out += hex[c >> 4U];
            out += hex[c & 15U];
        } else {
            out += ch;
        }
    }
    return out;
}

std::optional<std::string> decode_name(std::string_view text) {
    const auto value = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    };
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size() || value(text[i + 1]) < 0 || value(text[i + 2]) < 0) {
            return std::nullopt;
        }
        out += static_cast<char>(value(text[i + 1]) * 16 + value(text[i + 2]));
        i += 2;
    }
    return out;
}

std::string encode_cursor(const std::string& name, const std::string& digest) {
    return std::string(cursor_prefix) + encode_name(name) + ":" + digest;
}

// "v1:" (nothing returned yet) or "v1:<file name>:<digest>", for a file of the stream with
// `prefix`.
std::optional<cursor_parts> decode_cursor(std::string_view c, std::string_view prefix) {
    constexpr std::size_t digest_size = 16;
    if (c.substr(0, cursor_prefix.size()) != cursor_prefix) {
        return std::nullopt;
    }
    c.remove_prefix(cursor_prefix.size());
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
    const bool hex = std::all_of(out.digest.begin(), out.digest.end(), [](char ch) {
        return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
    });
    if (!hex || !inbound_name(out.name, prefix, false) ||
        out.name.find_first_of(std::string_view("/\0", 2)) != std::string::npos) {
        return std::nullopt;
    }
    return out;
}

// One row of a case file.
struct case_row {
    external_record record;
    std::size_t line = 0;
};

// Parses a whole case file; any problem refuses the file ("file:line:column: message").
boost::system::result<std::vector<case_row>, std::string> parse_case_file(
    std::string_view text, const std::string& file, const std::string& file_time
) {
    const auto table = exchange::parse_csv(text);
    if (!table) {
        return table.error().describe(file);
    }
    const auto& dict = case_dictionary();
    std::optional<std::size_t> ref_col;
    std::optional<std::size_t> updated_col;
    for (std::size_t i = 0; i < table->header.size(); ++i) {
        const auto& name = table->header[i];
        if (dict.find(name) == nullptr) {
            // Not echoed: a file without a header row starts with a row of case data.
            const auto& at = table->header_positions[i];
            return file + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                   ": header column " + std::to_string(i + 1) +
                   " is not in the DSS case data dictionary";
        }
        if (name == reference_column) {
            ref_col = i;
        } else if (name == updated_column) {
            updated_col = i;
        }
    }
    if (!ref_col) {
        return file + ":1:1: the header needs the column dss_reference";
    }
    std::vector<case_row> rows;
    std::map<std::string, std::size_t, std::less<>> lines;  // reference → line
    for (std::size_t r = 0; r < table->rows.size(); ++r) {
        const auto& row = table->rows[r];
        const auto& pos = table->positions[r];
        const std::string& ref = row[*ref_col];
        if (!reference_like(ref)) {
            return located(
                file,
                pos[*ref_col],
                reference_column,
                "a DSS reference is 1 to 64 letters, digits, - _ . /"
            );
        }
        if (const auto [it, fresh] = lines.emplace(ref, table->row_lines[r]); !fresh) {
            return located(
                file,
                pos[*ref_col],
                reference_column,
                "the same reference is on line " + std::to_string(it->second)
            );
        }
        case_row out;
        out.line = table->row_lines[r];
        out.record.stream = std::string(cases_stream);
        out.record.remote_id = ref;
        out.record.updated_at = file_time;
        if (updated_col) {
            const auto t = case_time(row[*updated_col]);
            if (!t) {
                return located(
                    file,
                    pos[*updated_col],
                    updated_column,
                    "not a date and time (YYYY-MM-DD HH:MM:SS, Bangladesh time)"
                );
            }
            out.record.updated_at = *t;
        }
        auto& body = out.record.body;
        body.SetObject();
        auto& a = body.GetAllocator();
        for (std::size_t c = 0; c < row.size(); ++c) {
            if (!row[c].empty()) {
                body.AddMember(Value(table->header[c].c_str(), a), Value(row[c].c_str(), a), a);
            }
        }
        rows.push_back(std::move(out));
    }
    return rows;
}

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
            const auto text = json::read_file(cfg.sent_register / name);
            if (!text) {
                ++unreadable;
                continue;
            }
            const auto table = exchange::parse_csv(*text);
            if (!table || table->header.size() != 2 || table->header[0] != "exchange_id") {
                ++unreadable;
                continue;
            }
            for (const auto& row : table->rows) {
                index->known.insert(row[0]);
                index->by_source[row[1]] = row[0];
            }
        }
        if (unreadable > 0) {
            env.log.warn(
                "dss.register_unreadable",
                "register files skipped: their exchange ids count as unknown",
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
        exchange::batch b;
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
        const auto written = exchange::write_batch(cfg.outbox, b, passphrase, now);
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

    // The records of one inbound file, or the reason it cannot be read ("file:line:column:
    // message"). `io_failed` tells an unreadable file (left alone) from a bad one.
    struct file_records {
        std::vector<external_record> records;
        std::string refused;
        bool io_failed = false;
        std::string digest;  // of the file's bytes: part of the cursor
    };

    file_records read_inbound(const fs::path& path, std::string_view stream, bool report) {
        file_records out;
        const std::string name = path.filename().string();
        auto text = json::read_file(path, cfg.max_file_bytes);
        if (!text) {
            if (text.error() == make_error_code(errc::too_large)) {
                out.refused = name + ":1:1: the file is larger than max_file_bytes";
            } else {
                out.io_failed = true;
            }
            return out;
        }
        out.digest = file_digest(*text);
        const std::string mtime = file_time_rfc3339(path);
        if (stream == cases_stream) {
            auto rows = parse_case_file(*text, name, mtime);
            if (!rows) {
                out.refused = rows.error();
                return out;
            }
            for (auto& r : *rows) {
                out.records.push_back(std::move(r.record));
            }
            return out;
        }
        auto acks = exchange::parse_acknowledgements(*text, name);
        if (!acks) {
            out.refused = acks.error().message;
            return out;
        }
        const auto& idx = load_index();
        std::int64_t unknown = 0;
        for (const auto& ack : *acks) {
            external_record rec;
            rec.stream = std::string(acknowledgements_stream);
            rec.remote_id = ack.exchange_id;
            rec.updated_at = mtime;
            auto& body = rec.body;
            body.SetObject();
            auto& a = body.GetAllocator();
            const auto s = [&a](const std::string& v) { return Value(v.c_str(), a); };
            const bool known = idx.known.find(ack.exchange_id) != idx.known.end();
            unknown += known ? 0 : 1;
            body.AddMember("exchange_id", s(ack.exchange_id), a);
            body.AddMember("status", s(ack.status), a);
            body.AddMember("dss_reference", s(ack.dss_reference), a);
            body.AddMember("reason", s(ack.reason), a);
            body.AddMember("file", s(name), a);
            body.AddMember("line", static_cast<std::uint64_t>(ack.line), a);
            body.AddMember("known_exchange_id", known, a);
            out.records.push_back(std::move(rec));
        }
        if (unknown > 0 && report) {
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

    remote_result<pull_page> pull(const std::string& stream, const std::optional<std::string>& c) {
        const auto prefix = prefix_of(stream);
        if (!prefix) {
            return make_remote_error(
                errc::not_found, "the DSS adapter pulls streams acknowledgements and cases"
            );
        }
        // The cursor names the last file returned and its digest: the engine settled it, so it
        // moves on. A file that has since been replaced by another of the same name stays.
        if (c && !c->empty()) {
            const auto settled = decode_cursor(*c, *prefix);
            if (!settled) {
                return make_remote_error(errc::invalid_config, "unrecognised DSS cursor");
            }
            const fs::path path = cfg.inbox / settled->name;
            std::error_code ec;
            if (!settled->name.empty() &&
                fs::symlink_status(path, ec).type() == fs::file_type::regular) {
                const auto text = json::read_file(path, cfg.max_file_bytes);
                if (text && file_digest(*text) == settled->digest) {
                    if (auto moved = exchange::move_aside(path, processed_folder); !moved) {
                        return error_for(
                            errc::remote_unavailable,
                            "a settled file could not be moved to processed (" +
                                error_name(moved.error()) + ")",
                            settled->name
                        );
                    }
                }
            }
            prune_processed();
        }
        auto files = list_files(cfg.inbox, [&](const std::string& n) {
            return inbound_name(n, *prefix, false);
        });
        if (!files) {
            return make_remote_error(errc::remote_unavailable, "the inbox cannot be read");
        }
        pull_page page;
        page.next_cursor = c && !c->empty() ? *c : std::string(cursor_prefix);
        if (files->empty()) {
            return page;
        }
        const std::string& name = files->front();
        auto read = read_inbound(cfg.inbox / name, stream, true);
        if (read.io_failed) {
            return error_for(errc::remote_unavailable, "the file cannot be read", name);
        }
        if (!read.refused.empty()) {
            // Nothing of the file is returned: it is moved aside whole, with the reason.
            if (auto q = exchange::quarantine(cfg.inbox / name, read.refused); !q) {
                return error_for(
                    errc::remote_unavailable,
                    "an unreadable file could not be moved to rejected (" + error_name(q.error()) +
                        ")",
                    name
                );
            }
            env.log.warn("dss.file_rejected", "inbound file moved to rejected with its reason");
            return error_for(errc::bad_payload, read.refused, name);
        }
        env.log.info(
            "dss.file_read",
            "inbound file read",
            {.counts = {{"records", static_cast<std::int64_t>(read.records.size())}}}
        );
        page.records = std::move(read.records);
        page.next_cursor = encode_cursor(name, read.digest);
        page.has_more = files->size() > 1;
        return page;
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
        for (const bool processed : {true, false}) {
            const fs::path dir = processed ? cfg.inbox / processed_folder : cfg.inbox;
            auto files = list_files(dir, [&](const std::string& n) {
                return inbound_name(n, *prefix, processed);
            });
            if (!files) {
                continue;  // no processed/ folder yet
            }
            for (const auto& name : *files) {
                auto read = read_inbound(dir / name, stream, false);
                for (auto& rec : read.records) {
                    if (rec.remote_id != id) {
                        continue;
                    }
                    // The newest version wins; among equal versions, the later file.
                    std::string key = rec.updated_at + "\n" + name;
                    if (!best || key > best_key) {
                        best_key = std::move(key);
                        best = std::move(rec);
                    }
                }
            }
        }
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
    if (impl_->cfg.max_rows_per_batch < 1 || impl_->cfg.sender.empty()) {
        throw std::invalid_argument("dss_files: max_rows_per_batch and sender are required");
    }
}

dss_files_adapter::~dss_files_adapter() = default;

std::string dss_files_adapter::exchange_id_for(
    std::string_view source_key, std::string_view updated_at
) {
    return uuid_v5(std::string(source_key) + "@" + std::string(updated_at));
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
