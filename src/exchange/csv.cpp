#include "exchange/csv.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include <unistd.h>

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
        // A row of one empty field is written "" so that it is not a blank line, which a
        // reader skips or refuses.
        if (!needs_quotes(f) && !(fields.size() == 1 && f.empty())) {
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

bool utf8_checker::feed(unsigned char c, std::uint64_t at) noexcept {
    if (need_ == 0) {
        if (c < 0x80) {
            return true;
        }
        start_ = at;
        if ((c & 0xE0U) == 0xC0U) {
            len_ = 1;
            cp_ = c & 0x1FU;
        } else if ((c & 0xF0U) == 0xE0U) {
            len_ = 2;
            cp_ = c & 0x0FU;
        } else if ((c & 0xF8U) == 0xF0U) {
            len_ = 3;
            cp_ = c & 0x07U;
        } else {
            return false;
        }
        need_ = len_;
        return true;
    }
    if ((c & 0xC0U) != 0x80U) {
        need_ = 0;
        return false;
    }
    cp_ = (cp_ << 6U) | (c & 0x3FU);
    if (--need_ > 0) {
        return true;
    }
    const bool overlong =
        (len_ == 1 && cp_ < 0x80) || (len_ == 2 && cp_ < 0x800) || (len_ == 3 && cp_ < 0x10000);
    return !overlong && cp_ <= 0x10FFFF && (cp_ < 0xD800 || cp_ > 0xDFFF);
}

std::size_t first_invalid_utf8(std::string_view s) noexcept {
    utf8_checker check;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (!check.feed(static_cast<unsigned char>(s[i]), i)) {
            return static_cast<std::size_t>(check.start());
        }
    }
    return check.open() ? static_cast<std::size_t>(check.start()) : std::string_view::npos;
}

bool valid_utf8(std::string_view s) noexcept {
    return first_invalid_utf8(s) == std::string_view::npos;
}

boost::system::result<std::size_t> csv_text_source::read(char* out, std::size_t n) {
    const std::size_t k = std::min(n, text_.size() - at_);
    std::memcpy(out, text_.data() + at_, k);
    at_ += k;
    return k;
}

boost::system::result<void> csv_text_source::seek(std::uint64_t offset) {
    if (offset > text_.size()) {
        return boost::system::error_code(EINVAL, boost::system::system_category());
    }
    at_ = static_cast<std::size_t>(offset);
    return {};
}

boost::system::result<std::size_t> csv_fd_source::read(char* out, std::size_t n) {
    while (true) {
        const ::ssize_t got = ::read(fd_, out, n);
        if (got >= 0) {
            if (on_bytes && got > 0) {
                on_bytes(std::string_view(out, static_cast<std::size_t>(got)));
            }
            return static_cast<std::size_t>(got);
        }
        if (errno != EINTR) {
            return boost::system::error_code(errno, boost::system::system_category());
        }
    }
}

boost::system::result<void> csv_fd_source::seek(std::uint64_t offset) {
    if (::lseek(fd_, static_cast<::off_t>(offset), SEEK_SET) < 0) {
        return boost::system::error_code(errno, boost::system::system_category());
    }
    return {};
}

namespace {

// A row read (true) or the end of the text (false).
boost::system::result<bool, csv_error> row_read(bool value) {
    return boost::system::result<bool, csv_error>(boost::system::in_place_value, value);
}

}  // namespace

csv_reader::csv_reader(csv_source& source) : source_(source) {
    buf_.reserve(chunk_bytes + 8);
}

// Checks the bytes of buf_ from index `from` on, carrying a sequence across reads; the first
// bad sequence's start is kept in bad_utf8_at_.
void csv_reader::validate_utf8(std::size_t from) {
    const std::uint64_t base = offset_ - at_;  // text offset of buf_[0]
    for (std::size_t i = from; i < buf_.size() && bad_utf8_at_ == UINT64_MAX; ++i) {
        if (!utf8_.feed(static_cast<unsigned char>(buf_[i]), base + i)) {
            bad_utf8_at_ = utf8_.start();
        }
    }
}

