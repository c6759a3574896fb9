// `casebridge flow run` and `casebridge run` as a user runs them, against two Primero sandboxes
// with a generated configuration: dry run, one run, the daemon as a child process with its
// admin API, and SIGTERM.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapter/registry.hpp"
#include "app/config.hpp"
#include "app/engine.hpp"
#include "cli/commands.hpp"
#include "core/clock.hpp"
#include "core/time.hpp"
#include "exchange/csv.hpp"
#include "json/json.hpp"
#include "net/http_client.hpp"
#include "report/schedule.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "store/crypto.hpp"
#include "store/store.hpp"
#include "support/review_file.hpp"
#include "support/run_awaitable.hpp"
#include "support/run_cli.hpp"
#include "support/temp_dir.hpp"
#include "sync/sandbox_pair.hpp"

namespace casebridge {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using daemon_test = test::sandbox_pair;

using test::call;
using test::start_daemon;

/// Waits (up to 30 s) for the daemon's first request to reach `box`; false if none came.
template <typename Sandbox>
bool first_request_reached(Sandbox& box) {
    for (int i = 0; i < 300 && box.server().request_count() == 0; ++i) {
        std::this_thread::sleep_for(100ms);
    }
    return box.server().request_count() > 0;
}

/// SIGTERM to the daemon: its exit status, how long it took to exit, and its log.
struct sigterm_result {
    int status = 0;
    std::chrono::steady_clock::duration took{};
    std::string logs;
};

sigterm_result sigterm(test::child& d) {
    sigterm_result r;
    const auto t0 = std::chrono::steady_clock::now();
    r.status = d.stop(SIGTERM, &r.logs);
    r.took = std::chrono::steady_clock::now() - t0;
    return r;
}

/// Dead letters in the stopped daemon's store; -1 when it cannot be read.
std::int64_t dead_letters_in(const fs::path& db) {
    auto s = store::store::open(db, {}, system_clock_source::instance());
    if (!s) {
        return -1;
    }
    auto q = s->database().prepare("SELECT count(*) FROM dead_letters");
    if (!q) {
        return -1;
    }
    (void)q->step();
    return q->column_int(0);
}

TEST_F(daemon_test, check_accepts_the_generated_config) {
    const auto r = test::run_cli({"check", "--config", config.string()});
    EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(daemon_test, dry_run_prints_decisions_and_writes_nothing) {
    const auto expected = eligible_ids();
    const auto r =
        test::run_cli({"flow", "run", "handover", "--config", config.string(), "--dry-run"});
    ASSERT_EQ(r.code, 0) << r.err << r.out;
    EXPECT_NE(r.out.find("would send " + std::to_string(expected.size())), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("\twould_send\tconsent\t-\t/"), std::string::npos) << r.out;
    EXPECT_EQ(to->case_count(), 0u);
    EXPECT_FALSE(fs::exists(dir / "state/casebridge.db")) << "a dry run created the store";
}

// A dry run without a store uses a scratch store in a fresh folder: owner-only, its own per
// run (a folder or link planted under the old predictable name is not used), gone afterwards.
TEST_F(daemon_test, dry_run_scratch_folders_are_private_distinct_and_removed) {
    const auto planted_target = dir / "planted";
    fs::create_directories(planted_target);
    const auto predictable =
        fs::temp_directory_path() / ("casebridge-dry-run-" + std::to_string(::getpid()));
    std::error_code ec;
    fs::remove_all(predictable, ec);
    fs::create_directory_symlink(planted_target, predictable);

    adapter_registry registry;
    register_builtin_adapters(registry);
    net::io_context ctx;
    memory_sink sink;
    const auto& clock = system_clock_source::instance();
    app::engine_options o;
    o.read_only_store = true;
    const auto dry_engine = [&] {
        return std::make_unique<app::engine>(
            app::load_config(config, &registry),
            registry,
            ctx.get_executor(),
            clock,
            logger(sink, clock),
            o
        );
    };
    auto first = dry_engine();
    auto second = dry_engine();
    const auto a = first->scratch_dir();
    const auto b = second->scratch_dir();
    ASSERT_TRUE(a && b);
    EXPECT_NE(*a, *b);
    for (const auto& p : {*a, *b}) {
        EXPECT_TRUE(fs::is_directory(fs::symlink_status(p))) << p;
        EXPECT_EQ(fs::status(p).permissions() & fs::perms::all, fs::perms::owner_all) << p;
        EXPECT_NE(p, predictable);
        EXPECT_TRUE(fs::exists(p / "store.db")) << p;
    }
    EXPECT_TRUE(fs::is_empty(planted_target)) << "the planted link was followed";
    EXPECT_FALSE(fs::exists(dir / "state/casebridge.db"));
    first.reset();
    EXPECT_FALSE(fs::exists(*a));
    EXPECT_TRUE(fs::exists(*b));
    second.reset();
    EXPECT_FALSE(fs::exists(*b));
    fs::remove(predictable, ec);
}

TEST_F(daemon_test, flow_run_sends_the_eligible_cases_then_nothing_more) {
    const auto expected = eligible_ids();
    auto r = test::run_cli({"flow", "run", "handover", "--config", config.string()});
    ASSERT_EQ(r.code, 0) << r.err << r.out;
    EXPECT_NE(r.out.find("sent " + std::to_string(expected.size())), std::string::npos) << r.out;
    EXPECT_EQ(to->case_count(), expected.size());
    r = test::run_cli({"flow", "run", "handover", "--config", config.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("sent 0,"), std::string::npos) << r.out;
    EXPECT_EQ(to->case_count(), expected.size());
    r = test::run_cli({"log", "verify", "--store", (dir / "state/casebridge.db").string()});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
}

TEST_F(daemon_test, a_second_writer_is_refused_while_the_daemon_runs_and_not_after_sigkill) {
    auto d = test::child::start({"run", "--config", config.string(), "--shutdown-grace", "20"});
    ASSERT_TRUE(d.running());
    std::string admin = d.line();
    if (admin.rfind("admin: http://127.0.0.1:", 0) != 0) {
        std::string logs;
        d.stop(SIGKILL, &logs);
        FAIL() << admin << "\n" << logs;
    }
    admin = admin.substr(7);
    ASSERT_EQ(d.line(), "running");
    const std::string store_file = (dir / "state/casebridge.db").string();
    const std::string holder = "pid " + std::to_string(d.pid()) + " (casebridge run --config ";

    // flow run: refused at once, told who holds the store and the daemon's run route.
    auto r = test::run_cli({"flow", "run", "handover", "--config", config.string()});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("in use by another writer: " + holder), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("POST " + admin + "/flows/handover/run"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    // A second daemon, a purge and a caseload execute are refused too.
    r = test::run_cli({"run", "--config", config.string()});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(
        r.err.find("A daemon already runs on this store (admin API " + admin + ")"),
        std::string::npos
    ) << r.err;
    r = test::run_cli({"store", "purge", "--store", store_file, "--retention-days", "30"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find(holder), std::string::npos) << r.err;
    const auto review = dir / "review.csv";
    r = test::run_cli(
        {"caseload-transfer",
         "plan",
         "--config",
         config.string(),
         "--flow",
         "handover",
         "--out",
         review.string()}
    );
    ASSERT_EQ(r.code, 0) << r.err;  // a plan only reads
    r = test::run_cli(
        {"caseload-transfer",
         "execute",
         "--config",
         config.string(),
         "--flow",
         "handover",
         "--review",
         review.string()}
    );
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find(holder), std::string::npos) << r.err;
    // Readers work meanwhile: a dry run and the log commands.
    r = test::run_cli({"flow", "run", "handover", "--config", config.string(), "--dry-run"});
    EXPECT_EQ(r.code, 0) << r.err;
    r = test::run_cli({"log", "export", "--store", store_file});
    EXPECT_EQ(r.code, 0) << r.err;

    // SIGKILL: the kernel releases the lock with the process; the next writer runs.
    const int status = d.stop(SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(status));
    r = test::run_cli({"flow", "run", "handover", "--config", config.string()});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err.find("another writer"), std::string::npos) << r.err;
    EXPECT_EQ(to->case_count(), eligible_ids().size());
    r = test::run_cli({"log", "verify", "--store", store_file});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
}

// A dead-letter retry against a source that hangs: the admin API keeps answering (the retry
// waits on the daemon's thread, not the admin server's), and SIGTERM during the retry ends the
// daemon within --shutdown-grace.
TEST_F(daemon_test, a_slow_retry_blocks_neither_the_admin_api_nor_shutdown) {
    to->server().inject(sandbox::fault::error(422), 1);  // the first create is refused
    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "2", d, admin));
    const auto expected = eligible_ids();
    for (int i = 0; i < 200 && to->case_count() + 1 < expected.size(); ++i) {
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_EQ(to->case_count() + 1, expected.size());
    auto pause = test::run_awaitable(call("POST", admin + "/flows/handover/pause", admin_token));
    ASSERT_TRUE(pause && pause->status == 200u);
    std::string letters;
    for (int i = 0; i < 100; ++i) {
        auto dead = test::run_awaitable(call("GET", admin + "/dead-letters", admin_token));
        ASSERT_TRUE(dead);
        letters = dead->body;
        if (letters.find("\"id\":") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    const auto at = letters.find("\"id\":");
    ASSERT_NE(at, std::string::npos) << letters;
    const std::string id = std::to_string(std::stoll(letters.substr(at + 5)));

    // The source now takes 30 s per answer: the retry's fresh read hangs.
    from->server().inject(sandbox::fault::delayed(30s), 20);
    std::thread retry([&] {
        (void
        )test::run_awaitable(call("POST", admin + "/dead-letters/" + id + "/retry", admin_token));
    });
    std::this_thread::sleep_for(500ms);
    const auto t0 = std::chrono::steady_clock::now();
    auto health = test::run_awaitable(call("GET", admin + "/healthz", ""));
    ASSERT_TRUE(health) << "the admin API did not answer during a retry";
    EXPECT_EQ(health->status, 200u);
    auto flows = test::run_awaitable(call("GET", admin + "/flows", admin_token));
    ASSERT_TRUE(flows);
    EXPECT_EQ(flows->status, 200u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);

    const auto t1 = std::chrono::steady_clock::now();
    std::string logs;
    const int status = d->stop(SIGTERM, &logs);
    const auto took = std::chrono::steady_clock::now() - t1;
    retry.join();
    EXPECT_TRUE(WIFEXITED(status)) << logs;
    EXPECT_LT(took, 10s) << "SIGTERM during a retry took "
                         << std::chrono::duration_cast<std::chrono::seconds>(took).count()
                         << " s with a 2 s grace";
}

// A target that answers every request with 429 and a 5-minute Retry-After (within the retry
// policy's limit, so it is waited for): SIGTERM ends the wait, and the daemon exits within
// its grace with nothing settled from the wait.
TEST_F(daemon_test, sigterm_during_a_five_minute_retry_after_exits_within_the_grace) {
    to->server().set_rules({{sandbox::fault::too_many_requests("300"), 1}});
    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "2", d, admin));
    ASSERT_TRUE(first_request_reached(*to)) << "the daemon never reached the target";
    std::this_thread::sleep_for(300ms);  // into the wait
    const std::size_t asked = to->server().request_count();
    const auto [status, took, logs] = sigterm(*d);
    ASSERT_TRUE(WIFEXITED(status)) << logs;
    EXPECT_EQ(WEXITSTATUS(status), 0) << logs;
    EXPECT_LT(took, 8s) << "SIGTERM during a Retry-After wait took "
                        << std::chrono::duration_cast<std::chrono::seconds>(took).count()
                        << " s with a 2 s grace";
    EXPECT_LE(to->server().request_count(), asked + 4) << "retried instead of waiting";
    EXPECT_NE(logs.find("retry"), std::string::npos) << "the daemon never waited: " << logs;
    EXPECT_EQ(to->case_count(), 0u);
    // Nothing was settled from the wait: no dead letter.
    EXPECT_EQ(dead_letters_in(dir / "state/casebridge.db"), 0)
        << "a stop is not a failure of the record";
}

// A target that holds every answer for five minutes, and a long grace: SIGTERM cancels the
// requests in flight, so the runs end at once and cleanly (none is abandoned at the grace),
// and nothing is settled from a cancelled request.
TEST_F(daemon_test, sigterm_cancels_the_requests_in_flight_instead_of_waiting_out_the_grace) {
    to->server().set_rules({{sandbox::fault::delayed(5min), 1}});
    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "60", d, admin));
    ASSERT_TRUE(first_request_reached(*to)) << "the daemon never reached the target";
    std::this_thread::sleep_for(300ms);  // the request is held by the target
    const auto [status, took, logs] = sigterm(*d);
    ASSERT_TRUE(WIFEXITED(status)) << logs;
    EXPECT_EQ(WEXITSTATUS(status), 0) << logs;
    EXPECT_LT(took, 15s) << "SIGTERM with a request in flight took "
                         << std::chrono::duration_cast<std::chrono::seconds>(took).count()
                         << " s with a 60 s grace";
    EXPECT_EQ(logs.find("daemon.shutdown_timeout"), std::string::npos)
        << "a run was abandoned at the grace instead of cancelled: " << logs;
    EXPECT_NE(logs.find("daemon.stopped"), std::string::npos) << logs;
    EXPECT_EQ(dead_letters_in(dir / "state/casebridge.db"), 0)
        << "a cancelled request is not a failure of the record";
}

