#include "linkage/normalise.hpp"

#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include "linkage/schema.hpp"

namespace casebridge::linkage {
namespace {

const linkage_schema& shipped() {
    static const linkage_schema s = linkage_schema::load(
        std::filesystem::path(CASEBRIDGE_SOURCE_DIR) / "mappings" / "linkage" /
        "linkage-schema.json"
    );
    return s;
}

std::string fold_name(std::string_view text) {
    std::string out;
    for (const auto& w : split_words(fold_text(text))) {
        out += out.empty() ? "" : " ";
        out += shipped().variants.fold(w);
    }
    return out;
}

TEST(linkage_normalise, folds_case_punctuation_and_spaces) {
    EXPECT_EQ(fold_text("  MD.  Rafik-Uddin  "), "md rafik uddin");
    EXPECT_EQ(fold_text("O'Neil,\tJr."), "o neil jr");
    EXPECT_EQ(fold_text(""), "");
    EXPECT_EQ(fold_text("..."), "");
}

TEST(linkage_normalise, folds_latin_diacritics) {
    EXPECT_EQ(fold_text("Mohámmed Núr"), "mohammed nur");
    EXPECT_EQ(fold_text("Ḣ"), "Ḣ");  // outside the tables: passes through unchanged
    EXPECT_EQ(fold_text("Ærøskøbing Ștefan"), "aeroskobing Ștefan");
    EXPECT_EQ(fold_text("Zoë"), "zoe");
    EXPECT_EQ(fold_text("e\xCC\x81"), "e");  // combining acute accent dropped
}

TEST(linkage_normalise, bengali_passes_through_and_nukta_is_decomposed) {
    EXPECT_EQ(fold_text("রফিক"), "রফিক");
    // য় precomposed (U+09DF) and decomposed (U+09AF U+09BC) agree.
    EXPECT_EQ(fold_text("\xE0\xA7\x9F"), fold_text("\xE0\xA6\xAF\xE0\xA6\xBC"));
    EXPECT_EQ(fold_text("মোঃ।রফিক"), "মোঃ রফিক");  // danda separates words
}

TEST(linkage_normalise, drops_invalid_utf8) {
    EXPECT_EQ(fold_text("ab\xFF\xC3z"), "abz");
}

TEST(linkage_normalise, variants_fold_to_one_form) {
    EXPECT_EQ(fold_name("Mohammad Rafiq"), "mohammad rafiq");
    EXPECT_EQ(fold_name("Md. Rafik"), "mohammad rafiq");
    EXPECT_EQ(fold_name("Muhammad Rofiq"), "mohammad rafiq");
    EXPECT_EQ(fold_name("MOHAMMED ROFIK"), "mohammad rafiq");
    EXPECT_EQ(fold_name("Noor Hussain"), "nur hossain");
    EXPECT_EQ(fold_name("Hossen"), "hossain");
    EXPECT_EQ(fold_name("Begom"), "begum");
    EXPECT_EQ(fold_name("Abdur"), "abdul");
    EXPECT_EQ(fold_name("Akhter"), fold_name("Aktar"));
    EXPECT_EQ(fold_name("Khatoon"), "khatun");
    EXPECT_EQ(fold_name("মোঃ রফিক"), "mohammad rafiq");
    // Not a variant: left alone.
    EXPECT_EQ(fold_name("Rashid"), "rashid");
}

TEST(linkage_normalise, repeated_latin_letters_collapse) {
    EXPECT_EQ(collapse_repeats("faatema"), "fatema");
    EXPECT_EQ(collapse_repeats("siddik"), "sidik");
    EXPECT_EQ(collapse_repeats("nooorjahan"), "norjahan");
    EXPECT_EQ(
        collapse_repeats("aAa"), "aAa"
    );  // folding lower-cases first; only runs of one letter
    EXPECT_EQ(collapse_repeats("rafiq"), "rafiq");
    EXPECT_EQ(collapse_repeats("2011"), "2011");  // digits are not letters
    EXPECT_EQ(collapse_repeats("মমতা"), "মমতা");  // Bengali script is left alone
    EXPECT_EQ(collapse_repeats(""), "");
}

TEST(linkage_normalise, codes_keep_letters_and_digits) {
    EXPECT_EQ(normalise_code("803-100 000-519"), "803100000519");
    EXPECT_EQ(normalise_code("bgd-18/0123"), "BGD180123");
    EXPECT_EQ(normalise_code(" - "), "");
}

TEST(linkage_normalise, padded_bigrams_by_code_point) {
    EXPECT_EQ(padded_bigrams("nur"), (std::vector<std::string>{"_n", "nu", "ur", "r_"}));
    EXPECT_EQ(padded_bigrams("a"), (std::vector<std::string>{"_a", "a_"}));
    EXPECT_TRUE(padded_bigrams("").empty());
    const auto b = padded_bigrams("রফিক");  // 4 code points, 12 bytes
    ASSERT_EQ(b.size(), 5U);
    EXPECT_EQ(b[0], "_র");
    EXPECT_EQ(b[1], "রফ");
}

std::size_t shared(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    return static_cast<std::size_t>(std::count_if(a.begin(), a.end(), [&](const auto& t) {
        return std::find(b.begin(), b.end(), t) != b.end();
    }));
}

TEST(linkage_normalise, date_tokens_survive_swap_and_year_off) {
    const auto truth = date_tokens("2014-03-11", false);
    ASSERT_EQ(truth.size(), 4U);
    EXPECT_EQ(shared(truth, date_tokens("2014-11-03", false)), 4U);  // day/month swapped
    EXPECT_EQ(shared(truth, date_tokens("2015-03-11", false)), 2U);  // year + 1: md + one bucket
    EXPECT_EQ(shared(truth, date_tokens("2013-03-11", false)), 2U);  // year − 1
    EXPECT_EQ(shared(truth, date_tokens("2016-03-11", false)), 1U);  // two years off: md only
    EXPECT_EQ(shared(truth, date_tokens("2014-04-11", false)), 3U);  // another day, same year
}

TEST(linkage_normalise, estimated_dates_give_year_tokens_only) {
    const auto est = date_tokens("2014-01-01", true);
    EXPECT_EQ(est.size(), 3U);
    EXPECT_EQ(shared(est, date_tokens("2014-03-11", false)), 3U);
    EXPECT_EQ(shared(est, date_tokens("2015-03-11", false)), 1U);
    EXPECT_TRUE(date_tokens("2014-13-01", false).empty());
    EXPECT_TRUE(date_tokens("14-03-2014", false).empty());
    EXPECT_EQ(month_day("2014-03-11"), "03-11");
}

}  // namespace
}  // namespace casebridge::linkage
