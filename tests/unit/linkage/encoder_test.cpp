#include "linkage/encoder.hpp"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "json/json.hpp"
#include "linkage/dice.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::linkage {
namespace {

const linkage_schema& shipped() {
    static const linkage_schema s = linkage_schema::load(
        std::filesystem::path(CASEBRIDGE_SOURCE_DIR) / "mappings" / "linkage" /
        "linkage-schema.json"
    );
    return s;
}

const std::string secret_a = "agencies-shared-secret-0123456789";
const std::string secret_b = "another-linkage-secret-9876543210";

rapidjson::Document record(std::string_view text) {
    auto doc = json::parse(text);
    EXPECT_TRUE(doc.has_value());
    return std::move(doc.value());
}

constexpr std::string_view child = R"({
  "name_first": "Mohammad Rafiq", "name_last": "Hossain", "sex": "male",
  "date_of_birth": "2014-03-11", "location_current": "BD20220712",
  "unhcr_individual_no": "803-100000519", "family_count_no": "1234567",
  "family_details_section": [
    {"relation_name": "Not Caregiver", "relation_is_caregiver": false},
    {"relation_name": "Fatema Begum", "relation_is_caregiver": true}
  ]
})";

double dice(const encoded_record& a, const encoded_record& b) {
    std::uint32_t ca = 0;
    std::uint32_t cb = 0;
    for (std::size_t w = 0; w < a.filter.size(); ++w) {
        ca += std::popcount(a.filter[w]);
        cb += std::popcount(b.filter[w]);
    }
    return dice_from_counts(
        and_popcount(a.filter.data(), b.filter.data(), a.filter.size()), ca, cb
    );
}

TEST(linkage_encoder, encoding_has_the_schema_length_and_is_deterministic) {
    encoder e(shipped(), secret_a);
    const auto a = e.encode(record(child));
    EXPECT_EQ(a.filter.size(), shipped().encoded_words());
    const auto b = e.encode(record(child));
    EXPECT_EQ(a.filter, b.filter);
    EXPECT_EQ(a.tokens, b.tokens);
    encoder fresh(shipped(), secret_a);  // another agency with the same secret
    EXPECT_EQ(fresh.encode(record(child)).filter, a.filter);
}

TEST(linkage_encoder, hardening_changes_length_and_weight) {
    ASSERT_EQ(shipped().harden, hardening::xor_fold);
    encoder folded(shipped(), secret_a);
    EXPECT_EQ(folded.encode(record(child)).filter.size(), shipped().filter_bits / 128);
    auto balanced_schema = shipped();
    balanced_schema.harden = hardening::balance;
    encoder balanced(balanced_schema, secret_a);
    for (const auto* text : {R"({"name_first": "Nur"})", R"({})", child.data()}) {
        const auto r = balanced.encode(record(text));
        ASSERT_EQ(r.filter.size(), shipped().filter_bits * 2 / 64);
        std::size_t ones = 0;
        for (const auto w : r.filter) {
            ones += std::popcount(w);
        }
        EXPECT_EQ(ones, shipped().filter_bits);  // half of the 2m bits, whatever the record
    }
}

TEST(linkage_encoder, different_secret_gives_unrelated_filters_and_tokens) {
    encoder a(shipped(), secret_a);
    encoder b(shipped(), secret_b);
    const auto ea = a.encode(record(child));
    const auto eb = b.encode(record(child));
    // As unrelated as two different children's encodings under one secret.
    EXPECT_LT(dice(ea, eb), 0.6);
    ASSERT_EQ(ea.tokens.size(), eb.tokens.size());
    for (std::size_t i = 0; i < ea.tokens.size(); ++i) {
        EXPECT_NE(ea.tokens[i].value, eb.tokens[i].value);
    }
    // Control: same secret, same record is identical.
    EXPECT_DOUBLE_EQ(dice(ea, a.encode(record(child))), 1.0);
}

TEST(linkage_encoder, variants_and_field_errors_keep_similarity_high) {
    encoder e(shipped(), secret_a);
    const auto base = e.encode(record(child));
    const auto variant = e.encode(record(R"({
      "name_first": "Md. Rofik", "sex": "male", "date_of_birth": "2014-11-03",
      "location_current": "BD20220705", "unhcr_individual_no": "803100000519",
      "family_details_section": [{"relation_name": "FATIMA BEGOM", "relation_is_caregiver": true}]
    })"));
    const auto sibling = e.encode(record(R"({
      "name_first": "Mohammad Karim", "name_last": "Hossain", "sex": "male",
      "date_of_birth": "2011-07-25", "location_current": "BD20220712",
      "family_details_section": [{"relation_name": "Fatema Begum", "relation_is_caregiver": true}]
    })"));
    const auto stranger = e.encode(record(R"({
      "name_first": "Ayesha", "name_last": "Akter", "sex": "female",
      "date_of_birth": "2019-05-30", "location_current": "BD20223101"
    })"));
    EXPECT_GT(dice(base, variant), dice(base, sibling));
    EXPECT_GT(dice(base, sibling), dice(base, stranger));
    EXPECT_GT(dice(base, variant), 0.8);
}

