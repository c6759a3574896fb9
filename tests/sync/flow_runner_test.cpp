// The flow runner end to end: Primero sandbox → runner → Primero sandbox, over real HTTP on
// loopback, with a real SQLite store. Eligibility is computed here straight from the consent
// fields of the source cases (the transfer-agency rule), not through the runner's code.
#include "sync/flow_runner.hpp"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "canonical/canonical_case.hpp"
#include "json/json.hpp"
#include "mapping/mapping.hpp"
#include "net/async.hpp"
#include "net/http_client.hpp"
#include "policy/policy.hpp"
#include "primero/primero_adapter.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "store/store_thread.hpp"
#include "support/forwarding_adapter.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"
#include "support/wal_sync_watch.hpp"
#include "sync/sandbox_pair.hpp"

namespace casebridge::sync {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;

/// The transfer-agency basis, read from a Primero case as the sandbox stores it.
using test::eligible;
using test::forwarding_adapter;

/// A target that forwards to a real adapter, except that its `throw_on`-th push throws (as a
/// bug or an allocation failure in an adapter would).
class throwing_target final : public forwarding_adapter {
public:
    throwing_target(adapter& inner, int throw_on)
        : forwarding_adapter(inner), throw_on_(throw_on) {}
    awaitable<remote_result<std::string>> push(external_record record) override {
        if (++pushes_ == throw_on_) {
            throw std::runtime_error("adapter bug");
        }
        co_return co_await inner_.push(std::move(record));
    }
    int pushes() const noexcept { return pushes_; }

private:
    int throw_on_;
    int pushes_ = 0;
};

/// A target that forwards to a real adapter and notes, at each push, whether the store's
/// write-ahead log held a write not yet synced (one a power cut would lose).
class durability_watching_target final : public forwarding_adapter {
public:
    durability_watching_target(adapter& inner, const test::wal_sync_watch& watch)
        : forwarding_adapter(inner), watch_(watch) {}
    awaitable<remote_result<std::string>> push(external_record record) override {
        ++pushes_;
        unsynced_at_push_ += watch_.unsynced() ? 1 : 0;
        co_return co_await inner_.push(std::move(record));
    }
    int pushes() const noexcept { return pushes_; }
    int unsynced_at_push() const noexcept { return unsynced_at_push_; }

private:
    const test::wal_sync_watch& watch_;
    int pushes_ = 0;
    int unsynced_at_push_ = 0;
};

/// An adapter that forwards to a real one and notes, in one sequence shared by the source and
/// the target, each pull started (the page it will be) and each push started (the page its
/// record came from), so a test can see what overlapped.
class watching_adapter final : public forwarding_adapter {
public:
    struct events {
        int pulls_started = 0;
        std::map<std::string, int> page_of;  ///< Source record id → its page.
        /// One per push: the record's page and how many pulls had started then.
        std::vector<std::pair<int, int>> pushes;
        std::int64_t failed_reads = 0;
        int hung_reads = 0;               ///< Reads that hung (hang_reads_after_the_first).
        std::atomic<int> reads_begun{0};  ///< Pulls begun, as the store thread may read it.
    };
    watching_adapter(adapter& inner, events& seen) : forwarding_adapter(inner), seen_(seen) {}
    /// From now on, the first read of each cursor but the first read of all fails with
    /// remote_unavailable (a transient error) without reaching the source.
    void fail_first_read_of_each_page() { fail_first_reads_ = true; }
    /// From now on, every read but the first of all hangs for twelve seconds (a source that
    /// stopped answering) unless cancelled, and then fails with errc::cancelled. Twelve seconds
    /// is shorter than the fixture's idle limit, so a run that waits for it still ends.
    void hang_reads_after_the_first() { hang_reads_ = true; }
    awaitable<remote_result<pull_page>> pull(std::string stream, std::optional<std::string> cursor)
        override {
        if (fail_first_reads_ && seen_.pulls_started > 0 &&
            cursors_read_.insert(cursor.value_or("")).second) {
            ++seen_.failed_reads;
            co_return make_remote_error(errc::remote_unavailable, "test: first read of a page");
        }
        if (hang_reads_ && seen_.pulls_started > 0) {
            ++seen_.hung_reads;
            net::steady_timer hang(co_await net::this_coro::executor, 12s);
            const auto [ec] = co_await hang.async_wait(use_nothrow);
            co_return make_remote_error(
                ec ? errc::cancelled : errc::remote_unavailable, "test: a read that hung"
            );
        }
        ++seen_.reads_begun;
        const int page = ++seen_.pulls_started;
        auto r = co_await inner_.pull(std::move(stream), std::move(cursor));
        if (r) {
            for (const auto& rec : r->records) {
                seen_.page_of.emplace(rec.remote_id, page);
            }
        }
        co_return r;
    }
    awaitable<remote_result<std::string>> push(external_record record) override {
        const auto id = record.source_key.substr(record.source_key.rfind('/') + 1);
        const auto page = seen_.page_of.find(id);
        seen_.pushes.emplace_back(
            page == seen_.page_of.end() ? 0 : page->second, seen_.pulls_started
        );
        co_return co_await inner_.push(std::move(record));
    }

private:
    events& seen_;
    bool fail_first_reads_ = false;
    bool hang_reads_ = false;
    std::set<std::string> cursors_read_;
};

class flow_runner_test : public ::testing::Test {
protected:
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 3 / 10) + 9h};
    test::temp_dir dir;
    /// Set before start(): the store's write-ahead log is watched (outlives the store).
    std::optional<test::wal_sync_watch> wal_watch;
    memory_sink sink;
    net::io_context ctx;
    std::unique_ptr<sandbox::primero_sandbox> from;
    std::unique_ptr<sandbox::primero_sandbox> to;
    std::unique_ptr<http_client> http;
    std::unique_ptr<primero::primero_adapter> source;
    std::unique_ptr<primero::primero_adapter> target;
    std::optional<canonical_catalogue> catalogue;
    std::optional<policy::policy_set> policies;
    std::optional<mapping::compiled_mapping> mapping;
    std::unique_ptr<store::store_thread> st;
    std::unique_ptr<store::keyed_hasher> hasher;
    std::unique_ptr<flow_runner> runner;
    flow_metrics metrics;

    void SetUp() override {
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "flow-runner-test-key-0123456789abcdef0123", 1);
        catalogue.emplace(canonical_catalogue::load(source_dir / "mappings/canonical-case.json"));
        policies.emplace(policy::policy_set::load(source_dir / "config/policies.json", *catalogue));
        mapping.emplace(
            mapping::compiled_mapping::load(source_dir / "mappings/primero.case.json", *catalogue)
        );
        hasher = std::make_unique<store::keyed_hasher>(std::string(32, 'k'));
    }

    void TearDown() override {
        runner.reset();
        st.reset();
    }

    primero::settings settings_for(
        sandbox::primero_sandbox& box, const std::string& name, int per
    ) {
        primero::settings s;
        s.base_url = box.base_url();
        s.user_name = box.user_name();
        s.password.file = dir.write(name, box.password() + "\n");
        s.per_page = per;
        return s;
    }

    void start(std::size_t cases, int per = 1000, flow_binding tweak = {}) {
        sandbox::primero_settings a;
        a.cases = cases;
        a.seed = 11;
        from = std::make_unique<sandbox::primero_sandbox>(a, clock);
        sandbox::primero_settings b;
        b.seed = 12;
        to = std::make_unique<sandbox::primero_sandbox>(b, clock);
        http_client_settings hs;
        hs.allow_plain_http_loopback = true;
        hs.max_requests_per_second = 0;
        hs.request_timeout = 2s;
        http = std::move(*http_client::create(ctx.get_executor(), hs, clock));
        auto env = [&] {
            return adapter_env{
                ctx.get_executor(), http.get(), &clock, logger(sink, clock, log_level::debug)};
        };
        source = std::make_unique<primero::primero_adapter>(
            settings_for(*from, "from-password", per), env()
        );
        target = std::make_unique<primero::primero_adapter>(
            settings_for(*to, "to-password", 1000), env()
        );
        open_store_and_runner(std::move(tweak));
    }

    /// Rebuilds the runner on the same store, its binding changed by `change`.
    template <typename F>
    void rebind(F change) {
        flow_binding bnd = runner->binding();
        change(bnd);
        runner = std::make_unique<flow_runner>(
            std::move(bnd), *st, clock, logger(sink, clock, log_level::debug), &metrics
        );
    }

    /// The fixture's source and target, watched in one sequence of events.
    struct watched_pair {
        watching_adapter::events seen;
        watching_adapter source;
        watching_adapter target;
        watched_pair(adapter& s, adapter& t) : source(s, seen), target(t, seen) {}
    };

    /// Runs the flow through a watched source and target from now on.
    std::unique_ptr<watched_pair> watch_both() {
        auto w = std::make_unique<watched_pair>(*source, *target);
        rebind([&](flow_binding& bnd) {
            bnd.source = &w->source;
            bnd.target = &w->target;
        });
        return w;
    }

    /// Gives the runner the catalogue's closure rule (the engine does this for every flow).
    void catalogue_closure() {
        rebind([&](flow_binding& bnd) {
            bnd.closure = catalogue->closure();
            ASSERT_NE(bnd.closure, nullptr);
        });
    }

    /// Opens store.db and builds the runner on it (again after a restore).
    void open_store_and_runner(flow_binding tweak = {}) {
        auto opened = store::store::open(dir / "store.db", {}, clock);
        ASSERT_TRUE(opened) << opened.error().message();
        st = std::make_unique<store::store_thread>(std::move(*opened));

        flow_binding bnd = std::move(tweak);
        bnd.flow = "agency-handover";
        bnd.purpose = "transfer";
        bnd.source_system = "cpims-a";
        bnd.source_stream = "cases";
        bnd.target_system = "cpims-b";
        bnd.target_stream = "cases";
        bnd.source = source.get();
        bnd.target = target.get();
        bnd.map_in = &*mapping;
        bnd.map_out = &*mapping;
        bnd.profile = policies->find("transfer-agency");
        bnd.identities = hasher.get();
        bnd.identity_fields = catalogue->one_person_paths();
        bnd.retry.initial = 1ms;
        bnd.retry.max = 5ms;
        bnd.retry.max_retry_after = 1s;
        runner = std::make_unique<flow_runner>(
            std::move(bnd), *st, clock, logger(sink, clock, log_level::debug), &metrics
        );
    }

    template <typename T>
    T run(net::awaitable<T> op) {
        return test::run_on(ctx, std::move(op));
    }

    run_report run_flow(bool dry_run = false) {
        run_options o;
        o.dry_run = dry_run;
        o.keep_records = true;
        return run(runner->run_once(o));
    }

    rapidjson::Document source_case(const std::string& id) {
        auto text = from->case_json(id);
        EXPECT_TRUE(text.has_value());
        return std::move(*json::parse(*text));
    }

    std::set<std::string> eligible_ids() {
        std::set<std::string> out;
        for (const auto& id : from->case_ids()) {
            if (eligible(source_case(id))) {
                out.insert(id);
            }
        }
        return out;
    }

    // Two eligible cases patched with `first` and `second`, run once: the second is held as a
    // conflict (multiple_matches) on `field`, never taken as a first match.
    void expect_one_conflict(
        const std::string& first, const std::string& second, const std::string& field
    ) {
        const auto eligible_set = eligible_ids();
        const std::vector<std::string> ids(eligible_set.begin(), eligible_set.end());
        ASSERT_GE(ids.size(), 2u);
        patch_source(ids[0], first);
        patch_source(ids[1], second);
        auto report = run_flow();
        ASSERT_FALSE(report.error) << *report.error;
        auto dead =
            *run(st->run([](store::store& s) { return s.dead_letters("agency-handover"); }));
        ASSERT_EQ(dead.size(), 1u);
        EXPECT_EQ(dead[0].reason.str(), "multiple_matches");
        ASSERT_EQ(dead[0].field_names.size(), 1u);
        EXPECT_EQ(dead[0].field_names[0].str(), field);
    }

    /// Changes a source case through the API (so last_updated_at moves) and lets time pass.
    void patch_source(const std::string& id, const std::string& data_json) {
        external_record r;
        r.stream = "cases";
        r.remote_id = id;
        r.body = std::move(*json::parse(data_json));
        auto pushed = run(source->push(std::move(r)));
        ASSERT_TRUE(pushed) << pushed.error().describe();
        clock.advance(5s);
    }

    struct stopped_run {
        run_report report;
        std::chrono::steady_clock::duration took{};
    };

    /// Runs the flow and stops it 200 ms after the target first received a request.
    stopped_run run_stopped_after_target_asked() {
        std::stop_source stop;
        run_options o;
        o.keep_records = true;
        o.stop = stop.get_token();
        std::thread stopper([&] {
            while (to->server().request_count() == 0 && !stop.stop_requested()) {
                std::this_thread::sleep_for(10ms);
            }
            std::this_thread::sleep_for(200ms);
            stop.request_stop();
        });
        const auto started = std::chrono::steady_clock::now();
        stopped_run r;
        try {
            r.report = run(runner->run_once(o));
        } catch (...) {
            stop.request_stop();  // the stopper may still be waiting for a request
            stopper.join();
            throw;
        }
        r.took = std::chrono::steady_clock::now() - started;
        stopper.join();
        return r;
    }

    std::int64_t count_dead_letters() {
        return run(st->run([](store::store& s) -> std::int64_t {
            auto q = s.database().prepare("SELECT count(*) FROM dead_letters");
            (void)q->step();
            return q->column_int(0);
        }));
    }

    std::int64_t count_log(std::string_view outcome) {
        auto n = run(st->run([o = std::string(outcome)](store::store& s) -> std::int64_t {
            auto q = s.database().prepare("SELECT count(*) FROM transfer_log WHERE outcome = ?");
            q->bind(1, std::string_view(o));
            (void)q->step();
            return q->column_int(0);
        }));
        return n;
    }

    store::verify_report verify() {
        return *run(st->run([](store::store& s) { return s.verify({}); }));
    }

    /// The `attempt` of the newest log entry about `source_id` with `outcome`.
    std::int64_t logged_attempt(const std::string& source_id, std::string_view outcome) {
        return run(st->run([id = source_id, o = std::string(outcome)](store::store& s) {
            auto q = s.database().prepare(
                "SELECT attempt FROM transfer_log WHERE source_id = ? AND outcome = ?"
                " ORDER BY seq DESC LIMIT 1"
            );
            q->bind(1, std::string_view(id)).bind(2, std::string_view(o));
            EXPECT_TRUE(*q->step()) << "no " << o << " entry for " << id;
            return q->column_int(0);
        }));
    }

    std::int64_t delivery_attempts(const std::string& source_id) {
        auto d = *run(st->run([&](store::store& s) {
            return s.get_delivery("agency-handover", {"cpims-a", *store::token::make(source_id)});
        }));
        EXPECT_TRUE(d.has_value());
        return d ? d->attempts : -1;
    }

    std::string target_id_of(const std::string& source_id) {
        return primero::primero_adapter::client_id_for("agency-handover/cpims-a/" + source_id);
    }

    /// The target's case holds the source case's current version: every shared top-level
    /// field the source has is in the target with the same value (the transfer-agency profile
    /// shares them unchanged).
    void expect_target_holds_source(const std::string& id) {
        auto target_text = to->case_json(target_id_of(id));
        ASSERT_TRUE(target_text) << "no target case for " << id;
        const auto target_case = std::move(*json::parse(*target_text));
        const auto from_case = source_case(id);
        std::size_t compared = 0;
        for (const char* f :
             {"name_first",
              "name_middle",
              "name_last",
              "name_nickname",
              "sex",
              "date_of_birth",
              "age",
              "nationality",
              "location_current",
              "telephone_current",
              "address_current",
              "risk_level",
              "protection_concerns",
              "consent_info_sharing",
              "status"}) {
            if (!from_case.HasMember(f)) {
                continue;
            }
            ++compared;
            ASSERT_TRUE(target_case.HasMember(f)) << f << " is missing at the target";
            EXPECT_EQ(json::to_string(target_case[f]), json::to_string(from_case[f]))
                << f << " differs from the source's current version";
        }
        EXPECT_GE(compared, 5u);
    }

    std::string first_with(bool want_eligible) {
        for (const auto& id : from->case_ids()) {
            if (eligible(source_case(id)) == want_eligible) {
                return id;
            }
        }
        ADD_FAILURE() << "no such case in the sandbox";
        return {};
    }
};

