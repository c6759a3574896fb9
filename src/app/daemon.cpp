#include "app/daemon.hpp"

#include <csignal>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <stop_token>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "adapter/registry.hpp"
#include "app/admin_api.hpp"
#include "app/config.hpp"
#include "app/engine.hpp"
#include "core/error.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "net/async.hpp"
#include "report/schedule.hpp"
#include "store/reconcile_queries.hpp"
#include "store/store_thread.hpp"
#include "sync/reconcile.hpp"

namespace casebridge::app {

namespace {

std::string read_token(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
        line.pop_back();
    }
    return line;
}

/// The daemon's state, all touched on the io_context thread except where noted.
struct daemon_state {
    explicit daemon_state(logger l) : log(std::move(l)) {}
    net::io_context ctx;
    std::filesystem::path config_file;
    const adapter_registry* adapters = nullptr;
    const clock_source* clock = nullptr;
    logger log;
    daemon_options options;

    std::mutex engine_mutex;  ///< Guards `current` (read by the admin thread).
    std::shared_ptr<engine> current;
    bool stopping = false;
    /// Stopped at shutdown and during a reload's drain: every run and reconciliation in hand
    /// is linked to it (run_stop), so their waits and requests in flight end at once.
    std::stop_source stop_all;

    /// A stop for one run of `slot`: stopped with stop_all or by a pause of the flow.
    struct run_stop {
        std::stop_source source;
        std::stop_callback<std::function<void()>> linked;
        flow_slot* slot;
        run_stop(const std::stop_source& all, flow_slot* s)
            : linked(all.get_token(), std::function<void()>([this] { source.request_stop(); })),
              slot(s) {
            slot->attach_stop(&source);
            if (slot->paused) {
                source.request_stop();  // paused between the claim and now
            }
        }
        ~run_stop() { slot->attach_stop(nullptr); }
        run_stop(const run_stop&) = delete;
        run_stop& operator=(const run_stop&) = delete;
    };
    std::size_t generation = 0;  ///< Bumped by a reload: old schedulers end.
    std::map<std::string, std::unique_ptr<net::steady_timer>> wakeups;
    std::unique_ptr<net::steady_timer> purge_timer;
    /// One per flow with a reconciliation schedule; each scheduler holds its own reference.
    std::map<std::string, std::shared_ptr<net::steady_timer>> reconcile_wakeups;

    std::shared_ptr<engine> engine_now() {
        std::lock_guard lock(engine_mutex);
        return current;
    }

    // ---- what holds a flow: a run, a reconciliation, a dead-letter retry -------------------
    // A flow does one thing at a time (its slot's `running`). `busy` counts the flows held,
    // across engines (a reload's old engine may still be finishing); when it falls to zero the
    // drains waiting for it are woken, so a shutdown or a reload awaits its runs instead of
    // polling for them.

    std::atomic<int> busy{0};
    std::vector<net::steady_timer*> drain_waiters;  ///< io_context thread only.

    /// Takes the flow for one thing; false when something else holds it. Any thread.
    bool claim(flow_slot* slot) {
        if (slot->running.exchange(true)) {
            return false;
        }
        ++busy;
        return true;
    }

    /// Gives the flow back. Any thread.
    void release(flow_slot* slot) {
        slot->running = false;
        if (--busy == 0) {
            net::post(ctx, [this] {
                if (busy == 0) {
                    for (auto* t : drain_waiters) {
                        t->cancel();
                    }
                }
            });
        }
    }

    /// `e` keeps the engine alive while its flow runs (a reload may replace it meanwhile).
    awaitable<void> run_flow(std::shared_ptr<engine> e, flow_slot* slot) {
        const auto keep = std::move(e);
        if (!claim(slot)) {
            co_return;  // single flight
        }
        {
            const run_stop stop(stop_all, slot);
            sync::run_options o;
            o.stop = stop.source.get_token();
            try {
                (void)co_await slot->runner->run_once(o);
            } catch (...) {
                log.error(
                    "flow.run_exception",
                    "a flow run ended with an exception",
                    {.flow = slot->cfg->id}
                );
            }
        }
        release(slot);
    }

