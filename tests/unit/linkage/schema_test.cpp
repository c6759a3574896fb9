#include "linkage/schema.hpp"

#include <algorithm>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "canonical/canonical_case.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::linkage {
namespace {

const std::filesystem::path source_dir(CASEBRIDGE_SOURCE_DIR);

std::string read(const std::filesystem::path& p) {
    auto text = json::read_file(p);
    return text ? *text : std::string();
}

// A copy of the shipped schema with `from` replaced by `to` (must occur).
std::string edited(std::string_view from, std::string_view to) {
    auto text = read(source_dir / "mappings" / "linkage" / "linkage-schema.json");
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) {
        text.replace(at, from.size(), to);
    }
    return text;
}

// Loads `schema_text` (with the shipped variant table or `variants_text`) from a temp dir;
// returns the error from the file name on, or "ok".
std::string load_error(const std::string& schema_text, const std::string& variants_text = "") {
    test::temp_dir dir;
    dir.write(
        "linkage-variants.json",
        variants_text.empty() ? read(source_dir / "mappings" / "linkage" / "linkage-variants.json")
                              : variants_text
    );
    const auto path = dir.write("link.json", schema_text);
    try {
        (void)linkage_schema::load(path);
    } catch (const json::file_error& e) {
        const std::string msg = e.what();
        const auto at = msg.find_last_of('/', msg.find(".json:"));
        return at == std::string::npos ? msg : msg.substr(at + 1);
    }
    return "ok";
}

TEST(linkage_schema, shipped_schema_loads) {
    const auto s =
        linkage_schema::load(source_dir / "mappings" / "linkage" / "linkage-schema.json");
    EXPECT_EQ(s.version, 3);
    EXPECT_EQ(s.hash, hashing::random);
    EXPECT_EQ(s.similarity.measure, similarity::frequency_weighted_dice);
    EXPECT_EQ(s.filter_bits % 64, 0U);
    EXPECT_EQ(s.encoded_bits() % 64, 0U);
    EXPECT_GE(s.fields.size(), 5U);
    EXPECT_GE(s.identifiers.size(), 3U);
    EXPECT_GT(s.variants.size(), 50U);
    EXPECT_LE(s.thresholds.lower, s.thresholds.upper);
}

TEST(linkage_schema, every_source_is_a_canonical_field) {
    const auto s =
        linkage_schema::load(source_dir / "mappings" / "linkage" / "linkage-schema.json");
    const auto cat = canonical_catalogue::load(source_dir / "mappings" / "canonical-case.json");
    for (const auto& f : s.fields) {
        for (const auto& src : f.sources) {
            const auto pointer = f.subform.empty() ? src : f.subform + src;
            EXPECT_NE(cat.resolve(pointer), nullptr) << f.name << " " << pointer;
        }
        if (!f.row_filter.empty()) {
            EXPECT_NE(cat.resolve(f.subform + f.row_filter), nullptr) << f.name;
        }
        if (!f.estimated_flag.empty()) {
            EXPECT_NE(cat.resolve(f.estimated_flag), nullptr) << f.name;
        }
    }
    for (const auto& id : s.identifiers) {
        const auto* def = cat.resolve(id.source);
        ASSERT_NE(def, nullptr) << id.name;
        EXPECT_TRUE(def->is_identifier()) << id.name;
    }
}

TEST(linkage_schema, errors_name_file_position_and_pointer) {
    EXPECT_EQ(
        load_error(edited(R"("hardening": "xor_fold")", R"("hardening": "bloom")")).substr(0, 9),
        "link.json"
    );
    EXPECT_NE(
        load_error(edited(R"("hardening": "xor_fold")", R"("hardening": "bloom")"))
            .find("/filter/hardening"),
        std::string::npos
    );
    EXPECT_NE(
        load_error(edited(R"("bits": 4096)", R"("bits": 4000)"))
            .find("at /filter/bits: must be a multiple of 128"),
        std::string::npos
    );
    EXPECT_NE(
        load_error(edited(R"("name": "family_name")", R"("name": "given_name")"))
            .find("at /fields/1/name"),
        std::string::npos
    );
    EXPECT_NE(
        load_error(edited(R"("upper": 0.)", R"("upper": 0.1, "x": 0.)")).find("/thresholds"),
        std::string::npos
    );
    EXPECT_NE(
        load_error(edited(R"("lower": 0.)", R"("lower": 1.)")).find("at /thresholds/lower"),
        std::string::npos
    );
    EXPECT_NE(
        load_error(edited(R"("prefixes": [8, 10], )", ""))
            .find("at /fields/5: tokens \"prefixes\" needs"),
        std::string::npos
    );
    EXPECT_NE(
        load_error(edited(R"("sources": ["/sex"])", R"("sources": ["sex"])"))
            .find("/fields/4/sources/0"),
        std::string::npos
    );
    EXPECT_NE(
        load_error(edited("linkage-variants.json", "missing.json"))
            .find("at /variants: the variant table file does not exist"),
        std::string::npos
    );
    EXPECT_EQ(load_error(edited(R"("bits": 4096)", R"("bits": 8192)")), "ok");
}