TEST_F(flow_runner_test, sends_every_eligible_case_once_and_skips_them_on_the_next_run) {
    start(300, 40);
    clock.advance(5s);
    const auto expected = eligible_ids();
    ASSERT_GT(expected.size(), 20u);
    ASSERT_LT(expected.size(), 300u);

    auto first = run_flow();
    ASSERT_FALSE(first.error) << *first.error;
    EXPECT_TRUE(first.caught_up);
    EXPECT_EQ(first.counts.fetched, 300);
    EXPECT_EQ(first.counts.sent, static_cast<std::int64_t>(expected.size()));
    EXPECT_EQ(first.counts.sent + first.counts.withheld + first.counts.dead, 300);
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()));
    EXPECT_EQ(
        count_log("withheld") + count_log("failed"),
        300 - static_cast<std::int64_t>(expected.size())
    );
    for (const auto& r : first.records) {
        EXPECT_EQ(r.outcome == "sent", expected.count(r.source_id) == 1)
            << r.source_id << " " << r.outcome << " " << r.reason << " " << r.basis;
    }

    // Nothing changed: the overlapping window re-reads, nothing is sent or logged twice.
    clock.advance(30s);
    auto second = run_flow();
    ASSERT_FALSE(second.error) << *second.error;
    EXPECT_EQ(second.counts.sent, 0);
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()));
    EXPECT_TRUE(verify().ok);
    EXPECT_EQ(metrics.sent.load(), static_cast<std::int64_t>(expected.size()));
}

