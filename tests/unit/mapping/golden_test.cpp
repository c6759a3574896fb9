// Golden tests for every shipped mapping: tests/golden/<mapping>/<direction>-<case>.input.json
// is mapped with mappings/<mapping>.json and compared with <same>.expected.json (canonical
// JSON). A held record is compared as {"held": {record, field, system_field, error, reason}}.
#include "support/golden.hpp"

#include <algorithm>

#include <gtest/gtest.h>

#include "canonical/canonical_case.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "mapping/mapping.hpp"

namespace casebridge::mapping {
namespace {

const std::filesystem::path source_dir = CASEBRIDGE_SOURCE_DIR;

const canonical_catalogue& catalogue() {
    static const canonical_catalogue cat =
        canonical_catalogue::load(source_dir / "mappings" / "canonical-case.json");
    return cat;
}

struct golden_case {
    std::string mapping;
    std::string name;  // "in-full-case"
    std::filesystem::path input;
};

std::vector<golden_case> list_cases() {
    std::vector<golden_case> cases;
    for (const auto& dir : std::filesystem::directory_iterator(source_dir / "tests" / "golden")) {
        if (!dir.is_directory()) {
            continue;
        }
        for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
            const auto name = f.path().filename().string();
            const std::string suffix = ".input.json";
            if (name.size() > suffix.size() &&
                name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
                cases.push_back(
                    {dir.path().filename().string(),
                     name.substr(0, name.size() - suffix.size()),
                     f.path()}
                );
            }
        }
    }
    std::sort(cases.begin(), cases.end(), [](const auto& a, const auto& b) {
        return a.mapping + a.name < b.mapping + b.name;
    });
    return cases;
}

const compiled_mapping& mapping_named(const std::string& id) {
    static std::map<std::string, compiled_mapping> cache;
    auto it = cache.find(id);
    if (it == cache.end()) {
        it = cache
                 .emplace(
                     id,
                     compiled_mapping::load(source_dir / "mappings" / (id + ".json"), catalogue())
                 )
                 .first;
    }
    return it->second;
}

rapidjson::Document held(const mapping_error& e) {
    rapidjson::Document d;
    d.Parse(("{\"held\":" + e.to_json() + "}").c_str());
    return d;
}

/// Runs a mapping the way `casebridge mapping apply` does.
rapidjson::Document run(const compiled_mapping& m, direction dir, const rapidjson::Value& input) {
    map_context ctx;
    ctx.now = *parse_rfc3339("2024-06-01T00:00:00Z");
    std::vector<rapidjson::Document> records;
    const bool many = input.IsArray();
    if (dir == direction::in && m.groups_rows()) {
        auto grouped = m.group(input);
        if (!grouped) {
            return held(grouped.error());
        }
        records = std::move(*grouped);
    } else if (many) {
        for (const auto& r : input.GetArray()) {
            records.emplace_back().CopyFrom(r, records.back().GetAllocator());
        }
    } else {
        records.emplace_back().CopyFrom(input, records.back().GetAllocator());
    }
    rapidjson::Document out(rapidjson::kArrayType);
    for (const auto& r : records) {
        auto mapped = dir == direction::in ? m.map_in(r, ctx) : m.map_out(r, ctx);
        if (!mapped) {
            return held(mapped.error());
        }
        out.PushBack(rapidjson::Value(*mapped, out.GetAllocator()), out.GetAllocator());
    }
    if (!many && !m.groups_rows()) {
        rapidjson::Document one;
        one.CopyFrom(out[0], one.GetAllocator());
        return one;
    }
    return out;
}

class golden : public ::testing::TestWithParam<golden_case> {};

TEST_P(golden, matches_expected) {
    const auto& c = GetParam();
    const auto dir = c.name.rfind("in-", 0) == 0 ? direction::in : direction::out;
    ASSERT_TRUE(c.name.rfind("in-", 0) == 0 || c.name.rfind("out-", 0) == 0)
        << c.name << ": a case name starts with in- or out-";
    const auto& m = mapping_named(c.mapping);
    ASSERT_TRUE(m.supports(dir)) << c.mapping;
    auto text = json::read_file(c.input);
    ASSERT_TRUE(text);
    auto input = json::parse(*text);
    ASSERT_TRUE(input) << c.input;
    const auto actual = run(m, dir, *input);
    auto expected = c.input;
    expected.replace_filename(c.name + ".expected.json");
    EXPECT_EQ(test::compare_golden(actual, expected), "");
}

INSTANTIATE_TEST_SUITE_P(
    shipped,
    golden,
    ::testing::ValuesIn(list_cases()),
    [](const ::testing::TestParamInfo<golden_case>& p) {
        std::string n = p.param.mapping + "_" + p.param.name;
        std::replace_if(
            n.begin(),
            n.end(),
            [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); },
            '_'
        );
        return n;
    }
);

