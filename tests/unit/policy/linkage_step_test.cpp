// The linkage step of a DPISP profile: the full record is encoded before redaction, only the
// encoding goes with the shared record, and the step is checked when the policies load.
#include "policy/linkage_step.hpp"

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/encoding.hpp"
#include "core/time.hpp"
#include "policy/decision.hpp"
#include "policy_fixture.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::policy {
namespace {

using test_support::catalogue;
using test_support::sample_case;
using test_support::shipped;

namespace fs = std::filesystem;

const time_point as_of = *parse_date("2025-11-01");
const fs::path schema_path =
    fs::path(CASEBRIDGE_SOURCE_DIR) / "mappings" / "linkage" / "linkage-schema.json";

const linkage::linkage_schema& schema() {
    static const auto s = linkage::linkage_schema::load(schema_path);
    return s;
}

// A one-profile policies file whose profile has `linkage` as its linkage member.
std::string policy_with(const std::string& linkage, const std::string& extra = "") {
    return R"({
  "policies_version": 1,
  "profiles": [{
    "id": "imo", "version": 1, "purpose": "report", "recipient": "cpss-imo",
    "record_level": true,
    "share": ["/sex", "/risk_level"],)" +
           extra + R"(
    "basis": [{"name": "consent", "when": {"field": "/consent_reporting", "is": true}}],
    "linkage": )" +
           linkage + R"(
  }]
})";
}

// Loads `text` from a temp folder; returns the set or the error with the folder's path cut.
struct loaded {
    std::optional<policy_set> set;
    std::string error;
};

loaded load(test::temp_dir& dir, const std::string& text) {
    const auto path = dir.write("config/policies.json", text);
    loaded out;
    try {
        out.set.emplace(policy_set::load(path, catalogue()));
    } catch (const json::file_error& e) {
        out.error = e.what();
    }
    return out;
}

std::string schema_ref() {
    return "{\"schema\": \"" + schema_path.string() + "\", ";
}

TEST(linkage_step, the_shipped_imo_profile_encodes_the_full_record_before_redaction) {
    const profile* p = shipped().find("imo-harmonisation");
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(p->linkage);
    EXPECT_TRUE(p->linkage->ready());
    EXPECT_EQ(p->linkage->schema_version(), 3);
    EXPECT_EQ(p->linkage->encoded_words(), 32u);
    EXPECT_TRUE(p->notify_on_withdrawal);

    const auto rec = sample_case();
    auto d = decide(*p, rec, as_of);
    ASSERT_TRUE(d);
    ASSERT_TRUE(d->share);
    ASSERT_TRUE(d->linkage);
    // The encoding is linkage::encoder's over the record as it was, names and dates included.
    linkage::encoder e(schema(), test_support::linkage_secret);
    const auto expected = e.encode(rec);
    EXPECT_EQ(d->linkage->filter, expected.filter);
    EXPECT_EQ(d->linkage->tokens, expected.tokens);
    EXPECT_FALSE(d->linkage->tokens.empty()) << "the proGres number became a keyed token";
    EXPECT_EQ(d->linkage_schema_version, 3);

    // The values themselves stay: the payload has no name, date or identifier.
    const std::string payload = json::to_string(d->payload);
    for (const char* v : {"Begum", "2014-06-15", "803-100000519", "c0a1b2c3-d4e5"}) {
        EXPECT_EQ(payload.find(v), std::string::npos) << v;
    }
    const auto rule = [&](const std::string& f) {
        for (const auto& w : d->fields_withheld) {
            if (w.field == f) {
                return w.rule;
            }
        }
        return std::string();
    };
    EXPECT_EQ(rule("/name_first"), "linkage_encoded");
    EXPECT_EQ(rule("/name_last"), "linkage_encoded");
    EXPECT_EQ(rule("/unhcr_individual_no"), "linkage_encoded");
    EXPECT_EQ(rule("/telephone_current"), "not_in_share");
    EXPECT_EQ(rule("/family_details_section"), "not_in_share") << "a subform is more than its "
                                                                  "encoded row field";
    EXPECT_NE(
        std::find(d->fields_encoded.begin(), d->fields_encoded.end(), "/date_of_birth"),
        d->fields_encoded.end()
    );

    // policy explain shows the wire form, not the values.
    const std::string text = to_json(*d);
    EXPECT_NE(text.find("\"linkage\""), std::string::npos);
    EXPECT_NE(text.find("\"filter\""), std::string::npos);
    EXPECT_EQ(text.find("Begum"), std::string::npos);
}