TEST_F(flow_runner_test, every_transfer_entry_names_the_mappings_it_went_through) {
    start(30, 25);
    clock.advance(5s);
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    ASSERT_GT(count_log("sent"), 0);
    const std::string expected = mapping->id() + "@" + std::to_string(mapping->version());
    const auto [entries, named] = run(st->run([expected](store::store& s) {
        auto q = s.database().prepare(
            "SELECT count(*), sum(mapping_in = ?1 AND mapping_out = ?1) FROM transfer_log"
            " WHERE kind = 'transfer'"
        );
        q->bind(1, std::string_view(expected));
        (void)q->step();
        return std::pair{q->column_int(0), q->column_int(1)};
    }));
    EXPECT_GT(entries, 0);
    EXPECT_EQ(named, entries) << "entries without " << expected;
    // The columns are hashed: the chain still verifies.
    EXPECT_TRUE(verify().ok);
}

TEST_F(flow_runner_test, dry_run_writes_nothing_and_reports_each_decision) {
    start(60);
    clock.advance(5s);
    const auto expected = eligible_ids();
    auto report = run_flow(true);
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(to->case_count(), 0u);
    EXPECT_EQ(count_log("sent") + count_log("withheld"), 0);
    ASSERT_EQ(report.records.size(), 60u);
    std::size_t would = 0;
    for (const auto& r : report.records) {
        if (r.outcome == "would_send") {
            ++would;
            EXPECT_EQ(r.basis, "consent");
            EXPECT_FALSE(r.fields_sent.empty());
            EXPECT_TRUE(expected.count(r.source_id)) << r.source_id;
        } else {
            EXPECT_EQ(r.outcome, "withheld");
            EXPECT_FALSE(r.reason.empty());
        }
    }
    EXPECT_EQ(would, expected.size());
    auto c = run(st->run([](store::store& s) { return s.get_cursor("agency-handover"); }));
    EXPECT_FALSE(c->has_value()) << "a dry run must not move the cursor";
}

TEST_F(flow_runner_test, an_edit_is_sent_as_an_update_of_the_same_target_record) {
    start(40);
    clock.advance(5s);
    ASSERT_FALSE(run_flow().error);
    const auto before = to->case_count();
    const std::string id = first_with(true);
    patch_source(id, R"({"risk_level": "high", "name_nickname": "Edited once"})");
    patch_source(id, R"({"name_nickname": "Edited twice"})");
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.sent, 1);
    EXPECT_EQ(to->case_count(), before);
    const auto target_id = primero::primero_adapter::client_id_for("agency-handover/cpims-a/" + id);
    auto stored = to->case_json(target_id);
    ASSERT_TRUE(stored);
    EXPECT_NE(stored->find("Edited twice"), std::string::npos);
}

TEST_F(flow_runner_test, consent_withdrawn_after_sharing_is_logged_and_raised_for_review) {
    start(40);
    clock.advance(5s);
    ASSERT_FALSE(run_flow().error);
    const std::string id = first_with(true);
    patch_source(id, R"({"disclosure_other_orgs": false})");
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.withdrawn, 1);
    EXPECT_EQ(report.counts.sent, 0);
    EXPECT_EQ(count_log("consent_withdrawn"), 1);
    auto reviews = *run(st->run([](store::store& s) { return s.reviews(10); }));
    ASSERT_EQ(reviews.size(), 1u);
    EXPECT_EQ(reviews[0].kind.str(), "consent_withdrawn");
    EXPECT_EQ(reviews[0].source.id.str(), id);
    ASSERT_TRUE(reviews[0].target.has_value());

    // Run again without changes: the withdrawal is not logged twice.
    clock.advance(10s);
    EXPECT_EQ(run_flow().counts.withdrawn, 0);
    EXPECT_EQ(count_log("consent_withdrawn"), 1);
}