    awaitable<void> schedule(std::shared_ptr<engine> e, flow_slot* slot, std::size_t gen) {
        auto& timer = *wakeups[slot->cfg->id];
        for (;;) {
            if (stopping || gen != generation) {
                co_return;
            }
            if (!slot->paused) {
                co_await run_flow(e, slot);
            }
            if (stopping || gen != generation) {
                co_return;
            }
            timer.expires_after(std::chrono::seconds(slot->cfg->every_seconds));
            co_await timer.async_wait(use_nothrow);
        }
    }

    /// When the flow's next reconciliation is due: `every_hours` after the last one that ran to
    /// its end, as the transfer log says (so a restart keeps the rhythm), or now if none has.
    awaitable<time_point> reconcile_due(std::shared_ptr<engine> e, flow_slot* slot) {
        const auto flow = store::token::make(slot->cfg->id);
        if (!flow) {
            co_return clock->now();
        }
        // Named, not a temporary in the co_await: GCC 12 destroys such a temporary twice.
        auto read = [f = *flow](store::store& s) { return store::last_reconciled_at(s, f); };
        auto last = co_await e->store().run(std::move(read));
        if (!last) {
            log.error(
                "reconcile.schedule_unread",
                "the time of the last reconciliation could not be read; reconciling now",
                {.flow = slot->cfg->id, .error = last.error()}
            );
            co_return clock->now();
        }
        const auto at = *last ? parse_rfc3339(**last) : std::nullopt;
        if (!at) {
            co_return clock->now();
        }
        co_return *at + std::chrono::hours(slot->cfg->reconcile->every_hours);
    }

    /// The flow's scheduled reconciliation: a random sample checked against the target every
    /// `every_hours`. It takes the flow's single-flight slot, so it never runs beside the
    /// flow's own run (the same writer), waiting for that run to end; a paused flow is not read.
    /// Its work is reads through the flow's adapters (their rate limits hold) and one
    /// transfer-log entry; the admin API, on its own thread, only reads its gauges.
    awaitable<void> reconcile_schedule(
        std::shared_ptr<engine> e, flow_slot* slot, std::size_t gen
    ) {
        const auto timer = reconcile_wakeups[slot->cfg->id];
        const auto& rc = *slot->cfg->reconcile;
        auto due = co_await reconcile_due(e, slot);
        for (;;) {
            if (stopping || gen != generation) {
                co_return;
            }
            const auto now = clock->now();
            std::optional<std::chrono::nanoseconds> wait;
            if (now < due) {
                // Looked at again at least hourly: the wall clock may be set meanwhile.
                wait = std::min<std::chrono::nanoseconds>(due - now, std::chrono::hours(1));
            } else if (slot->paused) {
                wait = std::chrono::minutes(1);
            } else if (!claim(slot)) {
                wait = std::chrono::seconds(1);  // the flow's run (or a retry) is under way
            }
            if (wait) {
                timer->expires_after(*wait);
                co_await timer->async_wait(use_nothrow);
                continue;
            }
            sync::reconcile_report r;
            {
                const run_stop stop(stop_all, slot);
                sync::reconcile_options o;
                o.sample = static_cast<std::size_t>(rc.sample);
                o.stop = stop.source.get_token();
                try {
                    auto op = sync::reconcile(*slot->runner, e->store(), *clock, log, std::move(o));
                    r = co_await std::move(op);
                } catch (...) {
                    r.error = "exception";
                    r.error_code = make_error_code(errc::cancelled);
                }
            }
            release(slot);
            if (r.error) {
                log.error(
                    "reconcile.failed",
                    "a scheduled reconciliation failed (casebridge reconcile --config FILE --flow "
                    "ID --sample N says why); the next is tried after every_hours",
                    {.flow = slot->cfg->id, .error = r.error_code}
                );
            } else if (!r.stopped) {
                for (std::size_t i = 0; i < sync::verdict_count; ++i) {
                    slot->reconciled.records[i] = r.counts[i];
                }
                slot->reconciled.checked = r.checked;
                slot->reconciled.last_run_unix =
                    std::chrono::duration_cast<std::chrono::seconds>(clock->now().time_since_epoch()
                    )
                        .count();
            }
            due = clock->now() + std::chrono::hours(rc.every_hours);
        }
    }

