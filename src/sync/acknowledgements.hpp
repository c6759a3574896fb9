// Acknowledgement flows (a DSS inbox, docs/sync.md): the receiver's typed answers to events
// this store sent, settled into a page. Each answer becomes an inbound log entry about the
// record that was sent; a rejection becomes a review item; an accepted event links the
// receiver's reference to the case it was sent from, so later case files from the receiver
// continue the same case. An answer for an exchange id never sent is a dead letter and a review
// item, never applied. Pure: the flow runner reads the prior state and commits the page.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapter/adapter.hpp"
#include "store/store.hpp"
#include "sync/run_report.hpp"

namespace casebridge::sync::acks {

/// One answer, with what the store knows of it (filled by the runner before settling).
struct ack {
    store::record_id self{store::token("unset"), store::token("unset")};  ///< The exchange id.
    store::token version{"unset"};  ///< Time, status and reference: a new answer is new work.
    std::string exchange_id, reference, reason;
    acknowledgement::verdict status = acknowledgement::verdict::error;
    bool known = false;
    std::optional<store::sent_event> sent;  ///< The newest `sent` entry naming the exchange id.
    std::optional<store::delivery> prior;
    std::optional<store::record_id> case_rec;          ///< The case the event was sent from.
    std::optional<store::record_id> ref_rec;           ///< The receiver's reference as a record.
    std::optional<store::record_id> ref_linked;        ///< What ref_rec is linked to now.
    std::optional<store::record_id> case_linked_from;  ///< What links into case_rec now.
};

/// The status as the receiver writes it (part of an answer's version).
std::string_view status_name(acknowledgement::verdict v);

/// The answer the adapter read from `rec` (nullopt: unreadable, which counts as an unknown
/// exchange id: reviewed, never applied), as an ack of the system `receiver`.
ack read(
    const external_record& rec,
    const std::optional<acknowledgement>& answer,
    const store::token& receiver
);

struct settle_context {
    store::token flow{"unset"};
    store::token purpose{"unset"};
    bool force = false;         ///< Settle an answer again although this version was settled.
    bool keep_records = false;  ///< Append a record_report per answer.
};

/// Settles the answers into `page` and `report`: skipped when this version was settled
/// before; acknowledged (and linked, unless the reference or the case is linked elsewhere:
/// reference_conflict for review); rejected with its reason code (or the status) for review;
/// unknown_exchange_id as a dead letter and review item.
void settle(
    const settle_context& ctx,
    const std::vector<ack>& acks,
    store::page_commit& page,
    run_report& report
);

}  // namespace casebridge::sync::acks
