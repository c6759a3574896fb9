#include "sync/flow_runner.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <rapidjson/pointer.h>

#include "canonical/canonical_case.hpp"
#include "core/error.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "mapping/mapping.hpp"
#include "policy/decision.hpp"
#include "policy/linkage_step.hpp"
#include "policy/policy.hpp"
#include "store/credential_refusals.hpp"
#include "store/crypto.hpp"
#include "store/store_thread.hpp"
#include "sync/acknowledgements.hpp"
#include "sync/page.hpp"

namespace casebridge::sync {

using rapidjson::Document;
using rapidjson::Value;

bool row_filter::matches(const rapidjson::Value& row) const {
    if (!row.IsObject()) {
        return false;
    }
    const Value* v = rapidjson::Pointer(field.c_str()).Get(row);
    if (v == nullptr || !v->IsString()) {
        return false;
    }
    const std::string_view got(v->GetString(), v->GetStringLength());
    return std::find(values.begin(), values.end(), got) != values.end();
}

namespace {

using page::action;
using page::item;
using page::reason_of;
using page::row_separator;
using page::token_or_hash;
using page::without_row_numbers;

external_record copy_record(const external_record& r) {
    external_record c;
    c.stream = r.stream;
    c.remote_id = r.remote_id;
    c.updated_at = r.updated_at;
    c.disabled = r.disabled;
    c.source_key = r.source_key;
    c.body.CopyFrom(r.body, c.body.GetAllocator());
    return c;
}

}  // namespace

struct flow_runner::impl {
    flow_binding b;
    store::store_thread* st;
    const clock_source* clock;
    logger log;
    flow_metrics* metrics;
    std::minstd_rand rng{std::random_device{}()};

    void count(std::atomic<std::int64_t> flow_metrics::*m, std::int64_t n) {
        if (metrics != nullptr) {
            (metrics->*m).fetch_add(n, std::memory_order_relaxed);
        }
    }

    /// The run's stop request (the daemon stopping, the flow paused); unset: never.
    std::function<bool()> stop;
    /// A wait or a retry was cut short by a stop: the page is left unsettled (as after a
    /// crash, the next run resolves what is in flight), never settled with errors.
    bool interrupted = false;

    bool stopping() const { return stop && stop(); }

    /// Waits `d`, in slices, ending early when a stop is requested (a Retry-After of minutes
    /// must not hold a shutdown past its grace).
    awaitable<void> sleep_for(std::chrono::milliseconds d) {
        constexpr std::chrono::milliseconds slice(50);
        net::steady_timer t(co_await net::this_coro::executor);
        const auto until = std::chrono::steady_clock::now() + d;
        for (;;) {
            if (stopping()) {
                interrupted = true;
                co_return;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now()
            );
            if (left <= std::chrono::milliseconds::zero()) {
                co_return;
            }
            t.expires_after(std::min(left, slice));
            co_await t.async_wait(use_nothrow);
        }
    }

    double jitter() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

    std::string source_key(const store::record_id& source) const {
        return page::source_key(b.flow, source);
    }

    // ---- credentials a system refused ----------------------------------------------------

    /// Systems that refused the credentials presented in this run (a login refused, a 401).
    std::set<std::string> refused_now;

    void note_refusal(const remote_error& e, const store::token& system) {
        // A 403 is a permission on one record or route, not a refusal of the credentials.
        if (e.code == make_error_code(errc::auth_failed) && e.http_status != 403) {
            refused_now.insert(system.str());
        }
    }

    adapter* adapter_of(const std::string& system) const {
        if (system == b.source_system.str()) {
            return b.source;
        }
        return system == b.target_system.str() ? b.target : nullptr;
    }

    /// What the store keeps of a fingerprint: keyed by the identifier key when there is one.
    std::string refusal_key(const std::string& fingerprint) const {
        return b.identities != nullptr ? b.identities->hmac_hex("credential-refusal", fingerprint)
                                       : fingerprint;
    }