    void start_schedulers() {
        auto e = engine_now();
        wakeups.clear();
        reconcile_wakeups.clear();
        for (auto& slot : e->flows()) {
            wakeups[slot->cfg->id] = std::make_unique<net::steady_timer>(ctx);
            if (slot->cfg->reconcile) {
                reconcile_wakeups[slot->cfg->id] = std::make_shared<net::steady_timer>(ctx);
            }
        }
        for (auto& slot : e->flows()) {
            net::co_spawn(ctx, schedule(e, slot.get(), generation), net::detached);
        }
        // After the flows' own schedulers: each flow's first run takes its slot first.
        for (auto& slot : e->flows()) {
            if (slot->cfg->reconcile) {
                net::co_spawn(ctx, reconcile_schedule(e, slot.get(), generation), net::detached);
            }
        }
    }

    void wake_all() {
        for (auto& [id, t] : wakeups) {
            t->cancel();
        }
        for (auto& [id, t] : reconcile_wakeups) {
            t->cancel();
        }
        if (purge_timer && stopping) {
            purge_timer->cancel();
        }
        if (report_timer && stopping) {
            report_timer->cancel();
        }
    }

    /// Retention: links and deliveries of records closed longer than store.retention_days are
    /// purged at start and then every store.purge_every_hours; each purge is logged (a chained
    /// retention_purge entry and a log line), zero included.
    awaitable<void> purge_schedule() {
        purge_timer = std::make_unique<net::steady_timer>(ctx);
        while (!stopping) {
            auto e = engine_now();
            if (e) {
                const auto& sc = e->cfg().store;
                const auto retention = std::chrono::hours(24) * sc.retention_days;
                auto purge = [retention](store::store& s) {
                    return s.purge(retention, store::token("casebridge"));
                };
                auto done = co_await e->store().run(std::move(purge));
                if (done) {
                    log.info(
                        "store.purged",
                        "retention purge: links and deliveries of records closed past retention",
                        {.counts =
                             {{"links", done->links},
                              {"deliveries", done->deliveries},
                              {"retention_days", sc.retention_days},
                              {"log_seq", done->log_seq}}}
                    );
                } else {
                    log.error(
                        "store.purge_failed", "retention purge failed", {.error = done.error()}
                    );
                }
                purge_timer->expires_after(std::chrono::hours(sc.purge_every_hours));
            } else {
                purge_timer->expires_after(std::chrono::minutes(1));  // reloading
            }
            co_await purge_timer->async_wait(use_nothrow);
        }
    }

    /// Monthly reports (reports.monthly): checked at start and every hour; each report due for
    /// the month before is made on its own thread (the flows go on meanwhile) and logged.
    std::unique_ptr<net::steady_timer> report_timer;

    awaitable<void> report_schedule() {
        report_timer = std::make_unique<net::steady_timer>(ctx);
        while (!stopping) {
            auto e = engine_now();
            if (e && e->cfg().reports && !e->cfg().reports->monthly.empty()) {
                const auto rc = *e->cfg().reports;
                report::report_sources src;
                src.store = e->cfg().store.path;
                if (e->cfg().hub) {
                    src.hub_store = e->cfg().hub->store_path;
                }
                const auto now = clock->now();
                auto made = std::async(std::launch::async, [rc, src, now] {
                    return report::run_monthly(
                        rc.definitions, rc.monthly, rc.day, src, rc.out_dir, now
                    );
                });
                while (made.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
                    report_timer->expires_after(std::chrono::milliseconds(200));
                    co_await report_timer->async_wait(use_nothrow);
                }
                for (const auto& m : made.get()) {
                    const log_fields f{
                        .record = record_ref{"report", m.id + "/" + m.period},
                        .counts = {
                            {"units", static_cast<std::int64_t>(m.units)},
                            {"withheld", static_cast<std::int64_t>(m.withheld)}}};
                    if (m.written) {
                        log.info("report.written", "monthly report written", f);
                    } else {
                        // The reason may name a file; it never holds a case value.
                        log.error("report.failed", "monthly report not written", f);
                    }
                }
            }
            if (stopping) {
                break;
            }
            report_timer->expires_after(std::chrono::hours(1));
            co_await report_timer->async_wait(use_nothrow);
        }
    }

