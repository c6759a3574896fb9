#include "policy/policy.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

#include "core/time.hpp"
#include "policy/decision.hpp"
#include "policy_fixture.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::policy {
namespace {

using test_support::catalogue;

// A valid one-profile file with `profile_extra` spliced into the profile and `top_extra` into
// the top level; each test breaks one thing.
std::string policy_text(const std::string& profile_body, const std::string& top_extra = "") {
    return "{\n"
           "  \"policies_version\": 1,\n" +
           top_extra +
           "  \"profiles\": [\n"
           "    {\n"
           "      \"id\": \"p\", \"version\": 1, \"purpose\": \"referral\", \"recipient\": "
           "\"unhcr\",\n" +
           profile_body +
           "\n    }\n"
           "  ]\n"
           "}\n";
}

const std::string basis =
    "      \"basis\": [{\"name\": \"consent\", \"when\": {\"field\": \"/consent_for_services\", "
    "\"is\": true}}],\n";

std::string load_error(const std::string& text) {
    test::temp_dir dir;
    const auto path = dir.write("policies.json", text);
    try {
        (void)policy_set::load(path, catalogue());
    } catch (const json::file_error& e) {
        const std::string msg = e.what();
        const auto prefix = path.string() + ":";
        return msg.rfind(prefix, 0) == 0 ? "policies.json:" + msg.substr(prefix.size()) : msg;
    }
    return "loaded";
}

TEST(policy_set, shipped_profiles_load) {
    const auto& set = test_support::shipped();
    for (const char* id :
         {"referral-unhcr",
          "decision-feedback",
          "transfer-agency",
          "caseload-dss",
          "aggregate-report",
          "imo-harmonisation"}) {
        const profile* p = set.find(id);
        ASSERT_NE(p, nullptr) << id;
        EXPECT_EQ(p->hash.rfind("sha256:", 0), 0u);
        EXPECT_EQ(p->hash.size(), 7u + 64u);
    }
    EXPECT_FALSE(set.find("aggregate-report")->record_level);
    EXPECT_EQ(set.find("nope"), nullptr);
}

TEST(policy_set, minimal_valid_file_loads) {
    EXPECT_EQ(load_error(policy_text(basis + "      \"share\": [\"/case_id\"]")), "loaded");
}

TEST(policy_set, unknown_field_names_its_place) {
    const auto msg =
        load_error(policy_text(basis + "      \"share\": [\"/case_id\",\n        \"/nmae_first\"]")
        );
    EXPECT_EQ(
        msg,
        "policies.json:8:9: at /profiles/0/share/1: unknown canonical field \"nmae_first\" (see "
        "docs/canonical-case.md)"
    );
}

TEST(policy_set, unknown_row_field) {
    const auto msg =
        load_error(policy_text(basis + "      \"share\": [\"/services_section/service_tpye\"]"));
    EXPECT_NE(
        msg.find("at /profiles/0/share/0: unknown row field \"service_tpye\" of subform "
                 "\"services_section\""),
        std::string::npos
    ) << msg;
}

TEST(policy_set, unknown_rule_is_a_schema_error) {
    const auto msg = load_error(
        policy_text(basis + "      \"share\": [\"/case_id\"],\n      \"hide\": [\"/sex\"]")
    );
    EXPECT_NE(
        msg.find("policies.json:8:7: at /profiles/0/hide: unknown property \"hide\""),
        std::string::npos
    ) << msg;
}

TEST(policy_set, contradictory_share_and_never) {
    const auto msg = load_error(policy_text(
        basis + "      \"share\": [\"/case_id\", \"/sex\"],\n      \"never\": [\"/sex\"]"
    ));
    EXPECT_NE(
        msg.find("policies.json:8:17: at /profiles/0/never/0: \"/sex\" is in both \"share\" and "
                 "\"never\" (contradictory rules)"),
        std::string::npos
    ) << msg;
}

TEST(policy_set, never_on_subform_contradicts_shared_row_field) {
    const auto msg =
        load_error(policy_text(
            basis + "      \"share\": [\"/services_section/service_type\"],\n      \"never\": "
                    "[\"/services_section\"]"
        ));
    EXPECT_NE(msg.find("at /profiles/0/never/0:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("contradictory"), std::string::npos) << msg;
}

TEST(policy_set, never_narrows_a_wildcard) {
    EXPECT_EQ(
        load_error(policy_text(
            basis + "      \"share\": [\"/services_section/*\"],\n      \"never\": "
                    "[\"/services_section/service_type\"]"
        )),
        "loaded"
    );
}

TEST(policy_set, missing_key_reference) {
    const auto msg =
        load_error(policy_text(
            basis + "      \"share\": [\"/case_id\"],\n      \"pseudonymise\": [{\"field\": "
                    "\"/case_id\", \"key\": \"nokey\"}]"
        ));
    EXPECT_NE(
        msg.find("at /profiles/0/pseudonymise/0/key: unknown key \"nokey\" (define it under "
                 "/pseudonym_keys)"),
        std::string::npos
    ) << msg;
}

/// Loads `text` and returns why the first profile's pseudonym key cannot be had ("" when it
/// can; "failed: ..." when the file does not load).
std::string key_problem(const std::string& text) {
    test::temp_dir dir;
    const auto path = dir.write("policies.json", text);
    try {
        const auto set = policy_set::load(path, catalogue());
        return set.profiles().at(0).unavailable_key;
    } catch (const json::file_error& e) {
        return std::string("failed: ") + e.what();
    }
}

// A key that cannot be had matters only to the profiles that use it: the file loads (so a
// deployment that never uses that profile needs no such key), the profile says why, and
// decide() refuses it rather than share a value unpseudonymised.
TEST(policy_set, key_material_problems) {
    const std::string uses_k =
        basis +
        "      \"share\": [\"/case_id\"],\n      \"pseudonymise\": [{\"field\": "
        "\"/case_id\", \"key\": \"k\"}]";
    ::unsetenv("CASEBRIDGE_TEST_UNSET_KEY");
    EXPECT_EQ(
        key_problem(policy_text(
            basis + "      \"share\": [\"/case_id\"]",
            "  \"pseudonym_keys\": {\"k\": {\"env\": \"CASEBRIDGE_TEST_UNSET_KEY\"}},\n"
        )),
        ""
    ) << "a profile that does not use the key is not affected";
    auto msg = key_problem(policy_text(
        uses_k, "  \"pseudonym_keys\": {\"k\": {\"env\": \"CASEBRIDGE_TEST_UNSET_KEY\"}},\n"
    ));
    EXPECT_NE(
        msg.find(
            "at /pseudonym_keys/k/env: environment variable CASEBRIDGE_TEST_UNSET_KEY is not set"
        ),
        std::string::npos
    ) << msg;
    EXPECT_EQ(msg.find("failed:"), std::string::npos) << msg;
    ::setenv("CASEBRIDGE_TEST_SHORT_KEY", "short", 1);
    msg = key_problem(policy_text(
        uses_k, "  \"pseudonym_keys\": {\"k\": {\"env\": \"CASEBRIDGE_TEST_SHORT_KEY\"}},\n"
    ));
    EXPECT_NE(msg.find("key is shorter than 32 bytes"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("short\""), std::string::npos) << "key material must not be echoed: " << msg;

    test::temp_dir dir;
    const auto key = dir.write("key", std::string(40, 'k'));
    std::filesystem::permissions(
        key, std::filesystem::perms::others_read, std::filesystem::perm_options::add
    );
    msg = key_problem(policy_text(
        uses_k, "  \"pseudonym_keys\": {\"k\": {\"file\": \"" + key.string() + "\"}},\n"
    ));
    EXPECT_NE(msg.find("is readable by group or others"), std::string::npos) << msg;

    // decide() refuses the profile: nothing is shared without its pseudonym.
    const auto path = dir.write(
        "p.json",
        policy_text(
            uses_k, "  \"pseudonym_keys\": {\"k\": {\"env\": \"CASEBRIDGE_TEST_UNSET_KEY\"}},\n"
        )
    );
    const auto set = policy_set::load(path, catalogue());
    auto record = json::parse(R"({"case_id": "CASE-1", "consent_for_services": true})");
    ASSERT_TRUE(record);
    auto d = decide(set.profiles().at(0), *record, std::chrono::system_clock::now(), std::nullopt);
    EXPECT_FALSE(d);
}

TEST(policy_set, pseudonymised_field_must_be_shared) {
    ::setenv("CASEBRIDGE_TEST_KEY", test_support::test_key, 1);
    const auto msg = load_error(policy_text(
        basis + "      \"share\": [\"/sex\"],\n      \"pseudonymise\": [{\"field\": \"/case_id\", "
                "\"key\": \"k\"}]",
        "  \"pseudonym_keys\": {\"k\": {\"env\": \"CASEBRIDGE_TEST_KEY\"}},\n"
    ));
    EXPECT_NE(msg.find("\"/case_id\" is pseudonymised but not in \"share\""), std::string::npos)
        << msg;
}

TEST(policy_set, free_text_needs_review_note) {
    const auto msg = load_error(policy_text(basis + "      \"share\": [\"/address_current\"]"));
    EXPECT_NE(msg.find("\"/address_current\" is free text"), std::string::npos) << msg;
    EXPECT_EQ(
        load_error(policy_text(
            basis + "      \"share\": [{\"field\": \"/address_current\", \"reviewed\": \"needed "
                    "for home visits\"}]"
        )),
        "loaded"
    );
}

TEST(policy_set, conditions_read_only_booleans_and_codes) {
    auto msg =
        load_error(policy_text("      \"basis\": [{\"name\": \"consent\", \"when\": {\"field\": "
                               "\"/name_first\", \"present\": true}}],\n"
                               "      \"share\": [\"/case_id\"]"));
    EXPECT_NE(
        msg.find("conditions may read boolean and code fields only; \"name_first\" is string"),
        std::string::npos
    ) << msg;
    msg =
        load_error(policy_text("      \"basis\": [{\"name\": \"consent\", \"when\": {\"field\": "
                               "\"/consent_info_sharing\", \"contains\": \"unhrc\"}}],\n"
                               "      \"share\": [\"/case_id\"]"));
    EXPECT_NE(
        msg.find("at /profiles/0/basis/0/when/contains: \"unhrc\" is not a code of "
                 "\"consent_info_sharing\""),
        std::string::npos
    ) << msg;
    msg =
        load_error(policy_text("      \"basis\": [{\"name\": \"because\", \"when\": {\"field\": "
                               "\"/consent_for_services\", \"is\": true}}],\n"
                               "      \"share\": [\"/case_id\"]"));
    EXPECT_NE(msg.find("\"because\" is not a legitimate basis"), std::string::npos) << msg;
}

TEST(policy_set, record_level_profile_needs_a_basis) {
    const auto msg = load_error(policy_text("      \"share\": [\"/case_id\"]"));
    EXPECT_NE(
        msg.find("at /profiles/0: a profile that lets records leave needs at least one \"basis\""),
        std::string::npos
    ) << msg;
}

TEST(policy_set, subform_needs_row_fields) {
    const auto msg = load_error(policy_text(basis + "      \"share\": [\"/services_section\"]"));
    EXPECT_NE(
        msg.find("subform \"services_section\" is shared row field by row"), std::string::npos
    ) << msg;
}

TEST(policy_set, hash_changes_with_content) {
    test::temp_dir dir;
    const auto a = policy_set::load(
        dir.write("a.json", policy_text(basis + "      \"share\": [\"/case_id\"]")), catalogue()
    );
    const auto b = policy_set::load(
        dir.write("b.json", policy_text(basis + "      \"share\": [\"/case_id\", \"/sex\"]")),
        catalogue()
    );
    const auto c = policy_set::load(
        dir.write(
            "c.json",
            "// comment only differs\n" + policy_text(basis + "      \"share\": [\"/case_id\"]")
        ),
        catalogue()
    );
    EXPECT_NE(a.find("p")->hash, b.find("p")->hash);
    EXPECT_EQ(a.find("p")->hash, c.find("p")->hash);
}

// A row field can be withheld for a different reason in each row; the decision names it once,
// with the reason of the first row that withheld it, whatever the order of the rows.
TEST(decide, a_row_field_withheld_twice_keeps_the_first_reason) {
    test::temp_dir dir;
    const auto set = policy_set::load(
        dir.write(
            "p.json",
            policy_text(
                basis + "      \"share\": [\"/family_details_section/relation_date_of_birth\"],\n"
                        "      \"generalise\": [{\"field\": "
                        "\"/family_details_section/relation_date_of_birth\", \"to\": \"year\"}]"
            )
        ),
        catalogue()
    );
    const char* structured = R"({"date": "2012-03-04"})";
    const char* not_a_date = R"("in the rainy season")";
    const char* a_date = R"("2012-03-04")";
    const auto decide_rows = [&](std::initializer_list<const char*> values) {
        std::string text = R"({"consent_for_services": true, "family_details_section": [)";
        const char* sep = "";
        for (const char* v : values) {
            text += sep;
            text += R"({"relation_date_of_birth": )";
            text += v;
            text += "}";
            sep = ", ";
        }
        text += "]}";
        // Thrown, not dereferenced, when a step fails: the test then fails with the reason.
        auto record = json::parse(text);
        if (!record) {
            throw std::runtime_error("test record: " + record.error().message);
        }
        auto d = decide(set.profiles().at(0), *record, *parse_date("2025-11-01"), std::nullopt);
        if (!d) {
            throw std::runtime_error("decide failed: " + d.error().message());
        }
        return std::move(*d);
    };
    const std::string path = "/family_details_section/relation_date_of_birth";
    const auto reasons = [&](const decision& d) {
        std::vector<std::string> out;
        for (const auto& w : d.fields_withheld) {
            if (w.field == path) {
                out.push_back(w.rule);
            }
        }
        return out;
    };
    using list = std::vector<std::string>;
    auto d = decide_rows({structured, not_a_date, a_date});
    EXPECT_EQ(reasons(d), list{"structured_value"});
    EXPECT_EQ(d.fields_generalised, list{path}) << "the third row's date is sent as a year";
    d = decide_rows({not_a_date, structured});
    EXPECT_EQ(reasons(d), list{"generalise_failed"});
    EXPECT_TRUE(d.fields_sent.empty());
    d = decide_rows({not_a_date, not_a_date, structured, not_a_date});
    EXPECT_EQ(reasons(d), list{"generalise_failed"});
}

}  // namespace
}  // namespace casebridge::policy
