// The PING sandbox over raw HTTP: what a client sees of the gateway described in reference
// §2.1 (progres-ping-dss-dpisp.md).
#include "sandbox/ping/ping_sandbox.hpp"

#include <regex>
#include <set>

#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "json/json.hpp"
#include "net/http_client.hpp"
#include "sandbox/ping/synthetic_interventions.hpp"
#include "support/run_awaitable.hpp"

namespace casebridge::sandbox {
namespace {

using namespace std::chrono_literals;
using rapidjson::Document;

awaitable<remote_result<http_response>> send_one(http_request req) {
    auto ex = co_await net::this_coro::executor;
    http_client_settings s;
    s.allow_plain_http_loopback = true;
    s.max_requests_per_second = 0;
    auto client = http_client::create(ex, s, system_clock_source::instance());
    auto r = co_await (*client)->send(std::move(req));
    co_return r;
}

std::string form(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
            out += static_cast<char>(c);
        } else {
            static constexpr char hex[] = "0123456789ABCDEF";
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

class ping_sandbox_test : public ::testing::Test {
protected:
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 1 / 10) + 9h};
    std::unique_ptr<ping_sandbox> box;
    std::string token;

    void start(std::size_t interventions, ping_settings s = {}) {
        s.interventions = interventions;
        s.seed = 5;
        box = std::make_unique<ping_sandbox>(s, clock);
    }

    http_response raw(http_request req) {
        auto r = test::run_awaitable(send_one(std::move(req)));
        EXPECT_TRUE(r) << r.error().describe();
        return r ? *r : http_response{};
    }

    http_response token_request(
        const std::string& password, const std::string& client, const std::string& scope
    ) {
        http_request req;
        req.method = "POST";
        req.url = box->token_url();
        req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
        req.body = "grant_type=password&client_id=" + form(client) +
                   "&username=" + form(box->user_name()) + "&password=" + form(password) +
                   "&scope=" + form(scope) + "&response_type=token";
        return raw(std::move(req));
    }

    void login() {
        auto r = token_request(box->password(), box->client_id(), box->ids().scope);
        ASSERT_EQ(r.status, 200u) << r.body;
        auto d = json::parse(r.body);
        ASSERT_TRUE(d);
        token = (*d)["access_token"].GetString();
    }

    // A POST with the subscription key and the bearer token (either can be left out).
    std::pair<unsigned, Document> post(
        const std::string& path, const std::string& body, bool key = true, bool bearer = true
    ) {
        http_request req;
        req.method = "POST";
        req.url = box->base_url() + path;
        req.headers = {{"Content-Type", "application/json"}};
        if (key) {
            req.headers.push_back({"Ocp-Apim-Subscription-Key", box->subscription_key()});
        }
        if (bearer) {
            req.headers.push_back({"Authorization", "Bearer " + token});
        }
        req.body = body;
        auto r = raw(std::move(req));
        auto d = json::parse(r.body);
        EXPECT_TRUE(d) << r.body;
        return {r.status, d ? std::move(*d) : Document()};
    }

    std::string retrieval(
        const std::string& shp,
        const std::string& params = "[]",
        int page = 1,
        const std::string& cookie = {}
    ) const {
        Document c;
        c.SetString(cookie.c_str(), c.GetAllocator());
        return R"({"ShippingProcessId":")" + shp + R"(","PartnerId":")" + box->ids().partner_id +
               R"(","InteropID":")" + box->ids().interop_id +
               R"(","APIVersion":"V3","QueryParameters":)" + params + R"(,"PageNumber":)" +
               std::to_string(page) + R"(,"PagingCookie":)" +
               (cookie.empty() ? "null" : json::to_string(c)) + "}";
    }

    std::string ingestion(const std::string& shp, const std::string& fields, bool async) const {
        return R"({"ShippingProcessId":")" + shp + R"(",)" +
               (async ? R"("InteropID":")" : R"("InteropId":")") + box->ids().interop_id + R"(",)" +
               (async ? R"("APIVersion":"V2",)" : "") +
               R"("Data":[{"ExternalId":"ext-1","Attachments":[],"Fields":)" + fields + "}]}";
    }

    std::string referral_fields() const {
        return R"([{"Name":"progres_businessunit","Value":")" + box->ids().business_unit +
               R"("},{"Name":"progres_organizationfrom","Value":")" + box->ids().organization +
               R"("},{"Name":"progres_orgreferralid","Value":"0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"},)"
               R"({"Name":"progres_pocfirstname","Value":"Nur"},{"Name":")" +
               box->ids().correlation_field + R"(","Value":"k-1"}])";
    }
};

