// Acceptance checks of reference §5 (primero-v2-api.md) against the Primero sandbox.
#include "sandbox/primero/primero_sandbox.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "core/encoding.hpp"
#include "json/json.hpp"
#include "net/http_client.hpp"
#include "support/run_awaitable.hpp"

namespace casebridge::sandbox {
namespace {

using namespace std::chrono_literals;

awaitable<remote_result<http_response>> send_one(http_request req) {
    auto ex = co_await net::this_coro::executor;
    http_client_settings s;
    s.allow_plain_http_loopback = true;
    s.max_requests_per_second = 0;
    auto client = http_client::create(ex, s, system_clock_source::instance());
    auto r = co_await (*client)->send(std::move(req));
    co_return r;
}

struct api_result {
    unsigned status = 0;
    rapidjson::Document doc;
    http_response raw;
};

class sandbox_test : public ::testing::Test {
protected:
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 1 / 10) + 9h};
    std::unique_ptr<primero_sandbox> box;

    void start(std::size_t cases, primero_settings s = {}) {
        s.cases = cases;
        s.seed = 42;
        box = std::make_unique<primero_sandbox>(s, clock);
    }
    std::string basic() const {
        return "Basic " + base64_encode(box->user_name() + ":" + box->password());
    }
    api_result call(
        const std::string& method,
        const std::string& path,
        const std::string& body = {},
        std::vector<http_header> headers = {},
        bool auth = true
    ) {
        http_request req;
        req.method = method;
        req.url = box->base_url() + path;
        req.body = body;
        req.headers = std::move(headers);
        if (auth) {
            req.headers.push_back({"Authorization", basic()});
        }
        if (!body.empty()) {
            req.headers.push_back({"Content-Type", "application/json"});
        }
        auto r = test::run_awaitable(send_one(std::move(req)));
        EXPECT_TRUE(r) << r.error().describe();
        api_result out;
        if (!r) {
            return out;
        }
        out.status = r->status;
        out.raw = *r;
        if (!r->body.empty() &&
            r->header("content-type").value_or("").find("json") != std::string_view::npos) {
            auto d = json::parse(r->body);
            EXPECT_TRUE(d) << "body is not JSON";
            if (d) {
                out.doc = std::move(*d);
            }
        }
        return out;
    }
    std::string first_id() const { return box->case_ids().front(); }
    // As `call`, with Basic auth of another of the sandbox's users.
    api_result call_as(
        const std::string& user,
        const std::string& method,
        const std::string& path,
        const std::string& body = {}
    ) {
        const auto pw = box->password_of(user);
        EXPECT_TRUE(pw.has_value()) << "no sandbox user " << user;
        return call(
            method,
            path,
            body,
            {{"Authorization", "Basic " + base64_encode(user + ":" + pw.value_or(""))}},
            false
        );
    }
    // Creates a case with a client id as the main user; `extra` is more JSON members.
    void create_case(const std::string& id, const std::string& extra = {}) {
        const auto r = call(
            "POST",
            "/api/v2/cases",
            R"({"data":{"id":")" + id + R"(","name":"Test")" + (extra.empty() ? "" : ",") + extra +
                "}}"
        );
        ASSERT_EQ(r.status, 204u);
    }
    std::optional<rapidjson::Document> stored(const std::string& id) const {
        const auto text = box->case_json(id);
        if (!text) {
            return std::nullopt;
        }
        auto d = json::parse(*text);
        if (!d) {
            return std::nullopt;
        }
        return std::move(*d);
    }
};

// One test per acceptance check of reference §5 that is not covered above.
using PrimeroSandboxChecks = sandbox_test;

std::string forbidden_body(const std::string& resource) {
    return R"({"errors":[{"status":403,"resource":")" + resource + R"(","message":"Forbidden"}]})";
}

TEST_F(sandbox_test, list_has_envelope_and_metadata) {  // §5.1
    start(30);
    auto r = call("GET", "/api/v2/cases");
    ASSERT_EQ(r.status, 200u);
    ASSERT_TRUE(r.doc["data"].IsArray());
    EXPECT_EQ(r.doc["data"].Size(), 20u);
    EXPECT_EQ(r.doc["metadata"]["total"].GetInt(), 30);
    EXPECT_EQ(r.doc["metadata"]["per"].GetInt(), 20);
    EXPECT_EQ(r.doc["metadata"]["page"].GetInt(), 1);
    for (const auto& c : r.doc["data"].GetArray()) {
        EXPECT_TRUE(c["id"].IsString());
        EXPECT_TRUE(c["alert_count"].IsInt());
        EXPECT_TRUE(c["enabled"].IsBool());
        EXPECT_TRUE(c["last_updated_at"].IsString());
    }
}

TEST_F(sandbox_test, per_is_clamped) {  // §5.2
    start(5);
    EXPECT_EQ(call("GET", "/api/v2/cases?per=3000").doc["metadata"]["per"].GetInt(), 1000);
    EXPECT_EQ(call("GET", "/api/v2/cases?per=999").doc["metadata"]["per"].GetInt(), 999);
    EXPECT_EQ(call("GET", "/api/v2/cases").doc["metadata"]["per"].GetInt(), 20);
}

TEST_F(sandbox_test, boolean_false_matches_missing_key) {  // §5.4
    start(200);
    const auto t = call("GET", "/api/v2/cases?urgent_protection_concern=true&per=1000");
    const auto f = call("GET", "/api/v2/cases?urgent_protection_concern=false&per=1000");
    const int yes = t.doc["metadata"]["total"].GetInt();
    const int no = f.doc["metadata"]["total"].GetInt();
    EXPECT_GT(yes, 0);
    EXPECT_GT(no, yes);
    EXPECT_EQ(yes + no, 200);
    for (const auto& c : t.doc["data"].GetArray()) {
        EXPECT_TRUE(c["urgent_protection_concern"].GetBool());
    }
}

TEST_F(sandbox_test, sort_and_bad_filter) {  // §5.5, §5.7
    start(50);
    const auto r = call("GET", "/api/v2/cases?fields=short&order=asc&order_by=age&per=100");
    int prev = -1;
    for (const auto& c : r.doc["data"].GetArray()) {
        EXPECT_GE(c["age"].GetInt(), prev);
        prev = c["age"].GetInt();
        EXPECT_FALSE(c.HasMember("family_details_section"));  // short fields only
    }
    const auto bad = call("GET", "/api/v2/cases?service_implemented_day_times=List[%22user1%22]");
    EXPECT_EQ(bad.status, 200u);
    EXPECT_EQ(bad.doc["metadata"]["total"].GetInt(), 0);
    EXPECT_EQ(bad.doc["data"].Size(), 0u);
}

TEST_F(sandbox_test, last_updated_at_ranges_have_second_precision) {  // §1.6, §4
    start(3);
    const auto ids = box->case_ids();
    box->set_last_updated(ids[0], "2026-01-01T10:00:00.100Z");
    box->set_last_updated(ids[1], "2026-01-01T10:00:00.900Z");
    box->set_last_updated(ids[2], "2026-01-01T10:00:01.000Z");
    const auto closed = call(
        "GET", "/api/v2/cases?last_updated_at=2026-01-01T10:00:00.500Z..2026-01-01T10:00:00.500Z"
    );
    EXPECT_EQ(closed.doc["metadata"]["total"].GetInt(), 2);  // .100 and .900: same second
    const auto open = call("GET", "/api/v2/cases?last_updated_at=2026-01-01T10:00:01Z..");
    ASSERT_EQ(open.doc["metadata"]["total"].GetInt(), 1);
    EXPECT_EQ(std::string(open.doc["data"][0]["id"].GetString()), ids[2]);
    const auto all = call("GET", "/api/v2/cases?last_updated_at=0000-01-01T00:00:00Z..");
    EXPECT_EQ(all.doc["metadata"]["total"].GetInt(), 3);
}

// A sync reads pages ascending by last_updated_at from a moving start: those are answered from
// a view of the query's matches kept between requests. Each page, and its total, must be what
// a scan of every case gives, also after a case changed between two pages.
TEST_F(sandbox_test, pages_from_a_moving_start_match_a_scan_of_every_case) {
    for (const std::uint64_t seed : {3u, 17u, 2026u}) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        primero_settings s;
        s.cases = 240;
        s.seed = seed;
        box = std::make_unique<primero_sandbox>(s, clock);
        const auto ids = box->case_ids();
        // Many cases share a second: ties at page boundaries.
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const auto second = (i * 7 + seed) % 31;
            box->set_last_updated(
                ids[i],
                "2026-01-01T10:00:" + std::string(second < 10 ? "0" : "") + std::to_string(second) +
                    "." + std::to_string(100 + i % 800) + "Z"
            );
        }
        // What a scan gives: every case of the filter, by the second of its last_updated_at.
        const auto scan = [&](const std::string& from) {
            std::multiset<std::string> seconds;
            const auto all =
                call("GET", "/api/v2/cases?sex=female&per=1000&order_by=last_updated_at&order=asc");
            for (const auto& c : all.doc["data"].GetArray()) {
                const std::string second =
                    std::string(c["last_updated_at"].GetString()).substr(0, 19);
                if (second >= from) {
                    seconds.insert(second);
                }
            }
            return seconds;
        };
        const auto read_from = [&](const std::string& from, int per) {
            return call(
                "GET",
                "/api/v2/cases?sex=female&order_by=last_updated_at&order=asc&per=" +
                    std::to_string(per) + "&last_updated_at=" + from + "Z.."
            );
        };
        std::string from = "2026-01-01T10:00:00";
        ASSERT_GT(scan(from).size(), 40u);  // the filter leaves several pages
        int pages = 0;
        for (int step = 0; step < 40; ++step) {
            const auto want = scan(from);
            const auto got = read_from(from, 9);
            ASSERT_EQ(got.status, 200u);
            ASSERT_EQ(got.doc["metadata"]["total"].GetUint64(), want.size()) << from;
            // The page holds the earliest seconds, in order.
            std::vector<std::string> page;
            for (const auto& c : got.doc["data"].GetArray()) {
                page.push_back(std::string(c["last_updated_at"].GetString()).substr(0, 19));
            }
            const std::vector<std::string> first(
                want.begin(),
                std::next(
                    want.begin(), static_cast<std::ptrdiff_t>(std::min<std::size_t>(9, want.size()))
                )
            );
            EXPECT_EQ(page, first) << from;
            if (page.empty()) {
                break;
            }
            ++pages;
            // A case changes between two pages: the next page must see it.
            if (step % 3 == 1) {
                box->set_last_updated(
                    ids[(static_cast<std::size_t>(step) * 13 + seed) % ids.size()],
                    "2026-01-01T10:00:29.500Z"
                );
            }
            // The next start: the page's last second again while cases of it are left, else
            // the second after it.
            const std::string& last = page.back();
            if (std::count(want.begin(), want.end(), last) !=
                std::count(page.begin(), page.end(), last)) {
                from = last;
                continue;
            }
            const int next = std::stoi(last.substr(17, 2)) + 1;
            if (next >= 60) {
                break;
            }
            from = last.substr(0, 17) + (next < 10 ? "0" : "") + std::to_string(next);
        }
        EXPECT_GT(pages, 5);
    }
}

