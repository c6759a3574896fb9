// The admin API's admission, decided from the header before any body is read: the token (not
// for /healthz and /readyz), the route, the method and the body limit.
#include "app/admin_api.hpp"

#include <regex>

#include <gtest/gtest.h>

#include "app/console.hpp"
#include "support/run_awaitable.hpp"

namespace casebridge::app {
namespace {

httpd::request head(std::string method, std::string target, std::string auth = "") {
    httpd::request r;
    r.method = std::move(method);
    r.target = std::move(target);
    if (!auth.empty()) {
        r.headers["authorization"] = std::move(auth);
    }
    return r;
}

class admin_admission : public ::testing::Test {
protected:
    admin_context ctx;
    void SetUp() override { ctx.token = "admin-token-0123456789abcdef"; }
    unsigned status(const httpd::request& r) {
        auto a = admit_admin(r, ctx);
        return a.refuse ? a.refuse->status : 0u;
    }
};

TEST_F(admin_admission, the_token_is_needed_everywhere_but_the_probes) {
    EXPECT_EQ(status(head("GET", "/flows")), 401u);
    EXPECT_EQ(status(head("GET", "/flows", "Bearer wrong")), 401u);
    EXPECT_EQ(status(head("GET", "/flows", "Basic admin-token-0123456789abcdef")), 401u);
    EXPECT_EQ(status(head("GET", "/flows", "Bearer admin-token-0123456789abcdef")), 0u);
    EXPECT_EQ(status(head("GET", "/flows", "bearer admin-token-0123456789abcdef")), 0u);
    EXPECT_EQ(status(head("GET", "/flows", "BEARER  admin-token-0123456789abcdef ")), 0u);
    EXPECT_EQ(status(head("GET", "/healthz")), 0u);
    EXPECT_EQ(status(head("GET", "/readyz")), 0u);
    // Unknown routes and wrong methods are not revealed without the token.
    EXPECT_EQ(status(head("GET", "/no-such-route")), 401u);
    EXPECT_EQ(status(head("POST", "/healthz")), 401u);
    auto refused = admit_admin(head("GET", "/flows"), ctx);
    ASSERT_TRUE(refused.refuse);
    EXPECT_EQ(refused.refuse->body.find("admin-token"), std::string::npos);
}

TEST_F(admin_admission, routes_methods_and_body_limits) {
    const std::string t = "Bearer admin-token-0123456789abcdef";
    EXPECT_EQ(status(head("GET", "/no-such-route", t)), 404u);
    auto wrong = admit_admin(head("GET", "/flows/referrals/run", t), ctx);
    ASSERT_TRUE(wrong.refuse);
    EXPECT_EQ(wrong.refuse->status, 405u);
    ASSERT_EQ(wrong.refuse->headers.size(), 1u);
    EXPECT_EQ(wrong.refuse->headers[0].first, "Allow");
    EXPECT_EQ(wrong.refuse->headers[0].second, "POST");
    EXPECT_EQ(status(head("DELETE", "/flows", t)), 405u);
    auto get = admit_admin(head("GET", "/transfers?flow=a&limit=5", t), ctx);
    EXPECT_FALSE(get.refuse);
    EXPECT_EQ(get.body_limit, 0u);
    auto post = admit_admin(head("POST", "/dead-letters/7/retry", t), ctx);
    EXPECT_FALSE(post.refuse);
    EXPECT_GT(post.body_limit, 0u);
    EXPECT_LE(post.body_limit, 4096u);
}

// A caseload review file is the one large body: only its two routes take one, and only POST.
TEST_F(admin_admission, caseload_routes_and_the_review_file_limit) {
    const std::string t = "Bearer admin-token-0123456789abcdef";
    EXPECT_EQ(status(head("POST", "/flows/handover/caseload/plan")), 401u);
    for (const char* route : {"check", "execute"}) {
        const std::string target = std::string("/flows/handover/caseload/") + route;
        auto a = admit_admin(head("POST", target + "?file=review.csv", t), ctx);
        EXPECT_FALSE(a.refuse) << route;
        EXPECT_GE(a.body_limit, std::size_t{16} << 20) << route;
        EXPECT_EQ(status(head("GET", target, t)), 405u) << route;
    }
    auto plan = admit_admin(head("POST", "/flows/handover/caseload/plan", t), ctx);
    EXPECT_FALSE(plan.refuse);
    EXPECT_LE(plan.body_limit, 4096u) << "a plan takes no file";
    auto status_route = admit_admin(head("GET", "/flows/handover/caseload", t), ctx);
    EXPECT_FALSE(status_route.refuse);
    EXPECT_EQ(status_route.body_limit, 0u);
    EXPECT_EQ(status(head("POST", "/flows/handover/caseload", t)), 405u);
    EXPECT_EQ(status(head("POST", "/flows/handover/caseload/delete", t)), 404u);
    EXPECT_EQ(status(head("POST", "/flows/handover/caseload/plan/x", t)), 404u);
}

TEST_F(admin_admission, targets_are_percent_decoded_and_bad_escapes_refused) {
    const std::string t = "Bearer admin-token-0123456789abcdef";
    EXPECT_EQ(status(head("GET", "/%66lows", t)), 0u);
    EXPECT_EQ(status(head("GET", "/%68ealthz")), 0u);
    EXPECT_EQ(status(head("POST", "/dead-letters/%37/retry", t)), 0u);
    EXPECT_EQ(status(head("GET", "/transfers?since=2025-03-01T08:00:00+06:00&fl%6Fw=a", t)), 0u);
    auto bad = admit_admin(head("GET", "/transfers?flow=%zz", t), ctx);
    ASSERT_TRUE(bad.refuse);
    EXPECT_EQ(bad.refuse->status, 400u);
    EXPECT_NE(bad.refuse->body.find("bad_target"), std::string::npos);
    EXPECT_EQ(status(head("GET", "/flows%2", t)), 400u);
    // Without the token, a bad target is refused as unauthorised like any other route.
    EXPECT_EQ(status(head("GET", "/healthz%zz")), 401u);
}

// The web console (app/console.hpp): its files load without the token (they hold code, no
// data) and carry a strict Content-Security-Policy; nothing else under /console exists, and
// every API route still needs the token.
class admin_console : public admin_admission {
protected:
    httpd::response get(const std::string& target) {
        auto r = test::run_awaitable(handle_admin(head("GET", target), ctx));
        return r;
    }
    static std::string header(const httpd::response& r, const std::string& name) {
        for (const auto& [k, v] : r.headers) {
            if (k == name) {
                return v;
            }
        }
        return {};
    }
};

TEST_F(admin_console, the_files_load_without_the_token_and_only_with_get) {
    EXPECT_EQ(status(head("GET", "/console")), 0u);
    EXPECT_EQ(status(head("GET", "/console/")), 0u);
    EXPECT_EQ(status(head("GET", "/console/console.js")), 0u);
    EXPECT_EQ(status(head("POST", "/console/")), 401u);
    EXPECT_EQ(status(head("GET", "/console/a/b")), 401u);
    EXPECT_EQ(status(head("GET", "/flows")), 401u);
    const auto a = admit_admin(head("GET", "/console/"), ctx);
    EXPECT_EQ(a.body_limit, 0u);
}

TEST_F(admin_console, each_file_has_its_type_and_the_security_headers) {
    for (const auto& [target, type] :
         {std::pair{"/console", "text/html"},
          std::pair{"/console/", "text/html"},
          std::pair{"/console/index.html", "text/html"},
          std::pair{"/console/console.js", "text/javascript"},
          std::pair{"/console/console.css", "text/css"},
          std::pair{"/console/favicon.svg", "image/svg+xml"}}) {
        const auto r = get(target);
        ASSERT_EQ(r.status, 200u) << target;
        EXPECT_EQ(r.content_type.rfind(type, 0), 0u) << target << ": " << r.content_type;
        const auto csp = header(r, "Content-Security-Policy");
        EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << target;
        EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << target;
        EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << target;
        EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << target;
        EXPECT_EQ(header(r, "Referrer-Policy"), "no-referrer") << target;
        EXPECT_FALSE(r.body.empty()) << target;
    }
    EXPECT_EQ(get("/console/no-such-file.js").status, 404u);
    EXPECT_EQ(get("/console/..%2Fconfig.json").status, 404u);
}

TEST_F(admin_console, the_page_has_no_inline_script_or_style_and_the_script_no_html_parsing) {
    const auto page = get("/console/").body;
    EXPECT_NE(page.find("<script src=\"/console/console.js\""), std::string::npos);
    EXPECT_EQ(page.find("<script>"), std::string::npos);
    EXPECT_EQ(page.find("<style"), std::string::npos);
    EXPECT_EQ(page.find(" style="), std::string::npos);
    EXPECT_FALSE(std::regex_search(page, std::regex(R"(\son[a-z]+\s*=)")))
        << "an inline event handler";
    const auto script = get("/console/console.js").body;
    for (const char* banned :
         {"innerHTML",
          "outerHTML",
          "insertAdjacentHTML",
          "eval(",
          "new Function",
          "document.write",
          "localStorage"}) {
        EXPECT_EQ(script.find(banned), std::string::npos) << banned;
    }
    EXPECT_NE(script.find("sessionStorage"), std::string::npos);
}

// One console for two APIs: the page says which it speaks to (the daemon's pages or the hub's).
TEST_F(admin_console, the_page_names_the_api_it_speaks_to) {
    EXPECT_NE(get("/console/").body.find("<body data-service=\"daemon\">"), std::string::npos);
    const auto hub = console_answer("", "hub");
    ASSERT_TRUE(hub);
    EXPECT_NE(hub->body.find("<body data-service=\"hub\">"), std::string::npos);
    EXPECT_EQ(hub->body.find("data-service=\"daemon\""), std::string::npos);
    const auto script = console_answer("console.js", "hub");
    ASSERT_TRUE(script);
    EXPECT_EQ(script->body, get("/console/console.js").body) << "only the page is marked";
}

}  // namespace
}  // namespace casebridge::app
