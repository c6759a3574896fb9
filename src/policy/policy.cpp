#include "policy/policy.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>

#include <rapidjson/document.h>
#include <sys/stat.h>

#include "canonical/canonical_case.hpp"
#include "core/crypto.hpp"
#include "json/json_schema.hpp"
#include "linkage/encoder.hpp"
#include "linkage/schema.hpp"
#include "policy/linkage_step.hpp"

namespace casebridge::policy {
namespace {

constexpr std::size_t min_key_bytes = 32;

// Throws a load error located at `pointer` in the file.
class reporter {
public:
    reporter(const json::located_document& file, std::string_view origin)
        : file_(file), origin_(origin) {}

    [[noreturn]] void fail(const std::string& pointer, const std::string& message) const {
        json::fail_at(file_, origin_, pointer, message);
    }

private:
    const json::located_document& file_;
    std::string origin_;
};

std::string str(const rapidjson::Value& v) {
    return {v.GetString(), v.GetStringLength()};
}

// "/a/b" → {"a", "b"}; the schema has already checked the shape.
std::vector<std::string> split_path(std::string_view p) {
    std::vector<std::string> parts;
    std::size_t start = 1;
    while (start <= p.size()) {
        const auto slash = p.find('/', start);
        const auto end = slash == std::string_view::npos ? p.size() : slash;
        parts.emplace_back(p.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

// A canonical path resolved against the catalogue.
struct resolved_path {
    const field_def* top = nullptr;
    const field_def* row = nullptr;  // for "/subform/row"
    bool wildcard = false;           // "/subform/*"
    std::string top_name;
    std::string row_name;
};

/// A pseudonym key as loaded: its material, or why it cannot be had.
struct loaded_key {
    std::shared_ptr<const std::string> material;
    std::string problem;
};

class profile_compiler {
public:
    profile_compiler(
        const reporter& report,
        const canonical_catalogue& catalogue,
        const std::vector<age_band>& default_bands,
        const std::vector<location_level>& levels,
        const std::map<std::string, loaded_key, std::less<>>& keys,
        std::filesystem::path base_dir
    )
        : report_(report),
          catalogue_(catalogue),
          default_bands_(default_bands),
          levels_(levels),
          keys_(keys),
          base_dir_(std::move(base_dir)) {}

    profile compile(const rapidjson::Value& v, const std::string& at) {
        profile p;
        p.id = str(v["id"]);
        p.version = v["version"].GetInt();
        p.recipient = str(v["recipient"]);
        if (v.HasMember("description")) {
            p.description = str(v["description"]);
        }
        const std::string purpose_name = str(v["purpose"]);
        p.purpose_ = purpose_name == "referral"   ? purpose::referral
                     : purpose_name == "transfer" ? purpose::transfer
                     : purpose_name == "decision" ? purpose::decision
                                                  : purpose::report;
        p.record_level = v.HasMember("record_level") ? v["record_level"].GetBool()
                                                     : p.purpose_ != purpose::report;
        compile_share(v["share"], at + "/share", p);
        if (v.HasMember("never")) {
            compile_never(v["never"], at + "/never", p);
        }
        if (v.HasMember("pseudonymise")) {
            compile_pseudonymise(v["pseudonymise"], at + "/pseudonymise", p);
        }
        if (v.HasMember("generalise")) {
            compile_generalise(v["generalise"], at + "/generalise", p);
        }
        if (v.HasMember("basis")) {
            const auto& b = v["basis"];
            for (rapidjson::SizeType i = 0; i < b.Size(); ++i) {
                const std::string bp = at + "/basis/" + std::to_string(i);
                basis_rule rule;
                rule.name = str(b[i]["name"]);
                check_basis_name(rule.name, bp + "/name");
                rule.when = compile_condition(b[i]["when"], bp + "/when");
                collect_known_codes(rule.when, p);
                p.bases.push_back(std::move(rule));
            }
        }
        if (p.record_level && p.bases.empty()) {
            report_.fail(
                at,
                "a profile that lets records leave needs at least one \"basis\" (without one it "
                "would withhold every record)"
            );
        }
        if (!p.record_level && !v["share"].Empty()) {
            report_.fail(
                at + "/share", "an aggregate-only profile (record_level false) shares no fields"
            );
        }
        if (v.HasMember("linkage")) {
            if (!p.record_level) {
                report_.fail(
                    at + "/linkage",
                    "an aggregate-only profile (record_level false) sends no records, so it has "
                    "nothing to encode"
                );
            }
            compile_linkage(v["linkage"], at + "/linkage", p);
        }
        if (v.HasMember("on_withdrawal")) {
            p.notify_on_withdrawal = std::string_view(v["on_withdrawal"].GetString()) == "notify";
        }
        if (v.HasMember("override")) {
            p.override_rules.allowed = v["override"]["allowed"].GetBool();
            if (v["override"].HasMember("requires_reason")) {
                p.override_rules.requires_reason = v["override"]["requires_reason"].GetBool();
            }
            if (p.override_rules.allowed && !p.override_rules.requires_reason) {
                report_.fail(
                    at + "/override/requires_reason",
                    "an operator override must always carry a written reason"
                );
            }
        }
        return p;
    }

private:
    resolved_path resolve(const std::string& path, const std::string& at, bool allow_wildcard) {
        const auto parts = split_path(path);
        resolved_path r;
        r.top_name = parts[0];
        r.top = catalogue_.find(parts[0]);
        if (r.top == nullptr) {
            report_.fail(
                at, "unknown canonical field \"" + parts[0] + "\" (see docs/canonical-case.md)"
            );
        }
        if (parts.size() == 2) {
            if (!r.top->is_subform()) {
                report_.fail(at, "\"" + parts[0] + "\" is not a subform, so it has no row fields");
            }
            if (parts[1] == "*") {
                if (!allow_wildcard) {
                    report_.fail(at, "a wildcard is allowed in \"share\" only");
                }
                r.wildcard = true;
                return r;
            }
            r.row_name = parts[1];
            r.row = r.top->row_field(parts[1]);
            if (r.row == nullptr && parts[1] != "unique_id") {
                report_.fail(
                    at, "unknown row field \"" + parts[1] + "\" of subform \"" + parts[0] + "\""
                );
            }
        }
        return r;
    }

    field_rule& rule_for(profile& p, const resolved_path& r) {
        auto& top = p.fields[r.top_name];
        return r.row_name.empty() ? top : top.children[r.row_name];
    }

    static bool is_free_text(const resolved_path& r) {
        return r.row != nullptr ? r.row->free_text : (r.row_name.empty() && r.top->free_text);
    }

    void compile_share(const rapidjson::Value& share, const std::string& at, profile& p) {
        std::set<std::string> seen;
        for (rapidjson::SizeType i = 0; i < share.Size(); ++i) {
            const std::string ep = at + "/" + std::to_string(i);
            const bool reviewed = share[i].IsObject();
            const std::string path = reviewed ? str(share[i]["field"]) : str(share[i]);
            if (!seen.insert(path).second) {
                report_.fail(ep, "\"" + path + "\" is listed twice");
            }
            const auto r = resolve(path, ep, true);
            if (r.row_name.empty() && !r.wildcard && r.top->is_subform()) {
                report_.fail(
                    ep,
                    "subform \"" + r.top_name + "\" is shared row field by row: list \"/" +
                        r.top_name + "/FIELD\" entries or \"/" + r.top_name + "/*\""
                );
            }
            if (r.wildcard) {
                auto& sub = p.fields[r.top_name];
                sub.children["unique_id"].share = true;
                for (const auto& rf : r.top->row_fields) {
                    // Narrative row fields are never shared by a wildcard: each needs a review.
                    if (!rf.free_text) {
                        sub.children[rf.name].share = true;
                    }
                }
                continue;
            }
            if (is_free_text(r) && !reviewed) {
                report_.fail(
                    ep,
                    "\"" + path + "\" is free text: share it only as {\"field\": \"" + path +
                        "\", \"reviewed\": \"why this text is needed and how it is checked\"}"
                );
            }
            rule_for(p, r).share = true;
        }
    }

    void compile_never(const rapidjson::Value& never, const std::string& at, profile& p) {
        for (rapidjson::SizeType i = 0; i < never.Size(); ++i) {
            const std::string ep = at + "/" + std::to_string(i);
            const std::string path = str(never[i]);
            const auto r = resolve(path, ep, false);
            field_rule& rule = rule_for(p, r);
            if (r.row_name.empty() && r.top->is_subform()) {
                for (const auto& e : share_entries_) {
                    if (e.rfind(path + "/", 0) == 0 && e != path + "/*") {
                        report_.fail(
                            ep,
                            "\"" + path +
                                "\" is in \"never\" but \"share\" lists its row field \"" + e +
                                "\" (contradictory rules)"
                        );
                    }
                }
            }
            if (rule.share && !explicitly_shared_by_wildcard_only(p, r)) {
                report_.fail(
                    ep, "\"" + path + "\" is in both \"share\" and \"never\" (contradictory rules)"
                );
            }
            rule.never = true;
            rule.share = false;
        }
    }

    // True when the only thing that shares `r` is a "/subform/*" wildcard: "never" then
    // narrows the wildcard instead of contradicting an explicit entry.
    bool explicitly_shared_by_wildcard_only(const profile&, const resolved_path& r) const {
        if (r.row_name.empty()) {
            return false;
        }
        for (const auto& e : share_entries_) {
            if (e == "/" + r.top_name + "/" + r.row_name) {
                return false;
            }
        }
        return true;
    }

    field_rule& shared_rule(
        profile& p, const std::string& path, const std::string& at, const char* what
    ) {
        const auto r = resolve(path, at, false);
        field_rule& rule = rule_for(p, r);
        if (rule.never) {
            report_.fail(at, "\"" + path + "\" is in \"never\", so it cannot be " + what);
        }
        if (!rule.share) {
            report_.fail(
                at, "\"" + path + "\" is " + what + " but not in \"share\" (list it there too)"
            );
        }
        if (!rule.pseudonym_key_id.empty() || rule.generalise) {
            report_.fail(at, "\"" + path + "\" already has a pseudonymise or generalise rule");
        }
        last_type_ = r.row != nullptr ? r.row->type : r.top->type;
        return rule;
    }

    void compile_pseudonymise(const rapidjson::Value& list, const std::string& at, profile& p) {
        for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
            const std::string ep = at + "/" + std::to_string(i);
            field_rule& rule =
                shared_rule(p, str(list[i]["field"]), ep + "/field", "pseudonymised");
            const std::string key_id = str(list[i]["key"]);
            const auto key = keys_.find(key_id);
            if (key == keys_.end()) {
                report_.fail(
                    ep + "/key", "unknown key \"" + key_id + "\" (define it under /pseudonym_keys)"
                );
            }
            rule.pseudonym_key = key->second.material;
            rule.pseudonym_key_id = key_id;
            if (!key->second.material && p.unavailable_key.empty()) {
                p.unavailable_key = key->second.problem;
            }
            rule.pseudonym_prefix = list[i].HasMember("prefix") ? str(list[i]["prefix"]) : "psn-";
        }
    }

    void compile_generalise(const rapidjson::Value& list, const std::string& at, profile& p) {
        for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
            const std::string ep = at + "/" + std::to_string(i);
            const auto& g = list[i];
            field_rule& rule = shared_rule(p, str(g["field"]), ep + "/field", "generalised");
            const std::string to = str(g["to"]);
            const field_type type = last_type_;
            if ((to == "year" || to == "month") && type != field_type::date) {
                report_.fail(ep + "/to", "\"" + to + "\" applies to date fields only");
            }
            if (to == "age_band" && type != field_type::date && type != field_type::integer) {
                report_.fail(ep + "/to", "\"age_band\" applies to a date of birth or an age");
            }
            if (to == "admin_level" && type != field_type::code) {
                report_.fail(ep + "/to", "\"admin_level\" applies to location code fields only");
            }
            rule.generalise = to == "year"       ? generalisation::year
                              : to == "month"    ? generalisation::month
                              : to == "age_band" ? generalisation::age_band
                                                 : generalisation::admin_level;
            if (to == "admin_level") {
                if (!g.HasMember("level")) {
                    report_.fail(
                        ep, "\"admin_level\" needs \"level\" (a name from /location_levels)"
                    );
                }
                const std::string level = str(g["level"]);
                const auto it = std::find_if(levels_.begin(), levels_.end(), [&](const auto& l) {
                    return l.name == level;
                });
                if (it == levels_.end()) {
                    report_.fail(ep + "/level", "unknown location level \"" + level + "\"");
                }
                rule.level = level;
                rule.level_length = it->code_length;
            }
            rule.bands = default_bands_;
            if (g.HasMember("bands")) {
                rule.bands = parse_bands(g["bands"], ep + "/bands", report_);
            }
        }
    }

    // The linkage step: its schema must load (its own errors name its own file) and read
    // canonical fields only; its secret matters only to this profile, as a pseudonym key does.
    void compile_linkage(const rapidjson::Value& l, const std::string& at, profile& p) {
        std::filesystem::path file(str(l["schema"]));
        if (file.is_relative() && !base_dir_.empty()) {
            file = base_dir_ / file;
        }
        std::error_code ec;
        if (!std::filesystem::is_regular_file(file, ec)) {
            report_.fail(
                at + "/schema",
                "linkage schema file \"" + file.string() +
                    "\" does not exist or is not a regular file (a relative path is relative to "
                    "the policies file)"
            );
        }
        auto schema = linkage::linkage_schema::load(file);
        const auto read_by = [&](const std::string& path) {
            if (catalogue_.resolve(path) == nullptr) {
                report_.fail(
                    at + "/schema",
                    "linkage schema \"" + file.string() + "\" reads \"" + path +
                        "\", which is not a canonical field"
                );
            }
        };
        for (const auto& f : schema.fields) {
            for (const auto& s : f.sources) {
                read_by(f.subform + s);
            }
        }
        for (const auto& id : schema.identifiers) {
            read_by(id.source);
        }

        const auto& s = l["secret"];
        const bool has_file = s.HasMember("file");
        const bool has_env = s.HasMember("env");
        if (has_file == has_env) {
            report_.fail(
                at + "/secret", "the linkage secret comes from exactly one of \"file\" or \"env\""
            );
        }
        secret_source source;
        std::string problem_at;
        std::string problem;
        if (has_file) {
            source.file = str(s["file"]);
            problem_at = at + "/secret/file";
            struct stat st {};
            if (::stat(source.file.c_str(), &st) != 0) {
                problem = "linkage secret file \"" + source.file.string() + "\" cannot be read";
            } else if ((st.st_mode & 077U) != 0) {
                problem = "linkage secret file \"" + source.file.string() +
                          "\" is readable by group or others (chmod 600 it)";
            }
        } else {
            source.env = str(s["env"]);
            problem_at = at + "/secret/env";
            if (std::getenv(source.env.c_str()) == nullptr) {
                problem = "environment variable " + source.env + " is not set";
            }
        }
        std::string secret;
        if (problem.empty()) {
            auto loaded = linkage::load_linkage_secret(source);
            if (loaded) {
                secret = std::move(*loaded);
            } else {
                problem = std::string(has_file ? "the linkage secret file" : "the linkage secret") +
                          " is empty or shorter than " + std::to_string(linkage::min_secret_bytes) +
                          " bytes (use e.g. `openssl rand -hex 32`)";
            }
        }
        if (!problem.empty() && p.unavailable_key.empty()) {
            try {
                report_.fail(problem_at, problem);
            } catch (const json::file_error& e) {
                p.unavailable_key = e.what();  // matters only to flows under this profile
            }
        }
        auto step =
            std::make_shared<const linkage_step>(std::move(schema), file, std::move(secret));
        // The encoding of a field that must never go would carry it after all.
        for (const auto& path : step->encoded_fields()) {
            const auto parts = split_path(path);
            const auto top = p.fields.find(parts[0]);
            if (top == p.fields.end()) {
                continue;
            }
            bool never = top->second.never;
            if (!never && parts.size() == 2) {
                const auto row = top->second.children.find(parts[1]);
                never = row != top->second.children.end() && row->second.never;
            }
            if (never) {
                report_.fail(
                    at + "/schema",
                    "the linkage step encodes \"" + path +
                        "\", which this profile lists in \"never\" (contradictory rules)"
                );
            }
        }
        p.linkage = std::move(step);
    }

    void check_basis_name(const std::string& name, const std::string& at) const {
        const field_def* lb = catalogue_.find("legitimate_basis");
        // Checked against the listed codes even when the value set is open: a basis goes into
        // every transfer-log entry, so auditors get a closed vocabulary. A deployment adds a
        // basis by listing it in its catalogue.
        if (lb != nullptr &&
            std::find(lb->values.begin(), lb->values.end(), name) == lb->values.end()) {
            std::string allowed;
            for (const auto& v : lb->values) {
                allowed += (allowed.empty() ? "" : ", ") + v;
            }
            report_.fail(
                at, "\"" + name + "\" is not a legitimate basis (one of: " + allowed + ")"
            );
        }
    }

    void collect_known_codes(const condition& c, profile& p) const {
        for (const auto& child : c.children) {
            collect_known_codes(child, p);
        }
        if (c.field.empty()) {
            return;
        }
        auto& known = p.known_codes[c.field];
        if (const field_def* f = catalogue_.find(c.field)) {
            known.insert(f->values.begin(), f->values.end());
        }
        known.insert(c.codes.begin(), c.codes.end());
    }

    condition compile_condition(const rapidjson::Value& v, const std::string& at) {
        condition c;
        static const char* compound[] = {"all", "any", "not"};
        int operators = 0;
        for (const char* k : compound) {
            operators += v.HasMember(k) ? 1 : 0;
        }
        if (operators > 0) {
            if (operators > 1 || v.MemberCount() != 1) {
                report_.fail(
                    at,
                    "a condition has exactly one of \"all\", \"any\", \"not\", or a \"field\" test"
                );
            }
            if (v.HasMember("not")) {
                c.k = condition::kind::negate;
                c.children.push_back(compile_condition(v["not"], at + "/not"));
                return c;
            }
            const bool all = v.HasMember("all");
            c.k = all ? condition::kind::all : condition::kind::any;
            const auto& list = v[all ? "all" : "any"];
            for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
                c.children.push_back(
                    compile_condition(list[i], at + (all ? "/all/" : "/any/") + std::to_string(i))
                );
            }
            return c;
        }
        if (!v.HasMember("field") || v.MemberCount() != 2) {
            report_.fail(
                at,
                "a field test is {\"field\": \"/name\", and one of \"is\", \"contains\", \"in\", "
                "\"present\"}"
            );
        }
        const std::string path = str(v["field"]);
        const auto r = resolve(path, at + "/field", false);
        if (!r.row_name.empty()) {
            report_.fail(at + "/field", "conditions read top-level fields only");
        }
        const field_def& f = *r.top;
        // The decision records the values a condition read, so conditions may read only
        // booleans and codes, never names or text.
        if (f.type != field_type::boolean && f.type != field_type::code &&
            f.type != field_type::code_list) {
            report_.fail(
                at + "/field",
                "conditions may read boolean and code fields only; \"" + r.top_name + "\" is " +
                    std::string(to_string(f.type))
            );
        }
        c.field = r.top_name;
        if (v.HasMember("is")) {
            if (f.type != field_type::boolean) {
                report_.fail(at + "/is", "\"is\" tests boolean fields; use \"contains\" or \"in\"");
            }
            c.k = condition::kind::is;
            c.flag = v["is"].GetBool();
        } else if (v.HasMember("present")) {
            c.k = condition::kind::present;
            c.flag = v["present"].GetBool();
        } else if (v.HasMember("contains") || v.HasMember("in")) {
            const bool contains = v.HasMember("contains");
            if (f.type == field_type::boolean) {
                report_.fail(at, "\"" + r.top_name + "\" is boolean: test it with \"is\"");
            }
            if (contains && f.type != field_type::code_list) {
                report_.fail(
                    at + "/contains", "\"contains\" tests code lists; use \"in\" for a code"
                );
            }
            c.k = contains ? condition::kind::contains : condition::kind::in;
            if (contains) {
                c.codes.push_back(str(v["contains"]));
            } else {
                for (const auto& code : v["in"].GetArray()) {
                    c.codes.push_back(str(code));
                }
            }
            for (std::size_t i = 0; i < c.codes.size(); ++i) {
                if (!f.allows(c.codes[i])) {
                    report_.fail(
                        at + (contains ? "/contains" : "/in/" + std::to_string(i)),
                        "\"" + c.codes[i] + "\" is not a code of \"" + r.top_name + "\""
                    );
                }
            }
        } else {
            report_.fail(at, "unknown test: use \"is\", \"contains\", \"in\" or \"present\"");
        }
        return c;
    }

public:
    static std::vector<age_band> parse_bands(
        const rapidjson::Value& v, const std::string& at, const reporter& report
    ) {
        std::vector<age_band> bands;
        for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
            const age_band b{v[i][0].GetInt(), v[i][1].GetInt()};
            if (b.from > b.to) {
                report.fail(at + "/" + std::to_string(i), "band starts after it ends");
            }
            if (!bands.empty() && b.from <= bands.back().to) {
                report.fail(at + "/" + std::to_string(i), "bands must be in order and not overlap");
            }
            bands.push_back(b);
        }
        return bands;
    }

