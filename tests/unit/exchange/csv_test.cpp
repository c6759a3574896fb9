#include "exchange/csv.hpp"

#include <string>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "support/temp_dir.hpp"

namespace casebridge::exchange {
namespace {

TEST(csv, writer_uses_bom_crlf_and_quotes_only_when_needed) {
    csv_writer w;
    w.row({"exchange_id", "name_first", "note"});
    w.row({"1", "রহিম", "says \"hello\", then\nleaves"});
    w.row({"2", " padded", ""});
    EXPECT_EQ(
        w.text(),
        "\xEF\xBB\xBF"
        "exchange_id,name_first,note\r\n"
        "1,রহিম,\"says \"\"hello\"\", then\nleaves\"\r\n"
        "2,\" padded\",\r\n"
    );
    EXPECT_EQ(w.rows(), 3u);
}

TEST(csv, round_trips_awkward_values) {
    const std::vector<csv_row> rows = {
        {"a", "b", "c"},
        {"comma,inside", "quote\"inside", "new\r\nline"},
        {"নুসরাত বেগম", "", "trailing space "},
        {"\"", ",", "\n"},
    };
    csv_writer w;
    for (const auto& r : rows) {
        w.row(r);
    }
    const auto t = parse_csv(w.text());
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->header, rows[0]);
    ASSERT_EQ(t->rows.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(t->rows[i], rows[i + 1]) << i;
    }
    EXPECT_EQ(t->row_lines[0], 2u);
    EXPECT_EQ(t->row_lines[1], 4u);  // the row before spans two lines
}

TEST(csv, an_empty_value_in_a_one_column_file_is_not_a_blank_line) {
    // Found by the csv fuzz target: written bare, the row was an empty line.
    csv_writer w;
    w.row({"a"});
    w.row({""});
    w.row({"1"});
    const auto t = parse_csv(w.text());
    ASSERT_TRUE(t) << t.error().message;
    ASSERT_EQ(t->rows.size(), 2u);
    EXPECT_EQ(t->rows[0], csv_row{""});
    EXPECT_EQ(t->rows[1], csv_row{"1"});
}

TEST(csv, missing_bom_and_lf_line_ends_are_accepted) {
    const auto t = parse_csv("a,b\n1,2\n3,4");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->rows.size(), 2u);
    EXPECT_EQ(t->rows[1][1], "4");
}

TEST(csv, errors_name_line_and_column) {
    auto e = parse_csv("a,b,c\r\n1,2,3\r\n4,5\r\n");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().describe("ack.csv"), "ack.csv:3:1: row has 2 fields, the header has 3");

    e = parse_csv("a,b\r\n1,\"open\r\n2,3\r\n");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().describe("f"), "f:2:3: quoted field is never closed");

    e = parse_csv("a,b\r\n1,\"x\"y\r\n");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().describe("f"), "f:2:6: text after a closing quote");

    e = parse_csv("a,b\r\nনাম,x\"y\r\n");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().describe("f"), "f:2:6: quote inside an unquoted field");

    e = parse_csv("a,b\r\n1,2\r\n\r\n3,4\r\n");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().describe("f"), "f:3:1: blank line");

    e = parse_csv("x,Rina,Rina\r\n");
    ASSERT_FALSE(e);
    EXPECT_EQ(
        e.error().describe("f"),
        "f:1:8: header column 3 has the name of column 2: a name appears twice"
    );

    EXPECT_FALSE(parse_csv(""));
    EXPECT_FALSE(parse_csv("a,b\r1,2"));
}

TEST(csv, every_field_knows_where_it_starts) {
    const auto t = parse_csv(
        "\xEF\xBB\xBF"
        "id,নাম,note\r\n"
        "1,রহিম,\"two\r\nlines\"\r\n"
        "2,\"a,b\",x\r\n"
    );
    ASSERT_TRUE(t) << t.error().message;
    ASSERT_EQ(t->header_positions.size(), 3u);
    EXPECT_EQ(t->header_positions[1].line, 1u);
    EXPECT_EQ(t->header_positions[1].column, 4u);
    EXPECT_EQ(t->header_positions[2].column, 8u);  // columns count code points, not bytes
    ASSERT_EQ(t->positions.size(), 2u);
    EXPECT_EQ(t->positions[0][2].line, 2u);
    EXPECT_EQ(t->positions[0][2].column, 8u);
    EXPECT_EQ(t->positions[1][0].line, 4u);  // the field before spans two lines
    EXPECT_EQ(t->positions[1][2].column, 9u);
    EXPECT_EQ(t->row_lines[1], 4u);
}