TEST_F(flow_runner_test, two_cases_with_one_unhcr_number_are_a_conflict_not_a_first_match) {
    start(60);
    ASSERT_NO_FATAL_FAILURE(expect_one_conflict(
        R"({"unhcr_individual_no": "555-00099999"})",
        R"({"unhcr_individual_no": "555-00099999"})",
        "/unhcr_individual_no"
    ));
    auto reviews = *run(st->run([](store::store& s) { return s.reviews(10); }));
    ASSERT_EQ(reviews.size(), 1u);
    EXPECT_EQ(reviews[0].kind.str(), "multiple_matches");
}

// Every one-person identifier is checked on its own, not only the catalogue's first: two
// cases with one national id and different UNHCR numbers are a conflict on the national id.
TEST_F(flow_runner_test, two_cases_with_one_national_id_are_a_conflict_on_that_field) {
    start(60);
    ASSERT_NO_FATAL_FAILURE(expect_one_conflict(
        R"({"unhcr_individual_no": "555-00011111", "national_id_no": "1990123456789"})",
        R"({"unhcr_individual_no": "555-00022222", "national_id_no": "1990123456789"})",
        "/national_id_no"
    ));
}

TEST_F(flow_runner_test, an_unmapped_code_is_dead_lettered_with_its_field_name) {
    start(30);
    const std::string id = first_with(true);
    patch_source(id, R"({"sex": "nonbinary_4b34795"})");
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    auto dead = *run(st->run([](store::store& s) { return s.dead_letters("agency-handover"); }));
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].source.id.str(), id);
    EXPECT_EQ(dead[0].reason.str(), "unmapped_value");
    ASSERT_EQ(dead[0].field_names.size(), 1u);
    EXPECT_EQ(dead[0].field_names[0].str(), "/sex");
    EXPECT_EQ(count_log("failed"), 1);
}

TEST_F(flow_runner_test, a_422_from_the_target_is_a_dead_letter_and_a_retry_resends_fresh) {
    flow_binding tweak;
    tweak.concurrency = 1;
    start(30, 1000, std::move(tweak));
    clock.advance(5s);
    ASSERT_FALSE(run_flow().error);
    const auto sent_before = count_log("sent");
    const std::string id = first_with(true);
    patch_source(id, R"({"risk_level": "low"})");
    to->server().inject(sandbox::fault::error(422));
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.dead, 1);
    auto listed =
        *run(st->run([](store::store& s) { return s.list_dead_letters(std::nullopt, 10); }));
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].second.reason.str(), "remote_rejected");

    // The retry fetches the case again from the source and re-runs the consent gate.
    auto retried = run(runner->retry_dead_letter(listed[0].first.id));
    ASSERT_TRUE(retried) << retried.error().message();
    EXPECT_EQ(retried->outcome, "sent");
    EXPECT_EQ(count_log("sent"), sent_before + 1);
    auto after =
        *run(st->run([](store::store& s) { return s.list_dead_letters(std::nullopt, 10); }));
    EXPECT_TRUE(after.empty());
    EXPECT_TRUE(verify().ok);
}

TEST_F(flow_runner_test, a_retry_of_a_record_whose_consent_was_withdrawn_sends_nothing) {
    flow_binding tweak;
    tweak.concurrency = 1;
    start(30, 1000, std::move(tweak));
    clock.advance(5s);
    const std::string id = first_with(true);
    to->server().inject(sandbox::fault::error(422));
    // Only this case is new to the flow: make it the first request by running it alone.
    auto report = run_flow();
    ASSERT_FALSE(report.error);
    auto listed =
        *run(st->run([](store::store& s) { return s.list_dead_letters(std::nullopt, 10); }));
    ASSERT_EQ(listed.size(), 1u);
    const std::string dead_id = listed[0].second.source.id.str();
    patch_source(dead_id, R"({"consent_for_services": false})");
    const auto sent_before = count_log("sent");
    auto retried = run(runner->retry_dead_letter(listed[0].first.id));
    ASSERT_TRUE(retried);
    EXPECT_EQ(retried->outcome, "withheld");
    EXPECT_EQ(count_log("sent"), sent_before);
}

TEST_F(flow_runner_test, transient_faults_are_retried_and_every_case_arrives_once) {
    // The rules below fault 42 % of the target's requests, and a delivery's attempt succeeds
    // only when each of its requests does: the default 8 attempts ran out for one case in
    // about half the runs of a release build (retries_exhausted, the designed answer). With
    // 30, running out is a few in a million per case; what is tested is that every transient
    // fault is retried and no case arrives twice.
    flow_binding tweak;
    tweak.retry.max_attempts = 30;
    start(120, 25, std::move(tweak));
    clock.advance(5s);
    const auto expected = eligible_ids();
    to->server().set_rules({
        {sandbox::fault::error(503, "0"), 5},
        {sandbox::fault::too_many_requests("0"), 7},
        {sandbox::fault::reset(), 11},
        {sandbox::fault::lost(), 13},
    });
    from->server().set_rules({{sandbox::fault::error(502), 4}});
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_GT(report.counts.retries, 0);
    EXPECT_EQ(report.counts.dead, 0);
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()));
}

TEST_F(flow_runner_test, a_stop_ends_a_long_retry_after_wait_and_settles_nothing_from_it) {
    start(8, 25);
    clock.advance(5s);
    rebind([&](flow_binding& bnd) {
        bnd.retry.max_retry_after = 10min;  // a 5-minute Retry-After is honoured, not refused
    });
    const auto expected = eligible_ids();
    ASSERT_FALSE(expected.empty());
    to->server().set_rules({{sandbox::fault::too_many_requests("300"), 1}});
    // The stop comes once the target has answered 429: the runner is then in its wait.
    const auto [report, took] = run_stopped_after_target_asked();
    EXPECT_LT(took, 10s) << "the wait held the stop";
    EXPECT_TRUE(report.stopped);
    EXPECT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.dead, 0);
    EXPECT_EQ(count_log("sent"), 0);
    const auto dead = count_dead_letters();
    EXPECT_EQ(dead, 0) << "a stop is not a failure of the record";
    // The attempts stay in flight; the next run sends every case once.
    to->server().set_rules({});
    auto again = run_flow();
    ASSERT_FALSE(again.error) << *again.error;
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()));
}

// A refused credential is remembered by a hash keyed by the identifier key; without that
// key nothing is kept, since an unkeyed hash of a short password can be guessed from the store.
TEST_F(flow_runner_test, a_refused_credential_is_kept_only_as_a_keyed_hash) {
    start(6, 25);
    clock.advance(5s);
    ASSERT_FALSE(eligible_ids().empty());
    const auto refusals = [this] {
        return run(st->run([](store::store& s) -> std::vector<std::string> {
            std::vector<std::string> out;
            auto q = s.database().prepare("SELECT fingerprint FROM credential_refusals");
            for (auto row = q->step(); row && *row; row = q->step()) {
                out.push_back(q->column_text(0));
            }
            return out;
        }));
    };
    from->server().set_rules({{sandbox::fault::error(401), 1}});  // every request
    rebind([](flow_binding& bnd) { bnd.identities = nullptr; });
    (void)run_flow();
    EXPECT_TRUE(refusals().empty()) << "a refusal was kept without the identifier key";
    EXPECT_EQ(metrics.credentials_refused.load(), 0);

    rebind([this](flow_binding& bnd) { bnd.identities = hasher.get(); });
    (void)run_flow();
    const auto kept = refusals();
    ASSERT_EQ(kept.size(), 1u) << "the source's refusal was not kept";
    const auto fp = source->credential_fingerprint();
    ASSERT_TRUE(fp);
    EXPECT_NE(kept.front(), *fp) << "the fingerprint was kept unkeyed";
    EXPECT_EQ(kept.front(), hasher->hmac_hex("credential-refusal", *fp));
    EXPECT_EQ(metrics.credentials_refused.load(), 1);
}