// POST /flows/ID/dry-run reads the next pages and decides them as a run would, writing
// nothing: the answer lists each record's decision (ids, codes, field names), the target and
// the store are unchanged, the flow's counters too, and a second dry run answers the same.
TEST_F(daemon_test, a_dry_run_through_the_admin_api_decides_and_writes_nothing) {
    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "5", d, admin));
    const auto expected = eligible_ids();
    (void)wait_for_target(expected.size());
    ASSERT_EQ(to->case_count(), expected.size());
    auto pause = test::run_awaitable(call("POST", admin + "/flows/handover/pause", admin_token));
    ASSERT_TRUE(pause && pause->status == 200u);
    bool idle = false;  // a run in hand when the flow was paused finishes first
    for (int i = 0; i < 300 && !idle; ++i) {
        auto f = test::run_awaitable(call("GET", admin + "/flows", admin_token));
        ASSERT_TRUE(f);
        idle = f->body.find("\"running\":false") != std::string::npos;
        if (!idle) {
            std::this_thread::sleep_for(100ms);
        }
    }
    ASSERT_TRUE(idle);
    const std::string changed = *expected.begin();
    const std::string withdrawn = *std::next(expected.begin());
    ASSERT_TRUE(from->edit_case(changed, R"({"name_nickname": "Sentinel Nickname"})"));
    ASSERT_TRUE(from->edit_case(withdrawn, R"({"disclosure_other_orgs": false})"));
    const auto before = test::run_awaitable(call("GET", admin + "/flows", admin_token));
    ASSERT_TRUE(before);
    // Asked until both changes are inside the pull's window (the newest second is read on a
    // later pass); then once more, which must answer the same: the first wrote nothing.
    const auto dry = [&]() {
        auto r = test::run_awaitable(call("POST", admin + "/flows/handover/dry-run", admin_token));
        EXPECT_TRUE(r);
        return r ? *r : http_response{};
    };
    std::map<std::string, std::string> decided;
    http_response first;
    for (int i = 0; i < 60 && (decided.count(changed) == 0 || decided.count(withdrawn) == 0); ++i) {
        if (i > 0) {
            std::this_thread::sleep_for(500ms);
        }
        first = dry();
        ASSERT_EQ(first.status, 200u) << first.body;
        auto doc = json::parse(first.body);
        ASSERT_TRUE(doc && doc->IsObject()) << first.body;
        decided.clear();
        for (const auto& x : (*doc)["records"].GetArray()) {
            decided[x["source_id"].GetString()] = x["decision"].GetString();
        }
    }
    EXPECT_EQ(decided[changed], "would_send") << first.body;
    EXPECT_EQ(decided[withdrawn], "consent_withdrawn") << first.body;
    EXPECT_EQ(first.body.find("Sentinel Nickname"), std::string::npos);
    const auto second = dry();
    // The same answer, record for record. Records reach the report as their paths finish
    // (a notice and a delivery of one page), so they are compared in source-id order.
    const auto by_id = [](const std::string& body) {
        auto doc = json::parse(body);
        EXPECT_TRUE(doc && doc->IsObject()) << body;
        if (!doc || !doc->IsObject() || !doc->HasMember("records")) {
            return body;
        }
        auto& list = (*doc)["records"];
        std::vector<std::string> rows;
        for (const auto& x : list.GetArray()) {
            rows.push_back(json::to_string(x));
        }
        std::sort(rows.begin(), rows.end());
        list.SetArray();
        std::string out = json::to_string(*doc);
        for (const auto& r : rows) {
            out += "\n" + r;
        }
        return out;
    };
    EXPECT_EQ(by_id(second.body), by_id(first.body)) << "the first dry run changed something";
    const auto after = test::run_awaitable(call("GET", admin + "/flows", admin_token));
    ASSERT_TRUE(after);
    EXPECT_EQ(after->body, before->body) << "a dry run moved the flow's counters";
    EXPECT_EQ(to->case_count(), expected.size());
    auto reviews = test::run_awaitable(call("GET", admin + "/reviews", admin_token));
    ASSERT_TRUE(reviews);
    EXPECT_EQ(reviews->body.find("\"id\":"), std::string::npos) << reviews->body;
    auto unknown = test::run_awaitable(call("POST", admin + "/flows/nope/dry-run", admin_token));
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->status, 404u);
    std::string logs;
    d->stop(SIGTERM, &logs);
    EXPECT_EQ(logs.find("Sentinel Nickname"), std::string::npos);
}

