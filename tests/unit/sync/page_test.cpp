// The pure parts of a page (sync/page.hpp): the prior-state rules, what a delivery's outcome
// makes of an item, the intent rows, and the settlement into a page commit. No HTTP, no store.
#include "sync/page.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "policy/decision.hpp"

namespace casebridge::sync::page {
namespace {

using store::delivery_state;

const store::token flow_id("cpims-to-ping");
const store::token source_sys("cpims");
const store::token target_sys("ping");

store::delivery prior(delivery_state s, std::string version, std::int64_t attempts = 1) {
    store::delivery d{flow_id, store::record_id{source_sys, "case-1"}, s};
    d.attempts = attempts;
    if (!version.empty()) {
        d.source_version = token_or_hash(version);
    }
    return d;
}

item make_item(action act, std::string version = "2026-11-01T10:00:00Z") {
    item it;
    it.source = store::record_id{source_sys, "case-1"};
    it.case_source = it.source;
    it.version = std::move(version);
    it.act = act;
    auto d = std::make_shared<policy::decision>();
    d->share = act == action::send;
    d->basis = act == action::send ? "consent" : "";
    d->fields_sent = {"/sex", "/age"};
    d->fields_withheld = {{"/name_first", "not_in_share"}};
    d->consent_values = {{"/consent_for_services", {"true"}}};
    d->profile_id = "unhcr-referral";
    d->profile_version = 3;
    d->profile_hash = std::string(64, 'a');
    it.dec = std::move(d);
    it.out_body.SetObject();
    return it;
}

settle_context context(bool dry_run = false) {
    settle_context c;
    c.flow = flow_id;
    c.purpose = "referral";
    c.dry_run = dry_run;
    c.keep_records = true;
    c.now = time_point{} + std::chrono::hours(24 * 365 * 56);
    return c;
}

// ---- prior-state rules -----------------------------------------------------------------

TEST(page_prior, a_version_settled_before_is_skipped_and_a_new_version_is_not) {
    for (auto s : {delivery_state::delivered, delivery_state::withheld, delivery_state::dead}) {
        auto it = make_item(action::send);
        it.prior = prior(s, it.version);
        apply_prior(it, {});
        EXPECT_EQ(it.act, action::skip) << store::to_string(s);

        auto changed = make_item(action::send, "2026-11-02T10:00:00Z");
        changed.prior = prior(s, "2026-11-01T10:00:00Z");
        apply_prior(changed, {});
        EXPECT_EQ(changed.act, action::send) << store::to_string(s);
    }
}

TEST(page_prior, in_flight_or_failed_at_the_same_version_is_sent_again) {
    for (auto s : {delivery_state::in_flight, delivery_state::failed, delivery_state::pending}) {
        auto it = make_item(action::send);
        it.prior = prior(s, it.version);
        apply_prior(it, {});
        EXPECT_EQ(it.act, action::send) << store::to_string(s);
    }
}

TEST(page_prior, force_runs_a_settled_version_again) {
    auto it = make_item(action::send);
    it.prior = prior(delivery_state::delivered, it.version);
    apply_prior(it, {.force = true});
    EXPECT_EQ(it.act, action::send);
}

TEST(page_prior, a_withhold_of_something_shared_or_possibly_shared_is_a_withdrawal_for_review) {
    for (auto s : {delivery_state::delivered, delivery_state::in_flight}) {
        auto it = make_item(action::withhold, "2026-11-02T10:00:00Z");
        it.reason = "no_basis";
        it.prior = prior(s, "2026-11-01T10:00:00Z");
        apply_prior(it, {});
        EXPECT_EQ(it.act, action::withdraw) << store::to_string(s);
        EXPECT_TRUE(it.review);
        EXPECT_EQ(it.reason, "consent_withdrawn");
    }
    // Another reason (a disabled source record) keeps its own code.
    auto disabled = make_item(action::withhold, "2026-11-02T10:00:00Z");
    disabled.reason = "source_disabled";
    disabled.prior = prior(delivery_state::delivered, "2026-11-01T10:00:00Z");
    apply_prior(disabled, {});
    EXPECT_EQ(disabled.act, action::withdraw);
    EXPECT_EQ(disabled.reason, "source_disabled");
}

TEST(page_prior, a_withhold_of_something_never_shared_stays_a_withhold) {
    for (auto s : {delivery_state::withheld, delivery_state::dead, delivery_state::failed}) {
        auto it = make_item(action::withhold, "2026-11-02T10:00:00Z");
        it.reason = "no_basis";
        it.prior = prior(s, "2026-11-01T10:00:00Z");
        apply_prior(it, {});
        EXPECT_EQ(it.act, action::withhold) << store::to_string(s);
        EXPECT_FALSE(it.review);
    }
    auto fresh = make_item(action::withhold);
    fresh.reason = "no_basis";
    apply_prior(fresh, {});
    EXPECT_EQ(fresh.act, action::withhold);
}

TEST(page_prior, a_linked_record_at_a_target_that_cannot_update_is_kept) {
    auto it = make_item(action::send, "2026-11-02T10:00:00Z");
    it.prior = prior(delivery_state::delivered, "2026-11-01T10:00:00Z");
    it.linked = store::record_id{target_sys, "ref-9"};
    it.target = it.linked;
    apply_prior(it, {.target_can_update = false});
    EXPECT_EQ(it.act, action::keep);

    auto updatable = make_item(action::send, "2026-11-02T10:00:00Z");
    updatable.linked = store::record_id{target_sys, "ref-9"};
    updatable.target = updatable.linked;
    apply_prior(updatable, {});
    EXPECT_EQ(updatable.act, action::send);
}

TEST(page_prior, a_flow_that_may_not_create_dead_letters_a_record_with_nothing_to_update) {
    auto it = make_item(action::send);
    apply_prior(it, {.create = false});
    EXPECT_EQ(it.act, action::dead);
    EXPECT_EQ(it.reason, "not_found");

    auto known = make_item(action::send);
    known.target = store::record_id{target_sys, "ref-9"};
    apply_prior(known, {.create = false});
    EXPECT_EQ(known.act, action::send);
}

TEST(page_prior, a_handover_counts_only_the_delivered_current_version_as_done) {
    // Withheld or dead before at this version: decided again from what the source holds now.
    for (auto s : {delivery_state::withheld, delivery_state::dead}) {
        auto it = make_item(action::send);
        it.prior = prior(s, it.version);
        apply_prior(it, {.handover = true});
        EXPECT_EQ(it.act, action::send) << store::to_string(s);
    }
    auto done = make_item(action::send);
    done.prior = prior(delivery_state::delivered, done.version);
    apply_prior(done, {.handover = true});
    EXPECT_EQ(done.act, action::skip);
    EXPECT_EQ(done.skip_as, "");

    auto awaiting = make_item(action::send);
    awaiting.prior = prior(delivery_state::delivered, awaiting.version);
    awaiting.ack = store::ack_state::awaiting;
    apply_prior(awaiting, {.handover = true});
    EXPECT_EQ(awaiting.act, action::skip);
    EXPECT_EQ(awaiting.skip_as, "awaiting_acknowledgement");

    auto rejected = make_item(action::send);
    rejected.prior = prior(delivery_state::delivered, rejected.version);
    rejected.ack = store::ack_state::rejected;
    apply_prior(rejected, {.handover = true});
    EXPECT_EQ(rejected.act, action::skip);
    EXPECT_EQ(rejected.skip_as, "rejected_by_receiver");

    auto accepted = make_item(action::send);
    accepted.prior = prior(delivery_state::delivered, accepted.version);
    accepted.ack = store::ack_state::acknowledged;
    apply_prior(accepted, {.handover = true});
    EXPECT_EQ(accepted.skip_as, "");
}

TEST(page_prior, attempts_count_at_this_version_only) {
    auto it = make_item(action::send);
    EXPECT_EQ(prior_attempts(it), 0);
    it.prior = prior(delivery_state::failed, it.version, 3);
    EXPECT_EQ(prior_attempts(it), 3);
    it.attempts = 2;
    EXPECT_EQ(total_attempts(it), 5);
    // A changed record starts counting again.
    it.prior = prior(delivery_state::failed, "2026-10-01T00:00:00Z", 3);
    EXPECT_EQ(prior_attempts(it), 0);
    // An attempt in flight whose version was not recorded counts as this version's...
    it.prior = prior(delivery_state::in_flight, "", 4);
    EXPECT_EQ(prior_attempts(it), 4);
    // ...any other state without a version does not.
    it.prior = prior(delivery_state::failed, "", 4);
    EXPECT_EQ(prior_attempts(it), 0);
}

TEST(page_prior, the_intent_rows_are_in_flight_with_the_next_attempt_and_this_version) {
    auto a = make_item(action::send);
    a.prior = prior(delivery_state::in_flight, a.version, 2);
    auto b = make_item(action::send);
    b.source = store::record_id{source_sys, "case-2"};
    const auto intent = intent_for(flow_id, {&a, &b});
    ASSERT_EQ(intent.deliveries.size(), 2u);
    EXPECT_EQ(intent.deliveries[0].state, delivery_state::in_flight);
    EXPECT_EQ(intent.deliveries[0].attempts, 3);
    EXPECT_EQ(intent.deliveries[1].attempts, 1);
    EXPECT_EQ(intent.deliveries[1].source.id.str(), "case-2");
    EXPECT_EQ(*intent.deliveries[0].source_version, version_token(a));
    EXPECT_TRUE(intent.entries.empty());
    EXPECT_FALSE(intent.cursor_move);
}

// ---- after a delivery --------------------------------------------------------------------

TEST(page_outcome, a_lost_create_at_a_target_without_idempotent_creates_is_unresolved) {
    auto it = make_item(action::send);
    it.error = make_remote_error(errc::remote_unavailable, "reset", 0);
    after_delivery(it, false);
    EXPECT_EQ(it.act, action::unresolved);

    // The same at a target whose creates are idempotent is retried to exhaustion: dead.
    auto idem = make_item(action::send);
    idem.error = make_remote_error(errc::remote_unavailable, "reset", 0);
    after_delivery(idem, true);
    EXPECT_EQ(idem.act, action::dead);
    EXPECT_EQ(idem.reason, "retries_exhausted");
}

TEST(page_outcome, a_permanent_failure_is_a_dead_letter_named_by_its_error) {
    auto it = make_item(action::send);
    it.error = make_remote_error(errc::bad_payload, "422", 422);
    after_delivery(it, false);
    EXPECT_EQ(it.act, action::dead);
    EXPECT_EQ(it.reason, "bad_payload");
}

TEST(page_outcome, a_success_stays_a_send_and_no_target_id_is_a_failure) {
    auto ok = make_item(action::send);
    ok.target = store::record_id{target_sys, "ref-1"};
    after_delivery(ok, false);
    EXPECT_EQ(ok.act, action::send);

    auto none = make_item(action::send);
    after_delivery(none, true);
    EXPECT_EQ(none.act, action::dead);
    EXPECT_EQ(none.reason, "remote_unavailable");
}

// ---- settlement ----------------------------------------------------------------------------

const store::log_entry_input& only_entry(const store::page_commit& p) {
    EXPECT_EQ(p.entries.size(), 1u);
    return p.entries.at(0);
}

TEST(page_settle, a_send_logs_sent_with_its_key_and_digest_links_and_settles_old_dead_letters) {
    auto it = make_item(action::send);
    it.target = store::record_id{target_sys, "ref-1"};
    it.attempts = 1;
    it.identities = {store::record_id{"identity.unhcr_individual_no", "pseudo-1"}};
    store::page_commit p;
    run_report r;
    settle(context(), it, p, r);

    const auto& e = only_entry(p);
    EXPECT_EQ(e.result, store::outcome::sent);
    EXPECT_EQ(e.flow, flow_id);
    EXPECT_EQ(e.target, it.target);
    EXPECT_EQ(e.correlation_key->str(), "cpims-to-ping/cpims/case-1");
    EXPECT_TRUE(e.payload_sha256.has_value());
    EXPECT_EQ(e.fields_sent.size(), 2u);
    ASSERT_EQ(e.fields_withheld.size(), 1u);
    EXPECT_EQ(e.fields_withheld[0].str(), "/name_first");
    EXPECT_EQ(e.legitimate_basis->str(), "consent");
    EXPECT_EQ(e.attempt, 1);
    ASSERT_EQ(p.deliveries.size(), 1u);
    EXPECT_EQ(p.deliveries[0].state, delivery_state::delivered);
    ASSERT_EQ(p.links.size(), 2u);  // the target, and the identity
    EXPECT_EQ(p.links[0].second, *it.target);
    EXPECT_EQ(p.links[1].second.system.str(), "identity.unhcr_individual_no");
    ASSERT_EQ(p.settled_dead_letters.size(), 1u);
    EXPECT_TRUE(p.dead_letters.empty());
    EXPECT_EQ(r.counts.sent, 1);
    ASSERT_EQ(r.records.size(), 1u);
    EXPECT_EQ(r.records[0].outcome, "sent");
    EXPECT_EQ(r.records[0].target_id, "ref-1");
}

TEST(page_settle, an_event_target_answering_each_version_with_a_new_id_keeps_the_first_link) {
    auto it = make_item(action::send, "2026-11-02T10:00:00Z");
    it.linked = store::record_id{target_sys, "exchange-1"};
    it.target = store::record_id{target_sys, "exchange-2"};
    store::page_commit p;
    run_report r;
    settle(context(), it, p, r);
    EXPECT_TRUE(p.links.empty());
    EXPECT_EQ(only_entry(p).target->id.str(), "exchange-2");
}

TEST(page_settle, a_dry_run_reports_what_would_be_sent_and_writes_nothing) {
    for (auto act : {action::send, action::withhold, action::dead, action::withdraw}) {
        auto it = make_item(act);
        it.reason = "no_basis";
        it.closure = closure_state{true, "2026-10-01"};
        store::page_commit p;
        run_report r;
        settle(context(true), it, p, r);
        if (act == action::send) {
            EXPECT_TRUE(p.entries.empty());
            EXPECT_TRUE(p.deliveries.empty());
            EXPECT_TRUE(p.links.empty());
            EXPECT_EQ(r.counts.sent, 0);
            EXPECT_EQ(r.records.at(0).outcome, "would_send");
        }
        EXPECT_TRUE(p.closures.empty());
        EXPECT_TRUE(p.reviews.empty());
    }
}

TEST(page_settle, a_dead_letter_names_its_fields_logs_failed_and_raises_a_review_when_asked) {
    auto it = make_item(action::dead);
    it.reason = "multiple_matches";
    it.reason_fields = {"/unhcr_individual_no"};
    it.review = true;
    it.error = make_remote_error(errc::bad_payload, "422", 422);
    store::page_commit p;
    run_report r;
    settle(context(), it, p, r);
    const auto& e = only_entry(p);
    EXPECT_EQ(e.result, store::outcome::failed);
    EXPECT_TRUE(e.fields_sent.empty());
    EXPECT_EQ(e.http_status, 422);
    EXPECT_EQ(e.reason->str(), "multiple_matches");
    ASSERT_EQ(p.dead_letters.size(), 1u);
    ASSERT_EQ(p.dead_letters[0].field_names.size(), 1u);
    EXPECT_EQ(p.dead_letters[0].field_names[0].str(), "/unhcr_individual_no");
    ASSERT_EQ(p.reviews.size(), 1u);
    EXPECT_EQ(p.reviews[0].kind.str(), "multiple_matches");
    EXPECT_EQ(p.deliveries.at(0).state, delivery_state::dead);
    EXPECT_EQ(r.counts.dead, 1);
    EXPECT_TRUE(r.records[0].fields_sent.empty());
}

TEST(page_settle, a_withdrawal_without_a_notice_is_a_review_item_and_with_one_names_it) {
    auto it = make_item(action::withdraw);
    it.reason = "consent_withdrawn";
    it.target = store::record_id{target_sys, "ref-1"};
    store::page_commit p;
    run_report r;
    settle(context(), it, p, r);
    EXPECT_EQ(only_entry(p).result, store::outcome::consent_withdrawn);
    EXPECT_EQ(only_entry(p).target, it.target);
    EXPECT_FALSE(only_entry(p).remote_txn_id);
    ASSERT_EQ(p.reviews.size(), 1u);
    EXPECT_EQ(p.reviews[0].kind.str(), "consent_withdrawn");
    EXPECT_EQ(p.deliveries.at(0).state, delivery_state::withheld);

    it.notice = "notice-7";
    store::page_commit told;
    run_report r2;
    settle(context(), it, told, r2);
    EXPECT_EQ(only_entry(told).remote_txn_id->str(), "notice-7");
    EXPECT_TRUE(told.reviews.empty());
    EXPECT_EQ(r2.counts.notices, 1);
    EXPECT_EQ(r2.counts.withdrawn, 1);
}

TEST(page_settle, a_withhold_logs_no_fields_sent_and_a_disabled_shared_record_is_reviewed) {
    auto it = make_item(action::withhold);
    it.reason = "source_disabled";
    it.prior = prior(delivery_state::delivered, "2026-10-01T00:00:00Z");
    store::page_commit p;
    run_report r;
    settle(context(), it, p, r);
    EXPECT_EQ(only_entry(p).result, store::outcome::withheld);
    EXPECT_TRUE(only_entry(p).fields_sent.empty());
    EXPECT_EQ(only_entry(p).reason->str(), "source_disabled");
    ASSERT_EQ(p.reviews.size(), 1u);
    EXPECT_EQ(p.reviews[0].kind.str(), "source_disabled");
    EXPECT_EQ(r.records[0].prior, "delivered");

    auto never = make_item(action::withhold);
    never.reason = "no_basis";
    store::page_commit q;
    run_report r2;
    settle(context(), never, q, r2);
    EXPECT_TRUE(q.reviews.empty());
    EXPECT_EQ(r2.counts.withheld, 1);
}

TEST(page_settle, an_unresolved_create_stays_in_flight_with_outcome_unknown) {
    auto it = make_item(action::unresolved);
    it.prior = prior(delivery_state::in_flight, it.version, 1);
    it.attempts = 2;
    it.source = store::record_id{source_sys, "case-1~row-1"};
    store::page_commit p;
    run_report r;
    settle(context(), it, p, r);
    EXPECT_EQ(only_entry(p).reason->str(), "outcome_unknown");
    ASSERT_EQ(p.deliveries.size(), 1u);
    EXPECT_EQ(p.deliveries[0].state, delivery_state::in_flight);
    EXPECT_EQ(p.deliveries[0].attempts, 3);
    // Unresolved rows do not settle the record's dead letter: it is not settled yet.
    EXPECT_TRUE(p.settled_dead_letters.empty());
    EXPECT_EQ(r.records[0].outcome, "unresolved");
}

TEST(page_settle, a_row_settles_the_dead_letter_raised_for_its_whole_record) {
    auto it = make_item(action::send);
    it.source = store::record_id{source_sys, "case-1~row-1"};
    it.target = store::record_id{target_sys, "ref-1"};
    store::page_commit p;
    run_report r;
    settle(context(), it, p, r);
    const auto& settled = p.settled_dead_letters;
    EXPECT_NE(
        std::find_if(
            settled.begin(),
            settled.end(),
            [](const auto& s) { return s.second.id.str() == "case-1"; }
        ),
        settled.end()
    );
    EXPECT_NE(
        std::find_if(
            settled.begin(),
            settled.end(),
            [](const auto& s) { return s.second.id.str() == "case-1~row-1"; }
        ),
        settled.end()
    );
}

TEST(page_settle, a_closure_is_recorded_for_the_row_and_its_record_dated_now_without_a_date) {
    auto it = make_item(action::skip);
    it.source = store::record_id{source_sys, "case-1~row-1"};
    it.closure = closure_state{true, "not a date"};
    store::page_commit p;
    run_report r;
    const auto ctx = context();
    settle(ctx, it, p, r);
    ASSERT_EQ(p.closures.size(), 2u);
    EXPECT_EQ(p.closures[0].second, ctx.now);
    EXPECT_EQ(p.closures[1].first.id.str(), "case-1");
    EXPECT_TRUE(p.entries.empty());  // a skip logs nothing
    EXPECT_EQ(r.counts.skipped, 1);

    auto reopened = make_item(action::skip);
    reopened.closure = closure_state{false, {}};
    store::page_commit q;
    settle(ctx, reopened, q, r);
    ASSERT_EQ(q.closures.size(), 1u);
    EXPECT_FALSE(q.closures[0].second);
}

TEST(page_settle, a_kept_version_counts_as_skipped_and_stays_delivered_without_a_log_entry) {
    auto it = make_item(action::keep);
    store::page_commit p;
    run_report r;
    settle(context(), it, p, r);
    EXPECT_TRUE(p.entries.empty());
    EXPECT_EQ(p.deliveries.at(0).state, delivery_state::delivered);
    EXPECT_EQ(r.counts.skipped, 1);
    EXPECT_EQ(r.records[0].outcome, "kept");
}

TEST(page_ids, tokens_that_are_not_token_text_are_hashed_and_row_numbers_dropped) {
    EXPECT_EQ(token_or_hash("case-1").str(), "case-1");
    const auto hashed = token_or_hash("a name with spaces");
    EXPECT_TRUE(hashed.str().starts_with("sha256:"));
    EXPECT_EQ(hashed.str().find("name"), std::string::npos);
    EXPECT_EQ(
        without_row_numbers("/services_section/0/service_type"), "/services_section/service_type"
    );
    EXPECT_EQ(without_row_numbers("/a/12/b/3"), "/a/b");
    EXPECT_EQ(without_row_numbers("/x0/1y"), "/x0/1y");
    EXPECT_EQ(source_key(flow_id, store::record_id{source_sys, "c~r"}), "cpims-to-ping/cpims/c~r");
}

}  // namespace
}  // namespace casebridge::sync::page