TEST_F(sandbox_test, show_and_not_found) {  // §5.9
    start(3);
    const auto id = first_id();
    const auto r = call("GET", "/api/v2/cases/" + id);
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(std::string(r.doc["data"]["id"].GetString()), id);
    EXPECT_TRUE(r.doc["data"].HasMember("enabled"));
    EXPECT_TRUE(r.doc["data"].HasMember("workflow"));
    const auto nf = call("GET", "/api/v2/cases/thisdoesntexist");
    ASSERT_EQ(nf.status, 404u);
    const auto& e = nf.doc["errors"][0];
    EXPECT_EQ(e["status"].GetInt(), 404);
    EXPECT_STREQ(e["resource"].GetString(), "/api/v2/cases/thisdoesntexist");
    EXPECT_STREQ(e["message"].GetString(), "Not Found");
    EXPECT_FALSE(e.HasMember("code"));
}

TEST_F(sandbox_test, create_variants) {  // §5.11 – 5.14
    start(0);
    const auto r =
        call("POST", "/api/v2/cases", R"({"data":{"name":"Test","age":12,"sex":"female"}})");
    ASSERT_EQ(r.status, 200u);
    EXPECT_FALSE(std::string(r.doc["data"]["id"].GetString()).empty());
    EXPECT_STREQ(r.doc["data"]["name"].GetString(), "Test");
    EXPECT_EQ(r.doc["data"]["age"].GetInt(), 12);
    EXPECT_STREQ(r.doc["data"]["status"].GetString(), "open");
    EXPECT_NE(std::string(r.doc["data"]["case_id"].GetString()), r.doc["data"]["id"].GetString());

    const std::string uid = "6b7e5a6c-3c1d-4e7f-9a2b-1c2d3e4f5a6b";
    const std::string body =
        R"({"data":{"id":")" + uid + R"(","name":"Test","age":12,"sex":"female"}})";
    const auto c = call("POST", "/api/v2/cases", body);
    EXPECT_EQ(c.status, 204u);
    EXPECT_TRUE(c.raw.body.empty());
    EXPECT_EQ(call("GET", "/api/v2/cases/" + uid).status, 200u);
    const auto dup = call("POST", "/api/v2/cases", body);
    ASSERT_EQ(dup.status, 409u);
    EXPECT_STREQ(dup.doc["errors"][0]["resource"].GetString(), "/api/v2/cases");
    EXPECT_STREQ(
        dup.doc["errors"][0]["message"].GetString(),
        "Conflict: A record with this id already exists"
    );
    const auto bad = call(
        "POST",
        "/api/v2/cases",
        R"({"data":{"name":"Test","age":12,"sex":"female","date_of_birth":"is invalid"}})"
    );
    ASSERT_EQ(bad.status, 422u);
    ASSERT_EQ(bad.doc["errors"].Size(), 1u);
    EXPECT_STREQ(bad.doc["errors"][0]["resource"].GetString(), "/api/v2/cases");
    EXPECT_STREQ(bad.doc["errors"][0]["detail"].GetString(), "date_of_birth");
    EXPECT_TRUE(bad.doc["errors"][0]["message"].IsArray());
    EXPECT_EQ(box->case_count(), 2u);
}

TEST_F(sandbox_test, update_and_subform_merge) {  // §5.15, §5.16
    start(0);
    const std::string id = "0b9f1e2d-3c4b-4a59-8687-a1b2c3d4e5f6";
    const std::string m = "11111111-1111-4111-8111-111111111111";
    const std::string f = "22222222-2222-4222-8222-222222222222";
    const std::string u = "33333333-3333-4333-8333-333333333333";
    call(
        "POST",
        "/api/v2/cases",
        R"({"data":{"id":")" + id + R"(","name":"Test","family_details_section":[{"unique_id":")" +
            m + R"(","relation_type":"mother"},{"unique_id":")" + f +
            R"(","relation_type":"father"}]}})"
    );
    clock.advance(5s);
    const auto r = call(
        "PATCH",
        "/api/v2/cases/" + id,
        R"({"data":{"id":"ffffffff-ffff-4fff-8fff-ffffffffffff","age":10,"national_id_no":"001",)"
        R"("family_details_section":[{"unique_id":")" +
            m + R"(","relation_age":35},{"unique_id":")" + u + R"(","relation_type":"uncle"}]}})"
    );
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(std::string(r.doc["data"]["id"].GetString()), id);
    EXPECT_EQ(r.doc["data"]["age"].GetInt(), 10);
    EXPECT_STREQ(r.doc["data"]["national_id_no"].GetString(), "001");
    EXPECT_FALSE(r.doc["data"].HasMember("name"));  // only changed fields come back
    auto stored = json::parse(*box->case_json(id));
    ASSERT_EQ((*stored)["family_details_section"].Size(), 3u);
    EXPECT_EQ((*stored)["family_details_section"][0]["relation_age"].GetInt(), 35);
    EXPECT_STREQ((*stored)["family_details_section"][0]["relation_type"].GetString(), "mother");
    EXPECT_STRNE((*stored)["last_updated_at"].GetString(), (*stored)["created_at"].GetString());
    call(
        "PATCH",
        "/api/v2/cases/" + id,
        R"({"data":{"family_details_section":[{"unique_id":")" + m + R"(","_destroy":true}]}})"
    );
    stored = json::parse(*box->case_json(id));
    ASSERT_EQ((*stored)["family_details_section"].Size(), 2u);
    EXPECT_STREQ((*stored)["family_details_section"][0]["unique_id"].GetString(), f.c_str());
}

TEST_F(sandbox_test, disable_is_soft) {  // §5.18
    start(2);
    const auto id = first_id();
    const auto r = call("DELETE", "/api/v2/cases/" + id);
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(std::string(r.doc["data"]["id"].GetString()), id);
    const auto s = call("GET", "/api/v2/cases/" + id);
    EXPECT_FALSE(s.doc["data"]["enabled"].GetBool());
    EXPECT_FALSE(s.doc["data"]["record_state"].GetBool());
    EXPECT_EQ(call("GET", "/api/v2/cases?per=10").doc["metadata"]["total"].GetInt(), 2);
    EXPECT_EQ(call("GET", "/api/v2/cases?record_state=true").doc["metadata"]["total"].GetInt(), 1);
    EXPECT_EQ(call("DELETE", "/api/v2/cases/nope").status, 404u);
}

TEST_F(sandbox_test, transfer_lifecycle_and_consent) {  // §5.19
    start(0);
    const std::string id = "44444444-4444-4444-8444-444444444444";
    call(
        "POST",
        "/api/v2/cases",
        R"({"data":{"id":")" + id + R"(","name":"A","disclosure_other_orgs":true}})"
    );
    const auto t = call(
        "POST",
        "/api/v2/cases/" + id + "/transfers",
        R"({"data":{"transitioned_to":"cp_worker_2","notes":"Test Notes"}})"
    );
    ASSERT_EQ(t.status, 200u);
    EXPECT_EQ(std::string(t.doc["data"]["record_id"].GetString()), id);
    EXPECT_STREQ(t.doc["data"]["status"].GetString(), "in_progress");
    EXPECT_STREQ(t.doc["data"]["type"].GetString(), "Transfer");
    EXPECT_STREQ(t.doc["data"]["record_type"].GetString(), "case");
    EXPECT_STREQ(t.doc["data"]["transitioned_by"].GetString(), "primero_cp");
    const std::string tid = t.doc["data"]["id"].GetString();
    EXPECT_EQ(call("GET", "/api/v2/cases/" + id + "/transfers").doc["data"].Size(), 1u);
    const auto acc = call(
        "PATCH", "/api/v2/cases/" + id + "/transfers/" + tid, R"({"data":{"status":"accepted"}})"
    );
    EXPECT_STREQ(acc.doc["data"]["status"].GetString(), "accepted");
    EXPECT_TRUE(acc.doc["data"]["responded_at"].IsString());
    EXPECT_STREQ(
        call("GET", "/api/v2/cases/" + id).doc["data"]["owned_by"].GetString(), "cp_worker_2"
    );

    const std::string no = "55555555-5555-4555-8555-555555555555";
    call(
        "POST", "/api/v2/cases", R"({"data":{"id":")" + no + R"(","disclosure_other_orgs":false}})"
    );
    const auto refused = call(
        "POST",
        "/api/v2/cases/" + no + "/transfers",
        R"({"data":{"transitioned_to":"cp_worker_2"}})"
    );
    ASSERT_EQ(refused.status, 422u);
    EXPECT_STREQ(refused.doc["errors"][0]["detail"].GetString(), "consent");
    EXPECT_STREQ(refused.doc["errors"][0]["message"][0].GetString(), "transition.errors.consent");
    const auto overridden = call(
        "POST",
        "/api/v2/cases/" + no + "/transfers",
        R"({"data":{"transitioned_to":"cp_worker_2","consent_overridden":true}})"
    );
    EXPECT_EQ(overridden.status, 200u);
}

