// `casebridge policy explain` and `policy check` through the command table.
#include <sstream>

#include <gtest/gtest.h>

#include "cli/cli.hpp"
#include "json/json.hpp"
#include "policy_fixture.hpp"
#include "support/run_cli.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::cli {
namespace {

test::cli_result run_cli(const std::vector<std::string>& args) {
    ::setenv("CASEBRIDGE_PSEUDONYM_KEY", policy::test_support::test_key, 1);
    return test::run_cli(args);
}

const std::string catalogue = std::string(CASEBRIDGE_SOURCE_DIR) + "/mappings/canonical-case.json";

TEST(policy_cli, explain_prints_the_decision) {
    test::temp_dir dir;
    const auto input = dir.write("case.json", json::to_string(policy::test_support::sample_case()));
    const auto r = run_cli(
        {"policy",
         "explain",
         "--policies",
         policy::test_support::shipped_policies_path(),
         "--profile",
         "referral-unhcr",
         "--input",
         input.string(),
         "--catalogue",
         catalogue,
         "--as-of",
         "2025-11-01"}
    );
    ASSERT_EQ(r.code, exit_ok) << r.err;
    auto doc = json::parse(r.out);
    ASSERT_TRUE(doc) << r.out;
    EXPECT_EQ(std::string((*doc)["decision"].GetString()), "share");
    EXPECT_EQ(std::string((*doc)["basis"].GetString()), "consent");
    EXPECT_EQ(std::string((*doc)["profile"]["id"].GetString()), "referral-unhcr");
    EXPECT_TRUE((*doc)["payload"].HasMember("name_first"));
    EXPECT_FALSE((*doc)["payload"].HasMember("address_current"));
    EXPECT_TRUE((*doc)["fields_withheld"].IsArray());
}

TEST(policy_cli, explain_withhold_is_still_exit_zero) {
    test::temp_dir dir;
    auto rec = policy::test_support::sample_case();
    rec["consent_for_services"] = false;
    const auto input = dir.write("case.json", json::to_string(rec));
    const auto r = run_cli(
        {"policy",
         "explain",
         "--policies",
         policy::test_support::shipped_policies_path(),
         "--profile",
         "transfer-agency",
         "--input",
         input.string(),
         "--catalogue",
         catalogue}
    );
    ASSERT_EQ(r.code, exit_ok) << r.err;
    EXPECT_NE(r.out.find("\"decision\": \"withhold\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"payload\": null"), std::string::npos) << r.out;
}

TEST(policy_cli, bad_inputs_exit_one_with_the_place) {
    test::temp_dir dir;
    const auto dup = dir.write(
        "dup.json", "{\"consent_for_services\": true,\n \"consent_for_services\": false}"
    );
    auto r = run_cli(
        {"policy",
         "explain",
         "--policies",
         policy::test_support::shipped_policies_path(),
         "--profile",
         "referral-unhcr",
         "--input",
         dup.string(),
         "--catalogue",
         catalogue}
    );
    EXPECT_EQ(r.code, exit_error);
    EXPECT_NE(r.err.find("dup.json:2:2: duplicate key \"consent_for_services\""), std::string::npos)
        << r.err;

    r = run_cli(
        {"policy",
         "explain",
         "--policies",
         policy::test_support::shipped_policies_path(),
         "--profile",
         "no-such",
         "--input",
         dup.string(),
         "--catalogue",
         catalogue}
    );
    EXPECT_EQ(r.code, exit_error);
    EXPECT_NE(r.err.find("has no profile \"no-such\""), std::string::npos) << r.err;

    const auto bad = dir.write("policies.json", "{\"policies_version\": 1, \"profiles\": [}");
    r = run_cli({"policy", "check", "--policies", bad.string(), "--catalogue", catalogue});
    EXPECT_EQ(r.code, exit_error);
    EXPECT_NE(r.err.find("policies.json:1:"), std::string::npos) << r.err;
}

TEST(policy_cli, check_lists_profiles_with_hashes) {
    const auto r = run_cli(
        {"policy",
         "check",
         "--policies",
         policy::test_support::shipped_policies_path(),
         "--catalogue",
         catalogue}
    );
    ASSERT_EQ(r.code, exit_ok) << r.err;
    EXPECT_NE(r.out.find("referral-unhcr v2 (referral to unhcr) sha256:"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("aggregate-report v1 (report to cpss)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace casebridge::cli