TEST_F(ping_sandbox_test, token_endpoint_grants_and_refuses_like_b2c) {
    start(0);
    auto ok = token_request(box->password(), box->client_id(), box->ids().scope + " openid");
    ASSERT_EQ(ok.status, 200u);
    auto d = json::parse(ok.body);
    ASSERT_TRUE(d);
    EXPECT_STREQ((*d)["token_type"].GetString(), "Bearer");
    EXPECT_STREQ((*d)["expires_in"].GetString(), "3600");  // a string, as B2C sends it
    const auto refused = [&](const http_response& r, const char* code) {
        EXPECT_EQ(r.status, 400u);
        auto e = json::parse(r.body);
        ASSERT_TRUE(e);
        EXPECT_STREQ((*e)["error"].GetString(), code);
        EXPECT_NE(
            std::string((*e)["error_description"].GetString()).find("AADB2C"), std::string::npos
        );
    };
    refused(token_request("wrong", box->client_id(), box->ids().scope), "invalid_grant");
    refused(
        token_request(box->password(), "other-client", box->ids().scope), "unauthorized_client"
    );
    refused(
        token_request(box->password(), box->client_id(), "https://x/API.Read"), "invalid_scope"
    );
    EXPECT_EQ(box->tokens_issued(), 1u);
    EXPECT_EQ(box->token_refusals(), 3u);
}

TEST_F(ping_sandbox_test, api_management_checks_the_key_then_the_token) {
    ping_settings s;
    s.token_lifetime = 120s;
    start(3, s);
    login();
    const auto body = retrieval(box->ids().referrals_pull);
    auto [no_key, nk] = post("/primes/fetch/paging/v3/retrievedatawithpaging", body, false);
    EXPECT_EQ(no_key, 401u);
    EXPECT_NE(
        std::string(nk["message"].GetString()).find("missing subscription key"), std::string::npos
    );
    auto [no_token, nt] = post("/primes/fetch/paging/v3/retrievedatawithpaging", body, true, false);
    EXPECT_EQ(no_token, 401u);
    EXPECT_EQ(nt["statusCode"].GetInt(), 401);
    auto [ok, d] = post("/primes/fetch/paging/v3/retrievedatawithpaging", body);
    EXPECT_EQ(ok, 200u);
    clock.advance(121s);
    auto [expired, e] = post("/primes/fetch/paging/v3/retrievedatawithpaging", body);
    EXPECT_EQ(expired, 401u);
    EXPECT_STREQ(e["message"].GetString(), "Unauthorized. Access token is missing or invalid.");
    login();
    box->revoke_tokens();
    EXPECT_EQ(post("/primes/fetch/paging/v3/retrievedatawithpaging", body).first, 401u);
}

