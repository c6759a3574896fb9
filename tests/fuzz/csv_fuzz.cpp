// The strict CSV reader (DSS files, review files), whole-text and streaming.
// Properties: whole-text and streaming readers agree (same rows, or both refuse at the same
// line); a table that parses is written by csv_writer and reads back the same; every row is as
// long as the header; an error names a line and column and never holds a field value.
#include <string>
#include <vector>

#include "exchange/csv.hpp"
#include "fuzz_support.hpp"

using namespace casebridge;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = fuzz::as_text(data, size);
    auto table = exchange::parse_csv(text);

    exchange::csv_text_source source(text);
    exchange::csv_reader reader(source);
    std::vector<exchange::csv_row> streamed;
    std::optional<exchange::csv_error> stream_error;
    if (auto h = reader.read_header(); !h) {
        stream_error = h.error();
    } else {
        exchange::csv_record rec;
        for (;;) {
            auto more = reader.next(rec);
            if (!more) {
                stream_error = more.error();
                break;
            }
            if (!*more) {
                break;
            }
            streamed.push_back(rec.fields);
        }
    }

    if (!table) {
        const auto& e = table.error();
        fuzz::require(e.line >= 1 && e.column >= 1, "an error names a line and a column");
        fuzz::require(!e.message.empty(), "an error has a message");
        if (fuzz::has_value_sentinel_csv(text)) {
            fuzz::require_no_sentinel(e.describe("file.csv"), "csv error");
        }
        fuzz::require(stream_error.has_value(), "the streaming reader refuses it too");
        fuzz::require(stream_error->line == e.line, "both readers name the same line");
        return 0;
    }
    fuzz::require(!stream_error.has_value(), "the streaming reader reads it too");
    fuzz::require(streamed == table->rows, "both readers give the same rows");
    fuzz::require(table->rows.size() == table->row_lines.size(), "a line for every row");
    for (const auto& row : table->rows) {
        fuzz::require(row.size() == table->header.size(), "rows are as long as the header");
    }
    exchange::csv_writer w;
    w.row(table->header);
    for (const auto& row : table->rows) {
        w.row(row);
    }
    auto again = exchange::parse_csv(w.text());
    fuzz::require(static_cast<bool>(again), "written CSV reads back");
    fuzz::require(again->header == table->header, "header survives a round trip");
    fuzz::require(again->rows == table->rows, "rows survive a round trip");
    return 0;
}