// A review item is closed through the admin API with a decision and a written reason: the
// refusals name what is wrong, the item goes, and the log keeps the decision, the actor and
// the reason's digest, never its text.
TEST_F(daemon_test, a_review_item_is_closed_with_a_written_reason_and_logged) {
    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "5", d, admin));
    const auto expected = eligible_ids();
    (void)wait_for_target(expected.size());
    ASSERT_EQ(to->case_count(), expected.size());
    ASSERT_TRUE(from->edit_case(*expected.begin(), R"({"disclosure_other_orgs": false})"));
    const auto post = [&](const std::string& path, const std::string& body) {
        auto r = test::run_awaitable(call("POST", admin + path, admin_token, body));
        EXPECT_TRUE(r);
        return r ? *r : http_response{};
    };
    std::string id;
    for (int i = 0; i < 300 && id.empty(); ++i) {
        (void)post("/flows/handover/run", "");
        std::this_thread::sleep_for(200ms);
        auto list = test::run_awaitable(call("GET", admin + "/reviews", admin_token));
        ASSERT_TRUE(list);
        const auto at = list->body.find("\"id\":");
        if (at != std::string::npos) {
            id = std::to_string(std::stoll(list->body.substr(at + 5)));
        }
    }
    ASSERT_FALSE(id.empty()) << "no review item for the withdrawn consent";
    const std::string route = "/reviews/" + id + "/decide";
    const std::string reason = "Receiving agency told by phone on the day";
    for (const auto& [body, error] : {
             std::pair{std::string(), "body_must_be_a_json_object"},
             std::pair{std::string(R"([1])"), "body_must_be_a_json_object"},
             std::pair{std::string(R"({"decision":"resolved"})"), "a_written_reason_is_required"},
             std::pair{
                 std::string(R"({"decision":"resolved","reason":"  \n"})"),
                 "a_written_reason_is_required"},
             std::pair{
                 std::string(R"({"decision":"maybe","reason":"x"})"),
                 "decision_must_be_resolved_or_dismissed"},
             std::pair{
                 std::string(R"({"decision":"dismissed","reason":"x","actor":"two words"})"),
                 "actor_must_be_an_id"},
             std::pair{
                 R"({"decision":"dismissed","reason":")" + std::string(2001, 'r') + R"("})",
                 "reason_too_long"},
         }) {
        const auto r = post(route, body);
        EXPECT_EQ(r.status, 400u) << body;
        EXPECT_NE(r.body.find(error), std::string::npos) << body << " → " << r.body;
    }
    EXPECT_EQ(
        post("/reviews/999999/decide", R"({"decision":"resolved","reason":"x"})").status, 404u
    );
    const auto done = post(
        route, R"({"decision":"dismissed","reason":")" + reason + R"(","actor":"imo-officer-2"})"
    );
    ASSERT_EQ(done.status, 200u) << done.body;
    EXPECT_NE(
        done.body.find("\"reason_sha256\":\"" + store::to_hex(store::sha256(reason)) + "\""),
        std::string::npos
    ) << done.body;
    EXPECT_NE(done.body.find("\"kind\":\"consent_withdrawn\""), std::string::npos) << done.body;
    EXPECT_EQ(post(route, R"({"decision":"resolved","reason":"again"})").status, 404u);
    auto left = test::run_awaitable(call("GET", admin + "/reviews", admin_token));
    ASSERT_TRUE(left);
    EXPECT_EQ(left->body.find("\"id\":"), std::string::npos) << left->body;
    auto log =
        test::run_awaitable(call("GET", admin + "/transfers?flow=handover&limit=10000", admin_token)
        );
    ASSERT_TRUE(log);
    EXPECT_NE(log->body.find("\"outcome\":\"review_dismissed\""), std::string::npos);
    EXPECT_NE(log->body.find("\"actor\":\"imo-officer-2\""), std::string::npos);
    EXPECT_EQ(log->body.find("told by phone"), std::string::npos);
    // POST /log/verify answers as `log verify` does, with the latest checkpoint.
    auto verify = test::run_awaitable(call("POST", admin + "/log/verify", admin_token));
    ASSERT_TRUE(verify);
    EXPECT_EQ(verify->status, 200u) << verify->body;
    EXPECT_NE(verify->body.find("\"ok\":true"), std::string::npos) << verify->body;
    EXPECT_NE(verify->body.find("\"latest_checkpoint\":{"), std::string::npos) << verify->body;
    // GET /activity: transfer entries per day and outcome (counts only).
    auto activity = test::run_awaitable(call("GET", admin + "/activity?days=7", admin_token));
    ASSERT_TRUE(activity);
    ASSERT_EQ(activity->status, 200u) << activity->body;
    auto act = json::parse(activity->body);
    ASSERT_TRUE(act && act->IsObject());
    std::int64_t sent = 0;
    for (const auto& c : (*act)["counts"].GetArray()) {
        if (std::string_view(c["outcome"].GetString()) == "sent") {
            sent += c["count"].GetInt64();
        }
    }
    EXPECT_EQ(sent, static_cast<std::int64_t>(expected.size()));
    for (const char* bad : {"0", "91", "x"}) {
        auto r = test::run_awaitable(
            call("GET", admin + "/activity?days=" + std::string(bad), admin_token)
        );
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400u) << bad;
    }
    auto no_token = test::run_awaitable(call("POST", admin + "/log/verify", ""));
    ASSERT_TRUE(no_token);
    EXPECT_EQ(no_token->status, 401u);
    std::string logs;
    d->stop(SIGTERM, &logs);
    EXPECT_EQ(logs.find("told by phone"), std::string::npos);
    const auto verified =
        test::run_cli({"log", "verify", "--store", (dir / "state/casebridge.db").string()});
    EXPECT_EQ(verified.code, 0) << verified.out << verified.err;
}