TEST_F(ping_sandbox_test, paging_cookie_walks_every_joined_row_once) {
    ping_settings s;
    s.page_rows = 9;
    start(25, s);
    login();
    std::vector<std::string> rows;
    std::string cookie;
    int page = 1;
    for (;; ++page) {
        auto [status, d] = post(
            "/primes/fetch/paging/v3/retrievedatawithpaging",
            retrieval(box->ids().referrals_pull, "[]", page, cookie)
        );
        ASSERT_EQ(status, 200u);
        ASSERT_TRUE(d["Data"].IsArray());
        EXPECT_EQ(d["RecordCount"].GetUint(), d["Data"].Size());
        for (const auto& r : d["Data"].GetArray()) {
            rows.push_back(json::canonical(r));
        }
        const auto& summary = d["PagingSummary"];
        EXPECT_EQ(summary["PageNumber"].GetInt(), page);
        if (!summary["IsMoreRecordsAvailable"].GetBool()) {
            EXPECT_TRUE(summary["PagingCookie"].IsNull());
            break;
        }
        cookie = summary["PagingCookie"].GetString();
        EXPECT_EQ(cookie.rfind("<cookie page=\"", 0), 0u) << cookie;
        ASSERT_LT(page, 100);
    }
    std::vector<std::string> expected;
    std::size_t duplicates = 0;
    for (const auto& id : box->intervention_ids()) {
        auto all = json::parse(*box->intervention_rows(id));
        std::set<std::string> distinct;
        for (const auto& r : all->GetArray()) {
            expected.push_back(json::canonical(r));
            distinct.insert(json::canonical(r));
        }
        duplicates += all->Size() - distinct.size();
    }
    EXPECT_EQ(
        std::multiset<std::string>(rows.begin(), rows.end()),
        std::multiset<std::string>(expected.begin(), expected.end())
    );
    EXPECT_GT(duplicates, 0u);
    EXPECT_GT(page, 3);
    // Past the end, and a filter that matches nothing: "No Data Available".
    auto [status, d] = post(
        "/primes/fetch/paging/v3/retrievedatawithpaging",
        retrieval(
            box->ids().referrals_pull,
            R"([{"ParameterName":"{modified_since}","Value":"2030-01-01T00:00:00Z"}])"
        )
    );
    EXPECT_EQ(status, 200u);
    EXPECT_STREQ(d["Data"].GetString(), "No Data Available");
    EXPECT_FALSE(d["PagingSummary"]["IsMoreRecordsAvailable"].GetBool());
}

TEST_F(ping_sandbox_test, detail_query_by_record_ids_and_refusals) {
    start(4);
    login();
    const auto ids = box->intervention_ids();
    auto [status, d] = post(
        "/primes/fetch/paging/v3/retrievedatawithpaging",
        retrieval(
            box->ids().intervention_detail,
            R"([{"ParameterName":"{record_ids}","Value":"[{)" + ids[1] + "}," + ids[2] + R"(]"}])"
        )
    );
    ASSERT_EQ(status, 200u);
    std::set<std::string> seen;
    for (const auto& r : d["Data"].GetArray()) {
        seen.insert(r["progres_lpinterventionid"].GetString());
    }
    EXPECT_EQ(seen, (std::set<std::string>{ids[1], ids[2]}));
    auto [bad_shp, b] =
        post("/primes/fetch/paging/v3/retrievedatawithpaging", retrieval("SHP-9999"));
    EXPECT_EQ(bad_shp, 400u);
    EXPECT_STREQ(b["ErrorMessage"].GetString(), "Invalid ShippingProcessId.");
    auto [no_param, np] = post(
        "/primes/fetch/paging/v3/retrievedatawithpaging", retrieval(box->ids().intervention_detail)
    );
    EXPECT_EQ(no_param, 400u);
    std::string other = retrieval(box->ids().referrals_pull);
    other.replace(other.find(box->ids().partner_id), box->ids().partner_id.size(), "PNR-1");
    EXPECT_EQ(post("/primes/fetch/paging/v3/retrievedatawithpaging", other).first, 403u);
}

