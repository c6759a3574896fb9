// RFC 4180 CSV for the DSS file exchange: UTF-8 with BOM and CRLF on the way out, a strict
// reader on the way in that names the line and column of anything it cannot accept.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace casebridge::exchange {

using csv_row = std::vector<std::string>;

/// Writes rows as CSV: a UTF-8 byte order mark, CRLF line ends, fields quoted when they hold
/// a quote, comma, CR, LF or leading/trailing space (quotes doubled).
class csv_writer {
public:
    csv_writer();
    void row(const csv_row& fields);
    const std::string& text() const noexcept { return text_; }
    std::size_t rows() const noexcept { return rows_; }

private:
    std::string text_;
    std::size_t rows_ = 0;
};

/// Why a CSV text was refused: 1-based line and column of the first problem.
struct csv_error {
    std::size_t line = 0;
    std::size_t column = 0;
    std::string message;  ///< Fixed text; never a field value.
    std::string describe(std::string_view origin) const;
};

/// Where a field starts: 1-based line and column (column counts code points).
struct csv_position {
    std::size_t line = 0;
    std::size_t column = 0;
};

/// A parsed CSV text: the header and the data rows, each as long as the header.
struct csv_table {
    csv_row header;
    std::vector<csv_row> rows;
    std::vector<std::size_t> row_lines;          ///< Line where each data row starts.
    std::vector<csv_position> header_positions;  ///< Where each header name starts.
    /// Where each field of each data row starts (the same shape as `rows`).
    std::vector<std::vector<csv_position>> positions;
};

/// Parses `text` strictly: optional BOM; CRLF or LF; RFC 4180 quoting (fields may span
/// lines); valid UTF-8 without NUL bytes; every row with exactly the header's number of fields; no
/// empty header names or duplicates. A final line end is optional; blank lines are errors.
boost::system::result<csv_table, csv_error> parse_csv(std::string_view text);

/// Byte offset of the first invalid UTF-8 sequence (overlong, surrogate, over U+10FFFF,
/// truncated), or npos.
std::size_t first_invalid_utf8(std::string_view text) noexcept;

/// True when `text` is valid UTF-8.
bool valid_utf8(std::string_view text) noexcept;

}  // namespace casebridge::exchange
