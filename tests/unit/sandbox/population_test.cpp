// The shared synthetic population and the Primero sandboxes that serve one agency's share.
#include "sandbox/population.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "json/json.hpp"
#include "mapping/mapping.hpp"
#include "policy/decision.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "unit/policy/policy_fixture.hpp"

namespace casebridge::sandbox {
namespace {

using namespace std::chrono_literals;

primero_settings agency_settings(std::uint64_t seed, std::string agency, double without = 0.05) {
    population::options o;
    o.seed = seed;
    o.children = 600;
    return population_sandbox_settings(o, std::move(agency), without);
}

rapidjson::Document parsed(const std::optional<std::string>& text) {
    auto d = json::parse(text.value_or("{}"));
    EXPECT_TRUE(d);
    return std::move(*d);
}

std::string member(const rapidjson::Value& v, const char* name) {
    return v.HasMember(name) && v[name].IsString() ? v[name].GetString() : std::string{};
}

class population_test : public ::testing::Test {
protected:
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 1 / 10) + 9h};
};

TEST_F(population_test, the_same_seed_gives_the_same_cases_in_two_sandboxes) {
    primero_sandbox one(agency_settings(5, "agency_b"), clock);
    primero_sandbox two(agency_settings(5, "agency_b"), clock);
    ASSERT_GT(one.case_count(), 100u);
    ASSERT_EQ(one.case_ids(), two.case_ids());
    for (const auto& id : one.case_ids()) {
        ASSERT_EQ(one.case_json(id), two.case_json(id)) << id;
    }
    EXPECT_EQ(one.population_truth(), two.population_truth());
    primero_sandbox other_seed(agency_settings(6, "agency_b"), clock);
    EXPECT_NE(one.case_ids(), other_seed.case_ids());
    EXPECT_THROW(primero_sandbox(agency_settings(5, "agency_z"), clock), std::invalid_argument);
}

TEST_F(population_test, agencies_overlap_with_field_errors_and_the_truth_is_known) {
    std::vector<std::unique_ptr<primero_sandbox>> boxes;
    for (const char* agency : {"agency_a", "agency_b", "agency_c"}) {
        boxes.push_back(std::make_unique<primero_sandbox>(agency_settings(9, agency), clock));
    }
    // child → the agencies' cases of it
    std::map<std::uint32_t, std::vector<std::pair<std::size_t, std::string>>> cases_of;
    std::set<std::string> all_ids;
    for (std::size_t a = 0; a < boxes.size(); ++a) {
        const auto truth = boxes[a]->population_truth();
        ASSERT_EQ(truth.size(), boxes[a]->case_count());
        for (const auto& id : boxes[a]->case_ids()) {
            ASSERT_TRUE(truth.count(id)) << id;
            cases_of[truth.at(id)].emplace_back(a, id);
            EXPECT_TRUE(all_ids.insert(id).second) << "a case id in two sandboxes";
        }
    }
    std::size_t in_two = 0;
    std::size_t in_three = 0;
    std::size_t name_differs = 0;
    std::size_t dob_differs = 0;
    for (const auto& [child, held] : cases_of) {
        std::set<std::size_t> agencies;
        for (const auto& [a, id] : held) {
            agencies.insert(a);
        }
        in_two += agencies.size() == 2 ? 1 : 0;
        in_three += agencies.size() == 3 ? 1 : 0;
        if (agencies.size() < 2) {
            continue;
        }
        const auto first = parsed(boxes[held[0].first]->case_json(held[0].second));
        for (std::size_t i = 1; i < held.size(); ++i) {
            const auto other = parsed(boxes[held[i].first]->case_json(held[i].second));
            name_differs += member(first, "name_first") != member(other, "name_first") ? 1 : 0;
            dob_differs += member(first, "date_of_birth") != member(other, "date_of_birth") ? 1 : 0;
        }
    }
    EXPECT_GT(in_two, 50u);
    EXPECT_GT(in_three, 20u);
    EXPECT_GT(name_differs, 10u);  // variants, misspellings, upper case
    EXPECT_GT(dob_differs, 10u);   // estimated, swapped, a year off
    // Cases carry what the mapping and the linkage read.
    const auto c = parsed(boxes[0]->case_json(boxes[0]->case_ids()[0]));
    for (const char* name :
         {"id",
          "case_id",
          "name_first",
          "sex",
          "date_of_birth",
          "location_current",
          "consent_reporting",
          "family_details_section",
          "owned_by",
          "last_updated_at"}) {
        EXPECT_TRUE(c.HasMember(name)) << name;
    }
    EXPECT_EQ(member(c, "owned_by"), boxes[0]->user_name());
}

