#include "sync/acknowledgements.hpp"

#include <set>
#include <utility>

#include "sync/page.hpp"

namespace casebridge::sync::acks {

using page::token_or_hash;

std::string_view status_name(acknowledgement::verdict v) {
    switch (v) {
        case acknowledgement::verdict::accepted:
            return "accepted";
        case acknowledgement::verdict::rejected:
            return "rejected";
        case acknowledgement::verdict::error:
            return "error";
    }
    return "error";
}

ack read(
    const external_record& rec,
    const std::optional<acknowledgement>& answer,
    const store::token& receiver
) {
    ack a;
    a.exchange_id = answer ? answer->exchange_id : rec.remote_id;
    a.self = store::record_id{receiver, token_or_hash(a.exchange_id)};
    if (answer) {
        a.status = answer->status;
        a.reference = answer->reference;
        a.reason = answer->free_text_reason ? std::string("free_text") : answer->reason_code;
        a.known = answer->known;
    }
    a.version = token_or_hash(
        rec.updated_at + "|" + std::string(status_name(a.status)) + "|" + a.reference
    );
    return a;
}

void settle(
    const settle_context& ctx,
    const std::vector<ack>& acks,
    store::page_commit& page,
    run_report& report
) {
    std::set<std::pair<std::string, std::string>> linking;  // in this page
    for (const auto& a : acks) {
        record_report rr;
        rr.source_id = a.self.id.str();
        const bool same = a.prior && a.prior->state == store::delivery_state::delivered &&
                          a.prior->source_version && *a.prior->source_version == a.version;
        if (same && !ctx.force) {
            rr.outcome = "skipped";
            ++report.counts.skipped;
            if (ctx.keep_records) {
                report.records.push_back(std::move(rr));
            }
            continue;
        }
        store::log_entry_input e;
        e.flow = ctx.flow;
        e.dir = store::direction::inbound;
        e.target = a.self;
        if (!a.reference.empty()) {
            e.remote_txn_id = token_or_hash(a.reference);
        }
        store::delivery d{ctx.flow, a.self, store::delivery_state::delivered};
        d.attempts = 1;
        d.source_version = a.version;
        if (!a.known || !a.sent) {
            rr.outcome = "dead";
            rr.reason = "unknown_exchange_id";
            e.purpose = ctx.purpose;
            e.source = a.self;
            e.result = store::outcome::failed;
            e.reason = store::token("unknown_exchange_id");
            d.state = store::delivery_state::dead;
            d.reason = store::token("unknown_exchange_id");
            page.settled_dead_letters.emplace_back(ctx.flow, a.self);
            page.dead_letters.push_back(
                {ctx.flow,
                 a.self,
                 store::token("unknown_exchange_id"),
                 {store::token("exchange_id")}}
            );
            page.reviews.push_back(
                {0, ctx.flow, a.self, store::token("unknown_acknowledgement"), std::nullopt, {}}
            );
            ++report.counts.dead;
        } else {
            rr.target_id = a.sent->source.id.str();
            e.purpose = a.sent->purpose;
            e.source = a.sent->source;
            page.settled_dead_letters.emplace_back(ctx.flow, a.self);
            if (a.status == acknowledgement::verdict::accepted) {
                rr.outcome = "acknowledged";
                e.result = store::outcome::acknowledged;
                ++report.counts.acknowledged;
                if (a.ref_rec && a.case_rec) {
                    const bool linked_here = a.ref_linked && *a.ref_linked == *a.case_rec;
                    const bool ref_elsewhere = a.ref_linked && !linked_here;
                    const bool case_elsewhere =
                        a.case_linked_from && !(*a.case_linked_from == *a.ref_rec);
                    if (ref_elsewhere || case_elsewhere) {
                        // One DSS reference, one case: never re-point a link silently.
                        rr.reason = "reference_conflict";
                        e.reason = store::token("reference_conflict");
                        page.reviews.push_back(
                            {0,
                             ctx.flow,
                             *a.case_rec,
                             store::token("reference_conflict"),
                             a.ref_rec,
                             {}}
                        );
                    } else if (!linked_here &&
                               linking
                                   .emplace(a.ref_rec->id.str(), a.case_rec->id.str())
                                   .second) {
                        page.links.emplace_back(*a.ref_rec, *a.case_rec);
                    }
                }
            } else {
                rr.outcome = "rejected";
                e.result = store::outcome::rejected;
                const std::string why =
                    a.reason.empty() ? std::string(status_name(a.status)) : a.reason;
                rr.reason = token_or_hash(why).str();
                e.reason = token_or_hash(why);
                page.reviews.push_back(
                    {0, ctx.flow, a.sent->source, store::token("dss_rejected"), e.target, {}}
                );
                ++report.counts.rejected;
            }
        }
        page.entries.push_back(std::move(e));
        page.deliveries.push_back(std::move(d));
        if (ctx.keep_records) {
            report.records.push_back(std::move(rr));
        }
    }
}

}  // namespace casebridge::sync::acks
