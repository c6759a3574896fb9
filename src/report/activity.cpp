// The DPISP activity report's units: an agency's own sharing events, read from its transfer log
// (report/report.hpp, events_from_log). Codes only: record ids are never read.
#include <stdexcept>
#include <string>

#include "json/json.hpp"
#include "report/report.hpp"
#include "store/sqlite.hpp"
#include "store/transfer_log.hpp"

namespace casebridge::report {

namespace {

namespace fs = std::filesystem;

bool digits(std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

/// [since, until) of a period "YYYY-MM" or "YYYY", as RFC 3339 text bounds.
std::pair<std::string, std::string> period_bounds(const std::string& period) {
    if (period.size() == 4 && digits(period)) {
        return {period, std::to_string(std::stoi(period) + 1)};
    }
    if (period.size() == 7 && period[4] == '-' && digits(period.substr(0, 4)) &&
        digits(period.substr(5))) {
        const int year = std::stoi(period.substr(0, 4));
        const int month = std::stoi(period.substr(5));
        if (month >= 1 && month <= 12) {
            char next[8];
            std::snprintf(
                next,
                sizeof next,
                "%04d-%02d",
                month == 12 ? year + 1 : year,
                month == 12 ? 1 : month + 1
            );
            return {period, next};
        }
    }
    throw std::runtime_error(
        "period '" + period + "': an events report covers a month (YYYY-MM) or a year (YYYY)"
    );
}

std::string text_or(const rapidjson::Value& v, const char* key, const char* fallback) {
    const auto m = v.FindMember(key);
    return m != v.MemberEnd() && m->value.IsString() ? std::string(m->value.GetString())
                                                     : std::string(fallback);
}

}  // namespace

std::vector<child> events_from_log(const fs::path& store_file, const std::string& period) {
    const auto [since, until] = period_bounds(period);
    auto db = store::db::open_read_only(store_file);
    if (!db) {
        throw std::runtime_error(
            store_file.string() + ": cannot be opened (" + db.error().message() + ")"
        );
    }
    auto rows = store::read_entries(*db, since, until);
    if (!rows) {
        throw std::runtime_error(
            store_file.string() + ": not a casebridge store (" + rows.error().message() + ")"
        );
    }
    std::vector<child> out;
    for (const auto& row : *rows) {
        const auto doc = row.to_json();
        if (!doc || !doc->IsObject()) {
            throw std::runtime_error(
                store_file.string() + ": entry " + std::to_string(row.seq) + " does not parse"
            );
        }
        const auto& e = *doc;
        if (text_or(e, "kind", "") != "transfer" || text_or(e, "direction", "") != "outbound") {
            continue;
        }
        child c;
        const std::string recipient = text_or(e, "target_system", "none");
        const std::string outcome = text_or(e, "outcome", "none");
        c.values["recipient"] = {recipient};
        c.values["purpose"] = {text_or(e, "purpose", "none")};
        c.values["outcome"] = {outcome};
        c.values["flow"] = {text_or(e, "flow", "none")};
        c.values["month"] = {text_or(e, "ts", "").substr(0, 7)};
        // Every event is in every table (linked tables share their totals): a dimension that
        // does not apply to an event takes its "not_..." category.
        const bool sent = outcome == "sent";
        const std::string override_reason = text_or(e, "override_reason", "");
        c.values["basis"] = {sent ? text_or(e, "legitimate_basis", "none") : "not_sent"};
        c.values["override"] = {
            sent && !override_reason.empty() ? override_reason : std::string("no_override")};
        c.values["withheld_reason"] = {
            outcome == "withheld" ? text_or(e, "reason", "none") : "not_withheld"};
        c.values["withdrawn"] = {outcome == "consent_withdrawn" ? recipient : "no_withdrawal"};
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace casebridge::report