TEST_F(sandbox_test, referral_lifecycle) {  // §5.21
    start(0);
    const std::string id = "66666666-6666-4666-8666-666666666666";
    call(
        "POST",
        "/api/v2/cases",
        R"({"data":{"id":")" + id +
            R"(","disclosure_other_orgs":true,"consent_for_services":true}})"
    );
    const auto r = call(
        "POST",
        "/api/v2/cases/" + id + "/referrals",
        R"({"data":{"transitioned_to":"cp_worker_2","notes":"Test Notes"}})"
    );
    ASSERT_EQ(r.status, 200u);
    const std::string rid = r.doc["data"]["id"].GetString();
    auto stored = json::parse(*box->case_json(id));
    EXPECT_STREQ((*stored)["assigned_user_names"][0].GetString(), "cp_worker_2");
    const auto ext = call(
        "POST",
        "/api/v2/cases/" + id + "/referrals",
        R"({"data":{"remote":true,"service":"alternative_care","transitioned_to_agency":"An external agency","transitioned_to_remote":"An external user"}})"
    );
    ASSERT_EQ(ext.status, 200u);
    EXPECT_STREQ(ext.doc["data"]["type"].GetString(), "Referral");
    EXPECT_FALSE(ext.doc["data"]["user_can_accept_or_reject"].GetBool());
    const auto sys = call(
        "POST",
        "/api/v2/cases/" + id + "/referrals",
        R"({"data":{"transitioned_to":"system_sync"}})"
    );
    ASSERT_EQ(sys.status, 422u);
    EXPECT_EQ(
        json::canonical(sys.doc["errors"][0]),
        R"({"detail":"transitioned_to","message":["transition.errors.to_user_can_receive"],"resource":"/api/v2/cases/)" +
            id + R"(/referrals","status":422})"
    );
    const auto acc = call(
        "PATCH", "/api/v2/cases/" + id + "/referrals/" + rid, R"({"data":{"status":"accepted"}})"
    );
    EXPECT_STREQ(acc.doc["data"]["status"].GetString(), "accepted");
    const auto del = call("DELETE", "/api/v2/cases/" + id + "/referrals/" + rid);
    EXPECT_STREQ(del.doc["data"]["status"].GetString(), "revoked");
    stored = json::parse(*box->case_json(id));
    EXPECT_EQ((*stored)["assigned_user_names"].Size(), 0u);
}

TEST_F(sandbox_test, tokens_session_csrf_lockout_and_throttle) {  // §5.28, §1.4
    start(1);
    const std::string good =
        R"({"user":{"user_name":"primero_cp","password":")" + box->password() + "\"}}";
    const auto login = call("POST", "/api/v2/tokens", good, {}, false);
    ASSERT_EQ(login.status, 200u);
    EXPECT_STREQ(login.doc["user_name"].GetString(), "primero_cp");
    EXPECT_FALSE(login.doc.HasMember("token"));
    std::string cookie;
    std::string csrf;
    for (auto sc : login.raw.headers_named("set-cookie")) {
        const std::string pair(sc.substr(0, sc.find(';')));
        cookie += (cookie.empty() ? "" : "; ") + pair;
        if (pair.rfind("CSRF-TOKEN=", 0) == 0) {
            csrf = pair.substr(11);
        }
    }
    ASSERT_NE(cookie.find("_app_session="), std::string::npos);
    ASSERT_FALSE(csrf.empty());
    EXPECT_EQ(call("GET", "/api/v2/cases", {}, {{"Cookie", cookie}}, false).status, 200u);
    const auto id = first_id();
    const std::string patch = R"({"data":{"age":9}})";
    EXPECT_EQ(
        call("PATCH", "/api/v2/cases/" + id, patch, {{"Cookie", cookie}}, false).status, 403u
    );
    EXPECT_EQ(
        call(
            "PATCH",
            "/api/v2/cases/" + id,
            patch,
            {{"Cookie", cookie}, {"X-CSRF-Token", csrf}},
            false
        )
            .status,
        200u
    );
    const auto no_auth = call("GET", "/api/v2/cases", {}, {}, false);
    EXPECT_EQ(no_auth.status, 401u);
    EXPECT_TRUE(no_auth.doc["error"].IsString());
    EXPECT_TRUE(no_auth.raw.header("www-authenticate").has_value());

    const std::string bad = R"({"user":{"user_name":"primero_cp","password":"wrong"}})";
    const auto refused = call("POST", "/api/v2/tokens", bad, {}, false);
    EXPECT_EQ(refused.status, 401u);
    EXPECT_STREQ(refused.doc["error"].GetString(), "Invalid User name or password.");
    clock.advance(2min);  // a fresh throttle window
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(call("POST", "/api/v2/tokens", bad, {}, false).status, 401u);
    }
    const auto locked = call("POST", "/api/v2/tokens", good, {}, false);  // 7th post this minute
    EXPECT_EQ(locked.status, 429u);
    clock.advance(2min);
    const auto still_locked = call("POST", "/api/v2/tokens", good, {}, false);
    EXPECT_EQ(still_locked.status, 401u);
    EXPECT_STREQ(still_locked.doc["error"].GetString(), "Your account is locked.");
    clock.advance(31min);
    EXPECT_EQ(call("POST", "/api/v2/tokens", good, {}, false).status, 200u);
}

TEST_F(sandbox_test, legacy_jwt_login_and_expiry) {  // §1.4 (c)
    primero_settings s;
    s.legacy_jwt = true;
    start(1, s);
    const std::string good =
        R"({"user":{"user_name":"primero_cp","password":")" + box->password() + "\"}}";
    const auto login = call("POST", "/api/v2/tokens", good, {}, false);
    ASSERT_EQ(login.status, 200u);
    const std::string token = login.doc["token"].GetString();
    EXPECT_EQ(login.raw.header("authorization").value_or(""), "Bearer " + token);
    EXPECT_EQ(
        call("GET", "/api/v2/cases", {}, {{"Authorization", "Bearer " + token}}, false).status, 200u
    );
    clock.advance(61min);
    const auto expired =
        call("GET", "/api/v2/cases", {}, {{"Authorization", "Bearer " + token}}, false);
    EXPECT_EQ(expired.status, 401u);
    EXPECT_EQ(expired.doc["errors"][0]["status"].GetInt(), 401);
}

TEST_F(sandbox_test, basic_auth_and_config_lock) {  // §5.29, §5.30
    start(1);
    EXPECT_EQ(call("GET", "/api/v2/cases").status, 200u);
    box->set_locked(true);
    const auto r = call("GET", "/api/v2/cases");
    ASSERT_EQ(r.status, 503u);
    EXPECT_STREQ(r.doc["errors"][0]["message"].GetString(), "Service Unavailable");
    EXPECT_STREQ(r.doc["errors"][0]["detail"].GetString(), "Retry-After: 60");
    EXPECT_EQ(r.raw.header("retry-after").value_or(""), "60");
    box->set_locked(false);
    EXPECT_EQ(call("GET", "/api/v2/cases").status, 200u);
}

TEST_F(sandbox_test, mark_synced_sets_sync_status_without_touching_the_record) {  // §5.31
    start(1);
    const auto id = first_id();
    const std::string before =
        call("GET", "/api/v2/cases/" + id).doc["data"]["last_updated_at"].GetString();
    clock.advance(10s);
    const auto r = call(
        "PATCH",
        "/api/v2/cases/" + id,
        R"({"data":{"mark_synced":true,"mark_synced_url":"https://example.com/inbox/abc123"}})"
    );
    ASSERT_EQ(r.status, 200u);
    const auto s = call("GET", "/api/v2/cases/" + id);
    EXPECT_STREQ(s.doc["data"]["sync_status"].GetString(), "synced");
    EXPECT_EQ(std::string(s.doc["data"]["last_updated_at"].GetString()), before);
    EXPECT_FALSE(s.doc["data"].HasMember("mark_synced"));
    EXPECT_EQ(box->mark_synced_count(id), 1u);
}

TEST_F(sandbox_test, synthetic_cases_are_deterministic_and_realistic) {
    start(300);
    const auto a = box->case_ids();
    primero_sandbox other({.cases = 300, .seed = 42}, clock);
    EXPECT_EQ(other.case_ids(), a);
    EXPECT_EQ(other.password(), box->password());
    primero_sandbox third({.cases = 300, .seed = 43}, clock);
    EXPECT_NE(third.case_ids(), a);
    std::size_t bengali = 0;
    std::size_t ties = 0;
    std::string prev;
    std::set<std::string> ids;
    for (const auto& id : a) {
        auto rec = json::parse(*box->case_json(id));
        ASSERT_TRUE(rec);
        ids.insert(id);
        const std::string name = (*rec)["name"].GetString();
        if (static_cast<unsigned char>(name[0]) >= 0xE0) {
            ++bengali;
        }
        const std::string updated = (*rec)["last_updated_at"].GetString();
        if (updated.substr(0, 19) == prev.substr(0, std::min<std::size_t>(19, prev.size()))) {
            ++ties;
        }
        prev = updated;
        EXPECT_EQ(
            std::string((*rec)["short_id"].GetString()),
            std::string((*rec)["case_id"].GetString()).substr(29)
        );
        for (const auto& row : (*rec)["family_details_section"].GetArray()) {
            EXPECT_TRUE(row["unique_id"].IsString());
        }
    }
    EXPECT_EQ(ids.size(), 300u);
    EXPECT_GT(bengali, 30u);
    EXPECT_LT(bengali, 200u);
    EXPECT_GT(ties, 50u);  // many cases share a second: paging must cope
}

