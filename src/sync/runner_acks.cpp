// Acknowledgement flows: the receiver's typed answers read, the store's state looked up, the
// page settled by sync/acknowledgements.
#include "sync/runner_impl.hpp"

namespace casebridge::sync {

// ---- acknowledgements (a DSS inbox) -------------------------------------------------
//
// Each record acknowledges one event this store sent (by its exchange id): it becomes an
// inbound log entry (acknowledged or rejected) about the record that was sent, a rejection
// becomes a review item, and an accepted event links the DSS reference to the case it was
// sent from, so that later DSS case files continue the same case. An acknowledgement for
// an exchange id never sent is a dead letter and a review item, never applied.
awaitable<bool> flow_runner::impl::process_acks(
    const std::vector<external_record>& records,
    std::optional<std::string> next_cursor,
    bool force,
    bool dry_run,
    run_report& report,
    const std::set<std::string>* only
) {
    std::vector<acks::ack> answers;
    for (const auto& rec : records) {
        // The adapter reads its own format; the engine sees typed answers only.
        auto a = acks::read(rec, b.source->acknowledgement_of(rec), b.source_system);
        if (only != nullptr && only->count(a.self.id.str()) == 0) {
            continue;
        }
        answers.push_back(std::move(a));
    }
    const store::token flow = b.flow;
    const store::token dss = b.source_system;
    const store::token cases_system = b.target_system;
    auto look = [&answers, flow, dss, cases_system](store::store& s) -> result<void> {
        for (auto& a : answers) {
            auto prior = s.get_delivery(flow, a.self);
            if (!prior) {
                return prior.error();
            }
            a.prior = std::move(*prior);
            auto sent = s.last_sent_to(a.self);
            if (!sent) {
                return sent.error();
            }
            a.sent = std::move(*sent);
            if (!a.sent || a.reference.empty() || !(a.sent->source.system == cases_system)) {
                continue;
            }
            const std::string src = a.sent->source.id.str();
            a.case_rec = store::record_id{
                a.sent->source.system, token_or_hash(src.substr(0, src.find(row_separator)))};
            a.ref_rec = store::record_id{dss, token_or_hash(a.reference)};
            auto fwd = s.linked(*a.ref_rec, cases_system);
            if (!fwd) {
                return fwd.error();
            }
            a.ref_linked = std::move(*fwd);
            auto back = s.linked_from(*a.case_rec, dss);
            if (!back) {
                return back.error();
            }
            a.case_linked_from = std::move(*back);
        }
        return {};
    };
    auto looked = co_await st->run(std::move(look));
    if (!looked) {
        report.error = "store: " + error_name(looked.error());
        co_return false;
    }

    store::page_commit page;
    const run_counts before = report.counts;
    acks::settle({b.flow, b.purpose, force, keep_records}, answers, page, report);
    count(&flow_metrics::skipped, report.counts.skipped - before.skipped);
    count(&flow_metrics::dead, report.counts.dead - before.dead);
    if (dry_run) {
        co_return true;
    }
    co_return co_await commit(std::move(page), std::move(next_cursor), report);
}

}  // namespace casebridge::sync