// True when at least `n` bytes from the current one are buffered; false when the text (or a
// failed read) ends sooner.
bool csv_reader::ensure(std::size_t n) {
    while (buf_.size() - at_ < n && !eof_) {
        if (at_ > 0) {
            buf_.erase(0, at_);  // what is left is shorter than `n`: a few bytes
            at_ = 0;
        }
        const std::size_t old = buf_.size();
        buf_.resize(old + chunk_bytes);
        auto got = source_.read(buf_.data() + old, chunk_bytes);
        if (!got) {
            buf_.resize(old);
            eof_ = true;
            io_ = csv_error{here_.line, here_.column, "the file could not be read", got.error()};
            break;
        }
        buf_.resize(old + *got);
        if (*got == 0) {
            eof_ = true;
            if (utf8_.open() && bad_utf8_at_ == UINT64_MAX) {
                bad_utf8_at_ = utf8_.start();  // a sequence cut off by the end of the text
            }
            break;
        }
        validate_utf8(old);
    }
    return buf_.size() - at_ >= n;
}

// Moves past one byte, keeping here_ (columns count code points).
void csv_reader::step() {
    const auto c = static_cast<unsigned char>(buf_[at_]);
    if (c == '\n') {
        ++here_.line;
        here_.column = 1;
    } else if ((c & 0xC0U) != 0x80U) {
        ++here_.column;
    }
    ++at_;
    ++offset_;
}

boost::system::result<void, csv_error> csv_reader::resume(std::uint64_t offset, std::size_t line) {
    if (!header_done_) {
        return csv_error{1, 1, "resumed before the header was read"};
    }
    if (auto r = source_.seek(offset); !r) {
        return csv_error{line, 1, "the file could not be read", r.error()};
    }
    buf_.clear();
    at_ = 0;
    offset_ = offset;
    here_ = {line, 1};
    eof_ = false;
    io_.reset();
    utf8_.reset();
    bad_utf8_at_ = UINT64_MAX;
    row_offset_ = offset;
    row_line_ = line;
    return {};
}

// Reads one row (header or data) into `row`: true when a row was read, false at the end.
boost::system::result<bool, csv_error> csv_reader::read_row(csv_record& row) {
    row.fields.clear();
    row.positions.clear();
    if (offset_ == 0) {
        ensure(3);
        if (std::string_view(buf_).substr(at_, 3) == "\xEF\xBB\xBF") {
            at_ += 3;
            offset_ += 3;
        }
    }
    row.line = here_.line;
    std::string field;
    std::size_t row_bytes = 0;
    const std::uint64_t start = offset_;
    csv_position field_start = here_;
    const auto fail = [](const csv_position& at, std::string msg) {
        return csv_error{at.line, at.column, std::move(msg), {}};
    };
    // Checks the byte about to be read (after ensure): undecodable UTF-8 or a NUL byte.
    const auto bad_byte = [&]() -> std::optional<csv_error> {
        if (offset_ == bad_utf8_at_) {
            return fail(here_, "not valid UTF-8");
        }
        // A NUL ends the text for any reader that takes C strings; it has no place in CSV.
        if (buf_[at_] == '\0') {
            return fail(here_, "a NUL byte (U+0000); CSV text holds none");
        }
        return std::nullopt;
    };
    const auto end_field = [&]() {
        row_bytes += field.size();
        row.fields.push_back(std::move(field));
        row.positions.push_back(field_start);
        field.clear();
    };
    const auto note_peak = [&]() {
        peak_ = std::max(peak_, buf_.capacity() + row_bytes + field.size());
    };

    while (true) {
        // Four bytes ahead, so a UTF-8 sequence is checked whole before its first byte is read.
        if (!ensure(4) && buf_.size() == at_) {
            break;
        }
        if (auto e = bad_byte()) {
            return *e;
        }
        const char c = buf_[at_];
        if (c == '"') {
            if (!field.empty()) {
                return fail(here_, "quote inside an unquoted field");
            }
            const csv_position open = here_;
            step();
            bool closed = false;
            while (ensure(4) || buf_.size() > at_) {
                if (auto e = bad_byte()) {
                    return *e;
                }
                if (buf_[at_] == '"') {
                    if (buf_.size() - at_ >= 2 && buf_[at_ + 1] == '"') {
                        field += '"';
                        step();
                        step();
                        continue;
                    }
                    step();
                    closed = true;
                    break;
                }
                field += buf_[at_];
                step();
                if (field.size() % chunk_bytes == 0) {
                    note_peak();
                }
            }
            if (!closed) {
                if (io_) {
                    return *io_;
                }
                return fail(open, "quoted field is never closed");
            }
            ensure(1);
            if (at_ < buf_.size() && buf_[at_] != ',' && buf_[at_] != '\r' && buf_[at_] != '\n') {
                return fail(here_, "text after a closing quote");
            }
            continue;
        }
        if (c == ',') {
            end_field();
            step();
            field_start = here_;
            continue;
        }
        if (c == '\r' || c == '\n') {
            if (c == '\r' && (buf_.size() - at_ < 2 || buf_[at_ + 1] != '\n')) {
                return fail(here_, "carriage return without line feed");
            }
            if (offset_ == start) {
                return fail(here_, "blank line");
            }
            end_field();
            note_peak();
            if (c == '\r') {
                step();
            }
            step();
            return row_read(true);
        }
        field += c;
        step();
        if (field.size() % chunk_bytes == 0) {
            note_peak();
        }
    }
    if (io_) {
        return *io_;
    }
    if (offset_ > start) {
        end_field();
        note_peak();
        return row_read(true);
    }
    return row_read(false);
}

