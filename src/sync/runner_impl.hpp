// The flow runner's inside, shared by its source files (not part of its interface): the runner's
// state and its steps, defined in runner_pages.cpp (a page: plan, effects, settle, commit),
// runner_prepare.cpp (mapping, decision and the store's prior state), runner_effects.cpp
// (deliveries, notices, waits), runner_credentials.cpp (credentials a system refused),
// runner_acks.cpp (acknowledgement flows), runner_notices.cpp (the IMO hub's notices) and
// flow_runner.cpp (runs, retries of dead letters, reconciliation's questions).
#pragma once

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stop_token>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <rapidjson/pointer.h>

#include "canonical/canonical_case.hpp"
#include "core/error.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "mapping/mapping.hpp"
#include "net/stop.hpp"
#include "policy/decision.hpp"
#include "policy/linkage_step.hpp"
#include "policy/policy.hpp"
#include "store/credential_refusals.hpp"
#include "store/crypto.hpp"
#include "store/store_thread.hpp"
#include "sync/acknowledgements.hpp"
#include "sync/flow_runner.hpp"
#include "sync/page.hpp"

namespace casebridge::sync {

using rapidjson::Document;
using rapidjson::Value;

using page::action;
using page::item;
using page::reason_of;
using page::row_separator;
using page::token_or_hash;
using page::without_row_numbers;

external_record copy_record(const external_record& r);

/// The page after the one in hand, read while that one is mapped, decided and delivered: one
/// attempt, ended by the run's stop. It never marks the run interrupted or counts a retry:
/// what its answer means is decided when the page is needed (impl::next_page): a page, a
/// permanent error or a stop's stand as read then; a transient error is forgotten and the page
/// read again. Single-threaded, on the run's executor.
class read_ahead {
public:
    explicit read_ahead(const net::any_io_executor& ex) : done_(ex) {}
    read_ahead(const read_ahead&) = delete;
    read_ahead& operator=(const read_ahead&) = delete;

    /// Starts reading the page after `cursor`. Finish (or take) it before `m` goes.
    void start(flow_runner::impl& m, std::string cursor);
    /// Waits until the read has ended (none started: at once). Never throws.
    awaitable<void> finish();
    /// True when a read was started for `cursor` and not taken yet.
    bool holds(const std::optional<std::string>& cursor) const {
        return started_ && cursor && *cursor == cursor_;
    }
    /// The read's answer (its exception rethrown); after finish().
    remote_result<pull_page> take();
    /// Ends a running read at once (its answer is then an error, never to be used): a run
    /// that fails mid-page does not wait out the read ahead's deadline.
    void cancel() { own_stop_.request_stop(); }

private:
    static awaitable<void> read(flow_runner::impl* m, read_ahead* self);

    /// Passes the run's stop on to the read's own.
    struct relay_stop {
        std::stop_source* to;
        void operator()() const noexcept { to->request_stop(); }
    };

    net::steady_timer done_;
    bool started_ = false;
    bool running_ = false;
    std::string cursor_;
    std::optional<remote_result<pull_page>> page_;
    std::exception_ptr failure_;
    std::stop_source own_stop_;  ///< Stops the read: the run's stop, or cancel().
    std::optional<std::stop_callback<relay_stop>> relay_;
};

/// A page's settle commit (its outcomes, log entries and cursor move) running on the store
/// thread while the run maps and decides the next page, which needs neither the store nor the
/// network. The run waits for it before anything of that page reaches the store (its look-ups
/// queue behind it: the store thread takes calls in order) and before any effect, so a failed
/// settle stops the run before the next page's intents, as a crash there would. Single-threaded,
/// on the run's executor.
class settle_ahead {
public:
    explicit settle_ahead(const net::any_io_executor& ex) : done_(ex) {}
    settle_ahead(const settle_ahead&) = delete;
    settle_ahead& operator=(const settle_ahead&) = delete;

    /// Starts committing `page` on `st`. Finish it before `st` goes.
    void start(store::store_thread& st, store::page_commit page);
    /// Waits for the commit started last and returns its outcome (its exception rethrown);
    /// none started, or already finished: success. Taken once.
    awaitable<result<void>> finish();

private:
    static awaitable<void> write(
        store::store_thread* st, store::page_commit page, settle_ahead* self
    );

