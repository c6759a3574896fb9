// RFC 4180 CSV for the DSS file exchange: UTF-8 with BOM and CRLF on the way out, a strict
// reader on the way in that names the line and column of anything it cannot accept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
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
    /// Set when the source could not be read (not a fault of the text).
    boost::system::error_code io;
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

/// One data row as read: its fields, where each starts, and the line it starts on.
struct csv_record {
    csv_row fields;
    std::vector<csv_position> positions;
    std::size_t line = 0;
};

/// Where a streaming reader gets its bytes.
class csv_source {
public:
    virtual ~csv_source() = default;
    /// Copies up to `n` bytes into `out`: the count, 0 at the end, or the errno of a failure.
    virtual boost::system::result<std::size_t> read(char* out, std::size_t n) = 0;
    /// Moves to byte `offset` from the start (for resuming a text part-way).
    virtual boost::system::result<void> seek(std::uint64_t offset) = 0;
};

/// A source over text held in memory (not copied: `text` must outlive it).
class csv_text_source final : public csv_source {
public:
    explicit csv_text_source(std::string_view text) noexcept : text_(text) {}
    boost::system::result<std::size_t> read(char* out, std::size_t n) override;
    boost::system::result<void> seek(std::uint64_t offset) override;

private:
    std::string_view text_;
    std::size_t at_ = 0;
};

/// A source over an open file descriptor (not owned), read with read(2). `on_bytes`, when
/// set, sees every byte read, in order (to hash a file while it is read).
class csv_fd_source final : public csv_source {
public:
    explicit csv_fd_source(int fd) noexcept : fd_(fd) {}
    boost::system::result<std::size_t> read(char* out, std::size_t n) override;
    boost::system::result<void> seek(std::uint64_t offset) override;
    std::function<void(std::string_view)> on_bytes;

private:
    int fd_;
};

/// Reads a CSV text row by row, with the rules of `parse_csv`, holding one chunk of input and
/// the row being read: memory is bounded by the longest row, whatever the size of the text. A
/// read failure of the source is an error with `io` set; the reader stops at the first error.
/// Checks UTF-8 one byte at a time, so a sequence may span reads: overlong forms, surrogates
/// and code points above U+10FFFF are invalid.
class utf8_checker {
public:
    /// Feeds the byte at text offset `at`; false when the sequence it belongs to is invalid
    /// (that sequence began at start()).
    bool feed(unsigned char c, std::uint64_t at) noexcept;
    /// True while a sequence is incomplete (at the end of the text: invalid, from start()).
    bool open() const noexcept { return need_ != 0; }
    std::uint64_t start() const noexcept { return start_; }
    void reset() noexcept { need_ = 0; }

private:
    std::uint64_t start_ = 0;
    std::uint32_t cp_ = 0;
    std::uint8_t need_ = 0;
    std::uint8_t len_ = 0;
};

class csv_reader {
public:
    static constexpr std::size_t chunk_bytes = 64 * 1024;

    /// Reads from the start of the text (an optional BOM, then the header).
    explicit csv_reader(csv_source& source);

    /// Reads the header row; called by `next` when not yet done.
    boost::system::result<void, csv_error> read_header();
    const csv_row& header() const noexcept { return header_; }
    const std::vector<csv_position>& header_positions() const noexcept { return header_pos_; }

    /// Resumes at byte `offset`, the start of a data row on line `line`, as given by
    /// `offset()` and `line()` after an earlier `next`. The header must have been read.
    boost::system::result<void, csv_error> resume(std::uint64_t offset, std::size_t line);

    /// The next data row: true with `row` filled, false at the end of the text.
    boost::system::result<bool, csv_error> next(csv_record& row);

    /// Byte offset where the next row starts (after the last row returned).
    std::uint64_t offset() const noexcept { return row_offset_; }
    /// Line where the next row starts.
    std::size_t line() const noexcept { return row_line_; }
    /// The most bytes held at once: the input buffer plus the fields of one row.
    std::size_t peak_bytes() const noexcept { return peak_; }

private:
    bool ensure(std::size_t n);
    void step();
    boost::system::result<bool, csv_error> read_row(csv_record& row);
    void validate_utf8(std::size_t from);

    csv_source& source_;
    std::string buf_;
    std::size_t at_ = 0;        // index in buf_ of the current byte
    std::uint64_t offset_ = 0;  // byte offset of buf_[at_] in the text
    csv_position here_{1, 1};   // position of the current byte
    bool eof_ = false;
    std::optional<csv_error> io_;  // a failed read, reported when reached
    // Incremental UTF-8 check of the bytes read so far.
    utf8_checker utf8_;
    std::uint64_t bad_utf8_at_ = UINT64_MAX;
    bool header_done_ = false;
    csv_row header_;
    std::vector<csv_position> header_pos_;
    std::uint64_t row_offset_ = 0;
    std::size_t row_line_ = 1;
    std::size_t peak_ = 0;
};

/// Parses `text` strictly: optional BOM; CRLF or LF; RFC 4180 quoting (fields may span
/// lines); valid UTF-8 without NUL bytes; every row with exactly the header's number of fields; no
/// empty header names or duplicates. A final line end is optional; blank lines are errors.
boost::system::result<csv_table, csv_error> parse_csv(std::string_view text);

/// A file a person edited between two commands (a review file): parse_csv, then the header
/// must be exactly `header`. The table, or "origin:line[:column]: what" (the header's problem
/// names `writer`, the command that writes the file).
boost::system::result<csv_table, std::string> parse_csv_with_header(
    std::string_view text, std::string_view origin, const csv_row& header, std::string_view writer
);

/// Byte offset of the first invalid UTF-8 sequence (overlong, surrogate, over U+10FFFF,
/// truncated), or npos.
std::size_t first_invalid_utf8(std::string_view text) noexcept;

/// True when `text` is valid UTF-8.
bool valid_utf8(std::string_view text) noexcept;

}  // namespace casebridge::exchange
