#include "cli/review_files.hpp"

#include <set>

#include "core/crypto.hpp"
#include "core/encoding.hpp"

namespace casebridge::cli {

const exchange::csv_row& hub_review_header() {
    static const exchange::csv_row header = {
        "review_id",
        "agency_a",
        "pseudonym_a",
        "agency_b",
        "pseudonym_b",
        "score",
        "decision",
        "check"};
    return header;
}

std::string hub_review_check(const std::string& key, const exchange::csv_row& row) {
    const std::string text = "hub-review\n" + row[0] + '\n' + row[1] + '\n' + row[2] + '\n' +
                             row[3] + '\n' + row[4] + '\n' + row[5];
    return to_hex(crypto::hmac_sha256(key, text)).substr(0, 32);
}

std::string hub_review_shape(std::string_view text, std::string_view origin) {
    auto t =
        exchange::parse_csv_with_header(text, origin, hub_review_header(), "hub review export");
    return t ? std::string() : t.error();
}

hub_review read_hub_review(std::string_view text, std::string_view origin, const std::string& key) {
    hub_review out;
    auto t =
        exchange::parse_csv_with_header(text, origin, hub_review_header(), "hub review export");
    if (!t) {
        out.problems.push_back(t.error());
        return out;
    }
    const auto& table = *t;
    const std::string file(origin);
    std::set<std::string> seen;
    for (std::size_t i = 0; i < table.rows.size(); ++i) {
        const auto& row = table.rows[i];
        const std::string at = file + ":" + std::to_string(table.row_lines[i]);
        if (hub_review_check(key, row) != row[7]) {
            out.problems.push_back(
                at + ": ids or score edited, or the row is not from an export of this hub"
            );
            continue;
        }
        if (!seen.insert(row[1] + '\n' + row[2] + '\n' + row[3] + '\n' + row[4]).second) {
            out.problems.push_back(at + ": the pair is listed twice");
            continue;
        }
        const std::string& decision = row[6];
        if (decision.empty()) {
            ++out.undecided;
            continue;
        }
        if (decision != "same" && decision != "not_same") {
            out.problems.push_back(at + ": decision must be same, not_same or empty");
            continue;
        }
        out.decisions.push_back({row[1], row[2], row[3], row[4], decision == "same"});
    }
    return out;
}

}  // namespace casebridge::cli