// The console's hand-over, as API calls: the plan as a review file, the edited file checked
// (refused whole, by file and line, while an override has no written reason), then executed
// in the background with progress, its receipt answered and kept; nothing is sent twice.
TEST_F(daemon_test, a_caseload_is_handed_over_through_the_admin_api) {
    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "5", d, admin));
    const auto expected = eligible_ids();
    ASSERT_TRUE(wait_for_target(expected.size()));
    const auto ask =
        [&](const std::string& method, const std::string& path, const std::string& body = {}) {
            auto r = test::run_awaitable(call(method, admin + path, admin_token, body));
            EXPECT_TRUE(r) << path;
            return r ? *r : http_response{};
        };
    // The agency pauses the flow first; a plan while a run holds the flow is a 409.
    ASSERT_EQ(ask("POST", "/flows/handover/pause").status, 200u);
    http_response plan;
    for (int i = 0; i < 100; ++i) {
        plan = ask("POST", "/flows/handover/caseload/plan");
        if (plan.status != 409) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_EQ(plan.status, 200u) << plan.body;
    auto planned = json::parse(plan.body);
    ASSERT_TRUE(planned && planned->IsObject());
    EXPECT_EQ((*planned)["records"].GetInt64(), static_cast<std::int64_t>(from->case_ids().size()));
    EXPECT_EQ(
        (*planned)["counts"]["already_transferred"].GetInt64(),
        static_cast<std::int64_t>(expected.size())
    );
    const auto to_confirm = (*planned)["counts"]["needs_consent_confirmation"].GetInt64();
    ASSERT_GE(to_confirm, 2);
    EXPECT_EQ(to->case_count(), expected.size()) << "a plan sends nothing";
    const std::string csv = (*planned)["review_file"].GetString();

    // Every record needing consent confirmation confirmed; the first has no written reason.
    const std::string reason = "Caregiver confirmed consent at the closing visit";
    bool first = true;
    const auto without_reason = test::edited_review(csv, [&](exchange::csv_row& row) {
        if (row[1] == "needs_consent_confirmation") {
            row[6] = "yes";
            row[7] = first ? "" : reason;
            first = false;
        }
    });
    auto checked =
        ask("POST", "/flows/handover/caseload/check?file=end-review.csv", without_reason);
    ASSERT_EQ(checked.status, 200u) << checked.body;
    EXPECT_NE(checked.body.find("\"accepted\":false"), std::string::npos) << checked.body;
    EXPECT_NE(checked.body.find("end-review.csv:"), std::string::npos)
        << "a problem names the file and line: " << checked.body;
    EXPECT_NE(checked.body.find("an override needs a written override_reason"), std::string::npos)
        << checked.body;
    auto refused = ask("POST", "/flows/handover/caseload/execute", without_reason);
    EXPECT_EQ(refused.status, 422u) << refused.body;
    EXPECT_NE(refused.body.find("review_file_refused"), std::string::npos) << refused.body;
    EXPECT_EQ(ask("POST", "/flows/handover/caseload/execute?actor=two%20words", csv).status, 400u);
    EXPECT_EQ(ask("POST", "/flows/nope/caseload/execute", csv).status, 404u);
    EXPECT_EQ(to->case_count(), expected.size()) << "a refused file sends nothing";
    EXPECT_NE(
        ask("GET", "/flows/handover/caseload").body.find("\"state\":\"none\""), std::string::npos
    );

    const auto reviewed = test::edited_review(csv, [&](exchange::csv_row& row) {
        if (row[1] == "needs_consent_confirmation") {
            row[6] = "yes";
            row[7] = reason;
        }
    });
    checked = ask("POST", "/flows/handover/caseload/check", reviewed);
    EXPECT_NE(checked.body.find("\"accepted\":true"), std::string::npos) << checked.body;
    EXPECT_NE(checked.body.find("\"to_transfer\":" + std::to_string(to_confirm)), std::string::npos)
        << checked.body;
    auto started =
        ask("POST", "/flows/handover/caseload/execute?actor=imo-officer-3&file=end.csv", reviewed);
    ASSERT_EQ(started.status, 202u) << started.body;
    // The hand-over's answer once it is no longer running (null after a minute).
    const auto finished = [&] {
        for (int i = 0; i < 600; ++i) {
            auto st = json::parse(ask("GET", "/flows/handover/caseload").body);
            if (st && st->IsObject() && std::string_view((*st)["state"].GetString()) != "running") {
                return std::move(*st);
            }
            std::this_thread::sleep_for(100ms);
        }
        return rapidjson::Document();
    };
    auto status = finished();
    if (!status.IsObject()) {
        std::string logs;
        d->stop(SIGTERM, &logs);
        FAIL() << "no answer on the hand-over; the daemon's log:\n" << logs;
    }
    ASSERT_STREQ(status["state"].GetString(), "finished");
    EXPECT_EQ(status["done"].GetInt64(), to_confirm);
    const auto& outcome = status["outcome"];
    EXPECT_EQ(outcome["counts"]["transferred"].GetInt64(), to_confirm);
    EXPECT_EQ(outcome["receipt"]["overrides"].Size(), static_cast<rapidjson::SizeType>(to_confirm));
    EXPECT_STREQ(outcome["receipt"]["review_file"].GetString(), "end.csv");
    EXPECT_TRUE(outcome["receipt"].HasMember("log_checkpoint"));
    EXPECT_EQ(to->case_count(), expected.size() + static_cast<std::size_t>(to_confirm));
    // The receipt is also kept beside the store, as answered.
    const fs::path kept = outcome["receipt_file"].GetString();
    EXPECT_EQ(kept.parent_path(), dir / "state/receipts");
    std::ifstream in(kept);
    std::stringstream text;
    text << in.rdbuf();
    auto kept_receipt = json::parse(text.str());
    ASSERT_TRUE(kept_receipt) << kept;
    EXPECT_TRUE(*kept_receipt == outcome["receipt"]);
    EXPECT_EQ(text.str().find("closing visit"), std::string::npos) << "only the reason's digest";

    // The same file again hands nothing over twice, and keeps its own receipt.
    ASSERT_EQ(ask("POST", "/flows/handover/caseload/execute", reviewed).status, 202u);
    status = finished();
    ASSERT_TRUE(status.IsObject());
    ASSERT_STREQ(status["state"].GetString(), "finished");
    EXPECT_EQ(status["outcome"]["counts"]["transferred"].GetInt64(), 0);
    EXPECT_EQ(status["outcome"]["counts"]["already_transferred"].GetInt64(), to_confirm);
    EXPECT_NE(std::string(status["outcome"]["receipt_file"].GetString()), kept.string());
    EXPECT_EQ(to->case_count(), expected.size() + static_cast<std::size_t>(to_confirm));

    std::string logs;
    d->stop(SIGTERM, &logs);
    EXPECT_EQ(logs.find("closing visit"), std::string::npos);
    auto s = store::store::open(dir / "state/casebridge.db", {}, system_clock_source::instance());
    ASSERT_TRUE(s);
    auto q = s->database().prepare(
        "SELECT count(*) FROM transfer_log WHERE outcome = 'sent' AND actor = 'imo-officer-3' "
        "AND override_reason = ?"
    );
    ASSERT_TRUE(q);
    const auto digest = "sha256:" + store::to_hex(store::sha256(reason));
    q->bind(1, std::string_view(digest));
    ASSERT_TRUE(q->step());
    EXPECT_EQ(q->column_int(0), to_confirm);
}

