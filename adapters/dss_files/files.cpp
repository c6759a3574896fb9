// File, cursor and register helpers of the dss_files adapter (adapter_impl.hpp).
#include "dss_files/adapter_impl.hpp"

namespace casebridge::dss_files {

remote_error error_for(errc code, std::string detail, std::string record_id) {
    auto e = make_remote_error(code, std::move(detail));
    e.record_id = std::move(record_id);
    return e;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

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

file_identity identity_of(const struct stat& st) {
    return file_identity{
        static_cast<std::uint64_t>(st.st_dev),
        static_cast<std::uint64_t>(st.st_ino),
        static_cast<std::uint64_t>(st.st_size),
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

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

}  // namespace casebridge::dss_files