TEST(linkage_schema, date_weights_similarity_and_repeats_are_checked) {
    const auto s =
        linkage_schema::load(source_dir / "mappings" / "linkage" / "linkage-schema.json");
    const auto date = std::find_if(s.fields.begin(), s.fields.end(), [](const field_spec& f) {
        return f.tokens == tokenisation::date;
    });
    ASSERT_NE(date, s.fields.end());
    // A (month, day) agreement is rarer by chance than a year's, so it weighs more.
    EXPECT_GT(date->month_day_hashes, date->year_hashes);
    EXPECT_LT(date->two_year_hashes, date->year_hashes);
    EXPECT_GT(s.similarity.prior_records, 0);

    // date_hashes only on a date field, with known kinds; collapse_repeats not on codes.
    EXPECT_NE(
        load_error(edited(R"("hashes": 10)", R"("hashes": 10, "date_hashes": {"year": 5})"))
            .find("at /fields/4/date_hashes: only for tokens \"date\""),
        std::string::npos
    );
    EXPECT_NE(
        load_error(edited(R"("month_day": 40)", R"("month_day": 40, "week": 3)"))
            .find("/fields/3/date_hashes"),
        std::string::npos
    );
    EXPECT_NE(
        load_error(edited(R"("hashes": 10)", R"("hashes": 10, "collapse_repeats": true)"))
            .find("at /fields/4/collapse_repeats: only for \"name\" or \"text\""),
        std::string::npos
    );
    EXPECT_NE(
        load_error(edited(R"("frequency_weighted_dice")", R"("cosine")")).find("/similarity"),
        std::string::npos
    );
    EXPECT_NE(
        load_error(edited(R"("prior_records": 100)", R"("prior_records": 0)"))
            .find("/similarity/prior_records"),
        std::string::npos
    );
    EXPECT_NE(
        load_error(edited(R"("keep_margin": 0.02)", R"("keep_margin": 0.1)"))
            .find("at /thresholds/keep_margin: must not take upper below lower"),
        std::string::npos
    );
    EXPECT_GT(s.thresholds.keep_margin, 0);
    EXPECT_GE(s.thresholds.upper - s.thresholds.keep_margin, s.thresholds.lower);
    // Without a similarity section: plain Dice, as schema versions 1 and 2 had.
    const auto plain = edited(
        R"("similarity": {"measure": "frequency_weighted_dice", "prior_records": 100},)", ""
    );
    EXPECT_EQ(load_error(plain), "ok");
    test::temp_dir dir;
    dir.write(
        "linkage-variants.json", read(source_dir / "mappings" / "linkage" / "linkage-variants.json")
    );
    EXPECT_EQ(
        linkage_schema::load(dir.write("p.json", plain)).similarity.measure, similarity::dice
    );
}

TEST(linkage_schema, variant_table_errors_name_the_group) {
    const auto schema = read(source_dir / "mappings" / "linkage" / "linkage-schema.json");
    const auto e1 = load_error(
        schema, R"({"variants_version": 1, "groups": [["nur", "noor"], ["noor", "nure"]]})"
    );
    EXPECT_NE(e1.find("linkage-variants.json:1:"), std::string::npos) << e1;
    EXPECT_NE(e1.find("at /groups/1/0: this word is already in another group"), std::string::npos)
        << e1;
    const auto e2 = load_error(schema, R"({"variants_version": 1, "groups": [["nur", "nur ul"]]})");
    EXPECT_NE(e2.find("at /groups/0/1: a variant must be one word"), std::string::npos) << e2;
    const auto e3 = load_error(schema, R"({"variants_version": 1, "groups": [["nur"]]})");
    EXPECT_NE(e3.find("/groups/0"), std::string::npos) << e3;
    EXPECT_EQ(load_error(schema, R"({"variants_version": 1, "groups": [["nur", "Noor."]]})"), "ok");
}

TEST(linkage_schema, collapsed_variants_fold_unless_two_groups_meet) {
    test::temp_dir dir;
    const auto table = variant_table::load(dir.write(
        "v.json",
        R"({"variants_version": 1, "groups": [["nur", "noor"], ["nar", "norr"], ["rahim", "raheem"]]})"
    ));
    EXPECT_EQ(table.fold_collapsed("rahem"), "rahim");  // "raheem" collapsed
    EXPECT_EQ(table.fold_collapsed("rahim"), "rahim");
    EXPECT_EQ(table.fold_collapsed("nor"), "nor");  // "noor" and "norr" both collapse to it
    EXPECT_EQ(table.fold_collapsed("nur"), "nur");
    EXPECT_EQ(table.fold_collapsed("karim"), "karim");
    EXPECT_EQ(table.fold("raheem"), "rahim");  // the exact table is unchanged
}

}  // namespace
}  // namespace casebridge::linkage
