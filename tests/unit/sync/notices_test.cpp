// The IMO hub's notices as case flags (sync/notices.hpp): the flag texts and the pure step from
// a notice and the flags a case has now to what changes. No HTTP, no store.
#include "sync/notices.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "adapter/adapter.hpp"

namespace casebridge::sync {
namespace {

duplicate_notice possible(std::string ref, std::vector<std::string> names) {
    duplicate_notice n;
    n.id = "1";
    n.what = duplicate_notice::kind::possible_duplicate;
    n.pseudonym = "case-1";
    n.reference = std::move(ref);
    for (auto& name : names) {
        n.other_agencies.push_back({"id-" + name, name});
    }
    return n;
}

duplicate_notice retraction(std::string ref) {
    duplicate_notice n;
    n.id = "2";
    n.what = duplicate_notice::kind::retraction;
    n.pseudonym = "case-1";
    n.reference = std::move(ref);
    return n;
}

TEST(notices, flag_texts_need_the_reference_once_and_no_unknown_placeholder) {
    EXPECT_FALSE(check_flag_text(default_flag_message));
    EXPECT_FALSE(check_flag_text(default_flag_resolved_message));
    EXPECT_FALSE(check_flag_text("Doublon possible ({agencies}), {reference}"));
    EXPECT_TRUE(check_flag_text("Possible duplicate by {agencies}"));
    EXPECT_TRUE(check_flag_text("{reference} and again {reference}"));
    EXPECT_TRUE(check_flag_text("{reference} for {child_name}"));
    EXPECT_TRUE(check_flag_text("{reference} {"));
}

TEST(notices, a_text_is_filled_with_the_marker_and_the_agencies_in_order) {
    const auto text = render_flag_text(
        default_flag_message, reference_marker("C7f3a9c21"), {"Agency B", "Agency C"}
    );
    EXPECT_EQ(
        text,
        "Possible duplicate: this child may also be registered by Agency B, Agency C. IMO "
        "reference ref:C7f3a9c21. Check with the CPSS IMO before changing the case."
    );
}

TEST(notices, a_marker_matches_only_as_a_whole_word) {
    EXPECT_TRUE(carries_marker("IMO reference ref:C12.", "ref:C12"));
    EXPECT_TRUE(carries_marker("ref:C12", "ref:C12"));
    EXPECT_FALSE(carries_marker("IMO reference ref:C123.", "ref:C12"));
    EXPECT_FALSE(carries_marker("xref:C12", "ref:C12"));
    EXPECT_FALSE(carries_marker("a person's own flag", "ref:C12"));
    EXPECT_FALSE(carries_marker("anything", ""));
}

TEST(notices, a_first_notice_raises_one_flag_and_a_repeated_one_raises_none) {
    const flag_texts texts;
    const auto n = possible("C1", {"Agency B"});
    auto steps = plan_flag_steps(n, {}, texts);
    ASSERT_EQ(steps.size(), 1U);
    EXPECT_EQ(steps[0].what, flag_step::kind::raise);
    EXPECT_NE(steps[0].text.find("ref:C1"), std::string::npos);
    EXPECT_NE(steps[0].text.find("Agency B"), std::string::npos);

    // The flag it raised is there now (a crash before the page's commit): nothing to do.
    const std::vector<record_flag> now = {
        {"41", "a person's note", false}, {"42", steps[0].text, false}};
    EXPECT_TRUE(plan_flag_steps(n, now, texts).empty());
}

TEST(notices, a_changed_list_of_agencies_updates_the_flag_instead_of_raising_another) {
    const flag_texts texts;
    const auto first = plan_flag_steps(possible("C1", {"Agency B"}), {}, texts);
    const std::vector<record_flag> now = {
        {"9", first[0].text, false}, {"10", first[0].text, false}};
    const auto steps = plan_flag_steps(possible("C1", {"Agency B", "Agency C"}), now, texts);
    ASSERT_EQ(steps.size(), 1U);
    EXPECT_EQ(steps[0].what, flag_step::kind::update);
    EXPECT_EQ(steps[0].flag_id, "9");  // the first by number, not by text order
    EXPECT_NE(steps[0].text.find("Agency B, Agency C"), std::string::npos);
}

TEST(notices, a_resolved_flag_does_not_count_and_another_reference_is_not_ours) {
    const flag_texts texts;
    const auto text = plan_flag_steps(possible("C1", {"Agency B"}), {}, texts)[0].text;
    const std::vector<record_flag> now = {
        {"5", text, true}, {"6", render_flag_text(texts.message, "ref:C2", {"Agency B"}), false}};
    const auto steps = plan_flag_steps(possible("C1", {"Agency B"}), now, texts);
    ASSERT_EQ(steps.size(), 1U);
    EXPECT_EQ(steps[0].what, flag_step::kind::raise);
}

TEST(notices, a_retraction_resolves_every_active_flag_of_its_reference_and_nothing_else) {
    const flag_texts texts;
    const auto ours = plan_flag_steps(possible("C1", {"Agency B"}), {}, texts)[0].text;
    const std::vector<record_flag> now = {
        {"3", ours, false},
        {"4", ours, true},
        {"11", ours, false},
        {"12", "Possible duplicate ref:C1x", false},
        {"13", "a person's note", false}};
    const auto steps = plan_flag_steps(retraction("C1"), now, texts);
    ASSERT_EQ(steps.size(), 2U);
    EXPECT_EQ(steps[0].what, flag_step::kind::resolve);
    EXPECT_EQ(steps[0].flag_id, "3");
    EXPECT_EQ(steps[1].flag_id, "11");
    EXPECT_NE(steps[0].text.find("ref:C1"), std::string::npos);
    EXPECT_TRUE(plan_flag_steps(retraction("C1"), {}, texts).empty());
}

TEST(notices, an_agency_without_a_display_name_is_named_by_its_id) {
    auto n = possible("C1", {});
    n.other_agencies.push_back({"agency-z", ""});
    const auto steps = plan_flag_steps(n, {}, flag_texts{});
    ASSERT_EQ(steps.size(), 1U);
    EXPECT_NE(steps[0].text.find("agency-z"), std::string::npos);
}

}  // namespace
}  // namespace casebridge::sync