    /// Before a run: true (and the report says why) when a system of this flow refused the
    /// very credentials it would be sent again; a changed secret clears the refusal.
    awaitable<bool> credentials_refused(run_report& report) {
        std::vector<std::string> systems{b.source_system.str()};
        if (b.target != nullptr && !(b.target_system == b.source_system)) {
            systems.push_back(b.target_system.str());
        }
        for (const auto& name : systems) {
            const adapter* a = adapter_of(name);
            const auto fp = a != nullptr ? a->credential_fingerprint() : std::nullopt;
            if (!fp) {
                continue;
            }
            const store::token system = token_or_hash(name);
            auto look = [system](store::store& s) { return store::refused_credentials(s, system); };
            auto stored = co_await st->run(std::move(look));
            if (!stored || !*stored) {
                continue;
            }
            if (**stored == refusal_key(*fp)) {
                report.error = "credentials_refused: " + name +
                               " refused these credentials; nothing is sent to it until its "
                               "secret file or variable changes";
                report.credentials_refused = true;
                if (metrics != nullptr) {
                    metrics->credentials_refused = 1;
                }
                log.warn(
                    "flow.credentials_refused",
                    "credentials refused before; not sent again until the secret changes",
                    {.flow = b.flow.str(), .system = name}
                );
                co_return true;
            }
            auto clear = [system](store::store& s) {
                return store::clear_refused_credentials(s, system);
            };
            (void)co_await st->run(std::move(clear));
        }
        if (metrics != nullptr) {
            metrics->credentials_refused = 0;
        }
        co_return false;
    }

    /// After a run: remembers the credentials each refusing system was presented.
    awaitable<void> remember_refusals() {
        for (const auto& name : refused_now) {
            const adapter* a = adapter_of(name);
            const auto fp = a != nullptr ? a->credential_fingerprint() : std::nullopt;
            if (!fp) {
                continue;
            }
            const store::token system = token_or_hash(name);
            const std::string key = refusal_key(*fp);
            const auto now = clock->now();
            auto put = [system, key, now](store::store& s) {
                return store::record_refused_credentials(s, system, key, now);
            };
            (void)co_await st->run(std::move(put));
            if (metrics != nullptr) {
                metrics->credentials_refused = 1;
            }
            log.error(
                "flow.credentials_refused",
                "credentials refused; not sent again until the secret file or variable changes",
                {.flow = b.flow.str(), .system = name}
            );
        }
        refused_now.clear();
    }

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
                auto r = co_await op();
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

    // ---- phase 1: map, decide, map out ------------------------------------------------

    /// Operator overrides by record id (caseload transfer after review).
    std::map<std::string, policy::operator_override> overrides;

