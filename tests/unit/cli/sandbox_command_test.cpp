// `casebridge sandbox primero` as a user runs it: URL first, then user and password, then it
// serves the API until SIGTERM.
#include <csignal>
#include <cstdio>
#include <map>
#include <set>
#include <string>

#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/encoding.hpp"
#include "json/json.hpp"
#include "net/http_client.hpp"
#include "support/run_awaitable.hpp"
#include "support/run_cli.hpp"

namespace casebridge {
namespace {

awaitable<remote_result<http_response>> get(std::string url, std::string auth) {
    auto ex = co_await net::this_coro::executor;
    http_client_settings s;
    s.allow_plain_http_loopback = true;
    auto client = http_client::create(ex, s, system_clock_source::instance());
    http_request req;
    req.url = std::move(url);
    req.headers.push_back({"Authorization", std::move(auth)});
    auto r = co_await (*client)->send(std::move(req));
    co_return r;
}

TEST(sandbox_command, prints_url_user_password_and_serves) {
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        execl(
            CASEBRIDGE_BINARY,
            CASEBRIDGE_BINARY,
            "sandbox",
            "primero",
            "--listen",
            "127.0.0.1:0",
            "--cases",
            "25",
            "--seed",
            "3",
            static_cast<char*>(nullptr)
        );
        _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    ASSERT_NE(f, nullptr);
    const auto line = [f] {
        char buf[512] = {};
        if (std::fgets(buf, sizeof buf, f) == nullptr) {
            return std::string{};
        }
        std::string s(buf);
        if (!s.empty() && s.back() == '\n') {
            s.pop_back();
        }
        return s;
    };
    const std::string url = line();
    const std::string user = line();
    const std::string password = line();
    EXPECT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
    ASSERT_EQ(user.rfind("user: ", 0), 0u) << user;
    ASSERT_EQ(password.rfind("password: ", 0), 0u);
    const std::string credentials = user.substr(6) + ":" + password.substr(10);
    auto r =
        test::run_awaitable(get(url + "/api/v2/cases?per=5", "Basic " + base64_encode(credentials))
        );
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    std::fclose(f);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->status, 200u);
    EXPECT_NE(r->body.find(R"("total":25)"), std::string::npos);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

awaitable<remote_result<http_response>> post(
    std::string url, std::vector<http_header> headers, std::string body
) {
    auto ex = co_await net::this_coro::executor;
    http_client_settings s;
    s.allow_plain_http_loopback = true;
    auto client = http_client::create(ex, s, system_clock_source::instance());
    http_request req;
    req.method = "POST";
    req.url = std::move(url);
    req.headers = std::move(headers);
    req.body = std::move(body);
    auto r = co_await (*client)->send(std::move(req));
    co_return r;
}

std::string form(const std::string& s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

TEST(sandbox_command, ping_prints_url_credentials_and_ids_and_serves) {
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        execl(
            CASEBRIDGE_BINARY,
            CASEBRIDGE_BINARY,
            "sandbox",
            "ping",
            "--listen",
            "127.0.0.1:0",
            "--interventions",
            "6",
            "--seed",
            "3",
            "--page-rows",
            "500",
            static_cast<char*>(nullptr)
        );
        _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    ASSERT_NE(f, nullptr);
    const auto line = [f] {
        char buf[512] = {};
        if (std::fgets(buf, sizeof buf, f) == nullptr) {
            return std::string{};
        }
        std::string s(buf);
        if (!s.empty() && s.back() == '\n') {
            s.pop_back();
        }
        return s;
    };
    const std::string url = line();
    std::map<std::string, std::string> v;
    for (std::string l = line(); !l.empty(); l = line()) {
        const auto colon = l.find(": ");
        ASSERT_NE(colon, std::string::npos) << l;
        v[l.substr(0, colon)] = l.substr(colon + 2);
        if (l.rfind("shipping_process.transfer_status.push", 0) == 0) {
            break;
        }
    }
    EXPECT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
    for (const char* k :
         {"token_url",
          "user",
          "password",
          "client_id",
          "subscription_key",
          "scope",
          "partner_id",
          "interop_id",
          "shipping_process.referrals.pull"}) {
        EXPECT_FALSE(v[k].empty()) << k;
    }
    auto token = test::run_awaitable(post(
        v["token_url"],
        {{"Content-Type", "application/x-www-form-urlencoded"}},
        "grant_type=password&client_id=" + form(v["client_id"]) + "&username=" + form(v["user"]) +
            "&password=" + form(v["password"]) + "&scope=" + form(v["scope"])
    ));
    std::string access;
    if (token && token->status == 200) {
        auto d = json::parse(token->body);
        access = d ? (*d)["access_token"].GetString() : "";
    }
    auto r = test::run_awaitable(post(
        url + "/primes/fetch/paging/v3/retrievedatawithpaging",
        {{"Content-Type", "application/json"},
         {"Authorization", "Bearer " + access},
         {"Ocp-Apim-Subscription-Key", v["subscription_key"]}},
        R"({"ShippingProcessId":")" + v["shipping_process.referrals.pull"] + R"(","PartnerId":")" +
            v["partner_id"] + R"(","InteropID":")" + v["interop_id"] +
            R"(","APIVersion":"V3","QueryParameters":[]})"
    ));
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    std::fclose(f);
    ASSERT_TRUE(token) << token.error().describe();
    EXPECT_EQ(token->status, 200u) << token->body;
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->status, 200u);
    auto d = json::parse(r->body);
    ASSERT_TRUE(d);
    std::set<std::string> ids;
    for (const auto& row : (*d)["Data"].GetArray()) {
        ids.insert(row["progres_lpinterventionid"].GetString());
    }
    EXPECT_EQ(ids.size(), 6u);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(sandbox_command, ping_refuses_bad_arguments) {
    const auto bad_fault = test::run_cli({"sandbox", "ping", "--fault", "sometimes"});
    EXPECT_EQ(bad_fault.code, 2);
    EXPECT_NE(bad_fault.err.find("bad --fault 'sometimes'"), std::string::npos) << bad_fault.err;
    const auto bad_count = test::run_cli({"sandbox", "ping", "--interventions", "many"});
    EXPECT_EQ(bad_count.code, 2);
    EXPECT_NE(bad_count.err.find("--interventions"), std::string::npos);
    const auto bad_listen = test::run_cli({"sandbox", "ping", "--listen", "nowhere"});
    EXPECT_EQ(bad_listen.code, 2);
    const auto bad_lifetime = test::run_cli({"sandbox", "ping", "--token-lifetime", "0"});
    EXPECT_EQ(bad_lifetime.code, 2);
    EXPECT_TRUE(bad_fault.out.empty());
    const auto help = test::run_cli({"sandbox", "ping", "--help"});
    EXPECT_EQ(help.code, 0);
    EXPECT_NE(help.out.find("--interventions N"), std::string::npos);
}

