#include "policy/decision.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/crypto.hpp"
#include "core/encoding.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "policy/linkage_step.hpp"

namespace casebridge::policy {
namespace {

using value = rapidjson::Value;
using allocator = rapidjson::Document::AllocatorType;

bool looks_like_code(std::string_view s) {
    if (s.empty() || s.size() > 64) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.' || c == ':';
    });
}

using code_set = std::set<std::string, std::less<>>;

// `known`: the codes the configuration knows for the field (policy::profile::known_codes); a
// code-shaped value outside them is "#other", so the log never holds a value the
// configuration did not name.
std::vector<std::string> render_consent(const value* v, const code_set* known) {
    if (v == nullptr) {
        return {"#absent"};
    }
    if (v->IsBool()) {
        return {v->GetBool() ? "true" : "false"};
    }
    if (v->IsNull()) {
        return {"#null"};
    }
    const auto code = [known](const value& e) -> std::string {
        if (!e.IsString()) {
            return "#text";
        }
        const std::string_view s{e.GetString(), e.GetStringLength()};
        if (!looks_like_code(s)) {
            return "#text";
        }
        if (known == nullptr || known->find(s) == known->end()) {
            return "#other";
        }
        return std::string(s);
    };
    if (v->IsArray()) {
        if (v->Empty()) {
            return {"#empty"};  // an explicit empty list (nobody to share with), not an absence
        }
        std::vector<std::string> out;
        for (const auto& e : v->GetArray()) {
            out.push_back(code(e));
        }
        return out;
    }
    return {code(*v)};
}

class evaluator {
public:
    evaluator(const value& record, const profile& p) : record_(record), profile_(p) {}

    bool eval(const condition& c) {
        switch (c.k) {
            case condition::kind::all:
                // Evaluate every child so the decision shows every value it rested on.
                return std::count_if(c.children.begin(), c.children.end(), [this](const auto& x) {
                           return eval(x);
                       }) == static_cast<std::ptrdiff_t>(c.children.size());
            case condition::kind::any:
                return std::count_if(c.children.begin(), c.children.end(), [this](const auto& x) {
                           return eval(x);
                       }) > 0;
            case condition::kind::negate:
                return !eval(c.children.front());
            default:
                break;
        }
        const value* v = read(c.field);
        switch (c.k) {
            case condition::kind::is:
                return v != nullptr && v->IsBool() && v->GetBool() == c.flag;
            case condition::kind::present: {
                const bool present = v != nullptr && !v->IsNull() &&
                                     !(v->IsString() && v->GetStringLength() == 0) &&
                                     !(v->IsArray() && v->Empty());
                return present == c.flag;
            }
            case condition::kind::contains:
                if (v == nullptr || !v->IsArray()) {
                    return false;
                }
                return std::any_of(v->Begin(), v->End(), [&](const value& e) {
                    return e.IsString() && c.codes.front() == e.GetString();
                });
            case condition::kind::in:
                return v != nullptr && v->IsString() &&
                       std::find(c.codes.begin(), c.codes.end(), v->GetString()) != c.codes.end();
            default:
                return false;
        }
    }

    std::vector<consent_value> values() const {
        std::vector<consent_value> out;
        for (const auto& [field, values] : read_) {
            out.push_back({field, values});
        }
        return out;
    }

private:
    const value* read(const std::string& field) {
        const auto it =
            record_.FindMember(value(rapidjson::StringRef(field.c_str(), field.size())));
        const value* v = it == record_.MemberEnd() ? nullptr : &it->value;
        const auto known = profile_.known_codes.find(field);
        read_.emplace(
            field, render_consent(v, known == profile_.known_codes.end() ? nullptr : &known->second)
        );
        return v;
    }

    const value& record_;
    const profile& profile_;
    std::map<std::string, std::vector<std::string>> read_;
};

std::optional<std::string> band_label(int age, const std::vector<age_band>& bands) {
    for (const auto& b : bands) {
        if (age >= b.from && age <= b.to) {
            return std::to_string(b.from) + "-" + std::to_string(b.to);
        }
    }
    return std::nullopt;
}

