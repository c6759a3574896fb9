// Property: whatever a record holds, a payload carries only fields its profile shares, never
// a "never" field, and no value of any field it does not share.
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "core/time.hpp"
#include "policy/decision.hpp"
#include "policy_fixture.hpp"
#include "support/json_member.hpp"

namespace casebridge::policy {
namespace {

using test_support::catalogue;

struct allowed_fields {
    std::set<std::string> share;  // generic paths: "/x", "/sub/row"
    std::set<std::string> never;
};

// Read straight from the policies file and the catalogue, not from the compiled profile, so
// the test does not share the implementation's view of the rules.
allowed_fields allowed_for(const std::string& profile_id) {
    const auto file = json::load_file(test_support::shipped_policies_path());
    allowed_fields out;
    for (const auto& p : file.doc["profiles"].GetArray()) {
        if (profile_id != p["id"].GetString()) {
            continue;
        }
        for (const auto& e : p["share"].GetArray()) {
            const std::string path = e.IsObject() ? e["field"].GetString() : e.GetString();
            if (path.size() > 2 && path.compare(path.size() - 2, 2, "/*") == 0) {
                const std::string sub = path.substr(1, path.size() - 3);
                out.share.insert("/" + sub + "/unique_id");
                for (const auto& rf : catalogue().find(sub)->row_fields) {
                    if (!rf.free_text) {
                        out.share.insert("/" + sub + "/" + rf.name);
                    }
                }
            } else {
                out.share.insert(path);
            }
        }
        if (p.HasMember("never")) {
            for (const auto& e : p["never"].GetArray()) {
                out.never.insert(e.GetString());
            }
        }
    }
    for (const auto& n : out.never) {
        for (auto it = out.share.begin(); it != out.share.end();) {
            it = (*it == n || it->rfind(n + "/", 0) == 0) ? out.share.erase(it) : std::next(it);
        }
    }
    return out;
}

class generator {
public:
    explicit generator(unsigned seed) : rng_(seed) {}

    rapidjson::Document record(int n) {
        rapidjson::Document doc(rapidjson::kObjectType);
        auto& a = doc.GetAllocator();
        for (const auto& f : catalogue().fields()) {
            if (coin(0.15)) {
                continue;  // fields are often absent
            }
            rapidjson::Value v;
            if (f.is_subform()) {
                v.SetArray();
                const int rows = pick(0, 3);
                for (int r = 0; r < rows; ++r) {
                    rapidjson::Value row(rapidjson::kObjectType);
                    for (const auto& rf : f.row_fields) {
                        row.AddMember(
                            name(rf.name, a), typed(rf, "/" + f.name + "/" + rf.name, n, a), a
                        );
                    }
                    extras(row, "/" + f.name, n, a);
                    v.PushBack(row, a);
                }
                if (coin(0.1)) {
                    v.PushBack(sentinel("/" + f.name + "/scalar-row", n, a), a);
                }
            } else if (coin(0.05)) {
                v.SetObject();  // a value of the wrong shape, hiding data one level down
                v.AddMember("inner", sentinel("/" + f.name + "/inner", n, a), a);
            } else {
                v = typed(f, "/" + f.name, n, a);
            }
            doc.AddMember(name(f.name, a), v, a);
        }
        extras(doc, "", n, a);
        // Consent for every purpose, so record-level profiles share and the payload is tested.
        set_bool(doc, "consent_for_services");
        set_bool(doc, "disclosure_other_orgs");
        set_bool(doc, "consent_reporting");
        rapidjson::Value sharing(rapidjson::kArrayType);
        for (const char* c : {"unhcr", "authorities", "other_organizations"}) {
            sharing.PushBack(rapidjson::Value(c, a), a);
        }
        test::set_member(doc, "consent_info_sharing", sharing);
        return doc;
    }

private:
    bool coin(double p) { return std::uniform_real_distribution<>(0, 1)(rng_) < p; }
    int pick(int lo, int hi) { return std::uniform_int_distribution<>(lo, hi)(rng_); }

    static rapidjson::Value name(const std::string& s, rapidjson::Document::AllocatorType& a) {
        return rapidjson::Value(s.c_str(), a);
    }

    // Values carry their path, so a leak says exactly which field leaked.
    static rapidjson::Value sentinel(
        const std::string& path, int n, rapidjson::Document::AllocatorType& a
    ) {
        return rapidjson::Value(("CBX-SENTINEL" + path + "#" + std::to_string(n)).c_str(), a);
    }