TEST(linkage_step, nothing_is_encoded_for_a_record_that_is_withheld) {
    const profile* p = shipped().find("imo-harmonisation");
    auto rec = sample_case();
    rec["consent_reporting"].SetBool(false);
    rec["legitimate_basis"].SetArray();
    auto d = decide(*p, rec, as_of);
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->share);
    EXPECT_FALSE(d->linkage);
}

TEST(linkage_step, wire_form_is_little_endian_words_and_hex_tokens) {
    const std::vector<std::uint64_t> words = {0x0102030405060708ULL, 0xff00000000000001ULL};
    const std::string bytes = filter_bytes(words);
    ASSERT_EQ(bytes.size(), 16u);
    EXPECT_EQ(
        to_hex(bytes),
        "0807060504030201"
        "01000000000000ff"
    );
    linkage::encoded_record r{words, {{0, 0x9f2c0a1b3d4e5f60ULL}, {3, 0x1ULL}}};
    rapidjson::Document doc;
    const auto v = linkage_wire_form(1, r, doc.GetAllocator());
    EXPECT_EQ(v["schema_version"].GetInt(), 1);
    EXPECT_EQ(std::string(v["filter"].GetString()), base64_encode(bytes));
    EXPECT_EQ(std::string(v["tokens"][0]["value"].GetString()), "9f2c0a1b3d4e5f60");
    EXPECT_EQ(v["tokens"][1]["kind"].GetUint(), 3u);
    EXPECT_EQ(std::string(v["tokens"][1]["value"].GetString()), "0000000000000001");
}

