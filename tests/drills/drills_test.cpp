// The drills: the daemon killed at random moments, sandboxes failing a fifth of their
// requests, SIGTERM in the middle of a run. Each ends with every eligible case in the target
// exactly once, nothing ineligible there, and a transfer log that verifies. Figures are
// printed. tests/drills/run-drill.sh runs them longer (more cases, more kills).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>

#include "primero/primero_adapter.hpp"
#include "store/store.hpp"
#include "support/run_cli.hpp"
#include "sync/sandbox_pair.hpp"

namespace casebridge {
namespace {

using namespace std::chrono_literals;

std::size_t env_or(const char* name, std::size_t fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? static_cast<std::size_t>(std::stoul(v)) : fallback;
}

/// What the target holds, against what it should hold.
struct tally {
    std::size_t expected = 0;
    std::size_t received = 0;
    std::size_t unexpected = 0;  ///< In the target but not eligible (or not ours).
    std::size_t missing = 0;
    std::int64_t sent_entries = 0;
};

class drill : public test::sandbox_pair {
protected:
    std::size_t cases() const override { return env_or("CASEBRIDGE_DRILL_CASES", 5000); }

    tally count() {
        tally t;
        std::set<std::string> want;
        for (const auto& id : eligible_ids()) {
            want.insert(primero::primero_adapter::client_id_for("handover/cpims-a/" + id));
        }
        t.expected = want.size();
        std::set<std::string> got;
        for (const auto& id : to->case_ids()) {
            got.insert(id);
            if (want.count(id) == 0) {
                ++t.unexpected;
            }
        }
        t.received = to->case_count();
        for (const auto& id : want) {
            if (got.count(id) == 0) {
                ++t.missing;
            }
        }
        auto s =
            store::store::open(dir / "state/casebridge.db", {}, system_clock_source::instance());
        if (s) {
            auto q =
                s->database().prepare("SELECT count(*) FROM transfer_log WHERE outcome = 'sent'");
            if (q && q->step()) {
                t.sent_entries = q->column_int(0);
            }
        }
        return t;
    }

    /// Runs the daemon until the target holds every eligible case (or `limit` passes).
    int run_to_completion(std::chrono::seconds limit, std::string* logs) {
        auto d = test::child::start({"run", "--config", config.string()});
        (void)d.line();  // admin: URL
        (void)d.line();  // running
        const auto want = eligible_ids().size();
        const auto end = std::chrono::steady_clock::now() + limit;
        while (to->case_count() < want && std::chrono::steady_clock::now() < end) {
            std::this_thread::sleep_for(100ms);
        }
        std::this_thread::sleep_for(500ms);  // let the last page commit
        return d.stop(SIGTERM, logs);
    }

