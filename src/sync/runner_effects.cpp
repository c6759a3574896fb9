// The effects of a page: deliveries with their retries and look-ups, concurrent up to the
// flow's width; consent-withdrawal notices; waits that end when the run is stopped.
#include "sync/runner_impl.hpp"

namespace casebridge::sync {

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

void flow_runner::impl::count(std::atomic<std::int64_t> flow_metrics::*m, std::int64_t n) {
    if (metrics != nullptr) {
        (metrics->*m).fetch_add(n, std::memory_order_relaxed);
    }
}

awaitable<void> flow_runner::impl::sleep_for(std::chrono::milliseconds d) {
    const bool waited = co_await wait_unless_stopped(*clock, d, stop);
    if (!waited) {
        interrupted = true;
    }
    co_return;  // explicit: GCC 12's UBSan traps a coroutine that flows off its end
}

std::string flow_runner::impl::source_key(const store::record_id& source) const {
    return page::source_key(b.flow, source);
}

// ---- phase 3: deliver --------------------------------------------------------------
awaitable<void> flow_runner::impl::deliver(item& it, run_counts& counts) {
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
                    [&]() { return b.target->lookup(b.target_stream, rec.source_key); }, counts, &n
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
            auto pushed = co_await call(b.target->push(copy_record(rec)));
            if (!pushed && !interrupted) {
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

awaitable<void> flow_runner::impl::deliver_all(std::vector<item*> work, run_counts& counts) {
    if (work.empty()) {
        co_return;
    }
    auto ex = co_await net::this_coro::executor;
    std::size_t next = 0;
    std::size_t running = 0;
    net::steady_timer done(ex);
    done.expires_at(net::steady_timer::time_point::max());
    const std::size_t width =
        std::min<std::size_t>(work.size(), static_cast<std::size_t>(std::max(1, b.concurrency)));
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
awaitable<void> flow_runner::impl::notify_all(const std::vector<item*>& work, run_counts& counts) {
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

}  // namespace casebridge::sync