TEST_F(ping_sandbox_test, synchronous_ingestion_answers_with_the_malformed_status_string) {
    start(0);
    login();
    auto [status, d] = post(
        "/api/ingestion/v2/" + box->ids().partner_id + "/data",
        ingestion(box->ids().referral_ingest, referral_fields(), false)
    );
    ASSERT_EQ(status, 200u);
    ASSERT_TRUE(d["Data"].IsString());
    const std::string text = d["Data"].GetString();
    EXPECT_FALSE(json::parse(text)) << "the status string must not be valid JSON: " << text;
    ASSERT_EQ(box->referral_count(), 1u);
    const auto id = box->referral_ids()[0];
    EXPECT_NE(
        text.find(R"("Data":"{"progres_interoperabilityreferralid":")" + id), std::string::npos
    ) << text;
    EXPECT_NE(text.find(R"("Status":"Success")"), std::string::npos);
    EXPECT_EQ(box->referrals_with(box->ids().correlation_field, "k-1"), 1u);
    // An unknown field fails the item; nothing is created.
    auto [s2, d2] = post(
        "/api/ingestion/v2/" + box->ids().partner_id + "/data",
        ingestion(
            box->ids().referral_ingest, R"([{"Name":"progres_nosuchfield","Value":"x"}])", false
        )
    );
    EXPECT_EQ(s2, 200u);
    EXPECT_NE(std::string(d2["Data"].GetString()).find(R"("Status":"Failed")"), std::string::npos);
    EXPECT_EQ(box->referral_count(), 1u);
    EXPECT_EQ(box->items_received(), 2u);
    EXPECT_EQ(box->items_applied(), 1u);
    // Another partner's path.
    EXPECT_EQ(
        post("/api/ingestion/v2/PNR-1/data", ingestion(box->ids().referral_ingest, "[]", false))
            .first,
        403u
    );
}

TEST_F(ping_sandbox_test, asynchronous_ingestion_and_checkstatus) {
    ping_settings s;
    s.async_checks = 1;
    start(0, s);
    login();
    auto [status, d] = post(
        "/api/ingestion/v2/" + box->ids().partner_id + "/asyncdata",
        ingestion(box->ids().referral_ingest, referral_fields(), true)
    );
    ASSERT_EQ(status, 200u);
    const std::string txn = d["SPHTransactionId"].GetString();
    EXPECT_EQ(box->transactions_queued(), 1u);
    EXPECT_EQ(box->referral_count(), 0u);
    const std::string check = R"({"ShippingProcessId":")" + box->ids().referral_ingest +
                              R"(","InteropID":")" + box->ids().interop_id + R"(","PartnerId":")" +
                              box->ids().partner_id + R"(","SPHTransactionId":")" + txn + R"("})";
    auto [s1, first] = post("/primes/ingestion/checkstatus/v1/pingdata", check);
    EXPECT_EQ(s1, 200u);
    EXPECT_NE(std::string(first["Data"].GetString()).find("InProgress"), std::string::npos);
    auto [s2, second] = post("/primes/ingestion/checkstatus/v1/pingdata", check);
    EXPECT_EQ(s2, 200u);
    const std::string text = second["Data"].GetString();
    EXPECT_NE(text.find(R"("Status":"Success")"), std::string::npos);
    EXPECT_FALSE(json::parse(text));
    EXPECT_EQ(box->referral_count(), 1u);
    std::string unknown = check;
    unknown.replace(unknown.find(txn), txn.size(), "00000000-0000-4000-8000-000000000000");
    EXPECT_EQ(post("/primes/ingestion/checkstatus/v1/pingdata", unknown).first, 404u);
    // A queued write is processed after a while even when nobody asks.
    post(
        "/api/ingestion/v2/" + box->ids().partner_id + "/asyncdata",
        ingestion(box->ids().referral_ingest, referral_fields(), true)
    );
    clock.advance(31s);
    post("/primes/fetch/paging/v3/retrievedatawithpaging", retrieval(box->ids().referrals_pull));
    EXPECT_EQ(box->referral_count(), 2u);
}

