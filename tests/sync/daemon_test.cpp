// `casebridge flow run` and `casebridge run` as a user runs them, against two Primero sandboxes
// with a generated configuration: dry run, one run, the daemon as a child process with its
// admin API, and SIGTERM.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <set>

#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapter/registry.hpp"
#include "cli/commands.hpp"
#include "core/clock.hpp"
#include "json/json.hpp"
#include "net/http_client.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "store/crypto.hpp"
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

TEST_F(daemon_test, unknown_flow_is_a_usage_error) {
    const auto r = test::run_cli({"flow", "run", "nope", "--config", config.string()});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("no flow 'nope'"), std::string::npos) << r.err;
}

TEST_F(daemon_test, daemon_serves_the_admin_api_and_stops_on_sigterm) {
    int out[2];
    int err[2];
    ASSERT_EQ(pipe(out), 0);
    ASSERT_EQ(pipe(err), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        execl(
            CASEBRIDGE_BINARY,
            CASEBRIDGE_BINARY,
            "run",
            "--config",
            config.c_str(),
            "--shutdown-grace",
            "20",
            static_cast<char*>(nullptr)
        );
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    FILE* f = fdopen(out[0], "r");
    char buf[512] = {};
    ASSERT_NE(std::fgets(buf, sizeof buf, f), nullptr);
    std::string admin(buf);
    ASSERT_EQ(admin.rfind("admin: http://127.0.0.1:", 0), 0u) << admin;
    admin = admin.substr(7);
    admin.pop_back();
    ASSERT_NE(std::fgets(buf, sizeof buf, f), nullptr);
    EXPECT_EQ(std::string(buf), "running\n");

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

    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    std::fclose(f);
    std::string logs;
    FILE* e = fdopen(err[0], "r");
    while (std::fgets(buf, sizeof buf, e) != nullptr) {
        logs += buf;
    }
    std::fclose(e);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << logs;
    EXPECT_NE(logs.find("\"stopped\""), std::string::npos) << logs;
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