    void prepare_record(const external_record& rec, time_point now, std::vector<item>& items)
        const {
        item base;
        base.case_source = store::record_id{b.source_system, token_or_hash(rec.remote_id)};
        base.source = base.case_source;
        base.version = rec.updated_at;

        auto dead = [&](item it, std::string reason, std::vector<std::string> fields) {
            it.act = action::dead;
            it.reason = std::move(reason);
            it.reason_fields = std::move(fields);
            items.push_back(std::move(it));
        };

        mapping::map_context ctx{now, nullptr, &log};
        mapping::map_result<Document> canonical = Document();
        if (b.map_in->groups_rows()) {
            auto groups = b.map_in->group(rec.body);
            if (!groups) {
                return dead(
                    std::move(base), reason_of(groups.error().error_code()), {groups.error().field}
                );
            }
            if (groups->size() != 1) {
                return dead(std::move(base), "mapping_failed", {});
            }
            canonical = b.map_in->map_in((*groups)[0], ctx);
        } else {
            canonical = b.map_in->map_in(rec.body, ctx);
        }
        if (!canonical) {
            return dead(
                std::move(base),
                reason_of(canonical.error().error_code()),
                {without_row_numbers(canonical.error().field)}
            );
        }
        if (b.closure != nullptr) {
            base.closure = b.closure->state_of(*canonical);
        }
        if (b.identities != nullptr) {
            for (const auto& path : b.identity_fields) {
                const Value* v = rapidjson::Pointer(path.c_str()).Get(*canonical);
                if (v == nullptr || !v->IsString() || v->GetStringLength() == 0) {
                    continue;
                }
                const auto kind = token_or_hash("identity." + path.substr(1));
                base.identities.push_back(store::record_id::pseudonymous(
                    kind,
                    kind,
                    std::string_view(v->GetString(), v->GetStringLength()),
                    *b.identities
                ));
            }
        }
        std::optional<policy::operator_override> over;
        if (auto o = overrides.find(rec.remote_id); o != overrides.end()) {
            over = o->second;
        }
        auto decided = policy::decide(*b.profile, *canonical, now, over);
        if (!decided) {
            return dead(std::move(base), reason_of(decided.error()), {});
        }
        base.dec = std::make_shared<policy::decision>(std::move(*decided));
        const policy::decision& d = *base.dec;
        if (rec.disabled) {
            base.act = action::withhold;
            base.reason = "source_disabled";
        } else if (!d.share) {
            base.act = action::withhold;
            base.reason = d.aggregate_only ? "aggregate_only" : "no_basis";
        } else {
            base.act = action::send;
        }

        // One record per row of a subform (referrals, events), ids from the unredacted rows.
        if (!b.one_record_per_row_of.empty()) {
            const Value* rows = rapidjson::Pointer(b.one_record_per_row_of.c_str()).Get(*canonical);
            const Value* sent_rows =
                d.share ? rapidjson::Pointer(b.one_record_per_row_of.c_str()).Get(d.payload)
                        : nullptr;
            if (rows == nullptr || !rows->IsArray()) {
                return;  // nothing to send for this record
            }
            for (rapidjson::SizeType i = 0; i < rows->Size(); ++i) {
                const Value& row = (*rows)[i];
                if (b.only_rows_where && !b.only_rows_where->matches(row)) {
                    continue;  // a row for another recipient: not part of this flow
                }
                const Value* uid =
                    row.IsObject() && row.HasMember("unique_id") ? &row["unique_id"] : nullptr;
                item it;
                it.case_source = base.case_source;
                it.version = base.version;
                it.dec = base.dec;
                it.identities = base.identities;
                it.closure = base.closure;
                if (uid == nullptr || !uid->IsString()) {
                    dead(std::move(it), "mapping_failed", {b.one_record_per_row_of + "/unique_id"});
                    continue;
                }
                it.source = store::record_id{
                    b.source_system,
                    token_or_hash(base.case_source.id.str() + row_separator + uid->GetString())};
                it.act = base.act;
                it.reason = base.reason;
                if (it.act == action::send) {
                    Document one;
                    one.CopyFrom(d.payload, one.GetAllocator());
                    Value only(rapidjson::kArrayType);
                    if (sent_rows != nullptr && sent_rows->IsArray() && i < sent_rows->Size()) {
                        only.PushBack(
                            Value((*sent_rows)[i], one.GetAllocator()), one.GetAllocator()
                        );
                    }
                    rapidjson::Pointer(b.one_record_per_row_of.c_str()).Set(one, only);
                    map_out(it, one, ctx);
                }
                items.push_back(std::move(it));
            }
            return;
        }
        if (base.act == action::send) {
            map_out(base, d.payload, ctx);
        }
        items.push_back(std::move(base));
    }