// A target that holds its answer for five minutes: a stop ends the request in flight at once
// (not at its deadline), and nothing is settled from it; the next run sends every case once.
TEST_F(flow_runner_test, a_stop_ends_a_request_in_flight_and_settles_nothing_from_it) {
    start(8, 25);
    clock.advance(5s);
    const auto expected = eligible_ids();
    ASSERT_FALSE(expected.empty());
    to->server().inject(sandbox::fault::delayed(5min), 1);
    // The stop comes once the target has the request, which it holds.
    const auto [report, took] = run_stopped_after_target_asked();
    EXPECT_LT(took, 10s) << "the request in flight held the stop";
    EXPECT_TRUE(report.stopped);
    EXPECT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.dead, 0);
    EXPECT_EQ(report.counts.retries, 0) << "a cancelled request is not retried";
    EXPECT_EQ(count_log("sent"), 0);
    EXPECT_EQ(count_log("failed"), 0);
    const auto dead = count_dead_letters();
    EXPECT_EQ(dead, 0) << "a stop is not a failure of the record";
    EXPECT_EQ(metrics.credentials_refused.load(), 0);
    auto again = run_flow();
    ASSERT_FALSE(again.error) << *again.error;
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()));
}

// Waits before retries run on the injected clock: a five-minute Retry-After, on a clock that
// moves on waits, takes five minutes of the clock and no real time, and the run then ends
// with every case sent once.
TEST_F(flow_runner_test, a_retry_after_wait_runs_on_the_injected_clock) {
    start(8, 25);
    clock.advance(5s);
    rebind([&](flow_binding& bnd) { bnd.retry.max_retry_after = 10min; });
    const auto expected = eligible_ids();
    ASSERT_FALSE(expected.empty());
    to->server().inject(sandbox::fault::too_many_requests("300"), 2);
    clock.move_on_waits();
    const auto wall_before = clock.now();
    const auto steady_before = clock.steady_now();
    const auto started = std::chrono::steady_clock::now();
    run_options o;
    o.keep_records = true;
    o.jitter_seed = 7;
    auto report = run(runner->run_once(o));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 60s) << "the wait took real time";
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.retries, 2);
    EXPECT_GE(clock.steady_now() - steady_before, 600s) << "two waits of 300 s on the clock";
    EXPECT_LT(clock.steady_now() - steady_before, 700s);
    EXPECT_GE(clock.now() - wall_before, 600s);
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()));
}

TEST_F(flow_runner_test, an_adapter_exception_ends_the_run_and_never_becomes_an_outcome) {
    start(30, 100);
    clock.advance(5s);
    const auto expected = eligible_ids();
    ASSERT_GT(expected.size(), 4u);
    throwing_target thrower(*target, 3);
    rebind([&](flow_binding& bnd) {
        bnd.target = &thrower;
        bnd.concurrency = 2;
    });
    run_options o;
    o.keep_records = true;
    EXPECT_THROW(run(runner->run_once(o)), std::runtime_error);
    // The other worker stopped taking items: not every case was tried.
    EXPECT_LT(static_cast<std::size_t>(thrower.pushes()), expected.size());
    // Nothing was settled from the failed page: no dead letter, no log entry.
    const auto dead = count_dead_letters();
    EXPECT_EQ(dead, 0) << "an exception is not the record's failure";
    EXPECT_EQ(count_log("sent"), 0);
    // The next run (the adapter mended) sends every case once.
    rebind([&](flow_binding& bnd) { bnd.target = target.get(); });
    auto again = run_flow();
    ASSERT_FALSE(again.error) << *again.error;
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()));
    for (const auto& id : expected) {
        expect_target_holds_source(id);
    }
}

TEST_F(flow_runner_test, a_retried_source_pull_is_logged_against_the_source_system) {
    start(10, 25);
    clock.advance(5s);
    from->server().inject(sandbox::fault::error(502));
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_GT(report.counts.retries, 0);
    std::size_t retries = 0;
    for (const auto& line : sink.lines()) {
        if (line.find(R"("event":"flow.retry")") != std::string::npos) {
            ++retries;
            EXPECT_NE(line.find(R"("system":"cpims-a")"), std::string::npos) << line;
            EXPECT_EQ(line.find("cpims-b"), std::string::npos) << line;
        }
    }
    EXPECT_EQ(retries, 1u) << sink.text();
}

// The next page is read while the current one is delivered: some record of a page is pushed
// after the pull of the page after it has started; every case still arrives once, and a
// second run sends nothing.
TEST_F(flow_runner_test, the_next_page_is_read_while_this_one_is_delivered) {
    start(80, 10);
    clock.advance(5s);
    const auto expected = eligible_ids();
    ASSERT_GT(expected.size(), 10u);
    const auto watched = watch_both();
    const watching_adapter::events& seen = watched->seen;
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.fetched, 80);
    EXPECT_EQ(report.counts.pages, seen.pulls_started) << "every page read was used";
    ASSERT_EQ(seen.pushes.size(), expected.size());
    std::size_t overlapped = 0;
    for (const auto& [page, pulls] : seen.pushes) {
        ASSERT_GT(page, 0) << "a push of a record no page held";
        EXPECT_LE(pulls, page + 1) << "read more than one page ahead";
        overlapped += pulls > page ? 1 : 0;
    }
    EXPECT_GT(overlapped, 0u) << "no page was read while the one before it was delivered";
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()));
    auto again = run_flow();
    ASSERT_FALSE(again.error) << *again.error;
    EXPECT_EQ(again.counts.sent, 0);
}

// A source whose first read of each page (but the first page) fails with a transient error:
// with reading ahead, that first read is the read ahead. It is forgotten and the page read
// again when needed, so the run counts no retry, and every case arrives once.
TEST_F(flow_runner_test, a_page_read_ahead_that_failed_transiently_is_read_again_at_no_cost) {
    start(60, 10);
    clock.advance(5s);
    const auto expected = eligible_ids();
    ASSERT_FALSE(expected.empty());
    watching_adapter::events seen;
    watching_adapter watched(*source, seen);
    watched.fail_first_read_of_each_page();
    rebind([&](flow_binding& bnd) { bnd.source = &watched; });
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.fetched, 60);
    ASSERT_GT(report.counts.pages, 3);
    EXPECT_EQ(seen.failed_reads, report.counts.pages - 1) << "each page but the first failed once";
    EXPECT_EQ(report.counts.retries, 0) << "a read ahead is not an attempt of its own";
    EXPECT_EQ(report.counts.dead, 0);
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()));
}