TEST(linkage_encoder, identifiers_are_exact_keyed_tokens_without_formatting) {
    encoder e(shipped(), secret_a);
    const auto a = e.encode(record(R"({"unhcr_individual_no": "803-100000519"})"));
    const auto b = e.encode(record(R"({"unhcr_individual_no": "803 100 000 519"})"));
    const auto c = e.encode(record(R"({"unhcr_individual_no": "803-100000518"})"));
    const auto d = e.encode(record(R"({"birth_registration_no": "803-100000519"})"));
    ASSERT_EQ(a.tokens.size(), 1U);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_NE(a.tokens[0].value, c.tokens[0].value);
    ASSERT_EQ(d.tokens.size(), 1U);
    EXPECT_NE(a.tokens[0].value, d.tokens[0].value);  // kinds are domain-separated
    EXPECT_NE(a.tokens[0].kind, d.tokens[0].kind);
    EXPECT_TRUE(e.encode(record(R"({"unhcr_individual_no": " - "})")).tokens.empty());
}

TEST(linkage_encoder, caregiver_comes_from_the_caregiver_row_only) {
    encoder e(shipped(), secret_a);
    const auto tokens = e.field_tokens(record(child));
    for (const auto& [field, list] : tokens) {
        if (field == "caregiver_name") {
            EXPECT_NE(std::find(list.begin(), list.end(), "_f"), list.end());
            EXPECT_EQ(std::find(list.begin(), list.end(), "_n"), list.end());  // "Not Caregiver"
        }
        if (field == "birth_date") {
            EXPECT_EQ(list.size(), 4U);
        }
    }
    const auto est =
        e.field_tokens(record(R"({"date_of_birth": "2014-03-11", "estimated": true})"));
    for (const auto& [field, list] : est) {
        if (field == "birth_date") {
            EXPECT_EQ(list.size(), 3U);  // no day/month token for an estimate
        }
    }
}

std::size_t ones(const encoded_record& r) {
    std::size_t n = 0;
    for (const auto w : r.filter) {
        n += static_cast<std::size_t>(std::popcount(w));
    }
    return n;
}

TEST(linkage_encoder, date_parts_set_the_bits_of_their_kind) {
    auto raw = shipped();
    raw.harden = hardening::none;  // count the raw positions
    const auto date = std::find_if(raw.fields.begin(), raw.fields.end(), [](const auto& f) {
        return f.tokens == tokenisation::date;
    });
    ASSERT_NE(date, raw.fields.end());
    encoder e(raw, secret_a);
    const auto exact = ones(e.encode(record(R"({"date_of_birth": "2014-03-11"})")));
    const auto estimate =
        ones(e.encode(record(R"({"date_of_birth": "2014-03-11", "estimated": true})")));
    // Year and two buckets; the (month, day) pair adds its own count. Positions of 4096 can
    // coincide, so allow a few fewer.
    const auto years = date->year_hashes + 2 * date->two_year_hashes;
    EXPECT_LE(estimate, years);
    EXPECT_GE(estimate + 3, years);
    EXPECT_LE(exact - estimate, date->month_day_hashes);
    EXPECT_GE(exact - estimate + 3, date->month_day_hashes);

    // Without date_hashes every date token sets `hashes` bits.
    date->year_hashes = date->two_year_hashes = date->month_day_hashes = 0;
    encoder flat(raw, secret_a);
    const auto flat_exact = ones(flat.encode(record(R"({"date_of_birth": "2014-03-11"})")));
    EXPECT_LE(flat_exact, 4 * date->hashes);
    EXPECT_GE(flat_exact + 3, 4 * date->hashes);
}

TEST(linkage_encoder, doubled_letters_read_as_one_when_the_field_asks) {
    encoder e(shipped(), secret_a);
    const auto a = e.encode(record(R"({"name_first": "Faatema", "name_last": "Siddiqua"})"));
    const auto b = e.encode(record(R"({"name_first": "Fatema", "name_last": "Sidiqua"})"));
    EXPECT_EQ(a.filter, b.filter);
    // A doubled letter inside a variant still finds the variant's group.
    EXPECT_EQ(
        e.encode(record(R"({"name_first": "Noorr"})")).filter,
        e.encode(record(R"({"name_first": "Nur"})")).filter
    );
    auto plain = shipped();
    for (auto& f : plain.fields) {
        f.collapse_repeats = false;
    }
    encoder off(plain, secret_a);
    const auto c = off.encode(record(R"({"name_first": "Faatema"})"));
    const auto d = off.encode(record(R"({"name_first": "Fatema"})"));
    EXPECT_NE(c.filter, d.filter);
    EXPECT_GT(dice(c, d), 0.6);  // still close through the shared bigrams
}

TEST(linkage_encoder, short_or_missing_secret_is_refused_without_echo) {
    EXPECT_THROW(encoder(shipped(), "short"), std::invalid_argument);
    try {
        encoder(shipped(), "fifteen-bytes!!");
    } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()).find("fifteen"), std::string::npos);
    }
    test::temp_dir dir;
    const auto file = dir.write("secret", secret_a + "\n");
    const auto ok = load_linkage_secret({file, ""});
    ASSERT_TRUE(ok.has_value());
    EXPECT_EQ(*ok, secret_a);
    EXPECT_FALSE(load_linkage_secret({dir.write("short", "abc\n"), ""}).has_value());
    EXPECT_FALSE(load_linkage_secret({dir / "absent", ""}).has_value());
    ::setenv("CASEBRIDGE_TEST_LINKAGE_SECRET", secret_b.c_str(), 1);
    EXPECT_EQ(load_linkage_secret({{}, "CASEBRIDGE_TEST_LINKAGE_SECRET"}).value(), secret_b);
    ::unsetenv("CASEBRIDGE_TEST_LINKAGE_SECRET");
    EXPECT_FALSE(load_linkage_secret({{}, "CASEBRIDGE_TEST_LINKAGE_SECRET"}).has_value());
}

}  // namespace
}  // namespace casebridge::linkage