    /// Waits until no flow is held (woken by the last `release`), or `limit` passes. True
    /// when all finished.
    awaitable<bool> drain(std::chrono::seconds limit) {
        net::steady_timer t(ctx);
        t.expires_after(limit);
        drain_waiters.push_back(&t);
        while (busy > 0) {
            auto [ec] = co_await t.async_wait(use_nothrow);
            if (!ec) {
                break;  // the limit passed
            }
        }
        std::erase(drain_waiters, &t);
        co_return busy == 0;
    }

    bool reloading = false;

    awaitable<void> reload() {
        if (reloading) {
            log.warn("config.reload_busy", "a reload is under way; this one is ignored");
            co_return;
        }
        reloading = true;
        co_await reload_once();
        reloading = false;
    }

    awaitable<void> reload_once() {
        std::optional<config> fresh;
        try {
            fresh.emplace(load_config(config_file, adapters));
        } catch (const json::file_error& e) {
            // The message may quote the file, so the log carries only where the problem is:
            // the error code, the JSON Pointer and the line; `casebridge check` says the rest.
            std::vector<log_count> counts;
            const std::string what = e.what();
            if (const auto at = what.find(": at "); at != std::string::npos) {
                const auto col = what.rfind(':', at - 1);
                const auto line = col == std::string::npos || col == 0 ? std::string::npos
                                                                       : what.rfind(':', col - 1);
                if (line != std::string::npos) {
                    const auto n = std::strtoll(what.c_str() + line + 1, nullptr, 10);
                    if (n > 0) {
                        counts.push_back({"line", n});
                    }
                }
            }
            log.error(
                "config.reload_refused",
                "the new configuration is invalid (casebridge check --config FILE names the line "
                "and the reason); keeping the old one",
                {.error = make_error_code(e.code()),
                 .counts = std::move(counts),
                 .field_names = {e.pointer()}}
            );
            co_return;
        } catch (const std::exception&) {
            log.error(
                "config.reload_refused",
                "the new configuration cannot be loaded (casebridge check --config FILE says "
                "why); keeping the old one"
            );
            co_return;
        }
        if (const auto now = engine_now(); now && fresh->store.path != now->cfg().store.path) {
            // The writer lock covers the store this process started with; another store
            // would be written without it.
            log.error(
                "config.reload_refused",
                "store.path cannot change on reload; restart the daemon to use another store"
            );
            co_return;
        }
        ++generation;
        wake_all();
        stop_all.request_stop();
        const bool drained = co_await drain(options.shutdown_grace);
        if (stopping) {
            // SIGTERM came during the drain: the shutdown goes on; nothing restarts and the stop
            // stays requested for whatever is still in hand.
            co_return;
        }
        stop_all = std::stop_source();  // the next runs start unstopped
        if (!drained) {
            // Never two runners on one flow: keep the old engine and try again on the next HUP.
            log.error(
                "config.reload_refused",
                "runs did not finish in time; keeping the old configuration"
            );
            ++generation;
            start_schedulers();
            co_return;
        }
        std::shared_ptr<engine> next;
        try {
            next = std::make_shared<engine>(
                std::move(*fresh),
                *adapters,
                ctx.get_executor(),
                *clock,
                log,
                engine_options{false, options.allow_plain_http_loopback}
            );
        } catch (const std::exception&) {
            log.error(
                "config.reload_refused",
                "the new configuration could not be started; keeping the old one"
            );
            ++generation;
            start_schedulers();
            co_return;
        }
        {
            std::lock_guard lock(engine_mutex);
            current = std::move(next);
        }
        ++generation;
        start_schedulers();
        log.info("config.reloaded", "configuration reloaded");
    }
};

}  // namespace

