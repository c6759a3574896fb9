// `casebridge sandbox primero` as a user runs it: URL first, then user and password, then it
// serves the API until SIGTERM.
#include <csignal>
#include <cstdio>
#include <string>

#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base64.hpp"
#include "net/http_client.hpp"
#include "support/run_awaitable.hpp"

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

}  // namespace
}  // namespace casebridge