TEST_F(PrimeroSandboxChecks, Check03ForbiddenIndex) {
    start(3);
    // Every user has a password of their own.
    EXPECT_NE(box->password_of("cp_user_admin"), box->password_of(box->user_name()));
    EXPECT_FALSE(box->password_of("nobody").has_value());
    const auto wrong = call(
        "GET",
        "/api/v2/cases",
        {},
        {{"Authorization", "Basic " + base64_encode("cp_user_admin:" + box->password())}},
        false
    );
    EXPECT_EQ(wrong.status, 401u);

    // A user whose role has no case permissions.
    for (const std::string target : {"/api/v2/cases", "/api/v2/cases?per=5&page=2"}) {
        const auto r = call_as("cp_user_admin", "GET", target);
        ASSERT_EQ(r.status, 403u) << target;
        ASSERT_TRUE(r.doc["errors"].IsArray());
        ASSERT_EQ(r.doc["errors"].Size(), 1u);
        EXPECT_EQ(
            json::canonical(r.doc["errors"][0]),
            R"({"message":"Forbidden","resource":"/api/v2/cases","status":403})"
        );
        EXPECT_EQ(r.raw.body, forbidden_body("/api/v2/cases"));  // keys in Primero's order
        EXPECT_FALSE(r.doc.HasMember("data"));
    }
    const auto id = first_id();
    const auto show = call_as("cp_user_admin", "GET", "/api/v2/cases/" + id);
    EXPECT_EQ(show.status, 403u);
    EXPECT_EQ(show.raw.body, forbidden_body("/api/v2/cases/" + id));
    // The main user still sees every case.
    const auto all = call("GET", "/api/v2/cases");
    ASSERT_EQ(all.status, 200u);
    EXPECT_EQ(all.doc["metadata"]["total"].GetInt(), 3);
}

TEST_F(PrimeroSandboxChecks, Check09ShowOutOfScopeIsForbidden) {
    start(3);
    const auto id = first_id();
    // cp_worker_2's scope is their own cases; the synthetic ones belong to the main user.
    const auto list = call_as("cp_worker_2", "GET", "/api/v2/cases");
    ASSERT_EQ(list.status, 200u);
    EXPECT_EQ(list.doc["metadata"]["total"].GetInt(), 0);
    const auto r = call_as("cp_worker_2", "GET", "/api/v2/cases/" + id);
    ASSERT_EQ(r.status, 403u);
    ASSERT_EQ(r.doc["errors"].Size(), 1u);
    EXPECT_EQ(r.doc["errors"][0]["status"].GetInt(), 403);
    EXPECT_EQ(std::string(r.doc["errors"][0]["resource"].GetString()), "/api/v2/cases/" + id);
    EXPECT_STREQ(r.doc["errors"][0]["message"].GetString(), "Forbidden");
    // Not found comes before forbidden.
    const auto nf = call_as("cp_worker_2", "GET", "/api/v2/cases/thisdoesntexist");
    EXPECT_EQ(nf.status, 404u);
    // Writes outside the scope are refused too, and change nothing.
    const std::string before = *box->case_json(id);
    EXPECT_EQ(
        call_as("cp_worker_2", "PATCH", "/api/v2/cases/" + id, R"({"data":{"age":3}})").status, 403u
    );
    EXPECT_EQ(call_as("cp_worker_2", "DELETE", "/api/v2/cases/" + id).status, 403u);
    EXPECT_EQ(*box->case_json(id), before);

    // A case the user creates is theirs, and in scope.
    const auto created =
        call_as("cp_worker_2", "POST", "/api/v2/cases", R"({"data":{"name":"Own","age":4}})");
    ASSERT_EQ(created.status, 200u);
    const std::string own = created.doc["data"]["id"].GetString();
    EXPECT_STREQ(created.doc["data"]["owned_by"].GetString(), "cp_worker_2");
    EXPECT_EQ(call_as("cp_worker_2", "GET", "/api/v2/cases/" + own).status, 200u);
    const auto mine = call_as("cp_worker_2", "GET", "/api/v2/cases");
    ASSERT_EQ(mine.doc["metadata"]["total"].GetInt(), 1);
    EXPECT_EQ(std::string(mine.doc["data"][0]["id"].GetString()), own);
    EXPECT_EQ(call("GET", "/api/v2/cases").doc["metadata"]["total"].GetInt(), 4);  // scope all

    // A referral puts the recipient among the case's users: it enters their scope.
    call(
        "PATCH",
        "/api/v2/cases/" + id,
        R"({"data":{"disclosure_other_orgs":true,"consent_for_services":true}})"
    );
    ASSERT_EQ(
        call(
            "POST",
            "/api/v2/cases/" + id + "/referrals",
            R"({"data":{"transitioned_to":"cp_worker_2"}})"
        )
            .status,
        200u
    );
    EXPECT_EQ(call_as("cp_worker_2", "GET", "/api/v2/cases/" + id).status, 200u);
    EXPECT_EQ(call_as("cp_worker_2", "GET", "/api/v2/cases").doc["metadata"]["total"].GetInt(), 2);
}

TEST_F(PrimeroSandboxChecks, Check12CreateWithoutPermissionIsForbidden) {
    start(0);
    const std::string uid = "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f";
    const std::string body =
        R"({"data":{"id":")" + uid + R"(","name":"Test","age":12,"sex":"female"}})";
    for (const char* user : {"cp_user_admin", "system_sync"}) {
        const auto r = call_as(user, "POST", "/api/v2/cases", body);
        EXPECT_EQ(r.status, 403u) << user;
        EXPECT_EQ(r.raw.body, forbidden_body("/api/v2/cases")) << user;
    }
    EXPECT_EQ(box->case_count(), 0u);
    EXPECT_EQ(call("GET", "/api/v2/cases/" + uid).status, 404u);
    const auto ok = call_as("cp_worker_2", "POST", "/api/v2/cases", body);
    EXPECT_EQ(ok.status, 204u);
    EXPECT_EQ(box->case_count(), 1u);
}

TEST_F(PrimeroSandboxChecks, Check15UpdateKeepsIdsAndDropsUnknownFields) {
    start(0);
    const std::string id = "8d9e0f1a-2b3c-4d4e-9f5a-6b7c8d9e0f1a";
    const std::string other = "9e0f1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b";
    create_case(id, R"("age":12,"sex":"male")");
    clock.advance(3s);
    const auto upd = call(
        "PATCH", "/api/v2/cases/" + id, R"({"data":{"name":"Tester","age":10,"sex":"female"}})"
    );
    ASSERT_EQ(upd.status, 200u);
    EXPECT_EQ(std::string(upd.doc["data"]["id"].GetString()), id);
    EXPECT_EQ(upd.doc["data"]["age"].GetInt(), 10);
    EXPECT_STREQ(upd.doc["data"]["sex"].GetString(), "female");
    EXPECT_TRUE(upd.doc["data"]["last_updated_at"].IsString());

    const auto unknown = call(
        "PATCH",
        "/api/v2/cases/" + id,
        R"({"data":{"name":"TesterTester","unauthorized_field":"0001"}})"
    );
    ASSERT_EQ(unknown.status, 200u);
    EXPECT_STREQ(unknown.doc["data"]["name"].GetString(), "TesterTester");
    EXPECT_FALSE(unknown.doc["data"].HasMember("unauthorized_field"));
    auto rec = stored(id);
    ASSERT_TRUE(rec);
    EXPECT_STREQ((*rec)["name"].GetString(), "TesterTester");
    EXPECT_FALSE(rec->HasMember("unauthorized_field"));
    EXPECT_FALSE(call("GET", "/api/v2/cases/" + id).doc["data"].HasMember("unauthorized_field"));

    const auto new_id =
        call("PATCH", "/api/v2/cases/" + id, R"({"data":{"id":")" + other + R"("}})");
    ASSERT_EQ(new_id.status, 200u);
    EXPECT_EQ(std::string(new_id.doc["data"]["id"].GetString()), id);
    EXPECT_TRUE(box->case_json(id).has_value());
    EXPECT_FALSE(box->case_json(other).has_value());
    EXPECT_EQ(box->case_ids(), std::vector<std::string>{id});

    const auto nid = call("PATCH", "/api/v2/cases/" + id, R"({"data":{"national_id_no":"001"}})");
    ASSERT_EQ(nid.status, 200u);
    ASSERT_TRUE(nid.doc["data"]["national_id_no"].IsString());
    EXPECT_STREQ(nid.doc["data"]["national_id_no"].GetString(), "001");
    rec = stored(id);
    ASSERT_TRUE((*rec)["national_id_no"].IsString());
    EXPECT_STREQ((*rec)["national_id_no"].GetString(), "001");

    // A create drops unknown fields the same way.
    const auto created =
        call("POST", "/api/v2/cases", R"({"data":{"name":"New","unauthorized_field":"0001"}})");
    ASSERT_EQ(created.status, 200u);
    EXPECT_FALSE(created.doc["data"].HasMember("unauthorized_field"));
    EXPECT_FALSE(stored(created.doc["data"]["id"].GetString())->HasMember("unauthorized_field"));
}

