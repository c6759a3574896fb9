// The drills: the daemon killed at random moments, sandboxes failing a fifth of their
// requests, SIGTERM in the middle of a run, and power cuts that throw away every write not
// yet synced. Each ends with every eligible case in the target exactly once, nothing
// ineligible there, and a transfer log that verifies. Figures are printed.
// tests/drills/run-drill.sh runs them longer (more cases, more kills).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "json/json.hpp"
#include "primero/primero_adapter.hpp"
#include "sandbox/ping/ping_sandbox.hpp"
#include "store/store.hpp"
#include "support/run_cli.hpp"
#include "sync/sandbox_pair.hpp"

namespace casebridge {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test::source_dir;

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
    // A drill whose kills all came before or after the work proves nothing.
    EXPECT_GT(killed_mid_run, 0u) << "no kill landed while cases were still being sent";
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

// ---- power-loss drill ----------------------------------------------------------------------
//
// SIGKILL alone keeps every row SQLite committed, synced or not: the kernel still holds the
// unsynced pages. Here the daemon runs with a VFS (tests/drills/powerloss_vfs.cpp, preloaded)
// that holds unsynced writes in the process, so a SIGKILL drops them as a power cut would.
// The target is the PING sandbox, whose referrals carry no idempotency key: a delivery that
// the store forgot would be sent again and show up as a second referral with the same
// correlation key.

class powerloss_drill : public ::testing::Test {
protected:
    test::temp_dir dir;
    std::unique_ptr<sandbox::primero_sandbox> cpims;

    std::size_t cases() const { return env_or("CASEBRIDGE_DRILL_CASES", 3000); }

    void SetUp() override {
        test::use_builtin_adapters();  // for the `flow run` calls below
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "powerloss-drill-pseudonym-key-0123456789abcd", 1);
        sandbox::primero_settings ps;
        ps.cases = cases();
        ps.seed = 31;
        cpims = std::make_unique<sandbox::primero_sandbox>(ps, system_clock_source::instance());
        dir.write("secrets/signing.pem", store::signer::generate().private_key_pem());
        dir.write("secrets/identifier.key", std::string(40, 'k'));
        dir.write("secrets/admin-token", "powerloss-drill-admin-token-0123456789\n");
        dir.write("secrets/cpims-password", cpims->password() + "\n");
    }

    /// `slow`: every request takes 10 ms more, so a run lasts long enough to be cut.
    static std::unique_ptr<sandbox::ping_sandbox> make_ping(bool slow) {
        sandbox::ping_settings gs;
        gs.seed = 32;
        if (slow) {
            gs.faults = {{sandbox::fault::delayed(10ms), 1}};
        }
        return std::make_unique<sandbox::ping_sandbox>(gs, system_clock_source::instance());
    }