// SIGHUP with a configuration that does not load: the daemon keeps the old one and its log
// says where the problem is (error code, JSON Pointer, line), never what the file holds.
TEST_F(daemon_test, a_refused_reload_names_the_pointer_and_line) {
    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "5", d, admin));
    std::string text;
    {
        std::ifstream in(config);
        text.assign(std::istreambuf_iterator<char>(in), {});
    }
    const std::string good = text;
    const auto at = text.find("127.0.0.1:0");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, 11, "127.0.0.1:70000");
    std::ofstream(config, std::ios::trunc) << text;
    ::kill(d->pid(), SIGHUP);
    std::this_thread::sleep_for(1500ms);
    auto health = test::run_awaitable(call("GET", admin + "/readyz", ""));
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200u) << "the old configuration keeps running";
    std::string logs;
    d->stop(SIGTERM, &logs);
    std::ofstream(config, std::ios::trunc) << good;
    const auto refused = logs.find("config.reload_refused");
    ASSERT_NE(refused, std::string::npos) << logs;
    const auto line_end = logs.find('\n', refused);
    const auto entry = logs.substr(refused, line_end - refused);
    EXPECT_NE(entry.find("/admin/listen"), std::string::npos) << entry;
    EXPECT_NE(entry.find("\"line\""), std::string::npos) << entry;
    EXPECT_EQ(entry.find("70000"), std::string::npos) << "the log quotes the file: " << entry;
}

// A wrong password is sent once (the adapter's one retry at most), never again on later runs
// or after a restart, until the secret file changes; six refusals would lock the account.
TEST_F(daemon_test, refused_credentials_are_not_sent_again_until_the_secret_changes) {
    dir.write("secrets/from-password", "not-the-password-0123456789\n");
    std::size_t after_first = 0;
    for (int i = 0; i < 4; ++i) {
        const auto r = test::run_cli({"flow", "run", "handover", "--config", config.string()});
        EXPECT_EQ(r.code, 1) << r.out;
        if (i == 0) {
            after_first = from->server().request_count();
        } else {
            EXPECT_NE(
                r.err.find("credentials_refused: cpims-a refused these credentials"),
                std::string::npos
            ) << r.err;
        }
    }
    // Basic auth: the password travels with every request, so requests are what counts.
    EXPECT_GE(after_first, 1u);
    EXPECT_LE(after_first, 2u);
    EXPECT_EQ(from->server().request_count(), after_first)
        << "a refused password was sent again on a later run";
    EXPECT_EQ(to->case_count(), 0u);
    {
        auto s =
            store::store::open(dir / "state/casebridge.db", {}, system_clock_source::instance());
        ASSERT_TRUE(s);
        auto q = s->database().prepare("SELECT system, fingerprint FROM credential_refusals");
        ASSERT_TRUE(q && *q->step());
        EXPECT_EQ(q->column_text(0), "cpims-a");
        EXPECT_EQ(q->column_text(1).find("not-the-password"), std::string::npos);
    }
    // The secret is replaced: the next run tries it, and it works.
    dir.write("secrets/from-password", from->password() + "\n");
    const auto r = test::run_cli({"flow", "run", "handover", "--config", config.string()});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(to->case_count(), eligible_ids().size());
}