TEST(sandbox_command, population_serves_one_agencys_share) {
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        execl(
            CASEBRIDGE_BINARY,
            CASEBRIDGE_BINARY,
            "sandbox",
            "primero",
            "--population",
            "3",
            "--agency",
            "1",
            "--population-children",
            "200",
            static_cast<char*>(nullptr)
        );
        _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    ASSERT_NE(f, nullptr);
    const auto line = [f] {
        char buf[512] = {};
        if (std::fgets(buf, sizeof buf, f) == nullptr) {
            return std::string{};
        }
        std::string s(buf);
        if (!s.empty() && s.back() == '\n') {
            s.pop_back();
        }
        return s;
    };
    const std::string url = line();
    const std::string user = line();
    const std::string password = line();
    const std::string agency = line();
    const std::string cases = line();
    auto r = test::run_awaitable(
        get(url + "/api/v2/cases?per=1",
            "Basic " + base64_encode(user.substr(6) + ":" + password.substr(10)))
    );
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    std::fclose(f);
    EXPECT_EQ(agency, "agency: agency_b");
    ASSERT_EQ(cases.rfind("cases: ", 0), 0u) << cases;
    const auto n = std::stoul(cases.substr(7));
    EXPECT_GT(n, 50u);
    EXPECT_LT(n, 200u);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_NE(r->body.find(R"("total":)" + std::to_string(n)), std::string::npos);
    EXPECT_TRUE(WIFEXITED(status));
}

TEST(sandbox_command, population_options_are_checked) {
    const auto usage = [](std::vector<std::string> args) {
        args.insert(args.begin(), {"sandbox", "primero"});
        return test::run_cli(args);
    };
    auto r = usage({"--population", "3"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("--population SEED and --agency K go together"), std::string::npos);
    r = usage({"--agency", "0"});
    EXPECT_EQ(r.code, 2);
    r = usage({"--population", "3", "--agency", "3"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("agency_a agency_b agency_c"), std::string::npos) << r.err;
    r = usage({"--population", "3", "--agency", "agency_z"});
    EXPECT_EQ(r.code, 2);
    r = usage({"--population", "x", "--agency", "0"});
    EXPECT_EQ(r.code, 2);
    r = usage({"--population", "3", "--agency", "0", "--cases", "5"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("exclude each other"), std::string::npos);
    r = usage({"--population", "3", "--agency", "0", "--population-children", "0"});
    EXPECT_EQ(r.code, 2);
    r = usage({"--help"});
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("--population"), std::string::npos);
    EXPECT_NE(r.out.find("--agency"), std::string::npos);
    EXPECT_NE(r.out.find("--population-children"), std::string::npos);
}

}  // namespace
}  // namespace casebridge