    net::steady_timer done_;
    bool running_ = false;
    std::optional<result<void>> outcome_;
    std::exception_ptr failure_;
};

/// A binding's JSON pointers, parsed once: a page reads them for every record and row.
struct binding_paths {
    rapidjson::Pointer rows;                      ///< one_record_per_row_of (unused when "")
    std::vector<rapidjson::Pointer> identities;   ///< identity_fields, in their order
    std::optional<rapidjson::Pointer> row_field;  ///< only_rows_where's field

    static binding_paths of(const flow_binding& b);
};

struct flow_runner::impl {
    flow_binding b;
    store::store_thread* st;
    const clock_source* clock;
    logger log;
    flow_metrics* metrics;
    binding_paths paths = binding_paths::of(b);
    std::minstd_rand rng{std::random_device{}()};

    void count(std::atomic<std::int64_t> flow_metrics::*m, std::int64_t n);

    /// The run's stop (the daemon stopping, the flow paused); a default token never stops.
    std::stop_token stop;

    /// A wait or a retry was cut short by a stop: the page is left unsettled (as after a
    /// crash, the next run resolves what is in flight), never settled with errors.
    bool interrupted = false;

    bool stopping() const { return stop.stop_requested(); }

    /// Waits `d` on the injected clock, ending at once when the run is stopped (a
    /// Retry-After of minutes must not hold a shutdown past its grace); `interrupted` then.
    awaitable<void> sleep_for(std::chrono::milliseconds d);

    /// Awaits an adapter call so that a stop ends it in flight (net/stop.hpp). A call that
    /// fails once the run is stopping marks the run interrupted: its error is the stop's, not
    /// the record's, and nothing is settled from it.
    template <typename T>
    awaitable<remote_result<T>> call(awaitable<remote_result<T>> op) {
        auto r = co_await stoppable(stop, std::move(op));
        if (!r && stopping()) {
            interrupted = true;
        }
        co_return r;
    }

    double jitter() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

    std::string source_key(const store::record_id& source) const;

    // ---- credentials a system refused ----------------------------------------------------

    /// Systems that refused the credentials presented in this run (a login refused, a 401).
    std::set<std::string> refused_now;

    void note_refusal(const remote_error& e, const store::token& system);

    adapter* adapter_of(const std::string& system) const;

    /// What the store keeps of a fingerprint: keyed by the identifier key when there is one.
    std::optional<std::string> refusal_key(const std::string& fingerprint) const;

    /// Before a run: true (and the report says why) when a system of this flow refused the
    /// very credentials it would be sent again; a changed secret clears the refusal.
    awaitable<bool> credentials_refused(run_report& report);

    /// After a run: remembers the credentials each refusing system was presented.
    awaitable<void> remember_refusals();

    /// Calls `op` until it succeeds, fails permanently, or attempts run out (sync/retry.hpp).
    /// Retries are logged against `system`, the one `op` calls (the target unless named).
    template <typename T, typename Op>
    awaitable<remote_result<T>> with_retries(
        Op op, run_counts& counts, int* attempts_out, const store::token* system = nullptr
    ) {
        const store::token& sys = system != nullptr ? *system : b.target_system;
        co_return co_await sync::with_retries<T>(
            b.retry,
            [&](int attempt) -> awaitable<remote_result<T>> {
                auto r = co_await call<T>(op());
                if (!r && interrupted) {
                    co_return r;  // the stop's error: not counted against the system
                }
                if (attempts_out != nullptr) {
                    *attempts_out = attempt;
                }
                if (!r) {
                    note_refusal(r.error(), sys);
                }
                co_return r;
            },
            [&](int attempt, const remote_error& e) -> awaitable<bool> {
                ++counts.retries;
                count(&flow_metrics::retries, 1);
                log.warn(
                    "flow.retry",
                    "transient error; retrying",
                    {.system = sys.str(), .error = e.code}
                );
                co_await sleep_for(backoff_delay(b.retry, attempt, e.retry_after, jitter()));
                // Stopping: the last error stands, nothing is settled from it.
                co_return !interrupted;
            }
        );
    }

    /// The page after `cursor`: the one read ahead when it was read for that cursor (and did
    /// not fail transiently), otherwise read now with the retries of any read.
    awaitable<remote_result<pull_page>> next_page(
        read_ahead& ahead, const std::optional<std::string>& cursor, run_counts& counts
    );

    // ---- phase 1: map, decide, map out ------------------------------------------------

    /// Operator overrides by record id (caseload transfer after review).
    std::map<std::string, policy::operator_override> overrides;

