#include "sync/caseload.hpp"

#include <set>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "policy/policy.hpp"

namespace casebridge::sync {

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
    const std::string& decision,
    const std::string& reason
) {
    return key.hmac_hex("caseload-review/v2", flow + "\n" + id + "\n" + decision + "\n" + reason)
        .substr(0, 32);
}

std::string caseload_row_check_without_reason(
    const store::keyed_hasher& key,
    const std::string& flow,
    const std::string& id,
    const std::string& decision
) {
    return key.hmac_hex("caseload-review", flow + "\n" + id + "\n" + decision).substr(0, 32);
}

bool caseload_override_allowed(const flow_runner& runner) {
    return runner.binding().profile->override_rules.allowed;
}

std::string caseload_plan_decision(const record_report& r, bool override_allowed) {
    if (r.outcome == "would_send") {
        return "transfer";
    }
    if (r.outcome == "skipped" || r.outcome == "kept") {
        return "already_transferred";
    }
    if (r.outcome == "awaiting_acknowledgement") {
        return "awaiting_acknowledgement";
    }
    if (r.outcome == "dead" || r.outcome == "rejected_by_receiver" || r.outcome == "unresolved") {
        return "held";
    }
    if (r.outcome == "withheld" && r.reason == "no_basis" && override_allowed) {
        return "needs_consent_confirmation";
    }
    return "withheld";
}

caseload_plan make_caseload_plan(
    const run_report& report,
    const store::keyed_hasher& key,
    const std::string& flow,
    const std::string& receiving_system,
    bool override_allowed
) {
    caseload_plan plan;
    exchange::csv_writer w;
    w.row(caseload_review_header());
    for (const auto& r : report.records) {
        const auto decision = caseload_plan_decision(r, override_allowed);
        ++plan.counts[decision];
        w.row(
            {r.source_id,
             decision,
             r.reason,
             r.basis,
             receiving_system,
             std::to_string(r.fields_sent.size()),
             "",
             "",
             caseload_row_check(key, flow, r.source_id, decision, r.reason)}
        );
    }
    plan.records = report.records.size();
    plan.csv = w.text();
    return plan;
}

std::string caseload_review_shape(std::string_view text, std::string_view origin) {
    auto t = exchange::parse_csv_with_header(text, origin, caseload_review_header(), "plan");
    return t ? std::string() : t.error();
}

caseload_review read_caseload_review(
    std::string_view text,
    std::string_view origin,
    const store::keyed_hasher& key,
    const std::string& flow,
    const std::string& actor
) {
    caseload_review out;
    auto t = exchange::parse_csv_with_header(text, origin, caseload_review_header(), "plan");
    if (!t) {
        out.problems.push_back(t.error());
        return out;
    }
    const auto& table = *t;
    const std::string file(origin);
    std::set<std::string> seen;
    for (std::size_t i = 0; i < table.rows.size(); ++i) {
        const auto& row = table.rows[i];
        const auto at = file + ":" + std::to_string(table.row_lines[i]);
        const std::string& id = row[0];
        const std::string& decision = row[1];
        const std::string& confirm = row[6];
        const std::string& reason = row[7];
        // A plan's own reason code, or none: text written into the column of an older plan
        // (whose check does not cover it) never reaches the receipt.
        std::string plan_reason;
        if (caseload_row_check(key, flow, id, decision, row[2]) == row[8]) {
            plan_reason = row[2];
        } else if (caseload_row_check_without_reason(key, flow, id, decision) != row[8]) {
            out.problems.push_back(
                at +
                ": source_id, decision or reason edited, or the row is not from a plan of this "
                "flow"
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
                    {id, decision, plan_reason.empty() ? std::string("not_confirmed") : plan_reason}
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

namespace {

/// The status of a confirmed record from its outcome in run_selected.
std::string status_of(const record_report& r) {
    if (r.outcome == "sent") {
        return "transferred";
    }
    if (r.outcome == "skipped" || r.outcome == "kept") {
        return "already_transferred";
    }
    if (r.outcome == "awaiting_acknowledgement") {
        return "awaiting_acknowledgement";
    }
    if (r.outcome == "withheld" || r.outcome == "consent_withdrawn") {
        return "withheld";
    }
    return "held";  // dead, rejected_by_receiver, unresolved
}

void key_string(
    rapidjson::Writer<rapidjson::StringBuffer>& w, const char* k, const std::string& v
) {
    w.Key(k);
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}

}  // namespace

caseload_outcome settle_caseload(
    caseload_review review, const run_report& report, const caseload_receipt_context& context
) {
    caseload_outcome out;
    out.counts = {
        {"transferred", 0},
        {"already_transferred", 0},
        {"awaiting_acknowledgement", 0},
        {"withheld", 0},
        {"held", 0},
        {"not_processed", 0}};
    out.left = std::move(review.left);
    std::set<std::string> settled;
    for (const auto& r : report.records) {
        settled.insert(r.source_id);
        const auto status = status_of(r);
        ++out.counts[status];
        if (status != "transferred" && status != "already_transferred") {
            out.left.push_back({r.source_id, status, r.reason.empty() ? r.outcome : r.reason});
        }
    }
    for (const auto& c : review.chosen) {
        if (settled.count(c.source_id) == 0) {
            ++out.counts["not_processed"];
            out.left.push_back({c.source_id, "not_processed", "run_stopped"});
        }
    }

    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    key_string(w, "receipt", "casebridge-caseload-transfer/v2");
    key_string(w, "flow", context.flow);
    key_string(w, "from", context.from_system);
    key_string(w, "to", context.to_system);
    key_string(w, "executed_at", context.executed_at);
    key_string(w, "review_file", context.review_file);
    w.Key("counts");
    w.StartObject();
    w.Key("confirmed");
    w.Int64(static_cast<std::int64_t>(review.chosen.size()));
    for (const auto& [k, v] : out.counts) {
        w.Key(k.c_str());
        w.Int64(v);
    }
    w.Key("not_confirmed");
    w.Int64(static_cast<std::int64_t>(review.not_confirmed));
    w.EndObject();
    w.Key("transferred");
    w.StartArray();
    for (const auto& r : report.records) {
        if (r.outcome == "sent") {
            w.StartObject();
            key_string(w, "source_id", r.source_id);
            key_string(w, "target_id", r.target_id);
            w.EndObject();
        }
    }
    w.EndArray();
    w.Key("not_handed_over");
    w.StartArray();
    for (const auto& p : out.left) {
        w.StartObject();
        key_string(w, "source_id", p.source_id);
        key_string(w, "status", p.status);
        key_string(w, "reason", p.reason);
        w.EndObject();
    }
    w.EndArray();
    w.Key("overrides");
    w.StartArray();
    for (const auto& [id, hash] : review.overrides) {
        w.StartObject();
        key_string(w, "source_id", id);
        key_string(w, "reason_sha256", hash);
        w.EndObject();
    }
    w.EndArray();
    if (!context.checkpoint_json.empty()) {
        w.Key("log_checkpoint");
        w.RawValue(
            context.checkpoint_json.c_str(), context.checkpoint_json.size(), rapidjson::kObjectType
        );
    }
    w.EndObject();
    out.receipt = std::string(sb.GetString(), sb.GetSize());
    return out;
}

}  // namespace casebridge::sync