    /// A configuration with one flow, CPIMS+ referrals to `ping`, and its store in `state`.
    fs::path write_config(const std::string& name, sandbox::ping_sandbox& ping) {
        dir.write("secrets/" + name + "-ping-password", ping.password() + "\n");
        dir.write("secrets/" + name + "-ping-key", ping.subscription_key() + "\n");
        fs::create_directories(dir / name);
        const auto src = [](const char* rel) { return (source_dir / rel).string(); };
        std::ostringstream o;
        o << R"({"config_version": 1, "log_level": "info", "catalogue": ")"
          << src("mappings/canonical-case.json") << R"(", "policies": ")"
          << src("config/policies.json") << R"(",
  "store": {"path": ")"
          << name << R"(/casebridge.db", "signing_key_file": "secrets/signing.pem",
            "identifier_key_file": "secrets/identifier.key"},
  "admin": {"listen": "127.0.0.1:0", "token_file": "secrets/admin-token"},
  "systems": {
    "cpims": {"kind": "primero", "settings": {"base_url": ")"
          << cpims->base_url() << R"(", "auth": {"mode": "basic", "user_name": ")"
          << cpims->user_name() << R"(", "password_file": "secrets/cpims-password"},
              "per_page": 50}, "tls": {"allow_plain_http_on_loopback": true}},
    "progres": {"kind": "progres_ping", "settings": )"
          << ping.adapter_settings_json(
                 "secrets/" + name + "-ping-password", "secrets/" + name + "-ping-key", false
             )
          << R"(, "tls": {"allow_plain_http_on_loopback": true}}
  },
  "flows": [
    {"id": "referrals", "from": {"system": "cpims", "stream": "cases"},
     "to": {"system": "progres", "stream": "referrals"}, "purpose": "referral",
     "profile": "referral-unhcr",
     "mappings": {"in": ")"
          << src("mappings/primero.case.json") << R"(", "out": ")"
          << src("mappings/progres_ping.referral_out.json") << R"("},
     "one_record_per_row_of": "/services_section", "schedule": {"every_seconds": 10}}
  ]
})";
        return dir.write(name + ".json", o.str());
    }

    /// Referrals the sandbox holds, by correlation key.
    static std::map<std::string, std::size_t> by_key(const sandbox::ping_sandbox& ping) {
        std::map<std::string, std::size_t> out;
        const auto& field = ping.ids().correlation_field;
        for (const auto& id : ping.referral_ids()) {
            auto fields = json::parse(ping.referral_fields(id).value_or("{}"));
            std::string key = "(none)";
            if (fields && fields->IsObject() && fields->HasMember(field.c_str()) &&
                (*fields)[field.c_str()].IsString()) {
                key = (*fields)[field.c_str()].GetString();
            }
            ++out[key];
        }
        return out;
    }

    static std::size_t repeats(const std::map<std::string, std::size_t>& keys) {
        std::size_t n = 0;
        for (const auto& [key, count] : keys) {
            n += count - 1;
        }
        return n;
    }

    std::int64_t count_rows(const std::string& name, const std::string& sql) {
        auto s =
            store::store::open(dir / name / "casebridge.db", {}, system_clock_source::instance());
        if (!s) {
            return -1;
        }
        auto q = s->database().prepare(sql);
        return q && q->step() ? q->column_int(0) : -1;
    }

    /// Starts the daemon under the power-loss VFS; waits until it runs.
    test::child start_cut_daemon(
        const fs::path& config, const std::string& mode, const fs::path& stats
    ) {
        const char* asan = std::getenv("ASAN_OPTIONS");
        auto d = test::child::start(
            {"run", "--config", config.string()},
            {"LD_PRELOAD=" CASEBRIDGE_POWERLOSS_VFS,
             "CASEBRIDGE_POWERLOSS_MODE=" + mode,
             "CASEBRIDGE_POWERLOSS_STATS=" + stats.string(),
             "CASEBRIDGE_POWERLOSS_SYNC_DELAY_MS=20",
             // The preloaded library comes before the sanitizer runtime; that is intended.
             std::string("ASAN_OPTIONS=") + (asan != nullptr ? asan : "") +
                 (asan != nullptr && *asan != '\0' ? ":" : "") + "verify_asan_link_order=0"}
        );
        (void)d.line();  // admin: URL
        (void)d.line();  // running
        return d;
    }

    /// Unsynced 4 KiB blocks the VFS held when the process was cut (-1: no stats).
    static long long dropped_blocks(const fs::path& stats) {
        std::ifstream in(stats);
        std::string line;
        std::getline(in, line);
        const auto at = line.find("unsynced_blocks=");
        return at == std::string::npos ? -1 : std::stoll(line.substr(at + 16));
    }
};