// Every top-level field the Primero mapping can send, and every field of a synthetic case,
// is a field of the sandbox's forms: a PATCH stores each of them.
TEST_F(PrimeroSandboxChecks, Check15KnownFieldsCoverTheMappingAndTheSyntheticCases) {
    start(40);
    std::ifstream in(std::string(CASEBRIDGE_SOURCE_DIR) + "/mappings/primero.case.json");
    std::stringstream text;
    text << in.rdbuf();
    auto mapping = json::parse(text.str(), json::dialect::with_comments);
    ASSERT_TRUE(mapping) << "mappings/primero.case.json does not parse";
    std::set<std::string> subforms;
    std::set<std::string> names;
    for (const auto& rule : (*mapping)["rules"].GetArray()) {
        if (rule.HasMember("same")) {
            for (const auto& n : rule["same"].GetArray()) {
                names.insert(n.GetString());
            }
        }
        if (rule.HasMember("system")) {
            std::string pointer = rule["system"].GetString();
            const std::string top = pointer.substr(1, pointer.find('/', 1) - 1);
            names.insert(top);
            if (rule.HasMember("rows")) {
                subforms.insert(top);
            }
        }
    }
    ASSERT_GT(names.size(), 80u);
    // Values of the right type: taken from the synthetic cases where they have the field.
    rapidjson::Document patch(rapidjson::kObjectType);
    auto& a = patch.GetAllocator();
    for (const auto& cid : box->case_ids()) {
        const auto rec = stored(cid);
        for (const auto& m : rec->GetObject()) {
            if (!patch.HasMember(m.name)) {
                patch.AddMember(rapidjson::Value(m.name, a), rapidjson::Value(m.value, a), a);
            }
        }
    }
    const std::map<std::string, std::string> typed = {
        {"age", "7"},
        {"date_of_birth", R"("2019-04-05")"},
        {"registration_date", R"("2025-01-02")"},
        {"record_state", "true"},
        {"consent_for_services", "true"},
        {"disclosure_other_orgs", "true"}};
    for (const auto& n : names) {
        if (patch.HasMember(n.c_str())) {
            continue;
        }
        std::string v = R"("v")";
        if (const auto t = typed.find(n); t != typed.end()) {
            v = t->second;
        } else if (subforms.count(n) != 0) {
            v = R"([{"unique_id":"0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"}])";
        }
        auto value = json::parse(v);
        patch.AddMember(rapidjson::Value(n.c_str(), a), rapidjson::Value(*value, a), a);
    }
    const std::string id = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
    create_case(id);
    rapidjson::Document body(rapidjson::kObjectType);
    body.AddMember("data", rapidjson::Value(patch, body.GetAllocator()), body.GetAllocator());
    const auto r = call("PATCH", "/api/v2/cases/" + id, json::to_string(body));
    ASSERT_EQ(r.status, 200u);
    const auto rec = stored(id);
    // Ids never change, and the server keeps these up to date itself.
    const std::set<std::string> server_owned = {
        "id",
        "case_id",
        "case_id_display",
        "short_id",
        "unique_identifier",
        "created_at",
        "created_by",
        "last_updated_at",
        "last_updated_by"};
    std::size_t checked = 0;
    for (const auto& m : patch.GetObject()) {
        const std::string n = m.name.GetString();
        if (server_owned.count(n) != 0) {
            continue;
        }
        ASSERT_TRUE(rec->HasMember(n.c_str())) << "dropped: " << n;
        EXPECT_EQ(json::canonical((*rec)[n.c_str()]), json::canonical(m.value)) << n;
        ++checked;
    }
    EXPECT_GT(checked, 75u);
}

TEST_F(PrimeroSandboxChecks, Check17RecordActionNeedsItsOwnPermission) {
    primero_settings s;
    s.users.push_back({"reader", "", "all", {"read"}, false});
    s.users.push_back({"closer", "", "all", {"read", "close"}, false});
    s.users.push_back({"reopener", "", "all", {"read", "reopen"}, false});
    s.users.push_back({"disabler", "", "all", {"read", "enable_disable_record"}, false});
    start(2, s);
    const auto id = first_id();
    const std::string path = "/api/v2/cases/" + id;
    ASSERT_EQ(call("PATCH", path, R"({"data":{"status":"open","name":"Before"}})").status, 200u);
    const auto status_of = [&] { return std::string((*stored(id))["status"].GetString()); };

    // close
    const std::string close = R"({"data":{"status":"closed"},"record_action":"close"})";
    const auto refused = call_as("reader", "PATCH", path, close);
    EXPECT_EQ(refused.status, 403u);
    EXPECT_EQ(refused.raw.body, forbidden_body(path));
    EXPECT_EQ(call_as("reopener", "PATCH", path, close).status, 403u);  // another action
    EXPECT_EQ(status_of(), "open");
    const auto closed = call_as("closer", "PATCH", path, close);
    ASSERT_EQ(closed.status, 200u);
    EXPECT_STREQ(closed.doc["data"]["status"].GetString(), "closed");
    EXPECT_EQ(status_of(), "closed");
    // The action opens only its own fields; without record_action nothing is allowed.
    const auto sneaky = call_as(
        "closer",
        "PATCH",
        path,
        R"({"data":{"status":"closed","name":"Changed"},"record_action":"close"})"
    );
    EXPECT_EQ(sneaky.status, 200u);
    EXPECT_FALSE(sneaky.doc["data"].HasMember("name"));
    EXPECT_STREQ((*stored(id))["name"].GetString(), "Before");
    EXPECT_EQ(call_as("closer", "PATCH", path, R"({"data":{"name":"Changed"}})").status, 403u);
    EXPECT_EQ(
        call_as("closer", "PATCH", path, R"({"data":{"status":"open"},"record_action":"promote"})")
            .status,
        403u
    );

    // reopen
    const std::string reopen =
        R"({"data":{"status":"open","case_status_reopened":true},"record_action":"reopen"})";
    EXPECT_EQ(call_as("reader", "PATCH", path, reopen).status, 403u);
    EXPECT_EQ(call_as("closer", "PATCH", path, reopen).status, 403u);
    EXPECT_EQ(status_of(), "closed");
    const auto reopened = call_as("reopener", "PATCH", path, reopen);
    ASSERT_EQ(reopened.status, 200u);
    EXPECT_STREQ(reopened.doc["data"]["status"].GetString(), "open");
    EXPECT_TRUE(reopened.doc["data"]["case_status_reopened"].GetBool());
    EXPECT_EQ(status_of(), "open");

    // enable_disable_record
    const std::string disable =
        R"({"data":{"record_state":false},"record_action":"enable_disable_record"})";
    EXPECT_EQ(call_as("reader", "PATCH", path, disable).status, 403u);
    EXPECT_TRUE((*stored(id))["record_state"].GetBool());
    const auto disabled = call_as("disabler", "PATCH", path, disable);
    ASSERT_EQ(disabled.status, 200u);
    ASSERT_TRUE(disabled.doc["data"]["record_state"].IsBool());
    EXPECT_FALSE(disabled.doc["data"]["record_state"].GetBool());
    EXPECT_FALSE(disabled.doc["data"]["enabled"].GetBool());
    EXPECT_FALSE((*stored(id))["record_state"].GetBool());
    // Reading is all the reader may do.
    EXPECT_EQ(call_as("reader", "GET", path).status, 200u);
}

TEST_F(PrimeroSandboxChecks, Check18DisableWithoutPermissionIsForbidden) {
    start(1);
    const auto id = first_id();
    const auto r = call_as("cp_manager", "DELETE", "/api/v2/cases/" + id);  // no such action
    EXPECT_EQ(r.status, 403u);
    EXPECT_EQ(r.raw.body, forbidden_body("/api/v2/cases/" + id));
    EXPECT_EQ(call_as("cp_manager", "DELETE", "/api/v2/cases/nope").status, 404u);
    EXPECT_TRUE((*stored(id))["record_state"].GetBool());
}

