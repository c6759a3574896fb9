#include "policy/decision.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include <gtest/gtest.h>

#include "core/time.hpp"
#include "policy_fixture.hpp"
#include "support/json_member.hpp"

namespace casebridge::policy {
namespace {

using test_support::sample_case;
using test_support::shipped;

const time_point as_of = *parse_date("2025-11-01");

decision run(
    const char* profile_id,
    const rapidjson::Value& record,
    std::optional<operator_override> o = std::nullopt
) {
    // Thrown, not dereferenced, when a step fails: the test then fails with the reason.
    const profile* p = shipped().find(profile_id);
    if (p == nullptr) {
        throw std::runtime_error(std::string("no shipped profile ") + profile_id);
    }
    auto d = decide(*p, record, as_of, o);
    if (!d) {
        throw std::runtime_error("decide failed: " + d.error().message());
    }
    return std::move(*d);
}

void set(rapidjson::Document& doc, const char* field, rapidjson::Value v) {
    test::set_member(doc, field, v);
}

rapidjson::Value codes(rapidjson::Document& doc, std::initializer_list<const char*> list) {
    rapidjson::Value arr(rapidjson::kArrayType);
    for (const char* c : list) {
        arr.PushBack(rapidjson::Value(c, doc.GetAllocator()), doc.GetAllocator());
    }
    return arr;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

std::string rule_for(const decision& d, const std::string& field) {
    for (const auto& w : d.fields_withheld) {
        if (w.field == field) {
            return w.rule;
        }
    }
    return "";
}

// One row per consent combination, with the decision each shipped profile must reach.
struct consent_case {
    const char* name;
    bool services;
    bool disclosure;
    std::initializer_list<const char*> sharing;
    std::initializer_list<const char*> basis;
    bool opt_in;
    bool urgent;
    bool reporting;
    const char* referral_unhcr;  // expected basis, or "" for withhold
    const char* transfer_agency;
    const char* caseload_dss;
    const char* decision_feedback;
    const char* aggregate;
};

const consent_case consent_table[] = {
    {"all given",
     true,
     true,
     {"unhcr", "authorities", "other_organizations"},
     {"consent"},
     false,
     false,
     true,
     "consent",
     "consent",
     "consent",
     "consent",
     "consent"},
    {"services refused",
     false,
     true,
     {"unhcr", "authorities", "other_organizations"},
     {"consent"},
     false,
     false,
     true,
     "",
     "",
     "",
     "",
     "consent"},
    {"disclosure refused",
     true,
     false,
     {"unhcr", "authorities"},
     {"consent"},
     false,
     false,
     false,
     "",
     "",
     "consent",
     "consent",
     ""},
    {"unhcr not named",
     true,
     true,
     {"authorities"},
     {"consent"},
     false,
     false,
     false,
     "",
     "",
     "consent",
     "consent",
     ""},
    {"unhcr opt-in instead",
     true,
     true,
     {},
     {"consent"},
     true,
     false,
     false,
     "consent",
     "",
     "",
     "consent",
     ""},
    {"vital interests, urgent",
     false,
     false,
     {},
     {"vital_interests"},
     false,
     true,
     false,
     "vital_interests",
     "",
     "",
     "",
     ""},
    {"vital interests, not urgent",
     false,
     false,
     {},
     {"vital_interests"},
     false,
     false,
     false,
     "",
     "",
     "",
     "",
     ""},
    {"legal obligation to DSS",
     false,
     false,
     {},
     {"legal_obligation"},
     false,
     false,
     false,
     "",
     "",
     "legal_obligation",
     "",
     ""},
    {"public interest report",
     false,
     false,
     {},
     {"public_interest"},
     false,
     false,
     false,
     "",
     "",
     "",
     "",
     "public_interest"},
    {"nothing recorded", false, false, {}, {}, false, false, false, "", "", "", "", ""},
};

TEST(decide, consent_table) {
    for (const auto& row : consent_table) {
        auto rec = sample_case();
        set(rec, "consent_for_services", rapidjson::Value(row.services));
        set(rec, "disclosure_other_orgs", rapidjson::Value(row.disclosure));
        set(rec, "consent_info_sharing", codes(rec, row.sharing));
        set(rec, "legitimate_basis", codes(rec, row.basis));
        set(rec, "unhcr_export_opt_in", rapidjson::Value(row.opt_in));
        set(rec, "urgent_protection_concern", rapidjson::Value(row.urgent));
        set(rec, "consent_reporting", rapidjson::Value(row.reporting));
        const std::pair<const char*, const char*> expected[] = {
            {"referral-unhcr", row.referral_unhcr},
            {"transfer-agency", row.transfer_agency},
            {"caseload-dss", row.caseload_dss},
            {"decision-feedback", row.decision_feedback},
        };
        for (const auto& [profile_id, basis] : expected) {
            const auto d = run(profile_id, rec);
            EXPECT_EQ(d.share, *basis != '\0') << row.name << " / " << profile_id;
            EXPECT_EQ(d.basis, basis) << row.name << " / " << profile_id;
            if (!d.share) {
                EXPECT_TRUE(d.payload.IsNull()) << row.name;
                EXPECT_TRUE(d.fields_sent.empty());
                EXPECT_NE(d.reason.find("no legitimate basis holds"), std::string::npos);
            }
        }
        const auto agg = run("aggregate-report", rec);
        EXPECT_FALSE(agg.share) << row.name;
        EXPECT_TRUE(agg.aggregate_only);
        EXPECT_EQ(agg.basis, row.aggregate) << row.name;
        EXPECT_TRUE(agg.payload.IsNull());
    }
}

TEST(decide, records_the_consent_values_it_read) {
    auto rec = sample_case();
    const auto d = run("referral-unhcr", rec);
    ASSERT_TRUE(d.share);
    std::map<std::string, std::vector<std::string>> read;
    for (const auto& c : d.consent_values) {
        read[c.field] = c.values;
    }
    using v = std::vector<std::string>;
    EXPECT_EQ(read["consent_for_services"], v{"true"});
    EXPECT_EQ(read["disclosure_other_orgs"], v{"true"});
    EXPECT_EQ(read["consent_info_sharing"], (v{"unhcr", "authorities", "other_organizations"}));
    EXPECT_EQ(read.count("name_first"), 0u);

    // An explicit empty list is not an absent field: the log tells them apart.
    set(rec, "consent_info_sharing", rapidjson::Value(rapidjson::kArrayType));
    const auto empty = run("referral-unhcr", rec);
    EXPECT_FALSE(empty.share);
    read.clear();
    for (const auto& c : empty.consent_values) {
        read[c.field] = c.values;
    }
    EXPECT_EQ(read["consent_info_sharing"], v{"#empty"});
    rec.RemoveMember("consent_info_sharing");
    const auto absent = run("referral-unhcr", rec);
    read.clear();
    for (const auto& c : absent.consent_values) {
        read[c.field] = c.values;
    }
    EXPECT_EQ(read["consent_info_sharing"], v{"#absent"});
}

TEST(decide, consent_given_as_a_string_is_not_consent) {
    auto rec = sample_case();
    set(rec, "consent_for_services", rapidjson::Value("true"));
    const auto d = run("referral-unhcr", rec);
    EXPECT_FALSE(d.share);
    EXPECT_EQ(d.consent_values.front().field, "consent_for_services");
    // Not taken as the boolean true, and not logged as if it were: a boolean field knows no
    // codes, so the string is a marker.
    EXPECT_EQ(d.consent_values.front().values, std::vector<std::string>{"#other"});
    rec["consent_for_services"] = rapidjson::Value("yes, the mother agreed on 3 March");
    const auto d2 = run("referral-unhcr", rec);
    EXPECT_FALSE(d2.share);
    // Free text is never echoed.
    EXPECT_EQ(d2.consent_values.front().values, std::vector<std::string>{"#text"});
}

TEST(decide, a_code_the_configuration_does_not_know_is_logged_as_a_marker) {
    auto rec = sample_case();
    rapidjson::Value list(rapidjson::kArrayType);
    // A code-shaped value that is no code of the field (a source system wrote a name there).
    list.PushBack(rapidjson::Value("Nusrat_Jahan"), rec.GetAllocator());
    list.PushBack(rapidjson::Value("unhcr"), rec.GetAllocator());
    list.PushBack(rapidjson::Value("family"), rec.GetAllocator());
    set(rec, "consent_info_sharing", std::move(list));
    const auto d = run("referral-unhcr", rec);
    std::map<std::string, std::vector<std::string>> read;
    for (const auto& c : d.consent_values) {
        read[c.field] = c.values;
    }
    // Known codes of the catalogue are kept in order; the unknown one is a marker.
    EXPECT_EQ(
        read["consent_info_sharing"], (std::vector<std::string>{"#other", "unhcr", "family"})
    );
    // The decision itself still reads the real values: "unhcr" is there.
    EXPECT_TRUE(d.share);
}

TEST(decide, referral_payload_is_need_to_know) {
    auto rec = sample_case();
    const auto d = run("referral-unhcr", rec);
    ASSERT_TRUE(d.share);
    EXPECT_EQ(std::string(d.payload["name_first"].GetString()), "নুসরাত");
    EXPECT_FALSE(d.payload.HasMember("protection_concerns"));
    EXPECT_FALSE(d.payload.HasMember("address_current"));
    EXPECT_FALSE(d.payload.HasMember("protection_concern_detail_subform_section"));
    EXPECT_FALSE(d.payload.HasMember("family_details_section"));
    EXPECT_EQ(rule_for(d, "/protection_concerns"), "not_in_share");
    EXPECT_EQ(rule_for(d, "/address_current"), "never");
    EXPECT_EQ(rule_for(d, "/protection_concern_detail_subform_section"), "never");
    const auto& row = d.payload["services_section"][0];
    EXPECT_TRUE(row.HasMember("service_type"));
    EXPECT_TRUE(row.HasMember("service_referral_notes"));
    EXPECT_TRUE(has(d.fields_sent, "/services_section/service_type"));
    EXPECT_TRUE(has(d.fields_sent, "/name_first"));
}

TEST(decide, unknown_keys_in_rows_and_nested_objects_never_leave) {
    auto rec = sample_case();
    auto& a = rec.GetAllocator();
    rec["services_section"][0].AddMember("zz_new_field", "x", a);
    rapidjson::Value nested(rapidjson::kObjectType);
    nested.AddMember("hidden", "y", a);
    rec["name_last"] = nested;  // a shared field holding an object
    rec.AddMember("brand_new_top_field", "z", a);
    const auto d = run("referral-unhcr", rec);
    ASSERT_TRUE(d.share);
    EXPECT_FALSE(d.payload["services_section"][0].HasMember("zz_new_field"));
    EXPECT_FALSE(d.payload.HasMember("name_last"));
    EXPECT_FALSE(d.payload.HasMember("brand_new_top_field"));
    EXPECT_EQ(rule_for(d, "/services_section/zz_new_field"), "not_in_share");
    EXPECT_EQ(rule_for(d, "/name_last"), "structured_value");
    EXPECT_EQ(rule_for(d, "/brand_new_top_field"), "not_in_share");
}

TEST(decide, wildcard_shares_known_row_fields_but_not_never_or_unknown) {
    auto rec = sample_case();
    rec["family_details_section"][0].AddMember("zz_unknown", "x", rec.GetAllocator());
    const auto d = run("transfer-agency", rec);
    ASSERT_TRUE(d.share);
    const auto& row = d.payload["family_details_section"][0];
    EXPECT_TRUE(row.HasMember("relation_name"));
    EXPECT_FALSE(row.HasMember("relation_national_id_no"));
    EXPECT_FALSE(row.HasMember("zz_unknown"));
    EXPECT_EQ(rule_for(d, "/family_details_section/relation_national_id_no"), "never");
}

TEST(decide, pseudonyms_and_generalisation) {
    auto rec = sample_case();
    const auto d = run("imo-harmonisation", rec);
    ASSERT_TRUE(d.share);
    const std::string case_id = d.payload["case_id"].GetString();
    EXPECT_EQ(case_id.rfind("case-", 0), 0u);
    EXPECT_EQ(case_id.size(), 5u + 32u);
    // Known answer, computed independently (Python hmac, SHA-256, first 16 bytes).
    EXPECT_EQ(case_id, "case-3f01569e832b560062479f95adf7a1e9");
    EXPECT_EQ(std::string(d.payload["date_of_birth"].GetString()), "6-11");  // 11 on 2025-11-01
    EXPECT_EQ(std::string(d.payload["location_current"].GetString()), "BD2022");
    EXPECT_TRUE(has(d.fields_pseudonymised, "/case_id"));
    EXPECT_TRUE(has(d.fields_generalised, "/date_of_birth"));
    EXPECT_FALSE(d.payload.HasMember("name_first"));
}

TEST(decide, generalisation_failures_withhold_the_field) {
    auto rec = sample_case();
    rec["date_of_birth"] = rapidjson::Value("2001-01-01");  // 24: outside every band
    rec["location_current"] = rapidjson::Value("Camp 15 near the clinic");
    const auto d = run("imo-harmonisation", rec);
    ASSERT_TRUE(d.share);
    EXPECT_FALSE(d.payload.HasMember("date_of_birth"));
    EXPECT_FALSE(d.payload.HasMember("location_current"));
    EXPECT_EQ(rule_for(d, "/date_of_birth"), "generalise_failed");
    EXPECT_EQ(rule_for(d, "/location_current"), "generalise_failed");
}

TEST(pseudonym, stable_keyed_and_not_reversible_without_the_key) {
    const std::string k1(32, 'a');
    const std::string k2(32, 'b');
    const auto a = pseudonym(k1, "ind-", "803-100000519");
    EXPECT_EQ(a, pseudonym(k1, "ind-", "803-100000519"));
    EXPECT_NE(a, pseudonym(k2, "ind-", "803-100000519"));
    EXPECT_NE(a, pseudonym(k1, "ind-", "803-100000520"));
    EXPECT_EQ(a.find("803"), std::string::npos);
    // Without the key, trying every number in a small range finds nothing: a plain hash would.
    const std::string k3(32, 'c');
    int hits = 0;
    for (int n = 100000000; n < 100002000; ++n) {
        hits += pseudonym(k3, "ind-", "803-" + std::to_string(n)) == a ? 1 : 0;
    }
    EXPECT_EQ(hits, 0);
}

TEST(decide, override_needs_a_reason_and_a_profile_that_allows_it) {
    auto rec = sample_case();
    rec["consent_for_services"] = rapidjson::Value(false);
    const auto d =
        run("referral-unhcr",
            rec,
            operator_override{"cw.rahman", "Child at immediate risk; supervisor approved"});
    EXPECT_TRUE(d.share);
    EXPECT_EQ(d.basis, "operator_override");
    ASSERT_TRUE(d.override_used);
    const auto no = run("decision-feedback", rec, operator_override{"cw.rahman", "reason"});
    EXPECT_FALSE(no.share);
    EXPECT_NE(no.reason.find("does not allow an operator override"), std::string::npos);
    const auto bad =
        decide(*shipped().find("referral-unhcr"), rec, as_of, operator_override{"cw", ""});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error(), errc::usage);
}

TEST(decide, non_object_record_is_an_error) {
    rapidjson::Document arr(rapidjson::kArrayType);
    const auto r = decide(*shipped().find("referral-unhcr"), arr, as_of);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), errc::bad_payload);
}

}  // namespace
}  // namespace casebridge::policy