    void map_out(item& it, const Value& payload, const mapping::map_context& ctx) const {
        auto out = b.map_out->map_out(payload, ctx);
        if (!out) {
            it.act = action::dead;
            it.reason = reason_of(out.error().error_code());
            it.reason_fields = {without_row_numbers(out.error().field)};
            return;
        }
        it.out_body = std::move(*out);
        if (it.dec && it.dec->linkage && it.out_body.IsObject()) {
            // The profile's linkage step encoded the full record: the encoding travels with
            // the mapped record as its "linkage" member (the target's adapter sends it).
            auto& a = it.out_body.GetAllocator();
            it.out_body.RemoveMember("linkage");
            it.out_body.AddMember(
                "linkage",
                policy::linkage_wire_form(it.dec->linkage_schema_version, *it.dec->linkage, a),
                a
            );
        }
    }

    /// Store lookups for a page, in one call on the store thread: prior deliveries, targets,
    /// identity conflicts.
    awaitable<result<void>> resolve(std::vector<item>& items) {
        const flow_binding* bind = &b;
        auto* list = &items;
        const bool ask_ack = handover && b.target->acknowledges(b.target_stream);
        // Named, not a temporary in the co_await expression: GCC 12 destroys such captures
        // twice (the same applies to every store call below).
        auto lookups = [bind, list, ask_ack](store::store& s) -> result<void> {
            std::map<std::string, std::string> claimed;  // identity → case source, this page
            for (auto& it : *list) {
                auto prior = s.get_delivery(bind->flow, it.source);
                if (!prior) {
                    return prior.error();
                }
                it.prior = *prior;
                if (ask_ack && it.prior && it.prior->state == store::delivery_state::delivered) {
                    auto answer = s.acknowledgement_of(bind->flow, it.source);
                    if (!answer) {
                        return answer.error();
                    }
                    it.ack = *answer;
                }
                if (it.act != action::send && it.act != action::withhold) {
                    continue;
                }
                auto t = s.linked(it.source, bind->target_system);
                if (!t) {
                    return t.error();
                }
                if (*t) {
                    it.target = **t;
                    it.linked = **t;
                } else {
                    // A record that came from the target (a decision on a referral we sent).
                    auto back = s.linked_from(it.case_source, bind->target_system);
                    if (!back) {
                        return back.error();
                    }
                    if (*back) {
                        const auto& id = (*back)->id.str();
                        const auto cut = id.find(row_separator);
                        it.target =
                            store::record_id{bind->target_system, token_or_hash(id.substr(0, cut))};
                    }
                }
                if (it.act != action::send) {
                    continue;
                }
                for (const auto& ident : it.identities) {
                    auto owner = s.linked_from(ident, bind->source_system);
                    if (!owner) {
                        return owner.error();
                    }
                    auto mine = s.linked(it.case_source, ident.system);
                    if (!mine) {
                        return mine.error();
                    }
                    const auto key = ident.str();
                    auto seen = claimed.find(key);
                    const bool other_owner = *owner && !(**owner == it.case_source);
                    const bool other_in_page =
                        seen != claimed.end() && seen->second != it.case_source.str();
                    const bool changed = *mine && !(**mine == ident);
                    if (other_owner || other_in_page || changed) {
                        it.act = action::dead;
                        it.reason = changed ? "identity_changed" : "multiple_matches";
                        it.reason_fields = {"/" + ident.system.str().substr(9)};
                        it.review = true;
                        break;
                    }
                    claimed.emplace(key, it.case_source.str());
                }
            }
            return {};
        };
        co_return co_await st->run(std::move(lookups));
    }

    // ---- phase 3: deliver --------------------------------------------------------------