TEST_F(PrimeroSandboxChecks, Check20BulkTransferAppliesTheConsentRuleToEachCase) {
    start(0);
    const std::string a = "a0000000-0000-4000-8000-00000000000a";
    const std::string b = "b0000000-0000-4000-8000-00000000000b";
    const std::string c = "c0000000-0000-4000-8000-00000000000c";
    const std::string d = "d0000000-0000-4000-8000-00000000000d";
    create_case(a, R"("disclosure_other_orgs":true)");
    create_case(b, R"("disclosure_other_orgs":true)");
    create_case(c, R"("disclosure_other_orgs":false)");
    create_case(d, R"("disclosure_other_orgs":true)");
    const auto r = call(
        "POST",
        "/api/v2/cases/transfers",
        R"({"data":{"ids":[")" + b + R"(",")" + a +
            R"("],"transitioned_to":"cp_worker_2","notes":"Test Notes"}})"
    );
    ASSERT_EQ(r.status, 200u);
    ASSERT_TRUE(r.doc["data"].IsArray());
    ASSERT_EQ(r.doc["data"].Size(), 2u);
    EXPECT_FALSE(r.doc.HasMember("errors"));
    EXPECT_EQ(std::string(r.doc["data"][0]["record_id"].GetString()), b);  // request order
    EXPECT_EQ(std::string(r.doc["data"][1]["record_id"].GetString()), a);
    for (const auto& t : r.doc["data"].GetArray()) {
        EXPECT_STREQ(t["status"].GetString(), "in_progress");
        EXPECT_STREQ(t["type"].GetString(), "Transfer");
        EXPECT_STREQ(t["transitioned_to"].GetString(), "cp_worker_2");
        EXPECT_STREQ(t["transitioned_by"].GetString(), "primero_cp");
        EXPECT_STREQ(t["notes"].GetString(), "Test Notes");
    }
    for (const auto& id : {a, b}) {
        EXPECT_STREQ((*stored(id))["transfer_status"].GetString(), "in_progress");
        EXPECT_EQ(call("GET", "/api/v2/cases/" + id + "/transfers").doc["data"].Size(), 1u);
        EXPECT_EQ(call_as("cp_worker_2", "GET", "/api/v2/cases/" + id).status, 200u);
    }

    // The consent rule holds for each case: the refused one gets an error, the others go.
    const auto mixed = call(
        "POST",
        "/api/v2/cases/transfers",
        R"({"data":{"ids":[")" + c + R"(",")" + d + R"("],"transitioned_to":"cp_worker_2"}})"
    );
    ASSERT_EQ(mixed.status, 200u);
    ASSERT_EQ(mixed.doc["data"].Size(), 1u);
    EXPECT_EQ(std::string(mixed.doc["data"][0]["record_id"].GetString()), d);
    ASSERT_EQ(mixed.doc["errors"].Size(), 1u);
    EXPECT_EQ(
        json::canonical(mixed.doc["errors"][0]),
        R"({"detail":"consent","message":["transition.errors.consent"],"resource":"/api/v2/cases/)" +
            c + R"(/transfers","status":422})"
    );
    EXPECT_EQ(call("GET", "/api/v2/cases/" + c + "/transfers").doc["data"].Size(), 0u);
    EXPECT_FALSE(stored(c)->HasMember("transfer_status"));
    EXPECT_EQ(call_as("cp_worker_2", "GET", "/api/v2/cases/" + c).status, 403u);
    const auto overridden = call(
        "POST",
        "/api/v2/cases/transfers",
        R"({"data":{"ids":[")" + c +
            R"("],"transitioned_to":"cp_worker_2","consent_overridden":true}})"
    );
    ASSERT_EQ(overridden.status, 200u);
    EXPECT_EQ(overridden.doc["data"].Size(), 1u);

    // Authorised for every case or refused as a whole.
    const std::string own = "e0000000-0000-4000-8000-00000000000e";
    ASSERT_EQ(
        call_as(
            "cp_worker_2",
            "POST",
            "/api/v2/cases",
            R"({"data":{"id":")" + own + R"(","disclosure_other_orgs":true}})"
        )
            .status,
        204u
    );
    const std::string theirs = "e1000000-0000-4000-8000-00000000000e";  // the main user's
    create_case(theirs, R"("disclosure_other_orgs":true)");
    const std::string one_out_of_scope =
        R"({"data":{"ids":[")" + own + R"(",")" + theirs + R"("],"transitioned_to":"cp_manager"}})";
    const auto mixed_scope =
        call_as("cp_worker_2", "POST", "/api/v2/cases/transfers", one_out_of_scope);
    EXPECT_EQ(mixed_scope.status, 403u);
    EXPECT_EQ(mixed_scope.raw.body, forbidden_body("/api/v2/cases/transfers"));
    EXPECT_EQ(call("GET", "/api/v2/cases/" + own + "/transfers").doc["data"].Size(), 0u);
    EXPECT_EQ(
        call_as(
            "cp_user_admin",
            "POST",
            "/api/v2/cases/transfers",
            R"({"data":{"ids":[")" + a + R"("],"transitioned_to":"cp_worker_2"}})"
        )
            .status,
        403u
    );
    const auto unknown = call(
        "POST",
        "/api/v2/cases/transfers",
        R"({"data":{"ids":[")" + a +
            R"(","f0000000-0000-4000-8000-00000000000f"],"transitioned_to":"cp_worker_2"}})"
    );
    EXPECT_EQ(unknown.status, 404u);
    EXPECT_EQ(call("GET", "/api/v2/cases/" + a + "/transfers").doc["data"].Size(), 1u);
    EXPECT_EQ(
        call("POST", "/api/v2/cases/transfers", R"({"data":{"transitioned_to":"cp_worker_2"}})")
            .status,
        422u
    );
}

TEST_F(PrimeroSandboxChecks, Check20BulkReferralUsesTheReferralConsentRule) {
    start(0);
    const std::string both = "a1000000-0000-4000-8000-00000000000a";
    const std::string only_disclosure = "b1000000-0000-4000-8000-00000000000b";
    create_case(both, R"("disclosure_other_orgs":true,"consent_for_services":true)");
    create_case(only_disclosure, R"("disclosure_other_orgs":true,"consent_for_services":false)");
    const auto r = call(
        "POST",
        "/api/v2/cases/referrals",
        R"({"data":{"ids":[")" + both + R"(",")" + only_disclosure +
            R"("],"transitioned_to":"cp_worker_2","notes":"Test Notes"}})"
    );
    ASSERT_EQ(r.status, 200u);
    ASSERT_EQ(r.doc["data"].Size(), 1u);
    EXPECT_STREQ(r.doc["data"][0]["type"].GetString(), "Referral");
    EXPECT_EQ(std::string(r.doc["data"][0]["record_id"].GetString()), both);
    ASSERT_EQ(r.doc["errors"].Size(), 1u);
    EXPECT_EQ(
        std::string(r.doc["errors"][0]["resource"].GetString()),
        "/api/v2/cases/" + only_disclosure + "/referrals"
    );
    EXPECT_STREQ(r.doc["errors"][0]["detail"].GetString(), "consent");
}

TEST_F(PrimeroSandboxChecks, Check22TransferRequestGoesToTheOwner) {
    start(0);
    const std::string id = "a2000000-0000-4000-8000-00000000000a";
    create_case(id, R"("disclosure_other_orgs":true)");
    // user2 (cp_worker_2) cannot open user1's (primero_cp) case, but may ask for it.
    ASSERT_EQ(call_as("cp_worker_2", "GET", "/api/v2/cases/" + id).status, 403u);
    const std::string path = "/api/v2/cases/" + id + "/transfer_requests";
    const auto r = call_as("cp_worker_2", "POST", path, R"({"data":{"notes":"Test Notes"}})");
    ASSERT_EQ(r.status, 200u);
    const auto& t = r.doc["data"];
    EXPECT_STREQ(t["type"].GetString(), "TransferRequest");
    EXPECT_STREQ(t["status"].GetString(), "in_progress");
    EXPECT_STREQ(t["transitioned_to"].GetString(), "primero_cp");
    EXPECT_STREQ(t["transitioned_by"].GetString(), "cp_worker_2");
    EXPECT_STREQ(t["notes"].GetString(), "Test Notes");
    EXPECT_EQ(std::string(t["record_id"].GetString()), id);
    EXPECT_TRUE(t["record_access_denied"].GetBool());
    EXPECT_FALSE(t.HasMember("record"));  // the requester cannot read the case
    EXPECT_FALSE(t["user_can_accept_or_reject"].GetBool());
    const std::string tid = t["id"].GetString();
    // Without request_transfer: refused.
    const auto refused = call_as("cp_user_admin", "POST", path, R"({"data":{"notes":"x"}})");
    EXPECT_EQ(refused.status, 403u);
    EXPECT_EQ(refused.raw.body, forbidden_body(path));
    // The owner sees it and may answer it.
    const auto list = call("GET", path);
    ASSERT_EQ(list.status, 200u);
    ASSERT_EQ(list.doc["data"].Size(), 1u);
    EXPECT_TRUE(list.doc["data"][0]["user_can_accept_or_reject"].GetBool());
    EXPECT_EQ(call("GET", "/api/v2/cases/" + id + "/transfers").doc["data"].Size(), 0u);

    // Accepting makes a transfer from the owner to the requester.
    const auto acc = call("PATCH", path + "/" + tid, R"({"data":{"status":"accepted"}})");
    ASSERT_EQ(acc.status, 200u);
    EXPECT_STREQ(acc.doc["data"]["status"].GetString(), "accepted");
    EXPECT_TRUE(acc.doc["data"]["responded_at"].IsString());
    const auto transfers = call("GET", "/api/v2/cases/" + id + "/transfers");
    ASSERT_EQ(transfers.doc["data"].Size(), 1u);
    EXPECT_STREQ(transfers.doc["data"][0]["transitioned_by"].GetString(), "primero_cp");
    EXPECT_STREQ(transfers.doc["data"][0]["transitioned_to"].GetString(), "cp_worker_2");
    EXPECT_STREQ(transfers.doc["data"][0]["status"].GetString(), "in_progress");
    EXPECT_EQ(call_as("cp_worker_2", "GET", "/api/v2/cases/" + id).status, 200u);

    // Without consent to disclose, the request can be made but not accepted.
    const std::string closed = "b2000000-0000-4000-8000-00000000000b";
    create_case(closed, R"("disclosure_other_orgs":false)");
    const std::string cpath = "/api/v2/cases/" + closed + "/transfer_requests";
    const auto r2 = call_as("cp_worker_2", "POST", cpath, R"({"data":{"notes":"n"}})");
    ASSERT_EQ(r2.status, 200u);
    const auto no = call(
        "PATCH", cpath + "/" + r2.doc["data"]["id"].GetString(), R"({"data":{"status":"accepted"}})"
    );
    EXPECT_EQ(no.status, 422u);
    EXPECT_STREQ(no.doc["errors"][0]["detail"].GetString(), "consent");
    EXPECT_STREQ(call("GET", cpath).doc["data"][0]["status"].GetString(), "in_progress");
    EXPECT_EQ(call("GET", "/api/v2/cases/" + closed + "/transfers").doc["data"].Size(), 0u);
    // A requester cannot answer their own request.
    EXPECT_EQ(
        call_as(
            "cp_worker_2",
            "PATCH",
            cpath + "/" + r2.doc["data"]["id"].GetString(),
            R"({"data":{"status":"rejected"}})"
        )
            .status,
        403u
    );
}