TEST_F(population_test, a_configurable_share_has_no_consent_for_reporting) {
    for (const double share : {0.05, 0.3}) {
        primero_sandbox box(agency_settings(3, "agency_a", share), clock);
        const auto without = box.cases_without_consent();
        const double got = double(without.size()) / double(box.case_count());
        EXPECT_NEAR(got, share, 0.04) << share;
        for (const auto& id : box.case_ids()) {
            const auto c = parsed(box.case_json(id));
            ASSERT_TRUE(c["consent_reporting"].IsBool());
            EXPECT_EQ(c["consent_reporting"].GetBool(), without.count(id) == 0) << id;
            EXPECT_FALSE(c.HasMember("legitimate_basis"));
        }
    }
    primero_sandbox none(agency_settings(3, "agency_a", 0.0), clock);
    EXPECT_TRUE(none.cases_without_consent().empty());
}

// Through the shipped mapping and the `imo-harmonisation` profile, as a flow to the hub would
// send them: the cases with consent for reporting go (with their linkage encoding), the others
// never do.
TEST_F(population_test, only_cases_with_consent_for_reporting_pass_the_imo_profile) {
    const auto& policies = policy::test_support::shipped();
    const auto* profile = policies.find("imo-harmonisation");
    ASSERT_NE(profile, nullptr);
    const auto mapping = mapping::compiled_mapping::load(
        std::string(CASEBRIDGE_SOURCE_DIR) + "/mappings/primero.case.json",
        policy::test_support::catalogue()
    );
    primero_sandbox box(agency_settings(2, "agency_a", 0.1), clock);
    const auto without = box.cases_without_consent();
    ASSERT_FALSE(without.empty());
    mapping::map_context ctx;
    ctx.now = clock.now();
    std::size_t shared = 0;
    for (const auto& id : box.case_ids()) {
        const auto c = parsed(box.case_json(id));
        const auto canonical = mapping.map_in(c, ctx);
        ASSERT_TRUE(canonical) << id;
        const auto d = policy::decide(*profile, *canonical, clock.now());
        ASSERT_TRUE(d) << id;
        if (without.count(id) != 0) {
            EXPECT_FALSE(d->share) << id;
        } else {
            EXPECT_TRUE(d->share) << id << ": " << d->reason;
            EXPECT_TRUE(d->linkage.has_value()) << id;
            shared += d->share ? 1 : 0;
        }
    }
    EXPECT_EQ(shared + without.size(), box.case_count());
}

TEST_F(population_test, primero_cases_follow_the_population_records) {
    population::options o;
    o.seed = 4;
    o.children = 200;
    const auto load = population::generate(o);
    EXPECT_EQ(load.seed, 4u);
    const auto share = population::primero_cases(load, "agency_c");
    std::size_t expected = 0;
    for (const auto& r : load.records) {
        expected += r.agency == "agency_c" ? 1 : 0;
    }
    ASSERT_EQ(share.cases.size(), expected);
    std::string previous;
    for (const auto& c : share.cases) {
        const std::string id = c["id"].GetString();
        const std::string updated = c["last_updated_at"].GetString();
        EXPECT_GT(updated, previous);
        previous = updated;
        const auto key = share.key_of.at(id);
        const auto r = std::find_if(load.records.begin(), load.records.end(), [&](const auto& x) {
            return x.key == key;
        });
        ASSERT_NE(r, load.records.end());
        EXPECT_EQ(share.child_of.at(id), r->child);
        EXPECT_EQ(member(c, "name_first"), r->name_first);
        EXPECT_EQ(member(c, "date_of_birth"), r->date_of_birth);
        EXPECT_EQ(member(c, "unhcr_individual_no"), r->progres);
        EXPECT_EQ(member(c, "family_count_no"), r->fcn);
        EXPECT_EQ(c["estimated"].GetBool(), r->estimated);
        const auto& family = c["family_details_section"];
        EXPECT_EQ(family.Size(), r->caregiver.empty() ? 0u : 1u);
        if (!r->caregiver.empty()) {
            EXPECT_EQ(member(family[0], "relation_name"), r->caregiver);
            EXPECT_TRUE(family[0]["relation_is_caregiver"].GetBool());
        }
    }
    EXPECT_TRUE(population::primero_cases(load, "agency_x").cases.empty());
}

}  // namespace
}  // namespace casebridge::sandbox