    rapidjson::Value typed(
        const field_def& f, const std::string& path, int n, rapidjson::Document::AllocatorType& a
    ) {
        switch (f.type) {
            case field_type::boolean:
                return rapidjson::Value(coin(0.5));
            case field_type::integer:
                return rapidjson::Value(pick(0, 17));
            case field_type::date: {
                const std::string d = std::to_string(pick(2008, 2024)) + "-0" +
                                      std::to_string(pick(1, 9)) + "-1" +
                                      std::to_string(pick(0, 9));
                return rapidjson::Value(d.c_str(), a);
            }
            case field_type::code_list: {
                rapidjson::Value arr(rapidjson::kArrayType);
                arr.PushBack(sentinel(path, n, a), a);
                return arr;
            }
            default:
                return sentinel(path, n, a);
        }
    }

    void extras(
        rapidjson::Value& obj,
        const std::string& prefix,
        int n,
        rapidjson::Document::AllocatorType& a
    ) {
        const int count = pick(0, 3);
        for (int i = 0; i < count; ++i) {
            const std::string key = "zz_extra_" + std::to_string(pick(0, 99999));
            if (obj.HasMember(key.c_str())) {
                continue;
            }
            rapidjson::Value v;
            if (coin(0.3)) {
                v.SetObject();
                v.AddMember("deep", sentinel(prefix + "/" + key + "/deep", n, a), a);
            } else {
                v = sentinel(prefix + "/" + key, n, a);
            }
            obj.AddMember(name(key, a), v, a);
        }
    }

    static void set_bool(rapidjson::Document& doc, const char* field) {
        test::set_member(doc, field, rapidjson::Value(true));
    }

    std::mt19937 rng_;
};

void collect_paths(
    const rapidjson::Value& payload,
    std::set<std::string>& paths,
    std::vector<std::string>& problems
) {
    for (const auto& m : payload.GetObject()) {
        const std::string top = std::string("/") + m.name.GetString();
        if (m.value.IsArray() && !m.value.Empty() && m.value[0].IsObject()) {
            for (const auto& row : m.value.GetArray()) {
                if (!row.IsObject()) {
                    problems.push_back(top + " has a non-object row");
                    continue;
                }
                for (const auto& r : row.GetObject()) {
                    paths.insert(top + "/" + r.name.GetString());
                    if (r.value.IsObject()) {
                        problems.push_back(top + "/" + r.name.GetString() + " is an object");
                    }
                }
            }
        } else {
            paths.insert(top);
            if (m.value.IsObject()) {
                problems.push_back(top + " is an object");
            }
        }
    }
}

TEST(redaction_property, payload_holds_only_shared_fields_and_their_values) {
    const auto& set = test_support::shipped();
    const time_point as_of = *parse_date("2025-11-01");
    constexpr int records = 1500;
    int shared_records = 0;
    for (const auto& p : set.profiles()) {
        if (!p.record_level) {
            continue;
        }
        const auto allowed = allowed_for(p.id);
        ASSERT_FALSE(allowed.share.empty()) << p.id;
        generator gen(20251123U + static_cast<unsigned>(p.id.size()));
        for (int n = 0; n < records; ++n) {
            const auto rec = gen.record(n);
            const auto d =
                decide(p, rec, as_of, operator_override{"property-test", "forced share"});
            ASSERT_TRUE(d) << p.id;
            if (!d->share) {
                continue;
            }
            ++shared_records;
            std::set<std::string> paths;
            std::vector<std::string> problems;
            collect_paths(d->payload, paths, problems);
            ASSERT_TRUE(problems.empty()) << p.id << ": " << problems.front();
            for (const auto& path : paths) {
                ASSERT_TRUE(allowed.share.count(path))
                    << p.id << " record " << n << " sent " << path;
                ASSERT_FALSE(allowed.never.count(path)) << p.id << " sent never field " << path;
            }
            // No sentinel of a field outside `share` appears anywhere in the payload text.
            const std::string text = json::canonical(d->payload);
            std::size_t pos = 0;
            while ((pos = text.find("CBX-SENTINEL", pos)) != std::string::npos) {
                const auto end = text.find('#', pos);
                const std::string field = text.substr(pos + 12, end - pos - 12);
                ASSERT_TRUE(allowed.share.count(field)) << p.id << " leaked a value of " << field;
                pos = end;
            }
        }
    }
    // Every record-level profile shared every generated record (consent or forced override),
    // so the property was checked on real payloads, not on empty ones.
    EXPECT_EQ(shared_records, records * 5);
}

}  // namespace
}  // namespace casebridge::policy