TEST_F(PrimeroSandboxChecks, Check06LocationFilterIncludesDescendants) {
    start(0);
    const std::map<std::string, std::string> at = {
        {"10000000-0000-4000-8000-000000000001", "LOC01"},
        {"10000000-0000-4000-8000-000000000002", "LOC0102"},
        {"10000000-0000-4000-8000-000000000003", "LOC010203"},
        {"10000000-0000-4000-8000-000000000004", "LOC0103"},
        {"10000000-0000-4000-8000-000000000005", "LOC02"},
        {"10000000-0000-4000-8000-000000000006", "LOC0201"}};
    for (const auto& [id, loc] : at) {
        create_case(id, R"("location_current":")" + loc + "\"");
    }
    create_case("10000000-0000-4000-8000-000000000007");  // no location
    const auto found = [&](const std::string& query) {
        const auto r = call("GET", "/api/v2/cases?fields=short&per=100&" + query);
        EXPECT_EQ(r.status, 200u) << query;
        std::set<std::string> locs;
        for (const auto& c : r.doc["data"].GetArray()) {
            locs.insert(c["location_current"].GetString());
        }
        EXPECT_EQ(static_cast<std::size_t>(r.doc["metadata"]["total"].GetInt()), locs.size());
        return locs;
    };
    EXPECT_EQ(
        found("loc:location_current[0]=LOC0102"), (std::set<std::string>{"LOC0102", "LOC010203"})
    );
    EXPECT_EQ(
        found("loc:location_current=LOC01"),
        (std::set<std::string>{"LOC01", "LOC0102", "LOC010203", "LOC0103"})
    );
    EXPECT_EQ(
        found("loc:location_current[0]=LOC0102&loc:location_current[1]=LOC02"),
        (std::set<std::string>{"LOC0102", "LOC010203", "LOC02", "LOC0201"})
    );
    EXPECT_EQ(found("loc:location_current=LOC03"), std::set<std::string>{});
    // Without `loc:` the code must match exactly.
    EXPECT_EQ(found("location_current=LOC01"), std::set<std::string>{"LOC01"});

    // The synthetic cases use Bangladesh codes, hierarchical in the same way.
    primero_sandbox synthetic({.cases = 120, .seed = 7}, clock);
    std::size_t upazila = 0;
    for (const auto& id : synthetic.case_ids()) {
        const auto rec = json::parse(*synthetic.case_json(id));
        if (std::string((*rec)["location_current"].GetString()).rfind("BD202201", 0) == 0) {
            ++upazila;
        }
    }
    ASSERT_GT(upazila, 0u);
    ASSERT_LT(upazila, 120u);
    http_request req;
    req.url = synthetic.base_url() + "/api/v2/cases?loc:location_current=BD202201&per=1";
    req.headers.push_back(
        {"Authorization",
         "Basic " + base64_encode(synthetic.user_name() + ":" + synthetic.password())}
    );
    const auto r = test::run_awaitable(send_one(std::move(req)));
    ASSERT_TRUE(r);
    const auto doc = json::parse(r->body);
    EXPECT_EQ(static_cast<std::size_t>((*doc)["metadata"]["total"].GetInt()), upazila);
}

TEST_F(PrimeroSandboxChecks, Check08IdSearchFindsOtherOwnersCases) {
    primero_settings s;
    s.users.push_back(
        {"searcher", "", "self", {"read", "create", "write", "search_owned_by_others"}, false}
    );
    start(5, s);
    const auto created =
        call_as("searcher", "POST", "/api/v2/cases", R"({"data":{"name":"Own","age":9}})");
    ASSERT_EQ(created.status, 200u);
    const std::string own = created.doc["data"]["id"].GetString();
    const std::string own_display = created.doc["data"]["case_id_display"].GetString();

    // A plain list is the user's own cases only.
    const auto plain = call_as("searcher", "GET", "/api/v2/cases");
    ASSERT_EQ(plain.status, 200u);
    ASSERT_EQ(plain.doc["metadata"]["total"].GetInt(), 1);
    EXPECT_STREQ(plain.doc["data"][0]["owned_by"].GetString(), "searcher");

    const auto other = first_id();
    const std::string display = (*stored(other))["case_id_display"].GetString();
    const auto r = call_as("searcher", "GET", "/api/v2/cases?id_search=true&query=" + display);
    ASSERT_EQ(r.status, 200u);
    ASSERT_EQ(r.doc["metadata"]["total"].GetInt(), 1);
    const auto& hit = r.doc["data"][0];
    EXPECT_EQ(std::string(hit["id"].GetString()), other);
    EXPECT_STRNE(hit["owned_by"].GetString(), "searcher");
    EXPECT_STREQ(hit["case_id_display"].GetString(), display.c_str());
    EXPECT_FALSE(hit["record_in_scope"].GetBool());
    EXPECT_FALSE(hit.HasMember("date_of_birth"));  // summary fields only
    EXPECT_FALSE(hit.HasMember("family_details_section"));
    // Still not readable.
    EXPECT_EQ(call_as("searcher", "GET", "/api/v2/cases/" + other).status, 403u);
    // Case-insensitive, and the user's own cases say they are in scope.
    std::string upper = own_display;
    for (auto& c : upper) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    const auto mine = call_as("searcher", "GET", "/api/v2/cases?id_search=true&query=" + upper);
    ASSERT_EQ(mine.doc["metadata"]["total"].GetInt(), 1);
    EXPECT_EQ(std::string(mine.doc["data"][0]["id"].GetString()), own);
    EXPECT_TRUE(mine.doc["data"][0]["record_in_scope"].GetBool());
    EXPECT_TRUE(mine.doc["data"][0].HasMember("age"));
    // Without search_owned_by_others the search stays within the scope.
    const auto scoped =
        call_as("cp_worker_2", "GET", "/api/v2/cases?id_search=true&query=" + display);
    ASSERT_EQ(scoped.status, 200u);
    EXPECT_EQ(scoped.doc["metadata"]["total"].GetInt(), 0);
    // A query matches only the searchable identifiers.
    EXPECT_EQ(
        call_as("searcher", "GET", "/api/v2/cases?id_search=true&query=Own")
            .doc["metadata"]["total"]
            .GetInt(),
        0
    );
}

TEST_F(PrimeroSandboxChecks, Check19TransferAnsweredByTheRecipient) {
    start(0);
    const std::string id = "a3000000-0000-4000-8000-00000000000a";
    create_case(id, R"("disclosure_other_orgs":true)");
    const std::string path = "/api/v2/cases/" + id + "/transfers";
    const std::string to_worker =
        R"({"data":{"transitioned_to":"cp_worker_2","notes":"Test Notes"}})";
    // Without the transfer action: refused.
    const auto refused = call_as("cp_user_admin", "POST", path, to_worker);
    EXPECT_EQ(refused.status, 403u);
    EXPECT_EQ(refused.raw.body, forbidden_body(path));

    // Rejected: the owner stays, the recipient loses access.
    auto t = call("POST", path, to_worker);
    ASSERT_EQ(t.status, 200u);
    EXPECT_STREQ(t.doc["data"]["transitioned_by"].GetString(), "primero_cp");
    std::string tid = t.doc["data"]["id"].GetString();
    const auto seen_by_recipient = call_as("cp_worker_2", "GET", path);
    ASSERT_EQ(seen_by_recipient.status, 200u);
    EXPECT_TRUE(seen_by_recipient.doc["data"][0]["user_can_accept_or_reject"].GetBool());
    EXPECT_FALSE(call("GET", path).doc["data"][0]["user_can_accept_or_reject"].GetBool());
    // A user who can read the case but is neither the recipient nor allowed to answer for
    // them (accept_or_reject_transfer) cannot answer it.
    EXPECT_EQ(
        call_as("system_sync", "PATCH", path + "/" + tid, R"({"data":{"status":"accepted"}})")
            .status,
        403u
    );
    EXPECT_STREQ(call("GET", path).doc["data"][0]["status"].GetString(), "in_progress");
    const auto rej =
        call_as("cp_worker_2", "PATCH", path + "/" + tid, R"({"data":{"status":"rejected"}})");
    ASSERT_EQ(rej.status, 200u);
    EXPECT_STREQ(rej.doc["data"]["status"].GetString(), "rejected");
    auto rec = stored(id);
    EXPECT_STREQ((*rec)["owned_by"].GetString(), "primero_cp");
    EXPECT_EQ((*rec)["assigned_user_names"].Size(), 0u);
    EXPECT_EQ(call_as("cp_worker_2", "GET", "/api/v2/cases/" + id).status, 403u);

    // Revoked: no response time.
    t = call("POST", path, to_worker);
    tid = t.doc["data"]["id"].GetString();
    const auto rev = call("PATCH", path + "/" + tid, R"({"data":{"status":"revoked"}})");
    ASSERT_EQ(rev.status, 200u);
    EXPECT_TRUE(rev.doc["data"]["responded_at"].IsNull());

    // Accepted by the recipient: they own the case now.
    t = call("POST", path, to_worker);
    tid = t.doc["data"]["id"].GetString();
    const auto acc =
        call_as("cp_worker_2", "PATCH", path + "/" + tid, R"({"data":{"status":"accepted"}})");
    ASSERT_EQ(acc.status, 200u);
    EXPECT_STREQ(acc.doc["data"]["status"].GetString(), "accepted");
    EXPECT_TRUE(acc.doc["data"]["responded_at"].IsString());
    rec = stored(id);
    EXPECT_STREQ((*rec)["owned_by"].GetString(), "cp_worker_2");
    EXPECT_STREQ((*rec)["previously_owned_by"].GetString(), "primero_cp");
    EXPECT_EQ(call_as("cp_worker_2", "GET", "/api/v2/cases/" + id).status, 200u);
}

