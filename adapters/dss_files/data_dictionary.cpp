#include "dss_files/data_dictionary.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <set>
#include <stdexcept>

#include "exchange/csv.hpp"

namespace casebridge::dss_files {
namespace {

constexpr std::array<std::string_view, 6> header = {
    "column", "label_en", "label_bn", "type", "format", "codes"};
constexpr std::array<std::string_view, 8> types = {
    "uuid", "text", "code", "code_list", "boolean", "integer", "date", "datetime"};
constexpr std::string_view code_separator = " | ";

bool machine_name(std::string_view s) {
    return !s.empty() && s.front() >= 'a' && s.front() <= 'z' &&
           std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
           });
}

// At least one letter of the Bengali block (U+0980..U+09FF) and no Latin letter.
bool bengali_label(std::string_view s) {
    bool bengali = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            return false;
        }
        // U+0980..U+09FF is E0 A6 80 .. E0 A7 BF in UTF-8.
        if (c == 0xE0 && i + 1 < s.size()) {
            const auto d = static_cast<unsigned char>(s[i + 1]);
            bengali = bengali || d == 0xA6 || d == 0xA7;
        }
    }
    return bengali;
}

std::vector<std::string> split(std::string_view s, std::string_view sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        const auto at = s.find(sep, start);
        out.emplace_back(s.substr(start, at - start));
        if (at == std::string_view::npos) {
            return out;
        }
        start = at + sep.size();
    }
}

std::string located(std::string_view origin, const exchange::csv_position& at, std::string msg) {
    return std::string(origin) + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
           ": " + msg;
}

}  // namespace

std::vector<std::string> data_dictionary::columns() const {
    std::vector<std::string> out;
    out.reserve(entries.size());
    for (const auto& e : entries) {
        out.push_back(e.column);
    }
    return out;
}

const dictionary_entry* data_dictionary::find(std::string_view column) const noexcept {
    for (const auto& e : entries) {
        if (e.column == column) {
            return &e;
        }
    }
    return nullptr;
}

std::string data_dictionary::to_csv() const {
    exchange::csv_writer w;
    w.row({header.begin(), header.end()});
    for (const auto& e : entries) {
        std::string codes;
        for (const auto& c : e.code_labels) {
            codes += (codes.empty() ? "" : std::string(code_separator)) + c;
        }
        w.row({e.column, e.label_en, e.label_bn, e.type, e.format, codes});
    }
    return w.text();
}

boost::system::result<data_dictionary, std::string> parse_dictionary(
    std::string_view text, std::string_view origin
) {
    const auto table = exchange::parse_csv(text);
    if (!table) {
        return table.error().describe(origin);
    }
    if (!std::equal(table->header.begin(), table->header.end(), header.begin(), header.end())) {
        return std::string(origin) +
               ":1:1: the header must be column,label_en,label_bn,type,format,codes";
    }
    data_dictionary d;
    std::set<std::string, std::less<>> seen;
    for (std::size_t i = 0; i < table->rows.size(); ++i) {
        const auto& row = table->rows[i];
        const auto& pos = table->positions[i];
        dictionary_entry e{row[0], row[1], row[2], row[3], row[4], {}, {}};
        if (!machine_name(e.column)) {
            return located(origin, pos[0], "a column name is lower-case letters, digits and '_'");
        }
        if (!seen.insert(e.column).second) {
            return located(origin, pos[0], "column " + e.column + " is described twice");
        }
        if (e.label_en.empty()) {
            return located(origin, pos[1], "column " + e.column + " has no English label");
        }
        if (!bengali_label(e.label_bn)) {
            return located(
                origin,
                pos[2],
                "column " + e.column + ": the Bengali label must be in Bengali script"
            );
        }
        if (std::find(types.begin(), types.end(), e.type) == types.end()) {
            return located(origin, pos[3], "column " + e.column + ": unknown type");
        }
        if (!row[5].empty()) {
            for (auto& entry : split(row[5], code_separator)) {
                const auto eq = entry.find(" = ");
                const auto slash = entry.find(" / ", eq == std::string::npos ? 0 : eq);
                if (eq == std::string::npos || eq == 0 || slash == std::string::npos ||
                    !bengali_label(std::string_view(entry).substr(slash + 3))) {
                    return located(
                        origin,
                        pos[5],
                        "column " + e.column + ": codes are written as \"code = English / Bengali\""
                    );
                }
                e.codes.push_back(entry.substr(0, eq));
                e.code_labels.push_back(std::move(entry));
            }
        }
        d.entries.push_back(std::move(e));
    }
    return d;
}

namespace {
// The embedded dictionaries are part of the build: one that does not parse is a bug.
data_dictionary embedded(std::string_view text, std::string_view origin) {
    auto d = parse_dictionary(text, origin);
    if (!d) {
        throw std::logic_error(d.error());
    }
    return std::move(*d);
}
}  // namespace

const data_dictionary& event_dictionary() {
    static const data_dictionary d =
        embedded(event_dictionary_text(), "mappings/dictionaries/dss.event.csv");
    return d;
}

const data_dictionary& case_dictionary() {
    static const data_dictionary d =
        embedded(case_dictionary_text(), "mappings/dictionaries/dss.case.csv");
    return d;
}

}  // namespace casebridge::dss_files