    void expect_exactly_once(const tally& t) {
        EXPECT_EQ(t.missing, 0u);
        EXPECT_EQ(t.unexpected, 0u);
        EXPECT_EQ(t.received, t.expected) << "duplicates in the target";
        EXPECT_EQ(t.sent_entries, static_cast<std::int64_t>(t.expected))
            << "each case is logged as sent exactly once";
        const auto v =
            test::run_cli({"log", "verify", "--store", (dir / "state/casebridge.db").string()});
        EXPECT_EQ(v.code, 0) << v.out << v.err;
    }
};

TEST_F(drill, crash_sigkill_at_random_moments_loses_and_duplicates_nothing) {
    const std::size_t kills = env_or("CASEBRIDGE_DRILL_KILLS", 20);
    const auto seed =
        static_cast<unsigned>(env_or("CASEBRIDGE_DRILL_SEED", std::random_device{}()));
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> wait_ms(20, 400);
    const auto started = std::chrono::steady_clock::now();
    std::size_t killed_mid_run = 0;
    for (std::size_t k = 0; k < kills; ++k) {
        auto d = test::child::start({"run", "--config", config.string()});
        (void)d.line();
        (void)d.line();
        std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
        if (to->case_count() < eligible_ids().size()) {
            ++killed_mid_run;
        }
        const int status = d.stop(SIGKILL);
        ASSERT_TRUE(WIFSIGNALED(status));
    }
    std::string logs;
    const int status = run_to_completion(std::chrono::minutes(5), &logs);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << logs.substr(0, 4000);
    const auto t = count();
    const auto secs =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
            .count();
    std::cout << "crash drill: seed " << seed << ", cases " << cases() << ", eligible "
              << t.expected << ", kills " << kills << " (" << killed_mid_run
              << " during a run), received " << t.received << ", duplicates "
              << (t.received > t.expected ? t.received - t.expected : 0) << ", lost " << t.missing
              << ", time " << secs << " s\n";
    expect_exactly_once(t);
}

class fault_drill : public drill {
protected:
    std::size_t cases() const override { return env_or("CASEBRIDGE_DRILL_CASES", 2000); }
    // About one request in five fails: 500, 429 with Retry-After, reset, truncated body, and a
    // lost response (handled, then the connection reset: an ambiguous outcome).
    std::vector<sandbox::fault_rule> target_faults() const override {
        return {
            {sandbox::fault::error(500), 10},
            {sandbox::fault::too_many_requests("1"), 25},
            {sandbox::fault::reset(), 33},
            {sandbox::fault::truncated(), 50},
            {sandbox::fault::lost(), 100},
        };
    }
};

TEST_F(fault_drill, a_fifth_of_requests_failing_loses_and_duplicates_nothing) {
    const auto started = std::chrono::steady_clock::now();
    std::string logs;
    const int status = run_to_completion(std::chrono::minutes(5), &logs);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << logs.substr(0, 4000);
    const auto t = count();
    const auto requests = to->server().request_count();
    std::cout << "fault drill: cases " << cases() << ", eligible " << t.expected
              << ", target requests " << requests << ", received " << t.received << ", duplicates "
              << (t.received > t.expected ? t.received - t.expected : 0) << ", lost " << t.missing
              << ", time "
              << std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::steady_clock::now() - started
                 )
                     .count()
              << " s\n";
    if (t.missing > 0) {
        std::cout << "daemon log (tail):\n"
                  << logs.substr(logs.size() > 6000 ? logs.size() - 6000 : 0);
    }
    expect_exactly_once(t);
    auto s = store::store::open(dir / "state/casebridge.db", {}, system_clock_source::instance());
    ASSERT_TRUE(s);
    auto dead = s->list_dead_letters(std::nullopt, 100);
    ASSERT_TRUE(dead);
    EXPECT_TRUE(dead->empty()) << dead->size() << " records dead-lettered by transient faults";
}

class shutdown_drill : public drill {
protected:
    std::size_t cases() const override { return 400; }
    std::vector<sandbox::fault_rule> target_faults() const override {
        return {{sandbox::fault::delayed(50ms), 1}};  // every request is slow
    }
};

TEST_F(shutdown_drill, sigterm_mid_run_exits_in_bound_and_the_rest_follows_once) {
    auto d = test::child::start({"run", "--config", config.string(), "--shutdown-grace", "10"});
    (void)d.line();
    (void)d.line();
    for (int i = 0; i < 1000 && to->case_count() < 20; ++i) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_GE(to->case_count(), 20u) << "the daemon sent nothing";
    const auto t0 = std::chrono::steady_clock::now();
    std::string logs;
    const int status = d.stop(SIGTERM, &logs);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << logs.substr(0, 4000);
    EXPECT_LT(took, 11s);
    const auto partial = count();
    EXPECT_LT(partial.received, partial.expected) << "the run was not interrupted";
    EXPECT_EQ(partial.unexpected, 0u);
    const auto v =
        test::run_cli({"log", "verify", "--store", (dir / "state/casebridge.db").string()});
    EXPECT_EQ(v.code, 0) << v.out << v.err;
    std::cout << "shutdown drill: stopped after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms with "
              << partial.received << " of " << partial.expected << " cases sent\n";
    // The next start carries on from the committed cursor.
    const auto r = test::run_cli({"flow", "run", "handover", "--config", config.string()});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    expect_exactly_once(count());
}

}  // namespace
}  // namespace casebridge