    void set_share_entries(const rapidjson::Value& share) {
        share_entries_.clear();
        for (const auto& e : share.GetArray()) {
            share_entries_.push_back(e.IsObject() ? str(e["field"]) : str(e));
        }
    }

private:
    const reporter& report_;
    const canonical_catalogue& catalogue_;
    const std::vector<age_band>& default_bands_;
    const std::vector<location_level>& levels_;
    const std::map<std::string, loaded_key, std::less<>>& keys_;
    std::filesystem::path base_dir_;
    std::vector<std::string> share_entries_;
    field_type last_type_ = field_type::string;
};

std::shared_ptr<const std::string> load_key(
    const rapidjson::Value& v, const std::string& at, const reporter& report
) {
    const bool has_file = v.HasMember("file");
    const bool has_env = v.HasMember("env");
    if (has_file == has_env) {
        report.fail(at, "a key comes from exactly one of \"file\" or \"env\"");
    }
    std::string material;
    if (has_file) {
        const std::string path = str(v["file"]);
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            report.fail(at + "/file", "key file \"" + path + "\" cannot be read");
        }
        if ((st.st_mode & 077U) != 0) {
            report.fail(
                at + "/file",
                "key file \"" + path + "\" is readable by group or others (chmod 600 it)"
            );
        }
        auto text = json::read_file(path, 4096);
        if (!text) {
            report.fail(at + "/file", "key file \"" + path + "\" cannot be read");
        }
        material = std::move(*text);
        while (!material.empty() && (material.back() == '\n' || material.back() == '\r')) {
            material.pop_back();
        }
    } else {
        const std::string name = str(v["env"]);
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) {
            report.fail(at + "/env", "environment variable " + name + " is not set");
        }
        material = value;
    }
    if (material.size() < min_key_bytes) {
        report.fail(
            at,
            "key is shorter than " + std::to_string(min_key_bytes) +
                " bytes (use e.g. `openssl rand -hex 32`)"
        );
    }
    return std::make_shared<const std::string>(std::move(material));
}

}  // namespace