TEST(csv, too_many_fields_point_at_the_first_extra_one) {
    const auto e = parse_csv("a,b\r\n1,2,3\r\n");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().describe("f"), "f:2:5: row has 3 fields, the header has 2");
}

TEST(csv, invalid_utf8_is_located) {
    const auto e = parse_csv("a,b\r\n1,ok\r\n2,bad\xC3\x28here\r\n");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().describe("f"), "f:3:6: not valid UTF-8");
    EXPECT_FALSE(valid_utf8("\xE0\x80\x80"));      // overlong
    EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));      // surrogate
    EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // over U+10FFFF
    EXPECT_TRUE(valid_utf8("রহিম উদ্দিন"));
}

TEST(csv, a_nul_byte_is_refused_with_its_line_and_column) {
    using namespace std::string_literals;
    // Unquoted, quoted, and after the last row: each names where the NUL is.
    auto e = parse_csv("a,b\r\n1,x\0y\r\n"s);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().describe("f"), "f:2:4: a NUL byte (U+0000); CSV text holds none");
    e = parse_csv(
        "\xEF\xBB\xBF"
        "a,b\r\n1,\"q\r\n\0\"\r\n"s
    );
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().describe("f"), "f:3:1: a NUL byte (U+0000); CSV text holds none");
    e = parse_csv("a,b\r\n1,2\r\n\0\0\0"s);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().line, 3u);
    EXPECT_EQ(e.error().column, 1u);
}

// The next row: true, false at the end; a failure is reported and counts as the end.
bool next_ok(csv_reader& reader, csv_record& row) {
    auto got = reader.next(row);
    EXPECT_TRUE(got) << (got ? std::string() : got.error().message);
    return got && *got;
}

// Reads every row of `path` with the streaming reader; the rows and the reader's peak.
struct streamed {
    std::vector<csv_record> rows;
    std::size_t peak = 0;
    std::optional<csv_error> error;
};

streamed stream_file(const std::filesystem::path& path, bool keep_rows) {
    streamed out;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    csv_fd_source source(fd);
    csv_reader reader(source);
    csv_record row;
    while (true) {
        auto got = reader.next(row);
        if (!got) {
            out.error = got.error();
            break;
        }
        if (!*got) {
            break;
        }
        if (keep_rows || out.rows.empty()) {
            out.rows.push_back(row);
        } else {
            out.rows.back() = row;  // only the last row is kept
        }
    }
    out.peak = reader.peak_bytes();
    ::close(fd);
    return out;
}

TEST(csv_reader, memory_is_bounded_by_the_longest_row_not_the_file) {
    test::temp_dir dir;
    for (const std::size_t rows : {2'000U, 120'000U}) {
        std::string text =
            "\xEF\xBB\xBF"
            "exchange_id,status,note\r\n";
        for (std::size_t i = 0; i < rows; ++i) {
            text += "id-" + std::to_string(i) + ",accepted,\"line one\r\nline, two\"\r\n";
        }
        const auto path = dir.write("big.csv", text);
        const auto got = stream_file(path, false);
        ASSERT_FALSE(got.error) << got.error->message;
        ASSERT_FALSE(got.rows.empty());
        EXPECT_EQ(got.rows.back().fields[0], "id-" + std::to_string(rows - 1));
        EXPECT_EQ(got.rows.back().line, 2 + 2 * (rows - 1));
        // A 5 MB file and a 90 KB one: the reader holds one chunk and a row.
        EXPECT_LE(got.peak, csv_reader::chunk_bytes + 1024) << rows << " rows, " << text.size();
    }
}

