#include "exchange/csv.hpp"

#include <string>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace casebridge::exchange
