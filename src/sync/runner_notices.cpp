// Possible-duplicate notices from the IMO hub as flags on this agency's cases (docs/imo.md).
// Each notice names one of this agency's records by the pseudonym it was sent to the hub
// under; the store's link from the case to that pseudonym finds the case. The case's flags
// are read fresh and changed as sync/notices.hpp plans it, so a notice handled twice (a
// crash before the page's commit) raises no second flag. Each notice is an inbound log
// entry; one whose record or case cannot be found is a dead letter and a review item. A
// failure to read or change flags stops the run with the page unsettled: it is read again.
#include "sync/runner_impl.hpp"

namespace casebridge::sync {

// ---- possible-duplicate notices from the IMO hub --------------------------------------
//
// Each notice names one of this agency's records by the pseudonym it was sent to the hub
// under; the store's link from the case to that pseudonym finds the case. The case's flags
// are read fresh and changed as sync/notices.hpp plans it, so a notice handled twice (a
// crash before the page's commit) raises no second flag. Each notice is an inbound log
// entry; one whose record or case cannot be found is a dead letter and a review item. A
// failure to read or change flags stops the run with the page unsettled: it is read again.
awaitable<bool> flow_runner::impl::process_notices(
    const std::vector<external_record>& records,
    std::optional<std::string> next_cursor,
    bool dry_run,
    run_report& report
) {
    struct notice_item {
        duplicate_notice n;
        bool readable = false;
        store::record_id self{store::token("unset"), store::token("unset")};
        /// The record's notices of one reference: their last applied id is a delivery.
        store::record_id key{store::token("unset"), store::token("unset")};
        std::optional<store::record_id> case_rec;
        std::optional<store::delivery> prior;
        bool superseded = false;  ///< A later notice of the same key is in this page.
    };
    std::vector<notice_item> items;
    std::map<std::string, std::size_t> last_of_key;
    for (const auto& rec : records) {
        notice_item it;
        auto n = b.source->notice_of(rec);
        it.readable = n.has_value();
        if (n) {
            it.n = std::move(*n);
            it.self = store::record_id{b.source_system, token_or_hash(it.n.pseudonym)};
            it.key = store::record_id{
                b.source_system, token_or_hash(it.n.pseudonym + "/" + it.n.reference)};
            if (const auto [at, fresh] = last_of_key.try_emplace(it.key.id.str(), items.size());
                !fresh) {
                items[at->second].superseded = true;
                at->second = items.size();
            }
        } else {
            it.self = store::record_id{b.source_system, token_or_hash(rec.remote_id)};
        }
        items.push_back(std::move(it));
    }
    const store::token cases_system = b.target_system;
    const store::token flow_id = b.flow;
    auto look = [&items, cases_system, flow_id](store::store& s) -> result<void> {
        for (auto& it : items) {
            if (!it.readable) {
                continue;
            }
            auto from = s.linked_from(it.self, cases_system);
            if (!from) {
                return from.error();
            }
            it.case_rec = std::move(*from);
            auto prior = s.get_delivery(flow_id, it.key);
            if (!prior) {
                return prior.error();
            }
            it.prior = std::move(*prior);
        }
        return {};
    };
    auto looked = co_await st->run(std::move(look));
    if (!looked) {
        report.error = "store: " + error_name(looked.error());
        co_return false;
    }

    const std::string today = format_rfc3339(clock->now()).substr(0, 10);
    store::page_commit page;
    // Notice ids ascend per agency: decimal text compared by length, then by digits.
    const auto not_after = [](const std::string& id, const store::token& applied) {
        const std::string& a = applied.str();
        return id.size() != a.size() ? id.size() < a.size() : id <= a;
    };
    for (auto& it : items) {
        record_report rr;
        rr.source_id = it.self.id.str();
        // Settled before (a page read again after a crash, a run from the start) or
        // superseded by a later notice of the same record and reference in this page: the
        // flags already say what the newest notice says.
        const bool done_before = it.prior && it.prior->state == store::delivery_state::delivered &&
                                 it.prior->source_version &&
                                 not_after(it.n.id, *it.prior->source_version);
        if (it.readable && (it.superseded || done_before)) {
            rr.outcome = "skipped";
            rr.reason = it.superseded ? "superseded" : "applied_before";
            ++report.counts.skipped;
            count(&flow_metrics::skipped, 1);
            if (keep_records) {
                report.records.push_back(std::move(rr));
            }
            continue;
        }
        store::log_entry_input e;
        e.flow = b.flow;
        e.dir = store::direction::inbound;
        e.purpose = b.purpose;
        e.source = it.self;
        if (it.readable) {
            e.correlation_key = token_or_hash(it.n.reference);
            e.counts.push_back(
                {store::token("other_agencies"),
                 static_cast<std::int64_t>(it.n.other_agencies.size())}
            );
        }
        std::optional<std::string> dead_reason;
        if (!it.readable) {
            dead_reason = "unreadable_notice";
        } else if (!it.case_rec) {
            dead_reason = "unknown_pseudonym";
        }
        // One attempt reads the case's flags and applies the plan made from them. A failed
        // attempt is retried from a fresh read, never by repeating a raise: a raise whose
        // answer was lost is found by the next read, so no second flag is raised.
        struct applied {
            std::int64_t raised = 0, updated = 0, resolved = 0;
            std::optional<std::string> flag_id;
        };
        applied total;
        if (!dead_reason) {
            e.target = *it.case_rec;
            rr.target_id = it.case_rec->id.str();
            const std::string case_id = it.case_rec->id.str();
            auto done = co_await with_retries<void>(
                [&]() -> awaitable<remote_result<void>> {
                    auto listed = co_await b.target->list_flags(b.target_stream, case_id);
                    if (!listed) {
                        co_return listed.error();
                    }
                    for (const auto& step : plan_flag_steps(it.n, *listed, *b.notices)) {
                        if (dry_run) {
                            continue;
                        }
                        if (step.what == flag_step::kind::raise) {
                            auto id = co_await b.target->raise_flag(
                                b.target_stream, case_id, step.text, today
                            );
                            if (!id) {
                                co_return id.error();
                            }
                            ++total.raised;
                            total.flag_id = *id;
                            continue;
                        }
                        const bool update = step.what == flag_step::kind::update;
                        auto changed = update
                                           ? co_await b.target->update_flag(
                                                 b.target_stream, case_id, step.flag_id, step.text
                                             )
                                           : co_await b.target->resolve_flag(
                                                 b.target_stream, case_id, step.flag_id, step.text
                                             );
                        if (!changed) {
                            co_return changed.error();
                        }
                        ++(update ? total.updated : total.resolved);
                        total.flag_id = step.flag_id;
                    }
                    co_return remote_result<void>{};
                },
                report.counts,
                nullptr
            );
            if (!done && interrupted) {
                report.stopped = true;  // the page stays unsettled and is read again
                co_return false;
            }
            if (!done && done.error().code == make_error_code(errc::not_found)) {
                dead_reason = "case_not_found";
            } else if (!done) {
                // Stopped (or refused): the page stays unsettled and is read again.
                report.error = done.error().describe();
                co_return false;
            }
        }
        if (dead_reason) {
            rr.outcome = "dead";
            rr.reason = *dead_reason;
            e.result = store::outcome::failed;
            e.reason = store::token::make(*dead_reason).value();
            page.settled_dead_letters.emplace_back(b.flow, it.self);
            page.dead_letters.push_back({b.flow, it.self, *e.reason, {store::token("pseudonym")}});
            page.reviews.push_back({0, b.flow, it.self, *e.reason, e.target, {}});
            ++report.counts.dead;
            count(&flow_metrics::dead, 1);
            page.entries.push_back(std::move(e));
            if (keep_records) {
                report.records.push_back(std::move(rr));
            }
            continue;
        }
        if (total.flag_id) {
            e.remote_txn_id = token_or_hash(*total.flag_id);
        }
        const std::int64_t raised = total.raised;
        const std::int64_t updated = total.updated;
        const std::int64_t resolved = total.resolved;
        const bool retraction = it.n.what == duplicate_notice::kind::retraction;
        rr.outcome = dry_run ? (retraction ? "would_unflag" : "would_flag")
                             : (retraction ? "unflagged" : "flagged");
        e.result = retraction ? store::outcome::unflagged : store::outcome::flagged;
        e.counts.push_back({store::token("flags_raised"), raised});
        e.counts.push_back({store::token("flags_updated"), updated});
        e.counts.push_back({store::token("flags_resolved"), resolved});
        report.counts.flags_raised += raised;
        report.counts.flags_updated += updated;
        report.counts.flags_resolved += resolved;
        page.settled_dead_letters.emplace_back(b.flow, it.self);
        page.entries.push_back(std::move(e));
        if (auto version = store::token::make(it.n.id)) {
            store::delivery d{b.flow, it.key, store::delivery_state::delivered};
            d.attempts = 1;
            d.source_version = *version;
            page.deliveries.push_back(std::move(d));
        }
        if (keep_records) {
            report.records.push_back(std::move(rr));
        }
    }
    if (dry_run) {
        co_return true;
    }
    co_return co_await commit(std::move(page), std::move(next_cursor), report);
}

}  // namespace casebridge::sync