// Retention without an operator: the daemon purges at start (and on its schedule), logs the
// purge with its counts, and /metrics shows what closed records remain and what is due.
TEST_F(daemon_test, the_daemon_purges_records_closed_past_retention_and_reports_the_backlog) {
    {
        auto s =
            store::store::open(dir / "state/casebridge.db", {}, system_clock_source::instance());
        ASSERT_TRUE(s);
        const auto now = system_clock_source::instance().now();
        const store::record_id old_case{"cpims-a", "case-closed-long-ago"};
        const store::record_id recent_case{"cpims-a", "case-closed-last-week"};
        ASSERT_TRUE(s->link(old_case, {"cpims-b", "target-of-old"}));
        ASSERT_TRUE(s->link(recent_case, {"cpims-b", "target-of-recent"}));
        ASSERT_TRUE(s->mark_closed(old_case, now - std::chrono::hours(24 * 400)));
        ASSERT_TRUE(s->mark_closed(recent_case, now - std::chrono::hours(24 * 7)));
    }
    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "5", d, admin));
    std::string body;
    // Up to 15 s: the first purge runs at start, later under a loaded machine (ctest -j2). A
    // scrape that fails under that load is tried again; the last failure is shown.
    std::string last_failure;
    for (int i = 0; i < 150; ++i) {
        auto m = test::run_awaitable(call("GET", admin + "/metrics", admin_token));
        if (!m) {
            last_failure = m.error().describe();
            std::this_thread::sleep_for(100ms);
            continue;
        }
        body = m->body;
        if (body.find("casebridge_retention_records{kind=\"links\",state=\"closed\"} 1") !=
            std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_NE(
        body.find("casebridge_retention_records{kind=\"links\",state=\"closed\"} 1"),
        std::string::npos
    ) << body
      << "\nlast failed scrape: " << last_failure;
    EXPECT_NE(
        body.find("casebridge_retention_records{kind=\"links\",state=\"due\"} 0"), std::string::npos
    ) << body;
    std::string logs;
    d->stop(SIGTERM, &logs);
    const auto at = logs.find("\"store.purged\"");
    ASSERT_NE(at, std::string::npos) << logs;
    const auto entry = logs.substr(at, logs.find('\n', at) - at);
    EXPECT_NE(entry.find("\"links\":1"), std::string::npos) << entry;
    auto s = store::store::open(dir / "state/casebridge.db", {}, system_clock_source::instance());
    ASSERT_TRUE(s);
    auto gone = s->linked({"cpims-a", "case-closed-long-ago"}, store::token("cpims-b"));
    ASSERT_TRUE(gone);
    EXPECT_FALSE(*gone) << "the link of a case closed 400 days ago survived";
    auto kept = s->linked({"cpims-a", "case-closed-last-week"}, store::token("cpims-b"));
    ASSERT_TRUE(kept);
    EXPECT_TRUE(*kept);
}

/// The value of the Prometheus sample `series` in `body` ("name{labels}"), or nullopt.
std::optional<long long> sample_of(const std::string& body, const std::string& series) {
    const auto at = body.find("\n" + series + " ");
    if (at == std::string::npos) {
        return std::nullopt;
    }
    return std::stoll(body.substr(at + series.size() + 2));
}

// A scheduled reconciliation: with `reconcile` set on the flow and none in the log yet, the
// daemon reconciles once the flow's first run has ended; /metrics shows what it found by class
// (a target case edited by hand and one deleted are there), the log line holds counts only, and
// a restart within every_hours does not reconcile again (the schedule is kept in the log).
TEST_F(daemon_test, the_daemon_reconciles_on_schedule_and_reports_classes_on_metrics) {
    std::string text;
    {
        std::ifstream in(config);
        text.assign(std::istreambuf_iterator<char>(in), {});
    }
    const std::string every = R"("schedule": {"every_seconds": 10})";
    const auto at = text.find(every);
    ASSERT_NE(at, std::string::npos);
    text.insert(at + every.size(), R"(, "reconcile": {"every_hours": 24, "sample": 459})");
    std::ofstream(config, std::ios::trunc) << text;

    auto r = test::run_cli({"flow", "run", "handover", "--config", config.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto delivered = to->case_ids();
    ASSERT_GE(delivered.size(), 3u);
    ASSERT_TRUE(to->edit_case(delivered[0], R"({"name_first": "Edited by hand"})"));
    ASSERT_TRUE(to->delete_case(delivered[1]));

    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "5", d, admin));
    const std::string last_run =
        "casebridge_reconcile_last_run_timestamp_seconds{flow=\"handover\"}";
    const auto records = [](const char* c) {
        return std::string("casebridge_reconcile_records{flow=\"handover\",class=\"") + c + "\"}";
    };
    std::string body;
    for (int i = 0; i < 200; ++i) {
        auto m = test::run_awaitable(call("GET", admin + "/metrics", admin_token));
        if (!m) {
            std::string logs;
            d->stop(SIGKILL, &logs);
            FAIL() << "the admin API did not answer\n" << logs;
        }
        body = m->body;
        if (sample_of(body, last_run).value_or(0) > 0) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_GT(sample_of(body, last_run).value_or(0), 0) << body;
    EXPECT_EQ(sample_of(body, records("differs")), 1) << body;
    EXPECT_EQ(sample_of(body, records("missing_at_target")), 1) << body;
    // Every other delivered case matches, and so does every withheld one (nothing at the target).
    EXPECT_GE(
        sample_of(body, records("match")).value_or(0), static_cast<long long>(delivered.size()) - 2
    ) << body;
    for (const char* c :
         {"stale_at_target",
          "duplicated_at_target",
          "unexpected_at_target",
          "withheld_but_present",
          "pending",
          "unchecked"}) {
        EXPECT_EQ(sample_of(body, records(c)), 0) << c << "\n" << body;
    }
    EXPECT_EQ(body.find("Edited by hand"), std::string::npos);
    std::string logs;
    int status = d->stop(SIGTERM, &logs);
    EXPECT_TRUE(WIFEXITED(status)) << logs;
    const auto line_at = logs.find("\"reconcile.finished\"");
    ASSERT_NE(line_at, std::string::npos) << logs;
    const auto line = logs.substr(line_at, logs.find('\n', line_at) - line_at);
    EXPECT_NE(line.find("\"differs\":1"), std::string::npos) << line;
    EXPECT_NE(line.find("\"missing_at_target\":1"), std::string::npos) << line;
    EXPECT_EQ(logs.find("Edited by hand"), std::string::npos) << "a target value was logged";
    for (const auto& id : from->case_ids()) {
        auto c = json::parse(*from->case_json(id));
        if (c->HasMember("name_last") && (*c)["name_last"].IsString()) {
            ASSERT_EQ(logs.find((*c)["name_last"].GetString()), std::string::npos)
                << "a name reached the daemon's log";
        }
    }

    // Restarted within every_hours: its flow runs, no reconciliation does.
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "5", d, admin));
    for (int i = 0; i < 100; ++i) {
        auto m = test::run_awaitable(call("GET", admin + "/metrics", admin_token));
        ASSERT_TRUE(m);
        body = m->body;
        if (sample_of(body, "casebridge_runs_total{flow=\"handover\",result=\"all\"}").value_or(0) >
            0) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    std::this_thread::sleep_for(1500ms);
    auto m = test::run_awaitable(call("GET", admin + "/metrics", admin_token));
    ASSERT_TRUE(m);
    EXPECT_EQ(sample_of(m->body, last_run), 0) << m->body;
    status = d->stop(SIGTERM, &logs);
    EXPECT_TRUE(WIFEXITED(status)) << logs;
    EXPECT_EQ(logs.find("\"reconcile.finished\""), std::string::npos) << logs;
}

// A scheduled reconciliation against a target that takes 30 s per answer: the admin API keeps
// answering, and SIGTERM in the middle of it ends the daemon within --shutdown-grace.
TEST_F(daemon_test, a_slow_reconciliation_blocks_neither_the_admin_api_nor_shutdown) {
    std::string text;
    {
        std::ifstream in(config);
        text.assign(std::istreambuf_iterator<char>(in), {});
    }
    const std::string every = R"("schedule": {"every_seconds": 10})";
    const auto at = text.find(every);
    ASSERT_NE(at, std::string::npos);
    text.insert(at + every.size(), R"(, "reconcile": {"every_hours": 1})");
    std::ofstream(config, std::ios::trunc) << text;
    auto r = test::run_cli({"flow", "run", "handover", "--config", config.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    to->server().inject(sandbox::fault::delayed(30s), 100);
    const std::size_t before = to->server().request_count();

    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "2", d, admin));
    // The flow's run ends, the reconciliation reads the source, then waits on cpims-b: its first
    // request there is held for 30 s. How long the source takes depends on the machine, so the
    // test waits for that request rather than for a fixed time.
    const auto waiting = std::chrono::steady_clock::now();
    while (to->server().request_count() == before &&
           std::chrono::steady_clock::now() - waiting < 60s) {
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_GT(to->server().request_count(), before) << "the reconciliation never reached cpims-b";
    const auto t0 = std::chrono::steady_clock::now();
    auto health = test::run_awaitable(call("GET", admin + "/healthz", ""));
    ASSERT_TRUE(health) << "the admin API did not answer during a reconciliation";
    EXPECT_EQ(health->status, 200u);
    auto metrics = test::run_awaitable(call("GET", admin + "/metrics", admin_token));
    ASSERT_TRUE(metrics);
    EXPECT_NE(
        metrics->body.find("casebridge_reconcile_last_run_timestamp_seconds{flow=\"handover\"} 0"),
        std::string::npos
    ) << metrics->body;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);

    const auto t1 = std::chrono::steady_clock::now();
    std::string logs;
    const int status = d->stop(SIGTERM, &logs);
    const auto took = std::chrono::steady_clock::now() - t1;
    EXPECT_TRUE(WIFEXITED(status)) << logs;
    EXPECT_LT(took, 10s) << "SIGTERM during a reconciliation took "
                         << std::chrono::duration_cast<std::chrono::seconds>(took).count()
                         << " s with a 2 s grace";
    // The stop cancelled the held read: the reconciliation ended on it and logged what it had
    // (its transfer-log entry says stopped), instead of being abandoned at the grace.
    EXPECT_NE(logs.find("\"reconcile.finished\""), std::string::npos)
        << "the reconciliation was not in hand at SIGTERM\n"
        << logs;
    EXPECT_EQ(logs.find("\"daemon.shutdown_timeout\""), std::string::npos)
        << "the reconciliation was abandoned at the grace, not cancelled\n"
        << logs;
    auto s = store::store::open(dir / "state/casebridge.db", {}, system_clock_source::instance());
    ASSERT_TRUE(s);
    auto q = s->database().prepare(
        "SELECT count(*) FROM transfer_log WHERE outcome = 'reconciled' AND reason = 'stopped'"
    );
    ASSERT_TRUE(q);
    (void)q->step();
    EXPECT_EQ(q->column_int(0), 1) << "the stopped reconciliation's entry";
}

// `store purge --config` takes the store and the retention period from the configuration.
TEST_F(daemon_test, store_purge_reads_the_store_and_retention_from_the_configuration) {
    {
        auto s =
            store::store::open(dir / "state/casebridge.db", {}, system_clock_source::instance());
        ASSERT_TRUE(s);
        const store::record_id old_case{"cpims-a", "case-closed-long-ago"};
        ASSERT_TRUE(s->link(old_case, {"cpims-b", "target-of-old"}));
        ASSERT_TRUE(s->mark_closed(
            old_case, system_clock_source::instance().now() - std::chrono::hours(24 * 400)
        ));
    }
    auto r = test::run_cli({"store", "purge", "--config", config.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(
        r.out.find("purged 1 links and 0 deliveries closed more than 365 days ago"),
        std::string::npos
    ) << r.out;
    r = test::run_cli({"store", "purge", "--config", config.string(), "--retention-days", "3"});
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.err.find("give either --config FILE, or --store FILE"), std::string::npos) << r.err;
    r = test::run_cli({"store", "purge"});
    EXPECT_EQ(r.code, 2);
}

TEST_F(daemon_test, unknown_flow_is_a_usage_error) {
    const auto r = test::run_cli({"flow", "run", "nope", "--config", config.string()});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("no flow 'nope'"), std::string::npos) << r.err;
}

TEST_F(daemon_test, daemon_serves_the_admin_api_and_stops_on_sigterm) {
    // Its stderr (the log) is drained while it runs, so a chatty daemon never blocks on it.
    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "20", d, admin));

    const auto expected = eligible_ids();
    // The first run starts at once; wait until every eligible case has arrived.
    for (int i = 0; i < 200 && to->case_count() < expected.size(); ++i) {
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(to->case_count(), expected.size());

    auto unauth = test::run_awaitable(call("GET", admin + "/flows", ""));
    ASSERT_TRUE(unauth);
    EXPECT_EQ(unauth->status, 401u);
    auto wrong = test::run_awaitable(call("GET", admin + "/flows", "wrong-token"));
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401u);
    auto flows = test::run_awaitable(call("GET", admin + "/flows", admin_token));
    ASSERT_TRUE(flows);
    EXPECT_EQ(flows->status, 200u);
    EXPECT_NE(flows->body.find(R"("id":"handover")"), std::string::npos) << flows->body;
    auto metrics = test::run_awaitable(call("GET", admin + "/metrics", admin_token));
    ASSERT_TRUE(metrics);
    EXPECT_NE(
        metrics->body.find(
            "casebridge_records_total{flow=\"handover\",outcome=\"sent\"} " +
            std::to_string(expected.size())
        ),
        std::string::npos
    ) << metrics->body;
    // Every request to the target was timed: at least one per case sent.
    const std::string count_key = "casebridge_request_duration_seconds_count{system=\"cpims-b\"} ";
    const auto at = metrics->body.find(count_key);
    ASSERT_NE(at, std::string::npos) << metrics->body;
    EXPECT_GE(
        std::stoll(metrics->body.substr(at + count_key.size())),
        static_cast<long long>(expected.size())
    );
    auto transfers =
        test::run_awaitable(call("GET", admin + "/transfers?flow=handover&limit=5", admin_token));
    ASSERT_TRUE(transfers);
    EXPECT_EQ(transfers->status, 200u);
    auto parsed = json::parse(transfers->body);
    ASSERT_TRUE(parsed);
    EXPECT_EQ((*parsed)["entries"].Size(), 5u);
    auto pause = test::run_awaitable(call("POST", admin + "/flows/handover/pause", admin_token));
    ASSERT_TRUE(pause);
    EXPECT_EQ(pause->status, 200u);
    auto missing = test::run_awaitable(call("GET", admin + "/no-such-route", admin_token));
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404u);
    auto dead = test::run_awaitable(call("GET", admin + "/dead-letters", admin_token));
    ASSERT_TRUE(dead);
    EXPECT_EQ(dead->status, 200u);
    auto reviews = test::run_awaitable(call("GET", admin + "/reviews", admin_token));
    ASSERT_TRUE(reviews);
    EXPECT_EQ(reviews->status, 200u);

    // No answer holds a case value: check every name of every source case.
    for (const auto& id : from->case_ids()) {
        auto c = json::parse(*from->case_json(id));
        for (const char* field : {"name_first", "name_last"}) {
            if (c->HasMember(field) && (*c)[field].IsString()) {
                const std::string v = (*c)[field].GetString();
                for (const auto* body : {&flows->body, &metrics->body, &transfers->body}) {
                    ASSERT_EQ(body->find(v), std::string::npos) << field << " leaked";
                }
            }
        }
    }

    std::string logs;
    const int status = d->stop(SIGTERM, &logs);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << logs;
    EXPECT_NE(logs.find("\"daemon.stopped\""), std::string::npos) << logs;
    for (const auto& id : from->case_ids()) {
        auto c = json::parse(*from->case_json(id));
        if (c->HasMember("name_last") && (*c)["name_last"].IsString()) {
            ASSERT_EQ(logs.find((*c)["name_last"].GetString()), std::string::npos)
                << "a name reached the daemon's log";
        }
    }
    auto r = test::run_cli({"log", "verify", "--store", (dir / "state/casebridge.db").string()});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace casebridge

