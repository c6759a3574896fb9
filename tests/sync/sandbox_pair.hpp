// Two Primero sandboxes and a generated configuration for a flow between them, shared by the
// daemon tests and the drills.
#pragma once

#include <csignal>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

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
#include "support/child_process.hpp"
#include "support/run_cli.hpp"
#include "support/temp_dir.hpp"

namespace casebridge::test {

namespace fs = std::filesystem;

inline const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;

inline bool eligible(const rapidjson::Value& c) {
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

inline awaitable<remote_result<http_response>> call(
    std::string method, std::string url, std::string token, std::string body = {}
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
    if (!body.empty()) {
        req.headers.push_back({"Content-Type", "application/json"});
        req.body = std::move(body);
    }
    co_return co_await (*client)->send(std::move(req));
}

/// Registers the built-in adapters for commands run in this process, as main() does.
inline void use_builtin_adapters() {
    static adapter_registry registry = [] {
        adapter_registry r;
        register_builtin_adapters(r);
        return r;
    }();
    test::adapters_for_commands() = &registry;
}

class sandbox_pair : public ::testing::Test {
protected:
    test::temp_dir dir;
    std::unique_ptr<sandbox::primero_sandbox> from;
    std::unique_ptr<sandbox::primero_sandbox> to;
    fs::path config;
    const std::string admin_token = "admin-token-for-the-daemon-test-0123456789";

    /// Cases in the source sandbox.
    virtual std::size_t cases() const { return 80; }
    /// Faults of the target sandbox, for the whole run.
    virtual std::vector<sandbox::fault_rule> target_faults() const { return {}; }
    /// Top-level sections added to the generated configuration (each ending in ",\n").
    virtual std::string extra_sections() const { return {}; }

    void SetUp() override {
        use_builtin_adapters();
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "daemon-test-pseudonym-key-0123456789abcdef", 1);
        sandbox::primero_settings a;
        a.cases = cases();
        a.seed = 21;
        from = std::make_unique<sandbox::primero_sandbox>(a, system_clock_source::instance());
        sandbox::primero_settings b;
        b.seed = 22;
        b.faults = target_faults();
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
  )" + extra_sections() + R"("systems": {
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

    /// Waits (at most 30 s) until the target sandbox holds `n` cases; false when it did not.
    bool wait_for_target(std::size_t n) {
        for (int i = 0; i < 300 && to->case_count() < n; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return to->case_count() >= n;
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

/// `casebridge ARGS...` as a child process: stdout read line by line, stderr drained as it
/// comes (support/child_process.hpp).
class child : public child_process {
public:
    /// Starts the binary with `args`; `extra_env` ("NAME=value") is added to (and overrides)
    /// this process's environment in the child.
    static child start(
        const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}
    ) {
        return child(child_process::start(CASEBRIDGE_BINARY, args, extra_env));
    }

private:
    explicit child(child_process&& p) : child_process(std::move(p)) {}
};

/// Starts `casebridge run` on `config` with `grace` seconds of shutdown grace and reads its two
/// start lines; `admin` is the admin API's base URL. Call under ASSERT_NO_FATAL_FAILURE.
inline void start_daemon(
    const fs::path& config, const char* grace, std::optional<child>& d, std::string& admin
) {
    d.emplace(child::start({"run", "--config", config.string(), "--shutdown-grace", grace}));
    ASSERT_TRUE(d->running());
    admin = d->line();
    ASSERT_EQ(admin.rfind("admin: http://127.0.0.1:", 0), 0u) << admin;
    admin = admin.substr(7);
    ASSERT_EQ(d->line(), "running");
}

}  // namespace casebridge::test
