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

namespace casebridge {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;

bool eligible(const rapidjson::Value& c) {
    auto flag = [&](const char* n) { return c.HasMember(n) && c[n].IsBool() && c[n].GetBool(); };
    if (c.HasMember("record_state") && c["record_state"].IsBool() && !c["record_state"].GetBool()) {
        return false;
    }
    if (!flag("consent_for_services") || !flag("disclosure_other_orgs") ||
        !c.HasMember("consent_info_sharing")) {
        return false;
    }
    for (const auto& v : c["consent_info_sharing"].GetArray()) {
        if (std::string_view(v.GetString()) == "other_organizations") {
            return true;
        }
    }
    return false;
}

awaitable<remote_result<http_response>> call(
    std::string method, std::string url, std::string token
) {
    auto ex = co_await net::this_coro::executor;
    http_client_settings s;
    s.allow_plain_http_loopback = true;
    auto client = http_client::create(ex, s, system_clock_source::instance());
    http_request req;
    req.method = std::move(method);
    req.url = std::move(url);
    if (!token.empty()) {
        req.headers.push_back({"Authorization", "Bearer " + token});
    }
    co_return co_await (*client)->send(std::move(req));
}

class daemon_test : public ::testing::Test {
protected:
    test::temp_dir dir;
    std::unique_ptr<sandbox::primero_sandbox> from;
    std::unique_ptr<sandbox::primero_sandbox> to;
    fs::path config;
    const std::string admin_token = "admin-token-for-the-daemon-test-0123456789";

    void SetUp() override {
        // In process, as main() does for the binary.
        static adapter_registry registry = [] {
            adapter_registry r;
            register_builtin_adapters(r);
            return r;
        }();
        cli::set_adapter_registry(&registry);
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "daemon-test-pseudonym-key-0123456789abcdef", 1);
        sandbox::primero_settings a;
        a.cases = 80;
        a.seed = 21;
        from = std::make_unique<sandbox::primero_sandbox>(a, system_clock_source::instance());
        sandbox::primero_settings b;
        b.seed = 22;
        to = std::make_unique<sandbox::primero_sandbox>(b, system_clock_source::instance());
        const auto key = store::signer::generate();
        dir.write("secrets/signing.pem", key.private_key_pem());
        dir.write("secrets/identifier.key", std::string(40, 'i'));
        dir.write("secrets/admin-token", admin_token + "\n");
        dir.write("secrets/from-password", from->password() + "\n");
        dir.write("secrets/to-password", to->password() + "\n");
        fs::create_directories(dir / "state");
        const std::string text = R"({
  "config_version": 1,
  "log_level": "info",
  "catalogue": ")" + (source_dir / "mappings/canonical-case.json").string() +
                                 R"(",
  "policies": ")" + (source_dir / "config/policies.json").string() +
                                 R"(",
  "store": {"path": "state/casebridge.db", "signing_key_file": "secrets/signing.pem",
            "identifier_key_file": "secrets/identifier.key"},
  "admin": {"listen": "127.0.0.1:0", "token_file": "secrets/admin-token"},
  "systems": {
    "cpims-a": {"kind": "primero", "settings": {"base_url": ")" +
                                 from->base_url() + R"(",
                "auth": {"mode": "basic", "user_name": ")" +
                                 from->user_name() + R"(",
                         "password_file": "secrets/from-password"}, "per_page": 25},
                "tls": {"allow_plain_http_on_loopback": true}},
    "cpims-b": {"kind": "primero", "settings": {"base_url": ")" +
                                 to->base_url() + R"(",
                "auth": {"mode": "basic", "user_name": ")" +
                                 to->user_name() + R"(",
                         "password_file": "secrets/to-password"}},
                "tls": {"allow_plain_http_on_loopback": true}}
  },
  "flows": [
    {"id": "handover", "from": {"system": "cpims-a", "stream": "cases"},
     "to": {"system": "cpims-b", "stream": "cases"}, "purpose": "transfer",
     "profile": "transfer-agency",
     "mappings": {"in": ")" + (source_dir / "mappings/primero.case.json").string() +
                                 R"(",
                  "out": ")" + (source_dir / "mappings/primero.case.json").string() +
                                 R"("},
     "schedule": {"every_seconds": 10}}
  ]
})";
        config = dir.write("casebridge.json", text);
    }

    std::set<std::string> eligible_ids() {
        std::set<std::string> out;
        for (const auto& id : from->case_ids()) {
            if (eligible(*json::parse(*from->case_json(id)))) {
                out.insert(id);
            }
        }
        return out;
    }
};

TEST_F(daemon_test, check_accepts_the_generated_config) {
    const auto r = test::run_cli({"check", "--config", config.string()});
    EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(daemon_test, dry_run_prints_decisions_and_writes_nothing) {
    std::this_thread::sleep_for(1100ms);  // the sandbox lists up to one second ago
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
    std::this_thread::sleep_for(1100ms);
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