TEST(csv_reader, a_row_longer_than_a_chunk_is_read_whole) {
    test::temp_dir dir;
    const std::string longest(5 * csv_reader::chunk_bytes / 2, 'x');
    const auto path = dir.write("long.csv", "a,b\n1,\"" + longest + "\"\n2," + longest + "\n3,z\n");
    const auto got = stream_file(path, true);
    ASSERT_FALSE(got.error) << got.error->message;
    ASSERT_EQ(got.rows.size(), 3u);
    EXPECT_EQ(got.rows[0].fields[1], longest);
    EXPECT_EQ(got.rows[1].fields[1], longest);
    EXPECT_EQ(got.rows[2].line, 4u);
    EXPECT_GE(got.peak, longest.size());
    EXPECT_LE(got.peak, csv_reader::chunk_bytes + 1024 + longest.size());
}

TEST(csv_reader, utf8_split_across_reads_is_accepted_and_a_bad_sequence_there_is_located) {
    test::temp_dir dir;
    // Pad so that a three-byte character straddles the first chunk boundary.
    const std::string head = "a,b\n";
    std::string pad(csv_reader::chunk_bytes - head.size() - 3 - 1, 'p');
    const std::string good = head + "1," + pad + "\xE0\xA6\xB0" + "x\n";
    auto got = stream_file(dir.write("good.csv", good), true);
    ASSERT_FALSE(got.error) << got.error->message;
    ASSERT_EQ(got.rows.size(), 1u);
    EXPECT_EQ(got.rows[0].fields[1], pad + "\xE0\xA6\xB0" + "x");

    const std::string bad = head + "1," + pad + "\xE0\xA6\x28" + "x\n";
    got = stream_file(dir.write("bad.csv", bad), true);
    ASSERT_TRUE(got.error);
    EXPECT_EQ(got.error->line, 2u);
    EXPECT_EQ(got.error->column, 3 + pad.size());
    EXPECT_EQ(got.error->message, "not valid UTF-8");
    // The same answer as the parser over the text in memory.
    const auto whole = parse_csv(bad);
    ASSERT_FALSE(whole);
    EXPECT_EQ(whole.error().column, got.error->column);

    // A sequence cut off by the end of the file.
    got = stream_file(dir.write("cut.csv", head + "1,ab\xE0\xA6"), true);
    ASSERT_TRUE(got.error);
    EXPECT_EQ(got.error->line, 2u);
    EXPECT_EQ(got.error->column, 5u);
}

TEST(csv_reader, resumes_at_a_row_it_gave_the_offset_of) {
    const std::string text =
        "\xEF\xBB\xBF"
        "a,b\r\n1,x\r\n2,\"two\nlines\"\r\n3,y\r\n4,z\r\n";
    std::uint64_t offset = 0;
    std::size_t line = 0;
    {
        csv_text_source source(text);
        csv_reader reader(source);
        csv_record row;
        for (int i = 0; i < 2; ++i) {
            ASSERT_TRUE(next_ok(reader, row));
        }
        offset = reader.offset();
        line = reader.line();
    }
    EXPECT_EQ(line, 5u);  // the second row spans lines 3 and 4
    csv_text_source source(text);
    csv_reader reader(source);
    ASSERT_TRUE(reader.read_header());
    ASSERT_TRUE(reader.resume(offset, line));
    csv_record row;
    ASSERT_TRUE(next_ok(reader, row));
    EXPECT_EQ(row.fields, (csv_row{"3", "y"}));
    EXPECT_EQ(row.line, 5u);
    EXPECT_EQ(row.positions[1].column, 3u);
    ASSERT_TRUE(next_ok(reader, row));
    EXPECT_EQ(row.fields[0], "4");
    EXPECT_FALSE(next_ok(reader, row));
    EXPECT_EQ(reader.offset(), text.size());
}

TEST(csv_reader, a_failed_read_is_an_io_error_not_a_fault_of_the_text) {
    struct failing final : csv_source {
        int calls = 0;
        boost::system::result<std::size_t> read(char* out, std::size_t n) override {
            if (calls++ == 0) {
                const std::string_view part = "a,b\n1,2\n3,";
                const std::size_t k = std::min(n, part.size());
                std::copy_n(part.data(), k, out);
                return k;
            }
            return boost::system::error_code(EIO, boost::system::system_category());
        }
        boost::system::result<void> seek(std::uint64_t) override { return {}; }
    } source;
    csv_reader reader(source);
    csv_record row;
    ASSERT_TRUE(reader.next(row));
    const auto e = reader.next(row);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().io, boost::system::error_code(EIO, boost::system::system_category()));
}

}  // namespace
}  // namespace casebridge::exchange