int run_daemon(
    const std::filesystem::path& config_file,
    const adapter_registry& adapters,
    const clock_source& clock,
    logger log,
    std::ostream& err,
    daemon_options options
) {
    daemon_state d(log);
    d.config_file = config_file;
    d.adapters = &adapters;
    d.clock = &clock;
    d.options = options;
    try {
        auto cfg = load_config(config_file, &adapters);
        d.current = std::make_shared<engine>(
            std::move(cfg),
            adapters,
            d.ctx.get_executor(),
            clock,
            log,
            engine_options{false, options.allow_plain_http_loopback}
        );
    } catch (const std::exception& e) {
        err << "casebridge run: " << e.what() << "\n";
        return 1;
    }

    // The admin API, on its own thread.
    std::unique_ptr<httpd::server> admin;
    admin_context actx;
    if (d.current->cfg().admin) {
        const auto& a = *d.current->cfg().admin;
        actx.token = read_token(a.token_file);
        if (actx.token.empty()) {
            err << "casebridge run: admin.token_file " << a.token_file.string() << " is empty\n";
            return 1;
        }
        actx.clock = &clock;
        actx.current = [&d] { return d.engine_now(); };
        actx.run_now = [&d](const std::string& id) {
            auto e = d.engine_now();
            auto* slot = e ? e->find(id) : nullptr;
            if (slot == nullptr || slot->running) {
                return false;
            }
            net::co_spawn(d.ctx, d.run_flow(e, slot), net::detached);
            return true;
        };
        actx.engine_executor = d.ctx.get_executor();
        actx.claim_flow = [&d](flow_slot* slot) { return d.claim(slot); };
        actx.release_flow = [&d](flow_slot* slot) { d.release(slot); };
        try {
            admin = std::make_unique<httpd::server>(a.host, a.port, admin_service(actx));
        } catch (const std::exception& e) {
            err << "casebridge run: admin API cannot listen on " << a.listen << ": " << e.what()
                << "\n";
            return 1;
        }
        if (options.on_admin_listening) {
            options.on_admin_listening(admin->base_url());
        }
    }

    net::signal_set stop_signals(d.ctx, SIGINT, SIGTERM);
    net::signal_set hup(d.ctx, SIGHUP);
    std::function<void()> wait_hup = [&] {
        hup.async_wait([&](const boost::system::error_code& ec, int) {
            if (ec) {
                return;
            }
            net::co_spawn(d.ctx, d.reload(), net::detached);
            wait_hup();
        });
    };
    wait_hup();
    bool clean = true;
    stop_signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) {
            return;
        }
        log.info("daemon.shutdown", "stopping: finishing the pages in hand");
        d.stopping = true;
        d.stop_all.request_stop();
        d.wake_all();
        hup.cancel();
        net::co_spawn(
            d.ctx,
            [&]() -> awaitable<void> {
                clean = co_await d.drain(d.options.shutdown_grace);
                d.ctx.stop();
            },
            net::detached
        );
    });
    d.start_schedulers();
    net::co_spawn(d.ctx, d.purge_schedule(), net::detached);
    net::co_spawn(d.ctx, d.report_schedule(), net::detached);
    log.info("daemon.started", "casebridge is running");
    if (options.on_started) {
        options.on_started();
    }
    d.ctx.run();
    admin.reset();
    if (!clean) {
        log.warn(
            "daemon.shutdown_timeout", "runs still in hand at the shutdown bound were abandoned"
        );
    }
    log.info("daemon.stopped", "casebridge stopped");
    return 0;
}

}  // namespace casebridge::app
