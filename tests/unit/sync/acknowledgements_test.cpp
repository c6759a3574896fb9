// Acknowledgement flows (sync/acknowledgements.hpp): a receiver's typed answers settled into a
// page. No HTTP, no store: the store's answers are set on each ack as the runner would.
#include "sync/acknowledgements.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace casebridge::sync::acks {
namespace {

const store::token flow_id("dss-acks");
const store::token dss("dss");
const store::token cases("cpims");

external_record file_row(std::string exchange_id, std::string at = "2026-11-03T08:00:00Z") {
    external_record r;
    r.remote_id = std::move(exchange_id);
    r.updated_at = std::move(at);
    return r;
}

acknowledgement accepted(std::string exchange_id, std::string reference) {
    acknowledgement a;
    a.exchange_id = std::move(exchange_id);
    a.status = acknowledgement::verdict::accepted;
    a.reference = std::move(reference);
    a.known = true;
    return a;
}

/// An ack of an event sent from case `case_id`, as the runner fills it from the store.
ack sent_from(ack a, const std::string& case_id) {
    a.sent = store::sent_event{
        "cpims-to-dss", "referral", store::record_id{cases, *store::token::make(case_id)}};
    if (!a.reference.empty()) {
        a.case_rec = store::record_id{cases, *store::token::make(case_id)};
        a.ref_rec = store::record_id{dss, *store::token::make(a.reference)};
    }
    return a;
}

settle_context context(bool force = false) {
    return {flow_id, "referral", force, true};
}

TEST(acks, an_answer_is_versioned_by_its_time_status_and_reference) {
    const auto a = read(file_row("EX-1"), accepted("EX-1", "DSS-77"), dss);
    EXPECT_EQ(a.self.system, dss);
    EXPECT_EQ(a.self.id.str(), "EX-1");
    const auto later =
        read(file_row("EX-1", "2026-11-04T08:00:00Z"), accepted("EX-1", "DSS-77"), dss);
    EXPECT_NE(a.version, later.version);
    auto refused = accepted("EX-1", "");
    refused.status = acknowledgement::verdict::rejected;
    EXPECT_NE(read(file_row("EX-1"), refused, dss).version, a.version);
}

TEST(acks, an_unreadable_answer_counts_as_unknown_and_is_never_applied) {
    const auto a = read(file_row("row-3"), std::nullopt, dss);
    EXPECT_FALSE(a.known);
    EXPECT_EQ(a.self.id.str(), "row-3");
    store::page_commit p;
    run_report r;
    settle(context(), {a}, p, r);
    ASSERT_EQ(p.dead_letters.size(), 1u);
    EXPECT_EQ(p.dead_letters[0].reason.str(), "unknown_exchange_id");
    ASSERT_EQ(p.reviews.size(), 1u);
    EXPECT_EQ(p.reviews[0].kind.str(), "unknown_acknowledgement");
    EXPECT_TRUE(p.links.empty());
    EXPECT_EQ(p.entries.at(0).result, store::outcome::failed);
    EXPECT_EQ(r.counts.dead, 1);
}

TEST(acks, a_known_id_never_sent_by_this_store_is_unknown_too) {
    auto a = read(file_row("EX-9"), accepted("EX-9", "DSS-1"), dss);  // no `sent`
    store::page_commit p;
    run_report r;
    settle(context(), {a}, p, r);
    EXPECT_EQ(r.records.at(0).outcome, "dead");
    EXPECT_TRUE(p.links.empty());
}

TEST(acks, an_acceptance_is_logged_about_the_sent_record_and_links_the_reference_once) {
    auto a = sent_from(read(file_row("EX-1"), accepted("EX-1", "DSS-77"), dss), "case-1");
    auto twice = a;  // the same reference again in the page (a re-sent event)
    twice.self = store::record_id{dss, "EX-2"};
    store::page_commit p;
    run_report r;
    settle(context(), {a, twice}, p, r);
    ASSERT_EQ(p.entries.size(), 2u);
    EXPECT_EQ(p.entries[0].result, store::outcome::acknowledged);
    EXPECT_EQ(p.entries[0].dir, store::direction::inbound);
    EXPECT_EQ(p.entries[0].source->id.str(), "case-1");
    EXPECT_EQ(p.entries[0].remote_txn_id->str(), "DSS-77");
    EXPECT_EQ(p.entries[0].purpose->str(), "referral");
    ASSERT_EQ(p.links.size(), 1u);
    EXPECT_EQ(p.links[0].first.id.str(), "DSS-77");
    EXPECT_EQ(p.links[0].second.id.str(), "case-1");
    EXPECT_TRUE(p.reviews.empty());
    EXPECT_EQ(r.counts.acknowledged, 2);
}

TEST(acks, a_reference_or_case_linked_elsewhere_is_a_conflict_for_review_never_repointed) {
    auto ref_elsewhere =
        sent_from(read(file_row("EX-1"), accepted("EX-1", "DSS-77"), dss), "case-1");
    ref_elsewhere.ref_linked = store::record_id{cases, "case-2"};
    auto case_elsewhere =
        sent_from(read(file_row("EX-3"), accepted("EX-3", "DSS-78"), dss), "case-3");
    case_elsewhere.case_linked_from = store::record_id{dss, "DSS-10"};
    auto already = sent_from(read(file_row("EX-4"), accepted("EX-4", "DSS-79"), dss), "case-4");
    already.ref_linked = already.case_rec;
    already.case_linked_from = already.ref_rec;
    store::page_commit p;
    run_report r;
    settle(context(), {ref_elsewhere, case_elsewhere, already}, p, r);
    EXPECT_TRUE(p.links.empty());
    ASSERT_EQ(p.reviews.size(), 2u);
    EXPECT_EQ(p.reviews[0].kind.str(), "reference_conflict");
    EXPECT_EQ(p.reviews[0].source.id.str(), "case-1");
    EXPECT_EQ(p.reviews[1].source.id.str(), "case-3");
    EXPECT_EQ(r.records.at(0).reason, "reference_conflict");
    EXPECT_EQ(r.records.at(2).reason, "");
}

TEST(acks, a_rejection_keeps_its_code_or_the_status_and_free_text_only_as_a_marker) {
    acknowledgement no;
    no.exchange_id = "EX-1";
    no.status = acknowledgement::verdict::rejected;
    no.reason_code = "E-DUPLICATE";
    no.known = true;
    acknowledgement text = no;
    text.exchange_id = "EX-2";
    text.reason_code.clear();
    text.free_text_reason = true;
    acknowledgement err = no;
    err.exchange_id = "EX-3";
    err.status = acknowledgement::verdict::error;
    err.reason_code.clear();
    std::vector<ack> acks{
        sent_from(read(file_row("EX-1"), no, dss), "case-1"),
        sent_from(read(file_row("EX-2"), text, dss), "case-2"),
        sent_from(read(file_row("EX-3"), err, dss), "case-3")};
    store::page_commit p;
    run_report r;
    settle(context(), acks, p, r);
    ASSERT_EQ(p.entries.size(), 3u);
    EXPECT_EQ(p.entries[0].result, store::outcome::rejected);
    EXPECT_EQ(p.entries[0].reason->str(), "E-DUPLICATE");
    EXPECT_EQ(p.entries[1].reason->str(), "free_text");
    EXPECT_EQ(p.entries[2].reason->str(), "error");
    ASSERT_EQ(p.reviews.size(), 3u);
    EXPECT_EQ(p.reviews[0].kind.str(), "dss_rejected");
    EXPECT_TRUE(p.links.empty());
    EXPECT_EQ(r.counts.rejected, 3);
}

TEST(acks, an_answer_settled_before_is_skipped_unless_forced) {
    auto a = sent_from(read(file_row("EX-1"), accepted("EX-1", "DSS-77"), dss), "case-1");
    a.prior = store::delivery{flow_id, a.self, store::delivery_state::delivered};
    a.prior->source_version = a.version;
    store::page_commit p;
    run_report r;
    settle(context(), {a}, p, r);
    EXPECT_TRUE(p.entries.empty());
    EXPECT_EQ(r.counts.skipped, 1);
    EXPECT_EQ(r.records.at(0).outcome, "skipped");

    store::page_commit again;
    run_report r2;
    settle(context(true), {a}, again, r2);
    EXPECT_EQ(again.entries.size(), 1u);
    EXPECT_EQ(r2.counts.acknowledged, 1);

    // A new answer (another time) for the same id is new work.
    auto later = sent_from(
        read(file_row("EX-1", "2026-12-01T00:00:00Z"), accepted("EX-1", "DSS-77"), dss), "case-1"
    );
    later.prior = a.prior;
    store::page_commit newer;
    run_report r3;
    settle(context(), {later}, newer, r3);
    EXPECT_EQ(newer.entries.size(), 1u);
}

}  // namespace
}  // namespace casebridge::sync::acks
