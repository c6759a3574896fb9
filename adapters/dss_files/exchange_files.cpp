#include "dss_files/exchange_files.hpp"

#include <algorithm>

#include <rapidjson/document.h>

#include "core/atomic_file.hpp"
#include "core/crypto.hpp"
#include "core/error.hpp"
#include "core/time.hpp"
#include "exchange/aes_zip.hpp"
#include "json/json.hpp"

namespace casebridge::dss_files::files {

using namespace casebridge::exchange;  // NOLINT(google-build-using-namespace): CSV and ZIP
namespace {

bool safe_name(std::string_view id) {
    return !id.empty() && id.size() <= 100 && id.front() != '.' &&
           std::all_of(id.begin(), id.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
           });
}

bool code_like(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.' || c == '/';
    });
}

}  // namespace

bool is_uuid(std::string_view s) noexcept {
    if (s.size() != 36) {
        return false;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return false;
            }
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

boost::system::result<written_batch> write_batch(
    const std::filesystem::path& outbox, const batch& b, std::string_view passphrase, time_point now
) {
    if (!safe_name(b.id) || b.header.empty() || passphrase.empty()) {
        return make_error_code(errc::invalid_config);
    }
    csv_writer csv;
    csv.row(b.header);
    for (const auto& r : b.rows) {
        if (r.size() != b.header.size()) {
            return make_error_code(errc::invalid_config);
        }
        csv.row(r);
    }
    const std::string zip = make_aes_zip({{b.id + ".csv", csv.text()}}, passphrase, now);
    written_batch out;
    out.zip = outbox / (b.id + ".zip");
    out.manifest = outbox / (b.id + ".manifest.json");
    out.rows = b.rows.size();
    out.zip_sha256 = crypto::sha256_hex(zip);
    out.csv_sha256 = crypto::sha256_hex(csv.text());
    if (!b.dictionary.empty()) {
        out.dictionary = outbox / (b.id + ".dictionary.csv");
        if (auto r = write_file_atomically(out.dictionary, b.dictionary); !r) {
            return r.error();
        }
    }
    if (auto r = write_file_atomically(out.zip, zip); !r) {
        return r.error();
    }
    rapidjson::Document m(rapidjson::kObjectType);
    auto& a = m.GetAllocator();
    const auto s = [&a](const std::string& v) { return rapidjson::Value(v.c_str(), a); };
    m.AddMember("file", s(out.zip.filename().string()), a);
    m.AddMember("rows", static_cast<std::uint64_t>(out.rows), a);
    m.AddMember("sha256", s(out.zip_sha256), a);
    m.AddMember("csv_file", s(b.id + ".csv"), a);
    m.AddMember("csv_sha256", s(out.csv_sha256), a);
    if (!out.dictionary.empty()) {
        m.AddMember("dictionary_file", s(out.dictionary.filename().string()), a);
        m.AddMember("dictionary_sha256", s(crypto::sha256_hex(b.dictionary)), a);
    }
    m.AddMember("schema_version", s(b.schema_version), a);
    m.AddMember("created_at", s(format_rfc3339(now)), a);
    m.AddMember("sender", s(b.sender), a);
    m.AddMember("encryption", s("zip-aes-256 (WinZip AE-2); passphrase sent separately"), a);
    if (auto r = write_file_atomically(out.manifest, json::to_string(m, true) + "\n"); !r) {
        return r.error();
    }
    return out;
}

boost::system::result<ack_columns, ack_error> ack_columns_of(
    const csv_row& header, std::string_view origin
) {
    const auto column = [&](std::string_view name) -> std::optional<std::size_t> {
        const auto it = std::find(header.begin(), header.end(), name);
        if (it == header.end()) {
            return std::nullopt;
        }
        return static_cast<std::size_t>(it - header.begin());
    };
    const auto id_col = column("exchange_id");
    const auto status_col = column("status");
    if (!id_col || !status_col) {
        return ack_error{
            std::string(origin) + ":1:1: the header needs the columns exchange_id and status"};
    }
    return ack_columns{*id_col, *status_col, column("dss_reference"), column("reason")};
}

boost::system::result<acknowledgement, ack_error> acknowledgement_of(
    const ack_columns& cols, const csv_row& header, const csv_record& row, std::string_view origin
) {
    const auto where = [&](std::size_t col) {
        const csv_position& at = row.positions[col];
        return std::string(origin) + ":" + std::to_string(at.line) + ":" +
               std::to_string(at.column) + ": column " + header[col] + ": ";
    };
    acknowledgement a;
    a.line = row.line;
    a.exchange_id = row.fields[cols.id];
    a.status = row.fields[cols.status];
    if (!is_uuid(a.exchange_id)) {
        return ack_error{where(cols.id) + "not an exchange id (a UUID)"};
    }
    if (a.status != "accepted" && a.status != "rejected" && a.status != "error") {
        return ack_error{where(cols.status) + "status must be accepted, rejected or error"};
    }
    if (cols.reference) {
        a.dss_reference = row.fields[*cols.reference];
        if (!a.dss_reference.empty() && !code_like(a.dss_reference)) {
            return ack_error{
                where(*cols.reference) + "a DSS reference has letters, digits, - _ . / only"};
        }
    }
    if (cols.reason && !row.fields[*cols.reason].empty()) {
        a.reason = code_like(row.fields[*cols.reason]) ? row.fields[*cols.reason]
                                                       : std::string(free_text_reason);
    }
    return a;
}

std::string acknowledged_twice(
    const csv_row& header, const ack_columns& cols, const csv_record& row, std::string_view origin
) {
    const csv_position& at = row.positions[cols.id];
    return std::string(origin) + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
           ": column " + header[cols.id] + ": exchange id " + row.fields[cols.id] +
           " is acknowledged twice";
}

boost::system::result<std::vector<acknowledgement>, ack_error> parse_acknowledgements(
    std::string_view text, std::string_view origin
) {
    csv_text_source source(text);
    csv_reader reader(source);
    if (auto h = reader.read_header(); !h) {
        return ack_error{h.error().describe(origin)};
    }
    const auto cols = ack_columns_of(reader.header(), origin);
    if (!cols) {
        return cols.error();
    }
    std::vector<acknowledgement> acks;
    std::set<std::string, std::less<>> seen;
    csv_record row;
    while (true) {
        auto got = reader.next(row);
        if (!got) {
            return ack_error{got.error().describe(origin)};
        }
        if (!*got) {
            break;
        }
        auto a = acknowledgement_of(*cols, reader.header(), row, origin);
        if (!a) {
            return a.error();
        }
        if (!seen.insert(a->exchange_id).second) {
            return ack_error{acknowledged_twice(reader.header(), *cols, row, origin)};
        }
        acks.push_back(std::move(*a));
    }
    return acks;
}

std::vector<acknowledgement> unknown_acknowledgements(
    const std::vector<acknowledgement>& acks, const std::set<std::string, std::less<>>& known
) {
    std::vector<acknowledgement> out;
    std::copy_if(acks.begin(), acks.end(), std::back_inserter(out), [&](const auto& a) {
        return known.find(a.exchange_id) == known.end();
    });
    return out;
}

namespace {

boost::system::error_code from_std(const std::error_code& ec) {
    return {ec.value(), boost::system::system_category()};
}

// The subfolder `folder` of `dir`, created (and `dir` fsynced) when missing.
boost::system::result<std::filesystem::path> ensure_folder(
    const std::filesystem::path& dir, std::string_view folder
) {
    const auto sub = dir / folder;
    std::error_code ec;
    if (std::filesystem::create_directory(sub, ec)) {
        if (auto r = fsync_directory(dir); !r) {
            return r.error();
        }
    }
    if (ec) {
        return from_std(ec);
    }
    return sub;
}

// A name in `dir` that is free, also for the `.reason.txt` beside it.
std::filesystem::path free_name(const std::filesystem::path& dir, const std::string& name) {
    auto target = dir / name;
    const auto taken = [](const std::filesystem::path& p) {
        std::error_code ec;
        return std::filesystem::exists(std::filesystem::symlink_status(p, ec)) ||
               std::filesystem::exists(
                   std::filesystem::symlink_status(p.string() + ".reason.txt", ec)
               );
    };
    for (int n = 1; taken(target); ++n) {
        target = dir / (name + "." + std::to_string(n));
    }
    return target;
}

}  // namespace

boost::system::result<std::filesystem::path> move_aside(
    const std::filesystem::path& file, std::string_view folder
) {
    auto dir = ensure_folder(file.parent_path(), folder);
    if (!dir) {
        return dir.error();
    }
    const auto target = free_name(*dir, file.filename().string());
    if (auto r = rename_durably(file, target); !r) {
        return r.error();
    }
    return target;
}

boost::system::result<std::filesystem::path> quarantine(
    const std::filesystem::path& file, std::string_view reason
) {
    auto dir = ensure_folder(file.parent_path(), "rejected");
    if (!dir) {
        return dir.error();
    }
    const auto target = free_name(*dir, file.filename().string());
    // The reason goes first: a crash between the two steps leaves the file in the inbox with its
    // reason already written, never a rejected file without one.
    if (auto r = write_file_atomically(target.string() + ".reason.txt", std::string(reason) + "\n");
        !r) {
        return r.error();
    }
    if (auto r = rename_durably(file, target); !r) {
        return r.error();
    }
    return target;
}

}  // namespace casebridge::dss_files::files