TEST(golden_set, every_shipped_mapping_has_cases_in_each_of_its_directions) {
    const auto cases = list_cases();
    for (const auto& f : std::filesystem::directory_iterator(source_dir / "mappings")) {
        const auto name = f.path().filename().string();
        if (f.is_directory() || name == "canonical-case.json") {
            continue;
        }
        const auto id = f.path().stem().string();
        const auto& m = mapping_named(id);
        for (const auto dir : {direction::in, direction::out}) {
            if (!m.supports(dir)) {
                continue;
            }
            const std::string prefix = dir == direction::in ? "in-" : "out-";
            const auto n = std::count_if(cases.begin(), cases.end(), [&](const auto& c) {
                return c.mapping == id && c.name.rfind(prefix, 0) == 0;
            });
            EXPECT_GE(n, 1) << id << " has no golden case for direction " << prefix;
        }
    }
}

/// canonical → system → canonical keeps every field the pair maps; system → canonical →
/// system → canonical is stable.
void expect_round_trip(
    const std::string& id,
    const std::string& in_case,
    const std::string& out_case,
    const std::vector<std::string>& unmapped
) {
    const auto& m = mapping_named(id);
    map_context ctx;
    ctx.now = *parse_rfc3339("2024-06-01T00:00:00Z");
    const auto load = [](const std::filesystem::path& p) {
        auto t = json::read_file(p);
        return std::move(json::parse(*t).value());
    };
    const auto dir = source_dir / "tests" / "golden" / id;
    // From the system side.
    const auto sys = load(dir / (in_case + ".input.json"));
    auto c1 = m.map_in(sys, ctx);
    ASSERT_TRUE(c1) << c1.error().to_json();
    auto s1 = m.map_out(*c1, ctx);
    ASSERT_TRUE(s1) << s1.error().to_json();
    auto c2 = m.map_in(*s1, ctx);
    ASSERT_TRUE(c2) << c2.error().to_json();
    EXPECT_EQ(json::canonical(*c1), json::canonical(*c2))
        << id << ": differs at " << test::first_difference(*c1, *c2);
    // From the canonical side: only the listed fields may be lost.
    auto canon = load(dir / (out_case + ".input.json"));
    auto s2 = m.map_out(canon, ctx);
    ASSERT_TRUE(s2) << s2.error().to_json();
    auto c3 = m.map_in(*s2, ctx);
    ASSERT_TRUE(c3) << c3.error().to_json();
    for (const auto& name : unmapped) {
        ASSERT_TRUE(canon.HasMember(name.c_str())) << name;
        canon.RemoveMember(name.c_str());
    }
    EXPECT_EQ(json::canonical(canon), json::canonical(*c3))
        << id << ": differs at " << test::first_difference(canon, *c3);
}

TEST(round_trip, primero_case) {
    expect_round_trip("primero.case", "in-full-case", "out-full-case", {});
}

TEST(round_trip, dss_event) {
    expect_round_trip("dss.event", "in-referral", "out-transfer", {"protection_concerns"});
}

}  // namespace
}  // namespace casebridge::mapping