// A run whose page fails (here an adapter exception) while the next page's read ahead hangs
// on a silent source: the read ahead is cancelled, so the run ends at once rather than after
// the read's deadline, and nothing of the failed page is settled.
TEST_F(flow_runner_test, a_run_that_fails_mid_page_does_not_wait_for_the_page_read_ahead) {
    start(60, 10);
    clock.advance(5s);
    ASSERT_GT(eligible_ids().size(), 1u);
    watching_adapter::events seen;
    watching_adapter watched(*source, seen);
    watched.hang_reads_after_the_first();
    throwing_target thrower(*target, 1);
    rebind([&](flow_binding& bnd) {
        bnd.source = &watched;
        bnd.target = &thrower;
    });
    run_options o;
    o.keep_records = true;
    const auto began = std::chrono::steady_clock::now();
    try {
        run(runner->run_once(o));
        ADD_FAILURE() << "the run should have failed with the target's error";
    } catch (const test::deadline_exceeded& e) {
        FAIL() << "the run hung: " << e.what();
    } catch (const std::runtime_error&) {
        // the target's failure, as expected
    }
    const auto took = std::chrono::steady_clock::now() - began;
    EXPECT_EQ(seen.hung_reads, 1) << "the next page was being read ahead when the page failed";
    EXPECT_LT(took, 8s) << "the run waited for the hung read ahead";
    EXPECT_EQ(count_log("sent"), 0);
}

/// What a page's settle sees of the run while it commits (store thread side).
struct settle_watch {
    const std::atomic<int>* reads_begun = nullptr;
    int settles = 0;     ///< Cursor updates seen: the settles of pages 2, 3, ...
    int overlapped = 0;  ///< Settles during which the page after next began to be read.
    int waited_out = 0;  ///< Settles that waited a whole second for that read.
};

/// test_hold_settle(): called by a trigger on each cursor update, that is in the settle
/// commit of page N ≥ 2. For the first four, it holds the store thread until the read of
/// page N + 2 begins (at most a second): a run that settles page N while it maps page N + 1
/// begins that read at once; a run that waits for each settle never does.
void hold_settle(sqlite3_context* c, int /*argc*/, sqlite3_value** /*argv*/) {
    auto* w = static_cast<settle_watch*>(sqlite3_user_data(c));
    const int page = ++w->settles + 1;
    if (w->settles <= 4) {
        const auto until = std::chrono::steady_clock::now() + 1s;
        while (w->reads_begun->load() < page + 2 && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(1ms);
        }
        ++(w->reads_begun->load() >= page + 2 ? w->overlapped : w->waited_out);
    }
    sqlite3_result_null(c);
}

// A page's settle commit runs while the next page is mapped and decided: the store thread is
// held in each settle until the page after next begins to be read, which happens only when
// the run went on to the next page without waiting for the settle. Every case still arrives
// once and the log is whole.
TEST_F(flow_runner_test, a_page_settles_while_the_next_one_is_mapped) {
    start(80, 10);
    clock.advance(5s);
    const auto expected = eligible_ids();
    ASSERT_GT(expected.size(), 10u);
    watching_adapter::events seen;
    watching_adapter watched(*source, seen);
    rebind([&](flow_binding& bnd) { bnd.source = &watched; });
    settle_watch w;
    w.reads_begun = &seen.reads_begun;
    const auto rc = run(st->run([&w](store::store& s) {
        const int made = sqlite3_create_function(
            s.database().handle(),
            "test_hold_settle",
            0,
            SQLITE_UTF8,
            &w,
            hold_settle,
            nullptr,
            nullptr
        );
        return made != SQLITE_OK ? made
                                 : sqlite3_exec(
                                       s.database().handle(),
                                       "CREATE TEMP TRIGGER hold_settle AFTER UPDATE ON "
                                       "main.cursors BEGIN SELECT test_hold_settle(); END",
                                       nullptr,
                                       nullptr,
                                       nullptr
                                   );
    }));
    ASSERT_EQ(rc, SQLITE_OK);
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    ASSERT_GE(report.counts.pages, 8);
    EXPECT_EQ(w.settles, report.counts.pages - 1) << "each page after the first moved the cursor";
    EXPECT_EQ(w.overlapped, 4) << "a page's settle held back the reading of the pages after it";
    EXPECT_EQ(w.waited_out, 0);
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()));
    EXPECT_TRUE(verify().ok);
}

// A page's settle commit skips its fsync: the next page's intent commit syncs it before any
// of that page's requests leaves, and the run's end syncs the last. So a run makes about one
// fsync a page instead of two, no push ever leaves while a commit is not durable, and the run
// ends with everything durable.
TEST_F(flow_runner_test, a_settle_is_synced_by_the_next_intent_and_no_push_precedes_its_sync) {
    wal_watch.emplace();
    start(80, 10);
    clock.advance(5s);
    const auto expected = eligible_ids();
    ASSERT_GT(expected.size(), 10u);
    durability_watching_target watched(*target, *wal_watch);
    rebind([&](flow_binding& bnd) { bnd.target = &watched; });
    const auto syncs_before = wal_watch->syncs();
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    ASSERT_GE(report.counts.pages, 8);
    EXPECT_EQ(watched.pushes(), static_cast<int>(expected.size()));
    EXPECT_EQ(watched.unsynced_at_push(), 0) << "a push left while a commit was not durable";
    EXPECT_FALSE(wal_watch->unsynced()) << "the run ended with a commit not durable";
    // One a page for its intents (a page without a send syncs nothing), one at the end.
    const auto syncs = wal_watch->syncs() - syncs_before;
    EXPECT_LE(syncs, report.counts.pages + 1) << "settles synced on their own";
    EXPECT_GE(syncs, 1);
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()));
    EXPECT_TRUE(verify().ok);
    runner.reset();
    st.reset();  // closed while the watch lives
}

// A settle commit that fails (the store refuses the second page's cursor move) stops the run
// before anything of the page after it reaches the store or the target, as a crash at that
// point would; the next run finds the second page's sends in flight and settles them without
// sending any case twice.
TEST_F(flow_runner_test, a_settle_that_fails_stops_the_run_before_the_next_page_is_sent) {
    start(80, 10);
    clock.advance(5s);
    const auto expected = eligible_ids();
    ASSERT_GT(expected.size(), 10u);
    const auto watched = watch_both();
    const watching_adapter::events& seen = watched->seen;
    const auto refuse = [this](bool on) {
        return run(st->run([on](store::store& s) {
            return s.database().exec(
                on ? "CREATE TEMP TRIGGER refuse_settle BEFORE UPDATE ON main.cursors BEGIN"
                     " SELECT RAISE(ABORT, 'test: the settle is refused'); END"
                   : "DROP TRIGGER temp.refuse_settle"
            );
        }));
    };
    ASSERT_TRUE(refuse(true));
    auto report = run_flow();
    ASSERT_TRUE(report.error) << "the refused settle was not reported";
    EXPECT_EQ(report.error->rfind("store: ", 0), 0u) << *report.error;
    EXPECT_FALSE(report.caught_up);
    ASSERT_FALSE(seen.pushes.empty());
    std::int64_t sent_first = 0;
    for (const auto& [page, pulls] : seen.pushes) {
        EXPECT_LE(page, 2) << "a case of page " << page << " was sent after page 2's settle failed";
        sent_first += 1;
    }
    const auto cursor =
        run(st->run([](store::store& s) { return s.get_cursor("agency-handover"); }));
    ASSERT_TRUE(cursor && *cursor);
    EXPECT_EQ(count_log("sent"), [&] {
        std::int64_t first_page = 0;
        for (const auto& [page, pulls] : seen.pushes) {
            first_page += page == 1 ? 1 : 0;
        }
        return first_page;
    }()) << "only the first page's sends were settled";

    ASSERT_TRUE(refuse(false));
    auto again = run_flow();
    ASSERT_FALSE(again.error) << *again.error;
    EXPECT_TRUE(again.caught_up);
    EXPECT_LT(sent_first, static_cast<std::int64_t>(expected.size()))
        << "the pages after the second held no case to send: the test shows nothing";
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()))
        << "a case was logged as sent twice, or not at all";
    EXPECT_TRUE(verify().ok);
}