    awaitable<void> deliver(item& it, run_counts& counts) {
        external_record rec;
        rec.stream = b.target_stream;
        rec.updated_at = it.version;
        rec.source_key = source_key(it.source);
        if (it.target) {
            rec.remote_id = it.target->id.str();
        }
        rec.body.CopyFrom(it.out_body, rec.body.GetAllocator());

        const bool needs_lookup = !it.target && !b.target->idempotent_create();
        // A target whose creates are not idempotent (PING) is asked first, every time: an
        // attempt without a recorded outcome (a crash, a lost response) leaves a delivery row
        // behind, but a retention purge or a restore from an older backup leaves nothing, and
        // the record must still be found, never created twice. One look-up per new record.
        bool look = needs_lookup;
        bool looked_up_and_failed = false;
        auto r = co_await sync::with_retries<std::string>(
            b.retry,
            [&](int attempt) -> awaitable<remote_result<std::string>> {
                if (look) {
                    int n = 0;
                    auto found = co_await with_retries<std::optional<std::string>>(
                        [&]() { return b.target->lookup(b.target_stream, rec.source_key); },
                        counts,
                        &n
                    );
                    if (!found) {
                        looked_up_and_failed = true;
                        it.attempts = attempt - 1 + n;
                        co_return found.error();
                    }
                    if (*found) {
                        it.resolved_by_lookup = true;  // the earlier attempt did create it
                        it.attempts = attempt - 1;
                        co_return **found;
                    }
                }
                it.attempts = attempt;
                auto pushed = co_await b.target->push(copy_record(rec));
                if (!pushed) {
                    note_refusal(pushed.error(), b.target_system);
                    // No response means the create may have happened: look before sending
                    // again.
                    look = needs_lookup && pushed.error().http_status == 0;
                }
                co_return pushed;
            },
            [&](int attempt, const remote_error& e) -> awaitable<bool> {
                if (looked_up_and_failed) {
                    co_return false;
                }
                ++counts.retries;
                count(&flow_metrics::retries, 1);
                log.warn(
                    "flow.delivery_retry",
                    "delivery failed transiently; retrying",
                    {.system = b.target_system.str(),
                     .record = record_ref{it.source.system.str(), it.source.id.str()},
                     .error = e.code}
                );
                co_await sleep_for(backoff_delay(b.retry, attempt, e.retry_after, jitter()));
                co_return !interrupted;  // stopping: left in flight, resolved by the next run
            }
        );
        if (r) {
            it.target = store::record_id{b.target_system, token_or_hash(*r)};
            it.error.reset();
        } else {
            it.error = r.error();
        }
    }

    awaitable<void> deliver_all(std::vector<item*> work, run_counts& counts) {
        if (work.empty()) {
            co_return;
        }
        auto ex = co_await net::this_coro::executor;
        std::size_t next = 0;
        std::size_t running = 0;
        net::steady_timer done(ex);
        done.expires_at(net::steady_timer::time_point::max());
        const std::size_t width = std::min<std::size_t>(
            work.size(), static_cast<std::size_t>(std::max(1, b.concurrency))
        );
        // A worker that throws stops the others taking new items, and its exception ends the
        // run once every worker has finished: the page is not settled, its intents stay, and
        // the next run resumes them. An exception is never turned into an outcome.
        std::exception_ptr failure;
        auto worker = [&]() -> awaitable<void> {
            while (next < work.size() && !failure) {
                item* it = work[next++];
                co_await deliver(*it, counts);
            }
        };
        for (std::size_t i = 0; i < width; ++i) {
            ++running;
            net::co_spawn(ex, worker(), [&](std::exception_ptr e) {
                if (e && !failure) {
                    failure = e;
                }
                if (--running == 0) {
                    done.cancel();
                }
            });
        }
        co_await done.async_wait(use_nothrow);
        if (failure) {
            // What the target holds unflushed from this page goes: the next run decides those
            // records again (a fresh consent check) before anything is sent.
            b.target->discard_pending();
            std::rethrow_exception(failure);
        }
    }