boost::system::result<void, csv_error> csv_reader::read_header() {
    if (header_done_) {
        return {};
    }
    csv_record row;
    auto got = read_row(row);
    if (!got) {
        return got.error();
    }
    if (!*got) {
        return csv_error{1, 1, "file is empty: no header row", {}};
    }
    // A header is checked without echoing it: a file without one starts with data.
    std::map<std::string, std::size_t, std::less<>> names;
    for (std::size_t i = 0; i < row.fields.size(); ++i) {
        const csv_position& at = row.positions[i];
        if (row.fields[i].empty()) {
            return csv_error{
                at.line, at.column, "header column " + std::to_string(i + 1) + " has no name", {}};
        }
        if (const auto [it, fresh] = names.emplace(row.fields[i], i + 1); !fresh) {
            return csv_error{
                at.line,
                at.column,
                "header column " + std::to_string(i + 1) + " has the name of column " +
                    std::to_string(it->second) + ": a name appears twice",
                {}};
        }
    }
    header_ = std::move(row.fields);
    header_pos_ = std::move(row.positions);
    header_done_ = true;
    row_offset_ = offset_;
    row_line_ = here_.line;
    return {};
}

boost::system::result<bool, csv_error> csv_reader::next(csv_record& row) {
    if (auto h = read_header(); !h) {
        return h.error();
    }
    auto got = read_row(row);
    if (!got || !*got) {
        return got;
    }
    if (row.fields.size() != header_.size()) {
        const csv_position at = row.fields.size() > header_.size() ? row.positions[header_.size()]
                                                                   : csv_position{row.line, 1};
        return csv_error{
            at.line,
            at.column,
            "row has " + std::to_string(row.fields.size()) + " fields, the header has " +
                std::to_string(header_.size()),
            {}};
    }
    row_offset_ = offset_;
    row_line_ = here_.line;
    return row_read(true);
}

boost::system::result<csv_table, csv_error> parse_csv(std::string_view text) {
    csv_text_source source(text);
    csv_reader reader(source);
    if (auto h = reader.read_header(); !h) {
        return h.error();
    }
    csv_table table;
    table.header = reader.header();
    table.header_positions = reader.header_positions();
    csv_record row;
    while (true) {
        auto got = reader.next(row);
        if (!got) {
            return got.error();
        }
        if (!*got) {
            break;
        }
        table.rows.push_back(std::move(row.fields));
        table.positions.push_back(std::move(row.positions));
        table.row_lines.push_back(row.line);
    }
    return table;
}

boost::system::result<csv_table, std::string> parse_csv_with_header(
    std::string_view text, std::string_view origin, const csv_row& header, std::string_view writer
) {
    auto table = parse_csv(text);
    if (!table) {
        return table.error().describe(origin);
    }
    if (table->header != header) {
        return std::string(origin) + ":1: the header is not the one `" + std::string(writer) +
               "` writes";
    }
    return std::move(*table);
}

}  // namespace casebridge::exchange