TEST_F(flow_runner_test, timestamp_ties_across_page_boundaries_lose_nothing) {
    start(90, 7);
    const auto ids = from->case_ids();
    // Sixty cases share one second: every page boundary falls inside the tie.
    for (std::size_t i = 0; i < 60; ++i) {
        from->set_last_updated(ids[i], "2026-03-10T08:30:00.000Z");
    }
    clock.advance(5s);
    const auto expected = eligible_ids();
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.fetched, 90);
    EXPECT_EQ(to->case_count(), expected.size());
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(expected.size()));
}

TEST_F(flow_runner_test, an_attempt_left_in_flight_by_a_crash_is_resent_idempotently) {
    start(20);
    clock.advance(5s);
    const auto expected = eligible_ids();
    // A crash after the intent was committed and the request sent, before the outcome.
    const std::string id = *expected.begin();
    auto source_key = std::string("agency-handover/cpims-a/") + id;
    external_record pre;
    pre.stream = "cases";
    pre.source_key = source_key;
    auto text = from->case_json(id);
    pre.body = std::move(*json::parse(*text));
    pre.body.RemoveMember("id");
    ASSERT_TRUE(run(target->push(std::move(pre))));
    auto marked = run(st->run([&](store::store& s) {
        store::page_commit p;
        store::delivery d{
            "agency-handover",
            {"cpims-a", *store::token::make(id)},
            store::delivery_state::in_flight};
        d.attempts = 1;
        p.deliveries.push_back(d);
        return s.commit_page(p);
    }));
    ASSERT_TRUE(marked);
    ASSERT_EQ(to->case_count(), 1u);
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(to->case_count(), expected.size()) << "the create answered 409 and counted as done";
    auto d = *run(st->run([&](store::store& s) {
        return s.get_delivery("agency-handover", {"cpims-a", *store::token::make(id)});
    }));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->state, store::delivery_state::delivered);
    EXPECT_EQ(d->attempts, 2);
}

// A link can be lost: a retention purge, a restore from a backup, a crash between a create
// and the commit of its link. The record is then created again; the target answers 409 for
// the deterministic id, and the change must still reach it.
TEST_F(flow_runner_test, a_change_after_a_purge_of_the_link_reaches_the_target) {
    start(30);
    clock.advance(5s);
    ASSERT_FALSE(run_flow().error);
    const auto before = to->case_count();
    const std::string id = first_with(true);
    const store::record_id source_record{"cpims-a", *store::token::make(id)};
    auto purged = run(st->run([&](store::store& s) -> result<store::store::purge_counts> {
        if (auto closed = s.mark_closed(source_record, clock.now() - 1s); !closed) {
            return closed.error();
        }
        return s.purge(0s, "retention-test");
    }));
    ASSERT_TRUE(purged) << purged.error().message();
    ASSERT_GE(purged->links, 1);  // to the target, and to identifiers the case carries
    ASSERT_EQ(purged->deliveries, 1);

    patch_source(id, R"({"name_first": "Changed after purge", "risk_level": "high"})");
    const auto sent_before = count_log("sent");
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.sent, 1);
    EXPECT_EQ(report.counts.dead, 0);
    EXPECT_EQ(count_log("sent"), sent_before + 1);
    EXPECT_EQ(to->case_count(), before) << "created twice";
    expect_target_holds_source(id);
    auto link = run(st->run([&](store::store& s) { return s.linked(source_record, "cpims-b"); }));
    ASSERT_TRUE(link && *link) << "the link is made again";
    EXPECT_EQ((*link)->id.str(), target_id_of(id));
}

TEST_F(flow_runner_test, a_change_after_a_restore_from_an_older_backup_reaches_the_target) {
    start(30);
    clock.advance(5s);
    const fs::path backup = dir / "backup.db";
    auto saved = run(st->run([&](store::store& s) {
        return s.database().exec("VACUUM INTO '" + backup.string() + "'");
    }));
    ASSERT_TRUE(saved) << saved.error().message();
    ASSERT_FALSE(run_flow().error);
    const auto before = to->case_count();
    const std::string id = first_with(true);
    patch_source(id, R"({"name_first": "Changed after restore", "name_nickname": "Restored"})");

    runner.reset();
    st.reset();
    for (const char* suffix : {"-wal", "-shm"}) {
        fs::remove(dir / (std::string("store.db") + suffix));
    }
    fs::copy_file(backup, dir / "store.db", fs::copy_options::overwrite_existing);
    open_store_and_runner();

    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.dead, 0);
    EXPECT_EQ(report.counts.sent, static_cast<std::int64_t>(before));
    EXPECT_EQ(to->case_count(), before) << "created twice";
    EXPECT_EQ(to->repeated_creates(), before) << "each create found the case the target held";
    expect_target_holds_source(id);
}

TEST_F(flow_runner_test, a_change_after_a_crash_between_create_and_link_reaches_the_target) {
    start(20);
    clock.advance(5s);
    const std::string id = first_with(true);
    // The create reached the target; the crash came before the link and outcome were
    // committed: only the intent (in flight) is in the store.
    external_record pre;
    pre.stream = "cases";
    pre.source_key = "agency-handover/cpims-a/" + id;
    pre.body = source_case(id);
    pre.body.RemoveMember("id");
    ASSERT_TRUE(run(target->push(std::move(pre))));
    auto marked = run(st->run([&](store::store& s) {
        store::page_commit p;
        store::delivery d{
            "agency-handover",
            {"cpims-a", *store::token::make(id)},
            store::delivery_state::in_flight};
        d.attempts = 1;
        p.deliveries.push_back(d);
        return s.commit_page(p);
    }));
    ASSERT_TRUE(marked);
    // Changed at the source while the daemon was down.
    patch_source(id, R"({"name_first": "Changed after crash", "risk_level": "low"})");

    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.dead, 0);
    EXPECT_EQ(to->case_count(), eligible_ids().size()) << "created twice";
    expect_target_holds_source(id);
}

// `attempt` counts the attempts at one source version: a retry of the same version adds up,
// a changed record starts again at 1.
TEST_F(flow_runner_test, attempts_are_counted_per_source_version) {
    flow_binding tweak;
    tweak.concurrency = 1;
    start(20, 1000, std::move(tweak));
    clock.advance(5s);
    ASSERT_FALSE(run_flow().error);
    const std::string id = first_with(true);
    EXPECT_EQ(logged_attempt(id, "sent"), 1);

    // Version 2: the first try fails transiently, the second gets through.
    patch_source(id, R"({"risk_level": "low"})");
    to->server().inject(sandbox::fault::error(502));
    auto second = run_flow();
    ASSERT_FALSE(second.error) << *second.error;
    ASSERT_EQ(second.counts.sent, 1);
    EXPECT_EQ(logged_attempt(id, "sent"), 2);
    EXPECT_EQ(delivery_attempts(id), 2);

    // Version 3, sent at the first try: attempt 1, not 1 + the earlier versions' attempts.
    patch_source(id, R"({"risk_level": "high"})");
    auto third = run_flow();
    ASSERT_FALSE(third.error) << *third.error;
    ASSERT_EQ(third.counts.sent, 1);
    EXPECT_EQ(logged_attempt(id, "sent"), 1);
    EXPECT_EQ(delivery_attempts(id), 1);
    ASSERT_EQ(third.records.size(), 1u);
    EXPECT_EQ(third.records[0].attempts, 1);

    // Version 4 is refused (a dead letter at attempt 1); its retry is the same version's
    // second attempt.
    patch_source(id, R"({"risk_level": "medium"})");
    to->server().inject(sandbox::fault::error(422));
    auto fourth = run_flow();
    ASSERT_FALSE(fourth.error) << *fourth.error;
    ASSERT_EQ(fourth.counts.dead, 1);
    EXPECT_EQ(logged_attempt(id, "failed"), 1);
    auto listed =
        *run(st->run([](store::store& s) { return s.list_dead_letters(std::nullopt, 10); }));
    ASSERT_EQ(listed.size(), 1u);
    auto retried = run(runner->retry_dead_letter(listed[0].first.id));
    ASSERT_TRUE(retried) << retried.error().message();
    EXPECT_EQ(retried->outcome, "sent");
    EXPECT_EQ(logged_attempt(id, "sent"), 2);
    EXPECT_EQ(delivery_attempts(id), 2);
}