TEST(linkage_step, a_schema_file_that_is_not_there_is_a_load_error_naming_it) {
    test::temp_dir dir;
    const auto r = load(dir, policy_with(R"({"schema": "../mappings/no-such-schema.json",
                     "secret": {"env": "CASEBRIDGE_LINKAGE_SECRET"}})"));
    ASSERT_FALSE(r.set);
    EXPECT_NE(r.error.find("at /profiles/0/linkage/schema:"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("no-such-schema.json"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("policies.json:"), std::string::npos) << r.error;
}

TEST(linkage_step, the_schema_path_is_relative_to_the_policies_file) {
    test::temp_dir dir;
    fs::create_directories(dir / "mappings/linkage");
    fs::copy_file(schema_path, dir / "mappings/linkage/linkage-schema.json");
    fs::copy_file(
        schema_path.parent_path() / "linkage-variants.json",
        dir / "mappings/linkage/linkage-variants.json"
    );
    ::setenv("CASEBRIDGE_LINKAGE_SECRET", test_support::linkage_secret, 1);
    const auto r = load(dir, policy_with(R"({"schema": "../mappings/linkage/linkage-schema.json",
                     "secret": {"env": "CASEBRIDGE_LINKAGE_SECRET"}})"));
    ASSERT_TRUE(r.set) << r.error;
    EXPECT_TRUE(r.set->find("imo")->linkage->ready());
}

TEST(linkage_step, a_missing_secret_source_is_a_load_error_naming_the_field) {
    test::temp_dir dir;
    const auto none = load(dir, policy_with(schema_ref() + R"("secret": {}})"));
    ASSERT_FALSE(none.set);
    EXPECT_NE(none.error.find("at /profiles/0/linkage/secret:"), std::string::npos) << none.error;
    EXPECT_NE(none.error.find("exactly one of \"file\" or \"env\""), std::string::npos);

    const auto absent = load(dir, policy_with("{\"schema\": \"" + schema_path.string() + "\"}"));
    ASSERT_FALSE(absent.set);
    EXPECT_NE(absent.error.find("/profiles/0/linkage"), std::string::npos) << absent.error;
    EXPECT_NE(absent.error.find("secret"), std::string::npos) << absent.error;
}

TEST(linkage_step, a_secret_that_cannot_be_had_makes_only_this_profile_unavailable) {
    test::temp_dir dir;
    ::unsetenv("CASEBRIDGE_TEST_NO_SUCH_SECRET");
    const auto r = load(
        dir, policy_with(schema_ref() + R"("secret": {"env": "CASEBRIDGE_TEST_NO_SUCH_SECRET"}})")
    );
    ASSERT_TRUE(r.set) << r.error;
    const profile* p = r.set->find("imo");
    EXPECT_FALSE(p->linkage->ready());
    EXPECT_NE(p->unavailable_key.find("at /profiles/0/linkage/secret/env:"), std::string::npos)
        << p->unavailable_key;
    EXPECT_NE(
        p->unavailable_key.find("CASEBRIDGE_TEST_NO_SUCH_SECRET is not set"), std::string::npos
    );
    auto d = decide(*p, sample_case(), as_of);
    ASSERT_FALSE(d) << "never shared without its encoding";
    EXPECT_EQ(d.error(), make_error_code(errc::invalid_config));

    ::setenv("CASEBRIDGE_TEST_NO_SUCH_SECRET", "too-short", 1);
    const auto short_secret = load(
        dir, policy_with(schema_ref() + R"("secret": {"env": "CASEBRIDGE_TEST_NO_SUCH_SECRET"}})")
    );
    ASSERT_TRUE(short_secret.set);
    const std::string why = short_secret.set->find("imo")->unavailable_key;
    EXPECT_NE(why.find("shorter than 16 bytes"), std::string::npos) << why;
    EXPECT_EQ(why.find("too-short"), std::string::npos) << "the secret is never quoted";
    ::unsetenv("CASEBRIDGE_TEST_NO_SUCH_SECRET");

    const auto file = dir.write("secrets/linkage", "a-linkage-secret-from-a-file-0123456789\n");
    ::chmod(file.c_str(), 0644);
    const auto open_file =
        load(dir, policy_with(schema_ref() + "\"secret\": {\"file\": \"" + file.string() + "\"}}"));
    ASSERT_TRUE(open_file.set);
    EXPECT_NE(
        open_file.set->find("imo")->unavailable_key.find("readable by group or others"),
        std::string::npos
    );
    ::chmod(file.c_str(), 0600);
    const auto good =
        load(dir, policy_with(schema_ref() + "\"secret\": {\"file\": \"" + file.string() + "\"}}"));
    ASSERT_TRUE(good.set);
    EXPECT_TRUE(good.set->find("imo")->unavailable_key.empty());
    EXPECT_TRUE(good.set->find("imo")->linkage->ready());
}

TEST(linkage_step, contradictions_are_load_errors) {
    test::temp_dir dir;
    ::setenv("CASEBRIDGE_LINKAGE_SECRET", test_support::linkage_secret, 1);
    const std::string secret = R"("secret": {"env": "CASEBRIDGE_LINKAGE_SECRET"}})";
    const auto never = load(dir, policy_with(schema_ref() + secret, R"(
    "never": ["/name_first"],)"));
    ASSERT_FALSE(never.set);
    EXPECT_NE(never.error.find("encodes \"/name_first\""), std::string::npos) << never.error;

    std::string aggregate = policy_with(schema_ref() + secret);
    const auto swap = [&](const std::string& from, const std::string& to) {
        aggregate.replace(aggregate.find(from), from.size(), to);
    };
    swap("\"record_level\": true", "\"record_level\": false");
    swap("[\"/sex\", \"/risk_level\"]", "[]");
    const auto agg = load(dir, aggregate);
    ASSERT_FALSE(agg.set);
    EXPECT_NE(
        agg.error.find("at /profiles/0/linkage: an aggregate-only profile"), std::string::npos
    ) << agg.error;
}

TEST(linkage_step, the_hash_covers_the_schema_file) {
    test::temp_dir dir;
    ::setenv("CASEBRIDGE_LINKAGE_SECRET", test_support::linkage_secret, 1);
    fs::create_directories(dir / "l");
    fs::copy_file(schema_path, dir / "l/linkage-schema.json");
    fs::copy_file(
        schema_path.parent_path() / "linkage-variants.json", dir / "l/linkage-variants.json"
    );
    const std::string text = policy_with(
        "{\"schema\": \"" + (dir / "l/linkage-schema.json").string() +
        R"(", "secret": {"env": "CASEBRIDGE_LINKAGE_SECRET"}})"
    );
    const auto before = load(dir, text);
    ASSERT_TRUE(before.set) << before.error;
    {
        std::ofstream out(dir / "l/linkage-schema.json", std::ios::app);
        out << "\n// a comment changes nothing\n";
    }
    const auto same_rules = load(dir, text);
    ASSERT_TRUE(same_rules.set);
    EXPECT_EQ(before.set->find("imo")->hash, same_rules.set->find("imo")->hash);
    auto content = *json::read_file(dir / "l/linkage-schema.json");
    content.replace(content.find("\"hashes\": 12"), 12, "\"hashes\": 11");
    dir.write("l/linkage-schema.json", content);
    const auto changed = load(dir, text);
    ASSERT_TRUE(changed.set) << changed.error;
    EXPECT_NE(before.set->find("imo")->hash, changed.set->find("imo")->hash);
}

}  // namespace
}  // namespace casebridge::policy
