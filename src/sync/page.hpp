// The pure parts of a page (docs/sync.md): what the engine does with each record given what
// the store recorded before (the prior-state rules), what a delivery's outcome makes of it, and
// the page commit its outcomes settle into. No HTTP, no store, no clock: the flow runner reads
// the prior state, performs the effects (deliveries, notices, flush) and commits what these
// functions build, so each rule is tested on its own (tests/unit/sync/page_test.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>
#include <rapidjson/document.h>

#include "canonical/canonical_case.hpp"
#include "core/clock.hpp"
#include "net/remote_error.hpp"
#include "store/store.hpp"
#include "store/transfer_log.hpp"
#include "sync/run_report.hpp"

namespace casebridge::policy {
struct decision;
}

namespace casebridge::sync::page {

/// Separates a record's id from a row's unique_id in the id of a row sent as its own record.
inline constexpr char row_separator = '~';

/// What the runner does with one record (or row) of a page.
enum class action {
    skip,        ///< Settled at this version before: nothing to do.
    withhold,    ///< No basis (or disabled, aggregate only): logged, not sent.
    withdraw,    ///< Shared before, no basis now: logged, raised for review.
    dead,        ///< Held for a person: dead letter.
    send,        ///< Deliver.
    keep,        ///< Sent before to a target that cannot update it: the new version stays here.
    unresolved,  ///< A create whose outcome is unknown (no idempotency key): resolved next run.
};

/// One record (or row) of a page, from its decision to its outcome.
struct item {
    store::record_id source{"unset", "unset"};       ///< With "~<row>" when split.
    store::record_id case_source{"unset", "unset"};  ///< The record itself.
    std::string version;                             ///< The source's updated_at.
    std::optional<store::delivery> prior;
    action act = action::skip;
    std::string reason;                      ///< Reason code (withheld, dead).
    std::vector<std::string> reason_fields;  ///< Field names for dead letters.
    std::shared_ptr<policy::decision> dec;   ///< Shared by the rows of one record.
    rapidjson::Document out_body;
    std::optional<store::record_id> target;  ///< Known target (update) or result of a create.
    std::optional<store::record_id> linked;  ///< The target linked before this delivery.
    std::vector<store::record_id> identities;
    bool review = false;                ///< Raise a review item (withdrawals, conflicts, disabled).
    std::optional<std::string> notice;  ///< Id of the consent-withdrawal notice sent.
    // outcome of the delivery
    std::optional<remote_error> error;
    int attempts = 0;
    bool resolved_by_lookup = false;
    /// Hand-overs to a receiver that acknowledges: its answer to the last send.
    std::optional<store::ack_state> ack;
    /// A skip reported as something other than "skipped" (awaiting_acknowledgement,
    /// rejected_by_receiver).
    std::string skip_as;
    /// What the canonical record says of its closure (flow_binding::closure); nullopt when
    /// there is no rule or the record was not mapped.
    std::optional<closure_state> closure;
};

/// `text` as a token, or "sha256:<hex>" of it when it is not token text (spaces, quotes).
store::token token_or_hash(std::string_view text);
std::vector<store::token> tokens_of(const std::vector<std::string>& v);
/// Field names without row numbers: "/services_section/0/x" → "/services_section/x".
std::string without_row_numbers(std::string_view path);
/// A reason code: the error's name without its category ("unmapped_value").
std::string reason_of(const boost::system::error_code& ec);
/// What the target's creates and look-ups are keyed by: "<flow>/<system>/<id>".
std::string source_key(const store::token& flow, const store::record_id& source);

/// What the prior-state rules need to know of the run and its target.
struct prior_rules {
    bool force = false;     ///< Run again whatever was recorded (a chosen record, a retry).
    bool handover = false;  ///< run_options::handover.
    bool target_can_update = true;
    bool create = true;  ///< flow_binding::create.
};

/// Applies what the store recorded before (it.prior, it.ack, it.linked, it.target) to what
/// the decision made of the record now: a version settled before is skipped (in a hand-over
/// only when delivered), a withhold of something shared (or possibly shared: in flight)
/// becomes a withdrawal for review, a send to a target that cannot update a linked record
/// is kept, and a send with nothing to update where the flow may not create is not_found.
void apply_prior(item& it, const prior_rules& rules);

/// The source version as the delivery row records it.
store::token version_token(const item& it);
/// Attempts recorded before at this item's source version (an attempt left in flight by a
/// crash, a retry of a failure): a changed record starts counting again. An attempt in
/// flight whose version was not recorded counts as this version's.
std::int64_t prior_attempts(const item& it);
/// Attempts at this version over every run: those recorded before plus this run's.
std::int64_t total_attempts(const item& it);

/// Intent before effect: the in-flight rows written before any of `to_send` leaves.
store::page_commit intent_for(const store::token& flow, const std::vector<item*>& to_send);

/// After a delivery: a create that failed transiently at a target whose creates are not
/// idempotent may have happened (unresolved: looked up next run); any other failure, or no
/// target id, is a dead letter (permanent, or retries_exhausted when transient).
void after_delivery(item& it, bool idempotent_create);

/// What settling needs besides the items.
struct settle_context {
    store::token flow{"unset"};
    store::token purpose{"unset"};
    bool dry_run = false;
    bool keep_records = false;  ///< Append a record_report per item.
    time_point now{};           ///< A closure without a parseable date is dated now.
};

/// The log entry of `it` with outcome `o`: decision, basis, consent, field names, reason,
/// override and attempts; no mapping ids (the runner adds them to every entry of the page).
store::log_entry_input entry_for(const settle_context& ctx, const item& it, store::outcome o);

/// Settles one item into the page (deliveries, log entries, links, dead letters, reviews,
/// closures) and the report (counts, and a record report when asked). A dry run writes
/// nothing to the page but reports what would happen.
void settle(
    const settle_context& ctx, const item& it, store::page_commit& page, run_report& report
);

}  // namespace casebridge::sync::page