    void prepare_record(const external_record& rec, time_point now, std::vector<item>& items) const;
    /// With one_record_per_row_of: whether `rows` (that subform of a canonical case, or null)
    /// holds a row this flow sends (matched by only_rows_where when the flow has one).
    bool has_row_of_flow(const Value* rows) const;
    /// Whether a row of one_record_per_row_of is part of this flow (only_rows_where).
    bool row_of_flow(const Value& row) const;

    void map_out(item& it, const Value& payload, const mapping::map_context& ctx) const;

    /// Store lookups for a page, in one call on the store thread: prior deliveries, targets,
    /// identity conflicts.
    awaitable<result<void>> resolve(std::vector<item>& items);

    // ---- phase 3: deliver --------------------------------------------------------------
    awaitable<void> deliver(item& it, run_counts& counts);

    awaitable<void> deliver_all(std::vector<item*> work, run_counts& counts);

    /// Sends the target's consent-withdrawal notice for each item (one at a time: they are
    /// rare). A notice that cannot be sent leaves the item to its review item.
    awaitable<void> notify_all(const std::vector<item*>& work, run_counts& counts);

    // ---- phase 5: settle ---------------------------------------------------------------

    /// Settles the page's items (sync/page) and counts their outcomes in the metrics.
    void settle_all(
        const std::vector<item>& items, store::page_commit& out, run_report& report, bool dry_run
    );

    bool keep_records = false;
    bool handover = false;  ///< run_options::handover, for this run.

    /// Attempts left without an outcome (a crash between intent and commit, or a create whose
    /// answer was lost): each record is fetched fresh from its source and run again, so a
    /// create that did happen is found by lookup and one that did not is sent once.
    /// Fetches `record_id` fresh from the source and runs the rows `ids` of it through the
    /// pipeline (retries, dead-letter retries, in-flight resolution, chosen records). The
    /// source's error when it cannot be fetched; false when the page could not be settled.
    awaitable<remote_result<bool>> reprocess(
        const std::string& record_id,
        const std::set<std::string>& ids,
        bool force,
        run_report& report
    );

    awaitable<void> resolve_in_flight(run_report& report);

    /// Runs records through the pipeline and settles them; moves the cursor to `next_cursor`
    /// when given. Returns false (with report.error) when the page could not be settled.

    /// Set by a run for its pulled pages: their settle commits overlap the next page's
    /// mapping (settle_ahead); null: each commit is awaited where it is made.
    settle_ahead* settling = nullptr;

    /// Waits for the settle in flight, if any; false (with report.error) when it failed.
    awaitable<bool> settled_before(run_report& report);

    /// Commits a settled page with its cursor move (when the page came from a pull); a
    /// pulled page's commit is only started when the run overlaps settles (`settling`).
    /// `sync_later`: that overlapped commit may skip its fsync (page_commit::sync_later);
    /// only a flow whose every effect waits for an intent commit may ask it.
    awaitable<bool> commit(
        store::page_commit page,
        std::optional<std::string> next_cursor,
        run_report& report,
        bool sync_later = false
    );

    // ---- acknowledgements (a DSS inbox) -------------------------------------------------
    //
    // Each record acknowledges one event this store sent (by its exchange id): it becomes an
    // inbound log entry (acknowledged or rejected) about the record that was sent, a rejection
    // becomes a review item, and an accepted event links the DSS reference to the case it was
    // sent from, so that later DSS case files continue the same case. An acknowledgement for
    // an exchange id never sent is a dead letter and a review item, never applied.
    awaitable<bool> process_acks(
        const std::vector<external_record>& records,
        std::optional<std::string> next_cursor,
        bool force,
        bool dry_run,
        run_report& report,
        const std::set<std::string>* only
    );

    // ---- possible-duplicate notices from the IMO hub --------------------------------------
    //
    // Each notice names one of this agency's records by the pseudonym it was sent to the hub
    // under; the store's link from the case to that pseudonym finds the case. The case's flags
    // are read fresh and changed as sync/notices.hpp plans it, so a notice handled twice (a
    // crash before the page's commit) raises no second flag. Each notice is an inbound log
    // entry; one whose record or case cannot be found is a dead letter and a review item. A
    // failure to read or change flags stops the run with the page unsettled: it is read again.
    awaitable<bool> process_notices(
        const std::vector<external_record>& records,
        std::optional<std::string> next_cursor,
        bool dry_run,
        run_report& report
    );

    awaitable<bool> process(
        const std::vector<external_record>& records,
        std::optional<std::string> next_cursor,
        bool force,
        bool dry_run,
        run_report& report,
        const std::set<std::string>* only = nullptr
    );
};

}  // namespace casebridge::sync