// The sandbox's own fault rules (as `--fault` sets them) hit every N-th request; a `lost`
// fault applies the request and then resets the connection.
TEST_F(PrimeroSandboxChecks, FaultInjectionEveryNthRequestAndLostAnswers) {
    primero_settings s;
    fault_rule rule;
    ASSERT_TRUE(parse_fault_rule("503:3", rule));
    s.faults = {rule};
    start(2, s);
    std::vector<unsigned> statuses;
    for (int i = 0; i < 6; ++i) {
        statuses.push_back(call("GET", "/api/v2/cases").status);
    }
    EXPECT_EQ(statuses, (std::vector<unsigned>{200, 200, 503, 200, 200, 503}));
    box->server().set_rules({});
    box->server().inject(fault::lost());
    http_request req;
    req.method = "POST";
    req.url = box->base_url() + "/api/v2/cases";
    req.headers = {{"Authorization", basic()}, {"Content-Type", "application/json"}};
    req.body = R"({"data":{"id":"3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f","name":"Lost"}})";
    const auto lost = test::run_awaitable(send_one(std::move(req)));
    ASSERT_FALSE(lost);
    EXPECT_EQ(lost.error().code, make_error_code(errc::remote_unavailable));
    EXPECT_EQ(box->case_count(), 3u);  // handled before the reset
    EXPECT_EQ(call("GET", "/api/v2/cases/3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f").status, 200u);
}

// Check 23 (reference §5, §1.9): flags on a case need the `flag` permission; raising one and
// resolving it save the case and keep flag_count and flagged.
TEST_F(PrimeroSandboxChecks, Check23Flags) {
    start(3);
    const std::string id = first_id();
    const std::string path = "/api/v2/cases/" + id + "/flags";
    const auto empty = call("GET", path);
    ASSERT_EQ(empty.status, 200u);
    EXPECT_TRUE(empty.doc["data"].IsArray());
    EXPECT_EQ(empty.doc["data"].Size(), 0u);

    clock.advance(5s);
    const auto raised =
        call("POST", path, R"({"data":{"date":"2026-01-10","message":"This is another flag"}})");
    ASSERT_EQ(raised.status, 200u) << raised.raw.body;
    const auto& f = raised.doc["data"];
    ASSERT_TRUE(f["id"].IsInt());
    EXPECT_STREQ(f["record_id"].GetString(), id.c_str());
    EXPECT_STREQ(f["record"]["id"].GetString(), f["record_id"].GetString());
    EXPECT_STREQ(f["record_type"].GetString(), "cases");
    EXPECT_STREQ(f["message"].GetString(), "This is another flag");
    EXPECT_STREQ(f["flagged_by"].GetString(), box->user_name().c_str());
    EXPECT_FALSE(f["removed"].GetBool());
    EXPECT_TRUE(f["unflag_message"].IsNull());
    EXPECT_FALSE(f["record_access_denied"].GetBool());
    for (const char* member :
         {"record_uuid",
          "date",
          "unflagged_by",
          "unflagged_date",
          "created_at",
          "system_generated_followup",
          "name",
          "short_id",
          "owned_by",
          "owned_by_agency_id"}) {
        EXPECT_TRUE(f.HasMember(member)) << member;
    }
    auto rec = stored(id);
    ASSERT_TRUE(rec);
    EXPECT_EQ((*rec)["flag_count"].GetInt(), 1);
    EXPECT_TRUE((*rec)["flagged"].GetBool());
    EXPECT_EQ(std::string((*rec)["last_updated_at"].GetString()), "2026-01-10T09:00:05.000Z");

    const auto listed = call("GET", path);
    ASSERT_EQ(listed.doc["data"].Size(), 1u);
    EXPECT_STREQ(listed.doc["data"][0]["record_type"].GetString(), "cases");
    EXPECT_FALSE(listed.doc["data"][0]["removed"].GetBool());
    EXPECT_FALSE(listed.doc["data"][0].HasMember("record"));  // only writes embed the record

    const std::string flag_path = path + "/" + std::to_string(f["id"].GetInt());
    // An update replaces message and date: without a date, the Flag is invalid.
    const auto no_date = call("PATCH", flag_path, R"({"data":{"message":"Changed"}})");
    EXPECT_EQ(no_date.status, 422u);
    EXPECT_STREQ(no_date.doc["errors"][0]["detail"].GetString(), "date");
    const auto changed =
        call("PATCH", flag_path, R"({"data":{"message":"Changed","date":"2026-01-09"}})");
    ASSERT_EQ(changed.status, 200u);
    EXPECT_STREQ(changed.doc["data"]["date"].GetString(), "2026-01-09");
    EXPECT_STREQ(changed.doc["data"]["message"].GetString(), "Changed");
    EXPECT_FALSE(changed.doc["data"]["removed"].GetBool());

    clock.advance(5s);
    const auto resolved =
        call("PATCH", flag_path, R"({"data":{"unflag_message":"This is unflag message"}})");
    ASSERT_EQ(resolved.status, 200u);
    EXPECT_TRUE(resolved.doc["data"]["removed"].GetBool());
    EXPECT_STREQ(resolved.doc["data"]["unflagged_date"].GetString(), "2026-01-10");
    EXPECT_STREQ(resolved.doc["data"]["unflagged_by"].GetString(), box->user_name().c_str());
    EXPECT_STREQ(resolved.doc["data"]["unflag_message"].GetString(), "This is unflag message");
    rec = stored(id);
    EXPECT_EQ((*rec)["flag_count"].GetInt(), 0);
    EXPECT_FALSE((*rec)["flagged"].GetBool());
    EXPECT_EQ(std::string((*rec)["last_updated_at"].GetString()), "2026-01-10T09:00:10.000Z");
    ASSERT_EQ(box->flags_of(id).size(), 1u);
    EXPECT_TRUE(box->flags_of(id)[0].removed);

    // Without the flag permission (cp_worker_2 has none; a role can lose it): 403.
    EXPECT_EQ(call_as("cp_worker_2", "GET", path).status, 403u);
    ASSERT_TRUE(box->set_case_actions(box->user_name(), {"read", "write"}));
    EXPECT_EQ(call("GET", path).status, 403u);
    const auto refused = call("POST", path, R"({"data":{"message":"x"}})");
    EXPECT_EQ(refused.status, 403u);
    EXPECT_STREQ(refused.doc["errors"][0]["message"].GetString(), "Forbidden");
    EXPECT_FALSE(box->set_case_actions("nobody", {}));
}

TEST_F(sandbox_test, flag_requests_primero_refuses) {
    start(2);
    const std::string path = "/api/v2/cases/" + first_id() + "/flags";
    const auto missing = call("POST", path, R"({"message":"x"})");
    EXPECT_EQ(missing.status, 422u);
    EXPECT_STREQ(
        missing.doc["errors"][0]["message"].GetString(),
        "param is missing or the value is empty: data"
    );
    const auto blank = call("POST", path, R"({"data":{"message":"  ","date":"2026-01-10"}})");
    ASSERT_EQ(blank.status, 422u);
    EXPECT_STREQ(blank.doc["errors"][0]["detail"].GetString(), "message");
    EXPECT_STREQ(blank.doc["errors"][0]["message"][0].GetString(), "errors.models.flags.message");
    const auto bad_date = call("POST", path, R"({"data":{"message":"m","date":"10/01/2026"}})");
    EXPECT_EQ(bad_date.status, 422u);
    EXPECT_EQ(call("GET", "/api/v2/cases/no-such-case/flags").status, 404u);
    const auto unknown = call("PATCH", path + "/99", R"({"data":{"unflag_message":"x"}})");
    EXPECT_EQ(unknown.status, 404u);
    EXPECT_STREQ(unknown.doc["errors"][0]["detail"].GetString(), "Couldn't find Flag with 'id'=99");
    EXPECT_EQ(call("DELETE", path + "/1").status, 404u);
    // No date: today's.
    const auto today = call("POST", path, R"({"data":{"message":"m"}})");
    ASSERT_EQ(today.status, 200u);
    EXPECT_STREQ(today.doc["data"]["date"].GetString(), "2026-01-10");
    const auto flag_path = path + "/" + std::to_string(today.doc["data"]["id"].GetInt());
    // A blank unflag message is no resolve but an update without message or date.
    const auto no_reason = call("PATCH", flag_path, R"({"data":{"unflag_message":""}})");
    EXPECT_EQ(no_reason.status, 422u);
    EXPECT_STREQ(no_reason.doc["errors"][0]["detail"].GetString(), "message");
    EXPECT_FALSE(box->flags_of(first_id())[0].removed);
    // Flags are numbered across cases.
    const auto other = call(
        "POST", "/api/v2/cases/" + box->case_ids()[1] + "/flags", R"({"data":{"message":"n"}})"
    );
    ASSERT_EQ(other.status, 200u);
    EXPECT_EQ(other.doc["data"]["id"].GetInt(), today.doc["data"]["id"].GetInt() + 1);
}

TEST_F(sandbox_test, fault_rules_parse) {
    fault_rule r;
    EXPECT_TRUE(parse_fault_rule("503:4", r));
    EXPECT_EQ(r.every, 4u);
    EXPECT_EQ(r.f.kind, fault_kind::status);
    EXPECT_TRUE(parse_fault_rule("latency=250", r));
    EXPECT_EQ(r.f.delay, std::chrono::milliseconds(250));
    EXPECT_TRUE(parse_fault_rule("lost:3", r));
    EXPECT_FALSE(parse_fault_rule("teapot", r));
    EXPECT_FALSE(parse_fault_rule("503:0", r));
    EXPECT_FALSE(parse_fault_rule("503:x", r));
}

}  // namespace
}  // namespace casebridge::sandbox