TEST_F(powerloss_drill, cuts_that_drop_unsynced_writes_repeat_and_lose_no_referral) {
    const std::size_t cuts = env_or("CASEBRIDGE_DRILL_KILLS", 15);
    const auto seed =
        static_cast<unsigned>(env_or("CASEBRIDGE_DRILL_SEED", std::random_device{}()));
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> wait_ms(50, 600);
    const auto started = std::chrono::steady_clock::now();

    // What an uninterrupted run sends, from the same source, to a second PING sandbox.
    auto reference_ping = make_ping(false);
    const auto reference_config = write_config("reference", *reference_ping);
    const auto ref =
        test::run_cli({"flow", "run", "referrals", "--config", reference_config.string()});
    ASSERT_TRUE(ref.code == 0 || ref.code == 3) << ref.out << ref.err;
    const auto expected = by_key(*reference_ping);
    ASSERT_GT(expected.size(), 50u) << "too few referrals for a drill";
    ASSERT_EQ(repeats(expected), 0u);

    auto ping = make_ping(true);
    const auto config = write_config("cut", *ping);
    std::size_t cuts_mid_run = 0;
    std::size_t cuts_dropping = 0;
    long long blocks_dropped = 0;
    for (std::size_t k = 0; k < cuts; ++k) {
        const auto stats = dir / ("cut-" + std::to_string(k) + ".stats");
        // Alternate: unsynced writes all lost, or some of them already on disk.
        auto d = start_cut_daemon(config, k % 2 == 0 ? "drop" : "leak", stats);
        std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms(rng)));
        if (ping->referral_count() < expected.size()) {
            ++cuts_mid_run;
        }
        std::string logs;
        const int status = d.stop(SIGKILL, &logs);
        ASSERT_TRUE(WIFSIGNALED(status)) << logs.substr(0, 4000);
        const auto dropped = dropped_blocks(stats);
        ASSERT_GE(dropped, 0) << "the power-loss VFS was not loaded: " << logs.substr(0, 2000);
        blocks_dropped += dropped;
        cuts_dropping += dropped > 0 ? 1 : 0;
    }
    // The restart: in-flight deliveries are reconciled by lookup, the rest follows.
    const auto r = test::run_cli({"flow", "run", "referrals", "--config", config.string()});
    EXPECT_TRUE(r.code == 0 || r.code == 3) << r.out << r.err;

    const auto got = by_key(*ping);
    std::size_t lost = 0;
    for (const auto& [key, n] : expected) {
        lost += got.count(key) == 0 ? 1 : 0;
    }
    std::size_t unexpected = 0;
    for (const auto& [key, n] : got) {
        unexpected += expected.count(key) == 0 ? 1 : 0;
    }
    const auto secs =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
            .count();
    std::cout << "power-loss drill: seed " << seed << ", cases " << cases() << ", referrals "
              << expected.size() << ", cuts " << cuts << " (" << cuts_mid_run << " during a run, "
              << cuts_dropping << " dropping unsynced writes: " << blocks_dropped
              << " blocks of 4 KiB), received " << ping->referral_count() << ", repeated "
              << repeats(got) << ", lost " << lost << ", time " << secs << " s\n";
    EXPECT_EQ(repeats(got), 0u) << "a referral was sent twice";
    EXPECT_EQ(lost, 0u);
    EXPECT_EQ(unexpected, 0u);
    EXPECT_GT(cuts_mid_run, 0u) << "no power cut landed while referrals were still being sent";
    // Every referral the target holds is logged as sent, once.
    EXPECT_EQ(
        count_rows("cut", "SELECT count(*) FROM transfer_log WHERE outcome = 'sent'"),
        static_cast<std::int64_t>(ping->referral_count())
    );
    EXPECT_EQ(
        count_rows("cut", "SELECT count(*) FROM dead_letters"),
        count_rows("reference", "SELECT count(*) FROM dead_letters")
    );
    const auto v =
        test::run_cli({"log", "verify", "--store", (dir / "cut/casebridge.db").string()});
    EXPECT_EQ(v.code, 0) << v.out << v.err;
}

// The negative control: a disk that acknowledges flushes it never made loses the store's
// record of deliveries, and the drill sees it: PING holds referrals of which the store has no
// trace (on an honest disk every send follows a durable delivery row). The restart finds them
// by their correlation keys (a create to PING always looks first) instead of sending them
// again, so even a lying disk makes no second referral.
TEST_F(powerloss_drill, a_disk_that_lies_about_flushes_is_caught) {
    auto ping = make_ping(false);
    const auto config = write_config("lying", *ping);
    auto d = start_cut_daemon(config, "lie", dir / "lying.stats");
    for (int i = 0; i < 3000 && ping->referral_count() < 20; ++i) {
        std::this_thread::sleep_for(10ms);
    }
    const auto before = ping->referral_count();
    std::string logs;
    const int status = d.stop(SIGKILL, &logs);
    ASSERT_GE(before, 20u) << "the daemon sent nothing: " << logs.substr(0, 4000);
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_GT(dropped_blocks(dir / "lying.stats"), 0);
    const auto held = static_cast<std::int64_t>(ping->referral_count());
    const auto traced = count_rows(
        "lying", "SELECT count(*) FROM deliveries WHERE state IN ('delivered', 'in_flight')"
    );
    EXPECT_LT(traced, held) << "the lie left every referral traced in the store";
    const auto r = test::run_cli({"flow", "run", "referrals", "--config", config.string()});
    EXPECT_TRUE(r.code == 0 || r.code == 3) << r.out << r.err;
    EXPECT_EQ(repeats(by_key(*ping)), 0u) << "a referral the store forgot was sent again";
}

}  // namespace
}  // namespace casebridge