int age_at(time_point birth, time_point as_of) {
    using namespace std::chrono;
    const year_month_day b{floor<days>(birth)};
    const year_month_day n{floor<days>(as_of)};
    int age = static_cast<int>(n.year()) - static_cast<int>(b.year());
    if (n.month() < b.month() || (n.month() == b.month() && n.day() < b.day())) {
        --age;
    }
    return age;
}

class redactor {
public:
    redactor(allocator& a, time_point as_of, decision& d) : alloc_(a), as_of_(as_of), d_(d) {}

    void object(const value& in, const rule_map& rules, const std::string& prefix, value& out) {
        out.SetObject();
        for (const auto& m : in.GetObject()) {
            const std::string_view name(m.name.GetString(), m.name.GetStringLength());
            std::string path;
            path.reserve(prefix.size() + 1 + name.size());
            path += prefix;
            path += '/';
            json::append_pointer_token(path, name);
            const auto it = rules.find(name);
            if (it == rules.end()) {
                withhold(path, "not_in_share");
                continue;
            }
            const field_rule& rule = it->second;
            if (rule.never) {
                withhold(path, "never");
                continue;
            }
            value copy;
            if (rule.share) {
                if (!scalar_or_scalars(m.value)) {
                    withhold(path, "structured_value");
                    continue;
                }
                if (!transform(rule, m.value, copy, path)) {
                    continue;
                }
                sent_.push_back(std::move(path));
            } else if (!rule.children.empty()) {
                // A subform with no shared content is left out rather than sent empty.
                if (!rows(m.value, rule.children, path, copy) || copy.Empty()) {
                    continue;
                }
            } else {
                withhold(path, "not_in_share");
                continue;
            }
            out.AddMember(value(m.name, alloc_), copy, alloc_);
        }
    }

    /// The decision's field lists: each path once, in order (a row field is met once per row).
    void finish() {
        d_.fields_sent = sorted_once(std::move(sent_));
        // The first reason given for a path is kept: a stable sort keeps the order of each
        // path's reasons, and unique keeps the first of each run.
        std::stable_sort(withheld_.begin(), withheld_.end(), [](const auto& a, const auto& b) {
            return a.field < b.field;
        });
        withheld_.erase(
            std::unique(
                withheld_.begin(),
                withheld_.end(),
                [](const auto& a, const auto& b) { return a.field == b.field; }
            ),
            withheld_.end()
        );
        d_.fields_withheld = std::move(withheld_);
        d_.fields_pseudonymised = sorted_once(std::move(pseudonymised_));
        d_.fields_generalised = sorted_once(std::move(generalised_));
    }

private:
    static bool scalar_or_scalars(const value& v) {
        if (v.IsObject()) {
            return false;
        }
        if (v.IsArray()) {
            return std::none_of(v.Begin(), v.End(), [](const value& e) {
                return e.IsObject() || e.IsArray();
            });
        }
        return true;
    }

    // Subform rows: each row object is filtered by the row rules.
    bool rows(const value& in, const rule_map& rules, const std::string& path, value& out) {
        if (!in.IsArray()) {
            withhold(path, "structured_value");
            return false;
        }
        out.SetArray();
        for (const auto& row : in.GetArray()) {
            if (!row.IsObject()) {
                withhold(path, "structured_value");
                continue;
            }
            value filtered;
            object(row, rules, path, filtered);
            if (filtered.MemberCount() > 0) {
                out.PushBack(filtered, alloc_);
            }
        }
        return true;
    }