namespace casebridge {
namespace {

/// The daemon with a reports section: the DPISP activity report made each month.
class daemon_reports_test : public test::sandbox_pair {
protected:
    std::string extra_sections() const override {
        return R"("reports": {"definitions": ")" +
               (test::source_dir / "config/reports.json").string() +
               R"(", "out_dir": "state/reports", "monthly": ["dpisp-activity"]},
  )";
    }
};

TEST_F(daemon_reports_test, the_daemon_makes_the_monthly_report_and_the_admin_api_lists_it) {
    std::optional<test::child> d;
    std::string admin;
    ASSERT_NO_FATAL_FAILURE(start_daemon(config, "20", d, admin));
    const std::string period = report::previous_month(system_clock_source::instance().now());
    std::string body;
    for (int i = 0; i < 300; ++i) {
        auto listed = test::run_awaitable(test::call("GET", admin + "/reports", admin_token));
        ASSERT_TRUE(listed);
        ASSERT_EQ(listed->status, 200u) << listed->body;
        body = listed->body;
        if (body.find(R"("id":"dpisp-activity")") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto parsed = json::parse(body);
    ASSERT_TRUE(parsed) << body;
    const auto& reports = (*parsed)["reports"];
    ASSERT_EQ(reports.Size(), 1u) << body;
    EXPECT_EQ(std::string(reports[0]["period"].GetString()), period);
    std::set<std::string> files;
    for (const auto& f : reports[0]["files"].GetArray()) {
        files.insert(f.GetString());
    }
    for (const char* f : {"manifest.json", "report.html", "report.xlsx", "shared.csv"}) {
        EXPECT_EQ(files.count(f), 1u) << f << " in " << body;
    }
    EXPECT_TRUE(fs::exists(dir / "state/reports/dpisp-activity" / period / "report.html"));
    auto unauth = test::run_awaitable(test::call("GET", admin + "/reports", ""));
    ASSERT_TRUE(unauth);
    EXPECT_EQ(unauth->status, 401u);

    // The month in hand, on demand from the same configuration: every record the daemon sent
    // is one sharing event of the report.
    const auto expected = eligible_ids();
    for (int i = 0; i < 200 && to->case_count() < expected.size(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(to->case_count(), expected.size());
    (void)d->stop(SIGTERM);
    const std::string now = format_rfc3339(system_clock_source::instance().now()).substr(0, 7);
    const auto r = test::run_cli(
        {"report",
         "run",
         "--config",
         config.string(),
         "--report",
         "dpisp-activity",
         "--period",
         now}
    );
    ASSERT_EQ(r.code, 0) << r.err << r.out;
    EXPECT_TRUE(fs::exists(dir / "state/reports/dpisp-activity" / now / "manifest.json"));
    const auto shared =
        test::run_cli({"report", "audit", (dir / "state/reports/dpisp-activity" / now).string()});
    EXPECT_EQ(shared.code, 0) << shared.out << shared.err;
    // Every outbound event of the month: at least one per case sent (withheld ones too).
    const auto at = r.out.find(" sharing events");
    ASSERT_NE(at, std::string::npos) << r.out;
    const auto start = r.out.rfind(' ', at - 1);
    EXPECT_GE(std::stoul(r.out.substr(start + 1, at - start - 1)), expected.size()) << r.out;
}

}  // namespace
}  // namespace casebridge