// Closure is read from the canonical record by the catalogue's rule and recorded with the
// page: a closed case's links and deliveries count towards retention from its closure date, a
// reopened case's no longer do, and a purged case that changes is updated, not created again.
TEST_F(flow_runner_test, closure_and_reopening_are_recorded_and_a_purged_case_comes_back_once) {
    start(30);
    catalogue_closure();
    clock.advance(5s);
    ASSERT_FALSE(run_flow().error);
    const auto before = to->case_count();
    std::string id;  // an open case that is shared
    for (const auto& c : from->case_ids()) {
        const auto doc = source_case(c);
        if (eligible(doc) && doc.HasMember("status") && doc["status"] == "open") {
            id = c;
            break;
        }
    }
    ASSERT_FALSE(id.empty());
    auto due_before = run(st->run([](store::store& s) { return s.awaiting_purge(5 * 24h); }));
    ASSERT_TRUE(due_before);
    const auto closed_at = [&]() {
        return run(st->run([&](store::store& s) -> std::pair<std::string, std::string> {
            auto q = s.database().prepare(
                "SELECT (SELECT coalesce(max(closed_at), '') FROM deliveries WHERE source_id = ?1),"
                " (SELECT coalesce(min(coalesce(closed_at, '')), 'none') FROM links"
                " WHERE source_id = ?1)"
            );
            q->bind(1, std::string_view(id));
            EXPECT_TRUE(*q->step());
            return {q->column_text(0), q->column_text(1)};
        }));
    };
    EXPECT_EQ(closed_at(), std::make_pair(std::string(), std::string()));

    patch_source(id, R"({"status": "closed", "date_closure": "2026-03-01"})");
    ASSERT_FALSE(run_flow().error);
    auto [delivery_closed, link_closed] = closed_at();
    EXPECT_TRUE(delivery_closed.starts_with("2026-03-01T00:00:00")) << delivery_closed;
    EXPECT_TRUE(link_closed.starts_with("2026-03-01T00:00:00")) << link_closed;
    auto backlog = run(st->run([](store::store& s) { return s.awaiting_purge(5 * 24h); }));
    ASSERT_TRUE(backlog);
    EXPECT_EQ(backlog->closed_deliveries, due_before->closed_deliveries + 1);
    // Closed 9 days before the clock's today: due under a 5-day retention.
    EXPECT_EQ(backlog->due_deliveries, due_before->due_deliveries + 1);
    EXPECT_GT(backlog->closed_links, due_before->closed_links);

    patch_source(id, R"({"status": "open"})");
    ASSERT_FALSE(run_flow().error);
    EXPECT_EQ(closed_at(), std::make_pair(std::string(), std::string())) << "reopened";

    patch_source(id, R"({"status": "closed", "date_closure": "2026-03-02"})");
    ASSERT_FALSE(run_flow().error);
    auto purged = run(st->run([](store::store& s) { return s.purge(5 * 24h, "retention-test"); }));
    ASSERT_TRUE(purged);
    EXPECT_EQ(purged->deliveries, due_before->due_deliveries + 1);
    EXPECT_GE(purged->links, due_before->due_links + 1);
    EXPECT_EQ(closed_at(), std::make_pair(std::string(), std::string("none"))) << "purged";

    // Reopened and changed after the purge: found at the target and updated.
    patch_source(id, R"({"status": "open", "name_first": "Back after purge"})");
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.sent, 1);
    EXPECT_EQ(to->case_count(), before) << "created twice";
    expect_target_holds_source(id);
    EXPECT_EQ(closed_at(), std::make_pair(std::string(), std::string()));
}

TEST_F(flow_runner_test, sentinel_values_never_reach_the_log_the_store_or_dead_letters) {
    flow_binding tweak;
    tweak.concurrency = 1;
    start(40, 1000, std::move(tweak));
    // Sentinels in every kind of field of every case: names, nickname, address, phone,
    // identifiers, free text, an unmapped code (so some land in dead letters).
    std::vector<std::string> sentinels;
    std::size_t n = 0;
    for (const auto& id : from->case_ids()) {
        const auto tag = "SENTINEL" + std::to_string(n++) + "X";
        sentinels.push_back(tag);
        std::string body = R"({"name_first": "F_)" + tag + R"(", "name_last": "L_)" + tag +
                           R"(", "name_nickname": "N_)" + tag + R"(", "address_current": "A_)" +
                           tag + R"(", "telephone_current": "T_)" + tag +
                           R"(", "unhcr_individual_no": "U_)" + tag +
                           R"(", "disclosure_deny_details": "D_)" + tag + R"("})";
        if (n % 7 == 0) {
            body = R"({"sex": "S_)" + tag + R"(", "name_first": "F_)" + tag + R"("})";
        }
        patch_source(id, body);
    }
    to->server().set_rules({
        {sandbox::fault::error(500), 5},
        {sandbox::fault::lost(), 7},
    });
    to->server().inject(sandbox::fault::error(422), 2);
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    ASSERT_GT(report.counts.sent, 0);
    ASSERT_GT(report.counts.dead, 0);
    runner.reset();
    st.reset();  // closes the store: its file and WAL are complete on disk

    std::string bytes;
    for (const auto& f : fs::directory_iterator(dir.path())) {
        if (f.path().filename().string().rfind("store.db", 0) == 0) {
            std::ifstream in(f.path(), std::ios::binary);
            std::stringstream s;
            s << in.rdbuf();
            bytes += s.str();
        }
    }
    // Positive controls: the bytes read are the store's, and the log did record the run.
    ASSERT_NE(bytes.find("agency-handover"), std::string::npos);
    const std::string logs = sink.text();
    ASSERT_NE(logs.find("flow.run_finished"), std::string::npos);
    for (const auto& tag : sentinels) {
        ASSERT_EQ(bytes.find(tag), std::string::npos) << tag << " is in the store file";
        ASSERT_EQ(logs.find(tag), std::string::npos) << tag << " is in a log line";
        for (const auto& r : report.records) {
            ASSERT_EQ(r.reason.find(tag), std::string::npos);
            for (const auto& f : r.fields_sent) {
                ASSERT_EQ(f.find(tag), std::string::npos);
            }
        }
    }
}

}  // namespace
}  // namespace casebridge::sync
