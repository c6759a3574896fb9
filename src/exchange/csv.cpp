#include "exchange/csv.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <utility>

namespace casebridge::exchange {

namespace {

bool needs_quotes(std::string_view f) {
    if (f.empty()) {
        return false;
    }
    return f.find_first_of("\",\r\n") != std::string_view::npos || f.front() == ' ' ||
           f.back() == ' ';
}

}  // namespace

csv_writer::csv_writer() : text_("\xEF\xBB\xBF") {}

void csv_writer::row(const csv_row& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i > 0) {
            text_ += ',';
        }
        const std::string& f = fields[i];
        if (!needs_quotes(f)) {
            text_ += f;
            continue;
        }
        text_ += '"';
        for (const char c : f) {
            if (c == '"') {
                text_ += '"';
            }
            text_ += c;
        }
        text_ += '"';
    }
    text_ += "\r\n";
    ++rows_;
}

std::string csv_error::describe(std::string_view origin) const {
    return std::string(origin) + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
           message;
}

std::size_t first_invalid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if ((c & 0xE0U) == 0xC0U) {
            n = 1;
            cp = c & 0x1FU;
        } else if ((c & 0xF0U) == 0xE0U) {
            n = 2;
            cp = c & 0x0FU;
        } else if ((c & 0xF8U) == 0xF0U) {
            n = 3;
            cp = c & 0x07U;
        } else {
            return i;
        }
        for (std::size_t k = 1; k <= n; ++k) {
            if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) & 0xC0U) != 0x80U) {
                return i;
            }
            cp = (cp << 6U) | (static_cast<unsigned char>(s[i + k]) & 0x3FU);
        }
        const bool overlong =
            (n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000);
        if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return i;
        }
        i += n + 1;
    }
    return std::string_view::npos;
}

bool valid_utf8(std::string_view s) noexcept {
    return first_invalid_utf8(s) == std::string_view::npos;
}

namespace {

// 1-based line and column (in code points) of byte `offset`.
std::pair<std::size_t, std::size_t> locate(
    std::string_view text, std::size_t begin, std::size_t offset
) {
    std::size_t line = 1;
    std::size_t col = 1;
    for (std::size_t i = begin; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            col = 1;
        } else if ((static_cast<unsigned char>(text[i]) & 0xC0U) != 0x80U) {
            ++col;
        }
    }
    return {line, col};
}

}  // namespace

boost::system::result<csv_table, csv_error> parse_csv(std::string_view text) {
    const std::size_t begin = text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
    if (const auto bad = first_invalid_utf8(text.substr(begin)); bad != std::string_view::npos) {
        const auto [line, col] = locate(text, begin, begin + bad);
        return csv_error{line, col, "not valid UTF-8"};
    }
    // A NUL ends the text for any reader that takes C strings; it has no place in CSV.
    if (const auto nul = text.find('\0', begin); nul != std::string_view::npos) {
        const auto [line, col] = locate(text, begin, nul);
        return csv_error{line, col, "a NUL byte (U+0000); CSV text holds none"};
    }

    csv_table table;
    bool have_header = false;
    csv_row current;
    std::vector<csv_position> current_pos;
    std::string field;
    std::size_t pos = begin;
    csv_position here{1, 1};       // position of text[pos]
    csv_position row_start{1, 1};  // where the current row began
    csv_position field_start{1, 1};
    std::size_t row_start_offset = begin;

    // Moves past one byte, keeping `here` (columns count code points).
    const auto step = [&]() {
        const auto c = static_cast<unsigned char>(text[pos]);
        if (c == '\n') {
            ++here.line;
            here.column = 1;
        } else if ((c & 0xC0U) != 0x80U) {
            ++here.column;
        }
        ++pos;
    };
    const auto fail = [](const csv_position& at, std::string msg) {
        return csv_error{at.line, at.column, std::move(msg)};
    };

    // Ends the current field and the row it belongs to.
    const auto end_row = [&]() -> std::optional<csv_error> {
        current.push_back(std::move(field));
        current_pos.push_back(field_start);
        field.clear();
        if (!have_header) {
            // A header is checked without echoing it: a file without one starts with data.
            std::map<std::string, std::size_t, std::less<>> names;
            for (std::size_t i = 0; i < current.size(); ++i) {
                if (current[i].empty()) {
                    return fail(
                        current_pos[i], "header column " + std::to_string(i + 1) + " has no name"
                    );
                }
                if (const auto [it, fresh] = names.emplace(current[i], i + 1); !fresh) {
                    return fail(
                        current_pos[i],
                        "header column " + std::to_string(i + 1) + " has the name of column " +
                            std::to_string(it->second) + ": a name appears twice"
                    );
                }
            }
            table.header = std::move(current);
            table.header_positions = std::move(current_pos);
            have_header = true;
        } else if (current.size() != table.header.size()) {
            const csv_position at =
                current.size() > table.header.size() ? current_pos[table.header.size()] : row_start;
            return fail(
                at,
                "row has " + std::to_string(current.size()) + " fields, the header has " +
                    std::to_string(table.header.size())
            );
        } else {
            table.rows.push_back(std::move(current));
            table.positions.push_back(std::move(current_pos));
            table.row_lines.push_back(row_start.line);
        }
        current.clear();
        current_pos.clear();
        return std::nullopt;
    };

    while (pos < text.size()) {
        const char c = text[pos];
        if (c == '"') {
            if (!field.empty()) {
                return fail(here, "quote inside an unquoted field");
            }
            const csv_position open = here;
            step();
            bool closed = false;
            while (pos < text.size()) {
                if (text[pos] == '"') {
                    if (pos + 1 < text.size() && text[pos + 1] == '"') {
                        field += '"';
                        step();
                        step();
                        continue;
                    }
                    step();
                    closed = true;
                    break;
                }
                field += text[pos];
                step();
            }
            if (!closed) {
                return fail(open, "quoted field is never closed");
            }
            if (pos < text.size() && text[pos] != ',' && text[pos] != '\r' && text[pos] != '\n') {
                return fail(here, "text after a closing quote");
            }
            continue;
        }
        if (c == ',') {
            current.push_back(std::move(field));
            current_pos.push_back(field_start);
            field.clear();
            step();
            field_start = here;
            continue;
        }
        if (c == '\r' || c == '\n') {
            if (c == '\r' && (pos + 1 >= text.size() || text[pos + 1] != '\n')) {
                return fail(here, "carriage return without line feed");
            }
            if (pos == row_start_offset) {
                return fail(here, "blank line");
            }
            if (auto e = end_row()) {
                return *e;
            }
            if (c == '\r') {
                step();
            }
            step();
            row_start = here;
            field_start = here;
            row_start_offset = pos;
            continue;
        }
        field += c;
        step();
    }
    if (pos > row_start_offset) {
        if (auto e = end_row()) {
            return *e;
        }
    }
    if (!have_header) {
        return csv_error{1, 1, "file is empty: no header row"};
    }
    return table;
}

}  // namespace casebridge::exchange