    bool transform(const field_rule& rule, const value& in, value& out, const std::string& path) {
        if (!rule.pseudonym_key_id.empty() && !rule.pseudonym_key) {
            return false;  // no key, no value (decide() refuses such a profile before this)
        }
        if (rule.pseudonym_key) {
            const auto one = [&](const value& v, value& o) {
                std::string text;
                if (v.IsString()) {
                    text.assign(v.GetString(), v.GetStringLength());
                } else if (v.IsNumber()) {
                    text = json::to_string(v);
                } else {
                    return false;
                }
                o.SetString(
                    pseudonym(*rule.pseudonym_key, rule.pseudonym_prefix, text).c_str(), alloc_
                );
                return true;
            };
            bool ok = true;
            if (in.IsArray()) {
                out.SetArray();
                for (const auto& e : in.GetArray()) {
                    value o;
                    ok = ok && one(e, o);
                    out.PushBack(o, alloc_);
                }
            } else {
                ok = one(in, out);
            }
            if (!ok) {
                withhold(path, "pseudonymise_failed");
                return false;
            }
            pseudonymised_.push_back(path);
            return true;
        }
        if (rule.generalise) {
            const auto g = generalise(rule, in);
            if (!g) {
                withhold(path, "generalise_failed");
                return false;
            }
            out.SetString(g->c_str(), alloc_);
            generalised_.push_back(path);
            return true;
        }
        out.CopyFrom(in, alloc_);
        return true;
    }

    std::optional<std::string> generalise(const field_rule& rule, const value& in) const {
        switch (*rule.generalise) {
            case generalisation::year:
            case generalisation::month: {
                if (!in.IsString() || !parse_date(in.GetString())) {
                    return std::nullopt;
                }
                const std::string s = in.GetString();
                return s.substr(0, *rule.generalise == generalisation::year ? 4 : 7);
            }
            case generalisation::age_band: {
                if (in.IsInt()) {
                    return in.GetInt() >= 0 ? band_label(in.GetInt(), rule.bands) : std::nullopt;
                }
                const auto birth = in.IsString() ? parse_date(in.GetString()) : std::nullopt;
                if (!birth || *birth > as_of_) {
                    return std::nullopt;
                }
                return band_label(age_at(*birth, as_of_), rule.bands);
            }
            case generalisation::admin_level: {
                if (!in.IsString()) {
                    return std::nullopt;
                }
                const std::string code(in.GetString(), in.GetStringLength());
                const bool clean =
                    !code.empty() && std::all_of(code.begin(), code.end(), [](char c) {
                        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                               (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
                    });
                if (!clean) {
                    return std::nullopt;  // not a location code: never cut text to a prefix
                }
                return code.substr(0, std::min(code.size(), rule.level_length));
            }
        }
        return std::nullopt;
    }

    void withhold(const std::string& path, const char* rule) {
        withheld_.push_back({path, rule});  // the first reason for a path is kept (finish)
    }

    static std::vector<std::string> sorted_once(std::vector<std::string>&& paths) {
        std::sort(paths.begin(), paths.end());
        paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
        return std::move(paths);
    }

    allocator& alloc_;
    time_point as_of_;
    decision& d_;
    // Paths as met; sorted, each once, by finish().
    std::vector<std::string> sent_;
    std::vector<withheld_field> withheld_;
    std::vector<std::string> pseudonymised_;
    std::vector<std::string> generalised_;
};

}  // namespace

std::string pseudonym(std::string_view key, std::string_view prefix, std::string_view v) {
    const std::string mac = crypto::hmac_sha256(key, v);
    return std::string(prefix) + to_hex(std::string_view(mac).substr(0, 16));
}