TEST_F(ping_sandbox_test, intervention_status_write_back_and_decisions) {
    start(3);
    login();
    const auto iv = box->intervention_ids()[0];
    const std::string fields =
        R"([{"Name":"progres_lpinterventionid","Value":")" + iv +
        R"("},{"Name":"progres_businessunit","Value":")" + box->ids().business_unit +
        R"("},{"Name":"progres_primerotransferstatus","Value":"125080002"},)"
        R"({"Name":"progres_primerotransferstatusdate","Value":"2026-01-10"}])";
    auto [status, d] = post(
        "/api/ingestion/v2/" + box->ids().partner_id + "/data",
        ingestion(box->ids().intervention_status, fields, false)
    );
    EXPECT_EQ(status, 200u);
    EXPECT_EQ(box->transfer_status(iv), 125080002);
    // The intervention changed: it is the newest now.
    EXPECT_EQ(box->intervention_ids().back(), iv);

    post(
        "/api/ingestion/v2/" + box->ids().partner_id + "/data",
        ingestion(box->ids().referral_ingest, referral_fields(), false)
    );
    const std::string decisions = retrieval(box->ids().decisions_pull);
    auto [s0, none] = post("/primes/fetch/paging/v3/retrievedatawithpaging", decisions);
    EXPECT_STREQ(none["Data"].GetString(), "No Data Available");
    ASSERT_TRUE(box->decide(box->referral_ids()[0], true));
    auto [s1, one] = post("/primes/fetch/paging/v3/retrievedatawithpaging", decisions);
    ASSERT_TRUE(one["Data"].IsArray());
    ASSERT_EQ(one["Data"].Size(), 1u);
    EXPECT_EQ(one["Data"][0]["progres_reviewdecision"].GetInt(), 125080000);
}

TEST_F(ping_sandbox_test, seeded_synthetic_interventions_look_like_progres_data) {
    start(200);
    const std::regex individual("^(CXB|TKF)-\\d{8}$");
    const std::regex group("^(CXB|TKF)-\\d{2}-\\d{7}$");
    const std::regex intervention("^(CXB|TKF)-\\d{2}-PRTITV-\\d{7}$");
    std::size_t bengali = 0;
    for (const auto& id : box->intervention_ids()) {
        auto rows = json::parse(*box->intervention_rows(id));
        ASSERT_TRUE(rows && rows->IsArray() && !rows->Empty());
        const auto& r = (*rows)[0];
        EXPECT_TRUE(std::regex_match(
            std::string(r["progres_individual.individuals.progres_id"].GetString()), individual
        ));
        EXPECT_TRUE(std::regex_match(
            std::string(r["progres_individual.progres_registrationgroupidname"].GetString()), group
        ));
        EXPECT_TRUE(
            std::regex_match(std::string(r["progres_interventionnumber"].GetString()), intervention)
        );
        const std::string given = r["progres_individual.individuals.progres_givenname"].GetString();
        bengali += static_cast<unsigned char>(given[0]) >= 0xE0 ? 1 : 0;
    }
    EXPECT_GT(bengali, 20u);
    // The same seed makes the same data and credentials.
    ping_settings s;
    s.interventions = 200;
    s.seed = 5;
    ping_sandbox twin(s, clock);
    EXPECT_EQ(twin.intervention_ids(), box->intervention_ids());
    EXPECT_EQ(twin.password(), box->password());
    EXPECT_EQ(twin.subscription_key(), box->subscription_key());
}

TEST_F(ping_sandbox_test, fault_rules_apply_to_every_nth_request) {
    ping_settings s;
    fault_rule rule;
    ASSERT_TRUE(parse_fault_rule("429:2", rule));
    s.faults = {rule};
    start(1, s);
    auto first = token_request(box->password(), box->client_id(), box->ids().scope);
    EXPECT_EQ(first.status, 200u);
    auto second = token_request(box->password(), box->client_id(), box->ids().scope);
    EXPECT_EQ(second.status, 429u);
    ASSERT_TRUE(second.retry_after);
    EXPECT_EQ(*second.retry_after, 1s);
}

}  // namespace
}  // namespace casebridge::sandbox