    /// Sends the target's consent-withdrawal notice for each item (one at a time: they are
    /// rare). A notice that cannot be sent leaves the item to its review item.
    awaitable<void> notify_all(const std::vector<item*>& work, run_counts& counts) {
        for (item* it : work) {
            const std::string shared = it->target->id.str();
            const std::string key = source_key(it->source);
            int n = 0;
            auto sent = co_await with_retries<std::string>(
                [&]() {
                    return b.target->notify_withdrawal(b.target_stream, shared, key, it->version);
                },
                counts,
                &n
            );
            if (sent) {
                it->notice = std::move(*sent);
            } else {
                log.warn(
                    "flow.withdrawal_notice_failed",
                    "consent-withdrawal notice not sent; raised for review",
                    {.flow = b.flow.str(),
                     .record = record_ref{it->source.system.str(), it->source.id.str()},
                     .error = sent.error().code}
                );
            }
        }
    }

    // ---- phase 5: settle ---------------------------------------------------------------

    /// Settles the page's items (sync/page) and counts their outcomes in the metrics.
    void settle_all(
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

    awaitable<void> resolve_in_flight(run_report& report) {
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
    awaitable<bool> commit(
        store::page_commit page, std::optional<std::string> next_cursor, run_report& report
    ) {
        if (next_cursor) {
            page.cursor_move = std::pair{b.flow, std::move(*next_cursor)};
        }
        // Every transfer entry names the mappings the record went through.
        const auto version_of = [](const mapping::compiled_mapping* m
                                ) -> std::optional<store::token> {
            if (m == nullptr) {
                return std::nullopt;
            }
            auto t = store::token::make(m->id() + "@" + std::to_string(m->version()));
            return t ? std::optional<store::token>(*t) : std::nullopt;
        };
        const auto in = version_of(b.map_in);
        const auto out = version_of(b.map_out);
        for (auto& e : page.entries) {
            if (e.kind == store::entry_kind::transfer && e.flow && *e.flow == b.flow &&
                !e.mapping_in && !e.mapping_out) {
                e.mapping_in = in;
                e.mapping_out = out;
            }
        }
        auto write_page = [page = std::move(page)](store::store& s) { return s.commit_page(page); };
        auto committed = co_await st->run(std::move(write_page));
        if (!committed) {
            report.error = "store: " + error_name(committed.error());
            co_return false;
        }
        co_return true;
    }

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
            const bool done_before =
                it.prior && it.prior->state == store::delivery_state::delivered &&
                it.prior->source_version && not_after(it.n.id, *it.prior->source_version);
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
                            auto changed =
                                update ? co_await b.target->update_flag(
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
                page.dead_letters.push_back(
                    {b.flow, it.self, *e.reason, {store::token("pseudonym")}}
                );
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

    awaitable<bool> process(
        const std::vector<external_record>& records,
        std::optional<std::string> next_cursor,
        bool force,
        bool dry_run,
        run_report& report,
        const std::set<std::string>* only = nullptr
    ) {
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
        const page::prior_rules rules{
            force, handover, b.target->can_update(b.target_stream), b.create};
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
        co_return co_await commit(std::move(page), std::move(next_cursor), report);
    }
};

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

awaitable<run_report> flow_runner::run_once(run_options options) {
    auto& m = *impl_;
    m.keep_records = options.keep_records;
    m.handover = options.handover;
    m.stop = options.stop_requested;
    m.interrupted = false;
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
    for (;;) {
        if (options.stop_requested && options.stop_requested()) {
            report.stopped = true;
            break;
        }
        if (options.max_pages && report.counts.pages >= *options.max_pages) {
            break;
        }
        int attempts = 0;
        auto page = co_await m.with_retries<pull_page>(
            [&]() { return m.b.source->pull(m.b.source_stream, cursor); },
            report.counts,
            &attempts,
            &m.b.source_system
        );
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
        const bool ok =
            co_await m.process(page->records, page->next_cursor, false, options.dry_run, report);
        if (!ok) {
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
    m.stop = nullptr;  // not tied to a run that can be stopped
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
    m.stop = nullptr;  // not tied to a run that can be stopped
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
    m.stop = nullptr;  // not tied to a run that can be stopped
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