std::string_view to_string(purpose p) noexcept {
    switch (p) {
        case purpose::referral:
            return "referral";
        case purpose::transfer:
            return "transfer";
        case purpose::decision:
            return "decision";
        case purpose::report:
            return "report";
    }
    return "?";
}

policy_set policy_set::load(
    const std::filesystem::path& path, const canonical_catalogue& catalogue
) {
    const auto file = json::load_file(path);
    return from_document(
        file, path.string(), catalogue, path.has_parent_path() ? path.parent_path() : "."
    );
}

policy_set policy_set::from_document(
    const json::located_document& file,
    std::string_view origin,
    const canonical_catalogue& catalogue,
    const std::filesystem::path& base_dir
) {
    static const json::schema schema(policies_schema_text(), "policies.schema.json");
    schema.check_file(file, origin);
    const reporter report(file, origin);
    const auto& doc = file.doc;

    std::vector<age_band> bands = {{0, 5}, {6, 11}, {12, 17}};
    if (doc.HasMember("age_bands")) {
        bands = profile_compiler::parse_bands(doc["age_bands"], "/age_bands", report);
    }
    std::vector<location_level> levels;
    if (doc.HasMember("location_levels")) {
        const auto& l = doc["location_levels"];
        for (rapidjson::SizeType i = 0; i < l.Size(); ++i) {
            location_level level{str(l[i]["name"]), l[i]["code_length"].GetUint()};
            if (!levels.empty() && level.code_length <= levels.back().code_length) {
                report.fail(
                    "/location_levels/" + std::to_string(i),
                    "levels go from the widest to the narrowest: each code is longer than the last"
                );
            }
            levels.push_back(std::move(level));
        }
    }
    std::map<std::string, loaded_key, std::less<>> keys;
    if (doc.HasMember("pseudonym_keys")) {
        for (const auto& k : doc["pseudonym_keys"].GetObject()) {
            const std::string id = str(k.name);
            loaded_key lk;
            try {
                lk.material =
                    load_key(k.value, "/pseudonym_keys/" + json::escape_pointer_token(id), report);
            } catch (const json::file_error& e) {
                lk.problem = e.what();  // matters only to the profiles that use this key
            }
            keys.emplace(id, std::move(lk));
        }
    }

    policy_set set;
    std::set<std::string> ids;
    const auto& profiles = doc["profiles"];
    for (rapidjson::SizeType i = 0; i < profiles.Size(); ++i) {
        const std::string at = "/profiles/" + std::to_string(i);
        profile_compiler compiler(report, catalogue, bands, levels, keys, base_dir);
        compiler.set_share_entries(profiles[i]["share"]);
        profile p = compiler.compile(profiles[i], at);
        if (!ids.insert(p.id).second) {
            report.fail(at + "/id", "profile id \"" + p.id + "\" is used twice");
        }
        // The hash covers the profile and every setting it depends on, but no key material.
        rapidjson::Document h(rapidjson::kObjectType);
        auto& a = h.GetAllocator();
        h.AddMember("profile", rapidjson::Value(profiles[i], a), a);
        if (doc.HasMember("age_bands")) {
            h.AddMember("age_bands", rapidjson::Value(doc["age_bands"], a), a);
        }
        if (doc.HasMember("location_levels")) {
            h.AddMember("location_levels", rapidjson::Value(doc["location_levels"], a), a);
        }
        if (p.linkage) {
            // The encoding's rules are the schema file's: a change to them changes the hash
            // (its comments do not).
            const auto schema_file = json::load_file(p.linkage->schema_file());
            rapidjson::Value l(rapidjson::kObjectType);
            l.AddMember("schema_version", p.linkage->schema_version(), a);
            const std::string digest = crypto::sha256_hex(json::canonical(schema_file.doc));
            l.AddMember("schema_sha256", rapidjson::Value(digest.c_str(), a), a);
            h.AddMember("linkage", l, a);
        }
        p.hash = "sha256:" + crypto::sha256_hex(json::canonical(h));
        set.profiles_.push_back(std::move(p));
    }
    return set;
}

const profile* policy_set::find(std::string_view id) const noexcept {
    for (const auto& p : profiles_) {
        if (p.id == id) {
            return &p;
        }
    }
    return nullptr;
}

}  // namespace casebridge::policy
