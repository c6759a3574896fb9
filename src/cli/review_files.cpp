#include "cli/review_files.hpp"

#include <set>
#include <variant>

#include "core/crypto.hpp"
#include "core/encoding.hpp"

namespace casebridge::cli {

const exchange::csv_row& caseload_review_header() {
    static const exchange::csv_row header = {
        "source_id",
        "decision",
        "reason",
        "basis",
        "receiving_system",
        "fields_sent",
        "confirm",
        "override_reason",
        "check"};
    return header;
}

std::string caseload_row_check(
    const store::keyed_hasher& key,
    const std::string& flow,
    const std::string& id,
    const std::string& decision
) {
    return key.hmac_hex("caseload-review", flow + "\n" + id + "\n" + decision).substr(0, 32);
}

namespace {

/// Parses `text` and checks its header; the problem, or the table.
std::variant<exchange::csv_table, std::string> table_of(
    std::string_view text,
    std::string_view origin,
    const exchange::csv_row& header,
    std::string_view writer
) {
    auto table = exchange::parse_csv(text);
    if (!table) {
        return table.error().describe(origin);
    }
    if (table->header != header) {
        return std::string(origin) + ":1: the header is not the one `" + std::string(writer) +
               "` writes";
    }
    return std::move(*table);
}

}  // namespace

std::string caseload_review_shape(std::string_view text, std::string_view origin) {
    auto t = table_of(text, origin, caseload_review_header(), "plan");
    return std::holds_alternative<std::string>(t) ? std::get<std::string>(t) : std::string();
}

caseload_review read_caseload_review(
    std::string_view text,
    std::string_view origin,
    const store::keyed_hasher& key,
    const std::string& flow,
    const std::string& actor
) {
    caseload_review out;
    auto t = table_of(text, origin, caseload_review_header(), "plan");
    if (auto* problem = std::get_if<std::string>(&t)) {
        out.problems.push_back(*problem);
        return out;
    }
    const auto& table = std::get<exchange::csv_table>(t);
    const std::string file(origin);
    std::set<std::string> seen;
    for (std::size_t i = 0; i < table.rows.size(); ++i) {
        const auto& row = table.rows[i];
        const auto at = file + ":" + std::to_string(table.row_lines[i]);
        const std::string& id = row[0];
        const std::string& decision = row[1];
        const std::string& confirm = row[6];
        const std::string& reason = row[7];
        if (caseload_row_check(key, flow, id, decision) != row[8]) {
            out.problems.push_back(
                at + ": source_id or decision edited, or the row is not from a plan of this flow"
            );
            continue;
        }
        if (!seen.insert(id).second) {
            out.problems.push_back(at + ": the record is listed twice");
            continue;
        }
        if (confirm != "yes" && confirm != "no" && !confirm.empty()) {
            out.problems.push_back(at + ": confirm must be yes, no or empty");
            continue;
        }
        if (confirm != "yes") {
            if (decision != "already_transferred") {
                ++out.not_confirmed;
                out.left.push_back(
                    {id, decision, row[2].empty() ? std::string("not_confirmed") : row[2]}
                );
            }
            continue;
        }
        if (decision == "transfer") {
            out.chosen.push_back({id, std::nullopt, std::nullopt});
        } else if (decision == "needs_consent_confirmation") {
            if (reason.find_first_not_of(" \t") == std::string::npos) {
                out.problems.push_back(at + ": an override needs a written override_reason");
                continue;
            }
            out.chosen.push_back({id, actor, reason});
            out.overrides.emplace_back(id, store::to_hex(store::sha256(reason)));
        } else {
            out.problems.push_back(
                at + ": a record planned as " + decision + " cannot be confirmed"
            );
        }
    }
    return out;
}

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
    auto t = table_of(text, origin, hub_review_header(), "hub review export");
    return std::holds_alternative<std::string>(t) ? std::get<std::string>(t) : std::string();
}

hub_review read_hub_review(std::string_view text, std::string_view origin, const std::string& key) {
    hub_review out;
    auto t = table_of(text, origin, hub_review_header(), "hub review export");
    if (auto* problem = std::get_if<std::string>(&t)) {
        out.problems.push_back(*problem);
        return out;
    }
    const auto& table = std::get<exchange::csv_table>(t);
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
