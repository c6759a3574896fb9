#include "sync/flow_runner.hpp"

#include "sync/runner_impl.hpp"

namespace casebridge::sync {

flow_runner::flow_runner(
    flow_binding binding,
    store::store_thread& st,
    const clock_source& clock,
    logger log,
    flow_metrics* metrics
)
    : impl_(std::make_unique<impl>(impl{std::move(binding), &st, &clock, std::move(log), metrics})
      ) {
    CASEBRIDGE_CHECK(
        impl_->b.source != nullptr &&
        (impl_->b.acknowledgements || (impl_->b.notices && impl_->b.target != nullptr) ||
         (impl_->b.target != nullptr && impl_->b.map_in != nullptr && impl_->b.map_out != nullptr &&
          impl_->b.profile != nullptr))
    );
}

flow_runner::~flow_runner() = default;

const flow_binding& flow_runner::binding() const noexcept {
    return impl_->b;
}

namespace {

/// Waits for a settle in flight when the run is failing anyway: its outcome is not the run's
/// (the cursor moves only with a settle that committed, so the next run reads that page again).
awaitable<void> settle_quietly(settle_ahead& settle) {
    try {
        (void)co_await settle.finish();
    } catch (...) {  // NOLINT(bugprone-empty-catch): the run's own failure is the one reported
    }
    co_return;
}

}  // namespace

awaitable<run_report> flow_runner::run_once(run_options options) {
    auto& m = *impl_;
    m.keep_records = options.keep_records;
    m.handover = options.handover;
    m.stop = options.stop;
    m.interrupted = false;
    if (options.jitter_seed) {
        m.rng.seed(*options.jitter_seed);
    }
    // A dry run decides and writes nothing: the flow's counters stay what its runs did.
    struct metrics_back {
        impl& runner;
        flow_metrics* saved;
        ~metrics_back() { runner.metrics = saved; }
    };
    const metrics_back restore{m, m.metrics};
    if (options.dry_run) {
        m.metrics = nullptr;
    }
    run_report report;
    const auto started = std::chrono::steady_clock::now();
    m.count(&flow_metrics::runs, 1);
    const store::token flow = m.b.flow;
    auto read_cursor = [flow](store::store& s) { return s.get_cursor(flow); };
    auto cur = co_await m.st->run(std::move(read_cursor));
    if (!cur) {
        report.error = "store: " + error_name(cur.error());
        m.count(&flow_metrics::failed_runs, 1);
        co_return report;
    }
    std::optional<std::string> cursor;
    if (*cur && !options.from_start) {
        cursor = (*cur)->position;
    }
    m.refused_now.clear();
    if (co_await m.credentials_refused(report)) {
        m.count(&flow_metrics::failed_runs, 1);
        co_return report;
    }
    m.log.info("flow.run_started", "flow run started", {.flow = flow.str()});
    if (!options.dry_run) {
        co_await m.resolve_in_flight(report);
    }
    // The next page is read while this one is mapped, decided and delivered, unless reading
    // past a page changes the source.
    read_ahead ahead(co_await net::this_coro::executor);
    const bool may_read_ahead = !m.b.source->pull_has_side_effects();
    // Each page's settle commit runs while the next page is mapped (settle_ahead).
    settle_ahead settle(co_await net::this_coro::executor);
    m.settling = options.dry_run ? nullptr : &settle;
    // A failure thrown by a step of the loop: the read ahead and the settle in flight refer
    // to this run and are never left running; then it goes on up.
    std::exception_ptr failure;
    try {
        for (;;) {
            if (options.stop.stop_requested()) {
                report.stopped = true;
                break;
            }
            if (options.max_pages && report.counts.pages >= *options.max_pages) {
                break;
            }
            if (!may_read_ahead && report.counts.pages > 0 && !options.dry_run) {
                // Pulling past a page changes the source (DSS moves the file read into
                // processed/), so that page's settle, with its cursor, is on disk first: a
                // crash or a failed commit must not leave a moved file the stored cursor
                // has not passed.
                const bool settled_first = co_await m.settled_before(report);
                if (!settled_first) {
                    break;
                }
                auto sync = [](store::store& s) { return s.sync_wal(); };
                auto synced = co_await m.st->run(std::move(sync));
                if (!synced) {
                    report.error = "store: " + error_name(synced.error());
                    break;
                }
            }
            auto page = co_await m.next_page(ahead, cursor, report.counts);
            if (!page && m.interrupted) {
                report.stopped = true;  // a wait before a retry of the pull was cut short
                break;
            }
            if (!page) {
                report.error = page.error().describe();
                break;
            }
            ++report.counts.pages;
            report.counts.fetched += static_cast<std::int64_t>(page->records.size());
            m.count(&flow_metrics::fetched, static_cast<std::int64_t>(page->records.size()));
            if (!store::is_cursor_text(page->next_cursor)) {
                report.error = "the source returned an unusable cursor";
                break;
            }
            if (may_read_ahead && page->has_more &&
                !(options.max_pages && report.counts.pages >= *options.max_pages)) {
                ahead.start(m, page->next_cursor);
            }
            const bool ok = co_await m.process(
                page->records, page->next_cursor, false, options.dry_run, report
            );
            if (!ok) {
                ahead.cancel();  // its page will not be used
                break;
            }
            cursor = page->next_cursor;
            if (!page->has_more) {
                report.caught_up = true;
                break;
            }
            if (options.dry_run && m.b.source->pull_has_side_effects()) {
                // Pulling past this page would change the source (files moved aside).
                report.note = "a dry run of this source reads its first page only";
                break;
            }
        }
    } catch (...) {
        failure = std::current_exception();
    }
    if (failure) {
        ahead.cancel();
    }
    co_await ahead.finish();  // a read ahead that a stop, a failure or the page limit left unused
    m.settling = nullptr;
    if (failure) {
        co_await settle_quietly(settle);
        // What the run committed is made durable, as at its end; a failure here is not the
        // run's.
        auto sync = [](store::store& s) { return s.sync_wal(); };
        (void)co_await m.st->run(std::move(sync));
        std::rethrow_exception(failure);
    }
    // The last page's settle (or one that a failed read or a stop found in flight): the run
    // has neither caught up nor succeeded until it is on disk.
    auto settled = co_await settle.finish();
    if (!settled) {
        report.error = "store: " + error_name(settled.error());
        report.caught_up = false;
    }
    if (!options.dry_run) {
        auto finish = [](store::store& s) { return s.end_run(); };
        auto cp = co_await m.st->run(std::move(finish));
        if (!cp && !report.error) {
            report.error = "store: " + error_name(cp.error());
        }
    }
    if (!options.dry_run) {
        co_await m.remember_refusals();
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started
    );
    if (m.metrics != nullptr) {
        m.metrics->last_run_millis.store(elapsed.count(), std::memory_order_relaxed);
        m.metrics->run_duration.observe(elapsed);
        if (!report.error) {
            m.metrics->last_success_unix.store(
                std::chrono::duration_cast<std::chrono::seconds>(m.clock->now().time_since_epoch())
                    .count(),
                std::memory_order_relaxed
            );
        }
    }
    if (report.error) {
        m.count(&flow_metrics::failed_runs, 1);
        m.log.error(
            "flow.run_failed",
            "flow run stopped early",
            {.flow = flow.str(),
             .counts = {{"fetched", report.counts.fetched}, {"sent", report.counts.sent}}}
        );
    } else {
        m.log.info(
            "flow.run_finished",
            "flow run finished",
            {.flow = flow.str(),
             .counts =
                 {{"fetched", report.counts.fetched},
                  {"sent", report.counts.sent},
                  {"withheld", report.counts.withheld},
                  {"consent_withdrawn", report.counts.withdrawn},
                  {"dead", report.counts.dead},
                  {"skipped", report.counts.skipped},
                  {"retries", report.counts.retries}}}
        );
    }
    co_return report;
}

awaitable<result<record_report>> flow_runner::retry_dead_letter(std::int64_t dead_letter_id) {
    auto& m = *impl_;
    m.stop = {};  // not tied to a run that can be stopped
    m.interrupted = false;
    m.keep_records = true;
    m.handover = false;
    auto read_letter = [dead_letter_id](store::store& s) {
        return s.get_dead_letter(dead_letter_id);
    };
    auto dl = co_await m.st->run(std::move(read_letter));
    if (!dl) {
        co_return dl.error();
    }
    if (!*dl || !((*dl)->flow == m.b.flow)) {
        CASEBRIDGE_CO_RETURN_ERROR(errc::not_found);
    }
    const std::string id = (*dl)->source.id.str();
    run_report report;
    const std::set<std::string> only{id};
    auto done = co_await m.reprocess(id.substr(0, id.find(row_separator)), only, true, report);
    if (!done) {
        co_return done.error().code;
    }
    if (!*done) {
        CASEBRIDGE_CO_RETURN_ERROR(errc::store_failed);
    }
    for (auto& r : report.records) {
        if (r.source_id == id) {
            co_return std::move(r);
        }
    }
    // A dead letter for a whole record whose rows were sent this time: answer the first row.
    for (auto& r : report.records) {
        if (r.source_id.starts_with(id + row_separator)) {
            co_return std::move(r);
        }
    }
    CASEBRIDGE_CO_RETURN_ERROR(errc::not_found);
}

std::vector<prepared_record> flow_runner::prepare(const external_record& record) const {
    const auto& m = *impl_;
    std::vector<item> items;
    m.prepare_record(record, m.clock->now(), items);
    std::vector<prepared_record> out;
    out.reserve(items.size());
    for (auto& it : items) {
        prepared_record p;
        p.source_id = it.source.id.str();
        p.version = page::version_token(it).str();
        p.decision = it.act == action::send       ? "send"
                     : it.act == action::withhold ? "withhold"
                                                  : "dead";
        p.reason = it.reason;
        p.source_key = m.source_key(it.source);
        if (it.act == action::send) {
            p.body = std::move(it.out_body);
            if (it.dec) {
                p.fields_sent = it.dec->fields_sent;
            }
        }
        out.push_back(std::move(p));
    }
    return out;
}

awaitable<run_report> flow_runner::redeliver(std::vector<std::string> source_ids) {
    auto& m = *impl_;
    m.stop = {};  // not tied to a run that can be stopped
    m.interrupted = false;
    m.keep_records = true;
    m.handover = false;
    m.overrides.clear();
    run_report report;
    std::map<std::string, std::set<std::string>> by_record;
    for (const auto& id : source_ids) {
        by_record[id.substr(0, id.find(row_separator))].insert(id);
    }
    for (const auto& [record_id, ids] : by_record) {
        auto settled = co_await m.reprocess(record_id, ids, true, report);
        if (!settled) {
            report.error = settled.error().describe();
            break;
        }
        if (!*settled) {
            break;
        }
    }
    auto finish = [](store::store& s) { return s.end_run(); };
    (void)co_await m.st->run(std::move(finish));
    co_return report;
}

awaitable<run_report> flow_runner::run_selected(
    std::vector<selected> records, std::function<void(std::size_t, std::size_t)> progress
) {
    auto& m = *impl_;
    m.stop = {};  // not tied to a run that can be stopped
    m.interrupted = false;
    m.keep_records = true;
    m.handover = true;
    run_report report;
    std::map<std::string, std::set<std::string>> by_record;
    m.overrides.clear();
    for (const auto& r : records) {
        const auto record_id = r.source_id.substr(0, r.source_id.find(row_separator));
        by_record[record_id].insert(r.source_id);
        if (r.override_reason) {
            m.overrides[record_id] = policy::operator_override{
                r.override_actor.value_or("operator"), *r.override_reason};
        }
    }
    std::size_t done = 0;
    for (const auto& [record_id, ids] : by_record) {
        auto settled = co_await m.reprocess(record_id, ids, false, report);
        if (!settled) {
            report.error = settled.error().describe();
            break;
        }
        if (!*settled) {
            break;
        }
        done += ids.size();
        if (progress) {
            progress(done, records.size());
        }
    }
    m.overrides.clear();
    auto finish = [](store::store& s) { return s.end_run(); };
    (void)co_await m.st->run(std::move(finish));
    co_return report;
}

}  // namespace casebridge::sync
