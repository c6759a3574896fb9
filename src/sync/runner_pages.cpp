// One page: plan (sync/page), intent before effect, the effects, settlement (sync/page) and
// the commit with its cursor move; attempts left in flight resolved from a fresh read.
#include <exception>

#include <boost/asio/co_spawn.hpp>

#include "net/async.hpp"
#include "sync/runner_impl.hpp"

namespace casebridge::sync {

// ---- the next page -----------------------------------------------------------------

void read_ahead::start(flow_runner::impl& m, std::string cursor) {
    CASEBRIDGE_CHECK(!running_);
    started_ = true;
    running_ = true;
    cursor_ = std::move(cursor);
    page_.reset();
    failure_ = nullptr;
    relay_.reset();
    own_stop_ = std::stop_source{};
    relay_.emplace(m.stop, relay_stop{&own_stop_});
    done_.expires_at(net::steady_timer::time_point::max());
    net::co_spawn(done_.get_executor(), read(&m, this), [this](std::exception_ptr e) {
        failure_ = e;
        running_ = false;
        done_.cancel();
    });
}

awaitable<void> read_ahead::read(flow_runner::impl* m, read_ahead* self) {
    auto page = co_await stoppable(
        self->own_stop_.get_token(),
        m->b.source->pull(m->b.source_stream, std::optional<std::string>(self->cursor_))
    );
    self->page_ = std::move(page);
    co_return;
}

awaitable<void> read_ahead::finish() {
    if (running_) {
        co_await done_.async_wait(use_nothrow);
    }
    co_return;
}

remote_result<pull_page> read_ahead::take() {
    CASEBRIDGE_CHECK(started_ && !running_);
    started_ = false;
    if (failure_) {
        std::rethrow_exception(std::exchange(failure_, nullptr));
    }
    CASEBRIDGE_CHECK(page_.has_value());
    auto page = std::move(*page_);
    page_.reset();
    return page;
}

void settle_ahead::start(store::store_thread& st, store::page_commit page) {
    // The settle before this one was awaited: its outcome is never overwritten unread.
    CASEBRIDGE_CHECK(!running_ && !outcome_ && !failure_);
    running_ = true;
    done_.expires_at(net::steady_timer::time_point::max());
    net::co_spawn(
        done_.get_executor(),
        write(&st, std::move(page), this),
        [this](std::exception_ptr e) {
            failure_ = e;
            running_ = false;
            done_.cancel();
        }
    );
}

awaitable<void> settle_ahead::write(
    store::store_thread* st, store::page_commit page, settle_ahead* self
) {
    auto write_page = [page = std::move(page)](store::store& s) { return s.commit_page(page); };
    auto committed = co_await st->run(std::move(write_page));
    self->outcome_ = committed ? result<void>{} : result<void>(committed.error());
    co_return;
}

awaitable<result<void>> settle_ahead::finish() {
    if (running_) {
        co_await done_.async_wait(use_nothrow);
    }
    if (failure_) {
        std::rethrow_exception(std::exchange(failure_, nullptr));
    }
    if (!outcome_) {
        co_return result<void>{};
    }
    auto outcome = std::move(*outcome_);
    outcome_.reset();
    co_return outcome;
}

awaitable<bool> flow_runner::impl::settled_before(run_report& report) {
    if (settling == nullptr) {
        co_return true;
    }
    auto settled = co_await settling->finish();
    if (!settled) {
        report.error = "store: " + error_name(settled.error());
        co_return false;
    }
    co_return true;
}

awaitable<remote_result<pull_page>> flow_runner::impl::next_page(
    read_ahead& ahead, const std::optional<std::string>& cursor, run_counts& counts
) {
    if (ahead.holds(cursor)) {
        co_await ahead.finish();
        auto page = ahead.take();
        if (page) {
            co_return page;
        }
        if (stopping()) {
            interrupted = true;  // the stop's error, as call() would say
            co_return page;
        }
        // A permanent error (a refusal, a bad request) stands as a read made now would have
        // had it, its refusal noted: the same credentials are not presented again. A
        // transient one is forgotten: the page is read now, with every attempt the policy
        // gives (a fault that passed while the page before was processed costs nothing).
        if (!page.error().transient()) {
            note_refusal(page.error(), b.source_system);
            co_return page;
        }
    }
    int attempts = 0;
    co_return co_await with_retries<pull_page>(
        [&]() { return b.source->pull(b.source_stream, cursor); },
        counts,
        &attempts,
        &b.source_system
    );
}

// ---- phase 5: settle ---------------------------------------------------------------

/// Settles the page's items (sync/page) and counts their outcomes in the metrics.
void flow_runner::impl::settle_all(
    const std::vector<item>& items, store::page_commit& out, run_report& report, bool dry_run
) {
    const page::settle_context ctx{b.flow, b.purpose, dry_run, keep_records, clock->now()};
    const run_counts before = report.counts;
    for (const auto& it : items) {
        page::settle(ctx, it, out, report);
    }
    const run_counts& after = report.counts;
    count(&flow_metrics::sent, after.sent - before.sent);
    count(&flow_metrics::withheld, after.withheld - before.withheld);
    count(&flow_metrics::withdrawn, after.withdrawn - before.withdrawn);
    count(&flow_metrics::dead, after.dead - before.dead);
    count(&flow_metrics::skipped, after.skipped - before.skipped);
}

/// Attempts left without an outcome (a crash between intent and commit, or a create whose
/// answer was lost): each record is fetched fresh from its source and run again, so a
/// create that did happen is found by lookup and one that did not is sent once.
/// Fetches `record_id` fresh from the source and runs the rows `ids` of it through the
/// pipeline (retries, dead-letter retries, in-flight resolution, chosen records). The
/// source's error when it cannot be fetched; false when the page could not be settled.
awaitable<remote_result<bool>> flow_runner::impl::reprocess(
    const std::string& record_id, const std::set<std::string>& ids, bool force, run_report& report
) {
    run_counts fetch_counts;
    auto fetched = co_await with_retries<external_record>(
        [&]() { return b.source->fetch(b.source_stream, record_id); },
        fetch_counts,
        nullptr,
        &b.source_system
    );
    if (!fetched) {
        co_return fetched.error();
    }
    std::vector<external_record> one;
    one.push_back(std::move(*fetched));
    co_return co_await process(one, std::nullopt, force, false, report, &ids);
}

awaitable<void> flow_runner::impl::resolve_in_flight(run_report& report) {
    const store::token flow_id = b.flow;
    auto list = [flow_id](store::store& s) {
        return s.deliveries_in(flow_id, store::delivery_state::in_flight, 1000);
    };
    auto open = co_await st->run(std::move(list));
    if (!open || open->empty()) {
        co_return;
    }
    std::map<std::string, std::set<std::string>> by_record;
    for (const auto& d : *open) {
        const auto& id = d.source.id.str();
        by_record[id.substr(0, id.find(row_separator))].insert(id);
    }
    for (const auto& [record_id, ids] : by_record) {
        if (interrupted || stopping()) {
            co_return;  // what is left stays in flight for the next run
        }
        auto done = co_await reprocess(record_id, ids, false, report);
        if (!done) {
            log.warn(
                "flow.in_flight_unresolved",
                "an attempt without an outcome could not be re-read from its source",
                {.flow = b.flow.str(),
                 .record = record_ref{b.source_system.str(), record_id},
                 .error = done.error().code}
            );
            continue;
        }
        if (!*done) {
            co_return;
        }
    }
}

/// Runs records through the pipeline and settles them; moves the cursor to `next_cursor`
/// when given. Returns false (with report.error) when the page could not be settled.

/// Commits a settled page with its cursor move (when the page came from a pull).
awaitable<bool> flow_runner::impl::commit(
    store::page_commit page,
    std::optional<std::string> next_cursor,
    run_report& report,
    bool sync_later
) {
    if (next_cursor) {
        page.cursor_move = std::pair{b.flow, std::move(*next_cursor)};
    }
    // Every transfer entry names the mappings the record went through.
    const auto version_of = [](const mapping::compiled_mapping* m) -> std::optional<store::token> {
        if (m == nullptr) {
            return std::nullopt;
        }
        auto t = store::token::make(m->id() + "@" + std::to_string(m->version()));
        return t ? std::optional<store::token>(*t) : std::nullopt;
    };
    const auto in = version_of(b.map_in);
    const auto out = version_of(b.map_out);
    for (auto& e : page.entries) {
        if (e.kind == store::entry_kind::transfer && e.flow && *e.flow == b.flow && !e.mapping_in &&
            !e.mapping_out) {
            e.mapping_in = in;
            e.mapping_out = out;
        }
    }
    if (settling != nullptr && page.cursor_move) {
        // The run goes on: the next page's intent commit, or the run's end, syncs it.
        page.sync_later = sync_later;
        settling->start(*st, std::move(page));  // awaited before the next page's look-ups
        co_return true;
    }
    auto write_page = [page = std::move(page)](store::store& s) { return s.commit_page(page); };
    auto committed = co_await st->run(std::move(write_page));
    if (!committed) {
        report.error = "store: " + error_name(committed.error());
        co_return false;
    }
    co_return true;
}

awaitable<bool> flow_runner::impl::process(
    const std::vector<external_record>& records,
    std::optional<std::string> next_cursor,
    bool force,
    bool dry_run,
    run_report& report,
    const std::set<std::string>* only
) {
    if (b.notices || b.acknowledgements) {
        const bool settled = co_await settled_before(report);
        if (!settled) {
            co_return false;
        }
    }
    if (b.notices) {
        co_return co_await process_notices(records, std::move(next_cursor), dry_run, report);
    }
    if (b.acknowledgements) {
        co_return co_await process_acks(
            records, std::move(next_cursor), force, dry_run, report, only
        );
    }
    const auto now = clock->now();
    std::vector<item> items;
    for (const auto& rec : records) {
        prepare_record(rec, now, items);
    }
    // Mapping and deciding needed neither the store nor the network: the page before may
    // still have been settling. Nothing of this page reaches the store before it has.
    const bool settled = co_await settled_before(report);
    if (!settled) {
        co_return false;
    }
    if (only != nullptr) {
        // A row is chosen by its own id or by its record's (a dead letter raised before
        // the record was split into rows names the record).
        std::erase_if(items, [only](const item& it) {
            return only->count(it.source.id.str()) == 0 &&
                   only->count(it.case_source.id.str()) == 0;
        });
    }
    auto resolved = co_await resolve(items);
    if (!resolved) {
        report.error = "store: " + error_name(resolved.error());
        co_return false;
    }
    std::vector<item*> to_send;
    std::vector<item*> to_notify;
    const bool notify =
        b.profile->notify_on_withdrawal && b.target->can_notify_withdrawal(b.target_stream);
    const page::prior_rules rules{force, handover, b.target->can_update(b.target_stream), b.create};
    for (auto& it : items) {
        page::apply_prior(it, rules);
        if (it.act == action::send) {
            to_send.push_back(&it);
        } else if (it.act == action::withdraw && notify && it.target) {
            to_notify.push_back(&it);
        }
    }
    if (!dry_run && !to_send.empty()) {
        // Intent before effect: the attempts are on disk before any request leaves.
        store::page_commit intent = page::intent_for(b.flow, to_send);
        auto write_intent = [intent = std::move(intent)](store::store& s) {
            return s.commit_page(intent);
        };
        auto committed = co_await st->run(std::move(write_intent));
        if (!committed) {
            report.error = "store: " + error_name(committed.error());
            co_return false;
        }
        co_await deliver_all(to_send, report.counts);
        if (interrupted) {
            // Stopping part-way through the retries: nothing of this page is settled. The
            // deliveries stay in flight, as after a crash, and the next run resolves them
            // (looks them up, or sends them again with the same ids).
            b.target->discard_pending();
            report.stopped = true;
            co_return false;
        }
        for (item* it : to_send) {
            page::after_delivery(*it, b.target->idempotent_create());
        }
    }
    if (!dry_run && !to_notify.empty()) {
        if (to_send.empty()) {
            // No intent commit synced the page before's settle: nothing leaves before it
            // is durable.
            auto sync = [](store::store& s) { return s.sync_wal(); };
            auto synced = co_await st->run(std::move(sync));
            if (!synced) {
                report.error = "store: " + error_name(synced.error());
                co_return false;
            }
        }
        // Notices have ids fixed by the record and version: after a crash before this
        // page commits, the next run finds the withdrawal again and sends the same notice.
        co_await notify_all(to_notify, report.counts);
        if (interrupted) {
            b.target->discard_pending();  // the notices are found and sent again
            report.stopped = true;
            co_return false;
        }
    }
    if (!dry_run && (!to_send.empty() || !to_notify.empty())) {
        int flush_attempts = 0;
        auto flushed = co_await with_retries<void>(
            [&]() { return b.target->flush(); }, report.counts, &flush_attempts
        );
        if (!flushed && interrupted) {
            b.target->discard_pending();
            report.stopped = true;
            co_return false;
        }
        if (!flushed) {
            // Nothing of this page is logged as sent; the attempts stay in flight and the
            // next run sends them again with the same ids, after a fresh consent check.
            b.target->discard_pending();
            report.error = flushed.error().describe();
            co_return false;
        }
    }
    store::page_commit page;
    settle_all(items, page, report, dry_run);
    if (dry_run) {
        co_return true;
    }
    // Every effect of this flow waits for an intent commit or the sync above.
    co_return co_await commit(std::move(page), std::move(next_cursor), report, true);
}

}  // namespace casebridge::sync