result<decision> decide(
    const profile& p,
    const rapidjson::Value& record,
    time_point as_of,
    const std::optional<operator_override>& override_request
) {
    if (!record.IsObject()) {
        CASEBRIDGE_RETURN_ERROR(errc::bad_payload);
    }
    if (!p.unavailable_key.empty()) {
        // Never share a field unpseudonymised because its key is missing.
        CASEBRIDGE_RETURN_ERROR(errc::invalid_config);
    }
    decision d;
    d.profile_id = p.id;
    d.profile_version = p.version;
    d.profile_hash = p.hash;
    d.payload.SetNull();

    evaluator eval(record, p);
    for (const auto& b : p.bases) {
        if (eval.eval(b.when)) {
            d.basis = b.name;
            break;
        }
    }
    d.consent_values = eval.values();

    if (!p.record_level) {
        d.aggregate_only = true;
        d.reason = "aggregate-only profile: records are counted, never sent";
        return d;
    }
    if (d.basis.empty() && override_request) {
        if (!p.override_rules.allowed) {
            d.reason =
                "no legitimate basis holds, and this profile does not allow an operator override";
            return d;
        }
        if (override_request->reason.empty() || override_request->actor.empty()) {
            CASEBRIDGE_RETURN_ERROR(errc::usage);
        }
        d.basis = "operator_override";
        d.override_used = override_request;
    }
    if (d.basis.empty()) {
        std::string tried;
        for (const auto& b : p.bases) {
            tried += (tried.empty() ? "" : ", ") + b.name;
        }
        d.reason = "no legitimate basis holds (tried: " + tried + ")";
        return d;
    }
    redactor r(d.payload.GetAllocator(), as_of, d);
    r.object(record, p.fields, "", d.payload);
    r.finish();
    if (p.linkage) {
        // The whole record, before redaction: names and dates leave only as their encoding.
        d.linkage = p.linkage->encode(record);
        d.linkage_schema_version = p.linkage->schema_version();
        d.fields_encoded = p.linkage->encoded_fields();
        for (auto& w : d.fields_withheld) {
            // Exact paths only: a subform withheld whole is more than its encoded row field.
            const bool encoded =
                std::find(d.fields_encoded.begin(), d.fields_encoded.end(), w.field) !=
                d.fields_encoded.end();
            if (encoded && w.rule == "not_in_share") {
                w.rule = "linkage_encoded";
            }
        }
    }
    d.share = true;
    return d;
}

std::string to_json(const decision& d, bool pretty) {
    rapidjson::Document doc(rapidjson::kObjectType);
    auto& a = doc.GetAllocator();
    const auto s = [&a](const std::string& text) { return value(text.c_str(), a); };
    const auto strings = [&](const std::vector<std::string>& list) {
        value arr(rapidjson::kArrayType);
        for (const auto& e : list) {
            arr.PushBack(s(e), a);
        }
        return arr;
    };
    doc.AddMember("decision", value(d.share ? "share" : "withhold", a), a);
    if (d.aggregate_only) {
        doc.AddMember("aggregate_only", true, a);
        doc.AddMember("countable", !d.basis.empty(), a);
    }
    doc.AddMember("basis", d.basis.empty() ? value() : s(d.basis), a);
    doc.AddMember("reason", s(d.reason), a);
    value consent(rapidjson::kObjectType);
    for (const auto& c : d.consent_values) {
        consent.AddMember(s(c.field), strings(c.values), a);
    }
    doc.AddMember("consent_values", consent, a);
    doc.AddMember("fields_sent", strings(d.fields_sent), a);
    value withheld(rapidjson::kArrayType);
    for (const auto& w : d.fields_withheld) {
        value e(rapidjson::kObjectType);
        e.AddMember("field", s(w.field), a);
        e.AddMember("rule", s(w.rule), a);
        withheld.PushBack(e, a);
    }
    doc.AddMember("fields_withheld", withheld, a);
    doc.AddMember("fields_pseudonymised", strings(d.fields_pseudonymised), a);
    doc.AddMember("fields_generalised", strings(d.fields_generalised), a);
    value prof(rapidjson::kObjectType);
    prof.AddMember("id", s(d.profile_id), a);
    prof.AddMember("version", d.profile_version, a);
    prof.AddMember("hash", s(d.profile_hash), a);
    doc.AddMember("profile", prof, a);
    if (d.override_used) {
        value o(rapidjson::kObjectType);
        o.AddMember("actor", s(d.override_used->actor), a);
        o.AddMember("reason", s(d.override_used->reason), a);
        doc.AddMember("override", o, a);
    }
    value payload;
    payload.CopyFrom(d.payload, a);
    doc.AddMember("payload", payload, a);
    if (d.linkage) {
        value l = linkage_wire_form(d.linkage_schema_version, *d.linkage, a);
        l.AddMember("fields_encoded", strings(d.fields_encoded), a);
        doc.AddMember("linkage", l, a);
    }
    return json::to_string(doc, pretty);
}

}  // namespace casebridge::policy
