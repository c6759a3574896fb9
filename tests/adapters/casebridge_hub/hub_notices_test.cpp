// The casebridge_hub adapter's notices stream against a real hub service (hub::service with
// its store in a temp file) over real HTTPS on loopback, certificates made here: two agencies
// send the same children through the adapter, the hub links them, and each agency pulls its
// own notices page by page with the cursor and reads them with notice_of.
#include <future>
#include <map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "app/config.hpp"
#include "casebridge_hub/hub_adapter.hpp"
#include "hub/hub_service.hpp"
#include "json/json.hpp"
#include "linkage/encoder.hpp"
#include "net/http_client.hpp"
#include "policy/linkage_step.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"
#include "support/test_certs.hpp"

namespace casebridge::casebridge_hub {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path schema_file =
    fs::path(CASEBRIDGE_SOURCE_DIR) / "mappings/linkage/linkage-schema.json";

// Synthetic children (made up here).
const char* const children[][3] = {
    {"Nur", "Begum", "2012-03-04"},
    {"Mohammad", "Rafiq", "2010-07-18"},
    {"Fatema", "Khatun", "2014-11-02"},
};

class hub_notices_stream : public ::testing::Test {
protected:
    test::temp_dir dir;
    std::optional<test::test_ca> ca;
    memory_sink sink;
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 3 / 10) + 9h};
    memory_sink hub_sink;
    logger hub_log{hub_sink, system_clock_source::instance(), log_level::debug};
    app::hub_config cfg;
    std::unique_ptr<hub::service> hub;
    net::io_context ctx;
    std::unique_ptr<http_client> http;
    linkage::linkage_schema schema = linkage::linkage_schema::load(schema_file);
    linkage::encoder enc{schema, "agencies-shared-linkage-secret-0123"};
    std::map<std::string, std::string> tokens = {
        {"agency_a", "token-of-agency-a-0123456789"}, {"agency_b", "token-of-agency-b-0123456789"}};

    void SetUp() override {
        fs::create_directories(dir / "pki");
        ca.emplace(dir / "pki", "hub-test-ca");
        const auto leaf = ca->issue(test::cert_spec{}, "hub-server");
        cfg.listen = "127.0.0.1:0";
        cfg.host = "127.0.0.1";
        cfg.cert_file = leaf.cert;
        cfg.key_file = leaf.key;
        cfg.store_path = dir / "hub.sqlite";
        cfg.linkage_schema = schema_file;
        cfg.coarse_fields = app::hub_coarse_field_names();
        cfg.max_batch_records = 2;  // notices come in pages of two
        for (const auto& [id, token] : tokens) {
            app::hub_agency_config a;
            a.id = id;
            a.display_name = id == "agency_a" ? "Agency A" : "Agency B";
            a.token.file = dir.write(id + ".token", token + "\n");
            cfg.agencies.push_back(a);
        }
        hub = std::make_unique<hub::service>(cfg, system_clock_source::instance(), hub_log);
        http_client_settings hs;
        hs.tls.ca_file = ca->cert_file();
        hs.max_requests_per_second = 0;
        hs.request_timeout = 10s;
        auto created = http_client::create(ctx.get_executor(), hs, clock);
        ASSERT_TRUE(created) << created.error().describe();
        http = std::move(*created);
    }

    void TearDown() override { hub.reset(); }

    std::unique_ptr<hub_adapter> make(const std::string& agency) {
        settings s;
        s.base_url = hub->base_url();
        const auto it = tokens.find(agency);
        s.token.file =
            dir.write(agency + "-client.token", (it != tokens.end() ? it->second : agency) + "\n");
        adapter_env env{
            ctx.get_executor(), http.get(), &clock, logger(sink, clock, log_level::debug)};
        return std::make_unique<hub_adapter>(std::move(s), std::move(env));
    }

    template <typename T>
    T run(net::awaitable<T> op) {
        return test::run_on(ctx, std::move(op));
    }

    external_record record(int i) {
        rapidjson::Document d(rapidjson::kObjectType);
        auto& da = d.GetAllocator();
        d.AddMember("name_first", rapidjson::StringRef(children[i][0]), da);
        d.AddMember("name_last", rapidjson::StringRef(children[i][1]), da);
        d.AddMember("date_of_birth", rapidjson::StringRef(children[i][2]), da);
        d.AddMember("sex", "female", da);
        const auto encoding = enc.encode(d);
        external_record r;
        r.stream = std::string(records_stream);
        auto& a = r.body.GetAllocator();
        r.body.SetObject();
        const std::string pseudonym = "case-" + std::to_string(1000 + i);
        r.body.AddMember("pseudonym", rapidjson::Value(pseudonym.c_str(), a), a);
        r.body.AddMember("linkage", policy::linkage_wire_form(schema.version, encoding, a), a);
        return r;
    }

    void send_children(hub_adapter& a, int n) {
        for (int i = 0; i < n; ++i) {
            auto id = run(a.push(record(i)));
            ASSERT_TRUE(id) << id.error().describe();
        }
        auto flushed = run(a.flush());
        ASSERT_TRUE(flushed) << flushed.error().describe();
    }
};

TEST_F(hub_notices_stream, pulls_its_own_notices_page_by_page_and_reads_them) {
    auto a = make("agency_a");
    auto b = make("agency_b");
    send_children(*a, 3);
    send_children(*b, 3);
    hub->wait_for_linkage();

    auto first = run(a->pull(std::string(notices_stream), std::nullopt));
    ASSERT_TRUE(first) << first.error().describe();
    ASSERT_EQ(first->records.size(), 2u);
    EXPECT_TRUE(first->has_more);
    EXPECT_EQ(first->next_cursor, "2");
    auto second = run(a->pull(std::string(notices_stream), first->next_cursor));
    ASSERT_TRUE(second) << second.error().describe();
    ASSERT_EQ(second->records.size(), 1u);
    EXPECT_FALSE(second->has_more);
    EXPECT_EQ(second->next_cursor, "3");
    auto caught_up = run(a->pull(std::string(notices_stream), second->next_cursor));
    ASSERT_TRUE(caught_up);
    EXPECT_TRUE(caught_up->records.empty());
    EXPECT_EQ(caught_up->next_cursor, "3");
    EXPECT_FALSE(caught_up->has_more);
    // The same cursor, the same notices.
    auto repeat = run(a->pull(std::string(notices_stream), first->next_cursor));
    ASSERT_TRUE(repeat);
    ASSERT_EQ(repeat->records.size(), 1u);
    EXPECT_EQ(repeat->records[0].remote_id, second->records[0].remote_id);

    std::map<std::string, std::string> reference_of;  // pseudonym → reference, at A
    std::vector<external_record> all;
    for (auto* page : {&*first, &*second}) {
        for (auto& r : page->records) {
            all.push_back(std::move(r));
        }
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
        const auto& r = all[i];
        EXPECT_EQ(r.stream, "notices");
        EXPECT_EQ(r.remote_id, std::to_string(i + 1));
        EXPECT_EQ(r.updated_at, "");
        const auto n = a->notice_of(r);
        ASSERT_TRUE(n) << json::to_string(r.body);
        EXPECT_EQ(n->id, r.remote_id);
        EXPECT_EQ(n->what, duplicate_notice::kind::possible_duplicate);
        ASSERT_EQ(n->other_agencies.size(), 1u);
        EXPECT_EQ(n->other_agencies[0].id, "agency_b");
        EXPECT_EQ(n->other_agencies[0].display_name, "Agency B");
        EXPECT_FALSE(n->reference.empty());
        reference_of[n->pseudonym] = n->reference;
    }
    EXPECT_EQ(reference_of.size(), 3u);

    // B reads its own, with the same references, naming A.
    auto at_b = run(b->pull(std::string(notices_stream), std::string("0")));
    ASSERT_TRUE(at_b) << at_b.error().describe();
    ASSERT_EQ(at_b->records.size(), 2u);
    for (const auto& r : at_b->records) {
        const auto n = b->notice_of(r);
        ASSERT_TRUE(n);
        EXPECT_EQ(n->other_agencies.at(0).display_name, "Agency A");
        EXPECT_EQ(n->reference, reference_of.at(n->pseudonym));
    }

    // A consent withdrawal at B: a retraction at both agencies.
    auto w = run(b->notify_withdrawal(std::string(records_stream), "case-1000", "k", "1"));
    ASSERT_TRUE(w) << w.error().describe();
    ASSERT_TRUE(run(b->flush()));
    hub->wait_for_linkage();
    auto after = run(a->pull(std::string(notices_stream), std::string("3")));
    ASSERT_TRUE(after) << after.error().describe();
    ASSERT_EQ(after->records.size(), 1u);
    const auto retraction = a->notice_of(after->records[0]);
    ASSERT_TRUE(retraction);
    EXPECT_EQ(retraction->id, "4");
    EXPECT_EQ(retraction->what, duplicate_notice::kind::retraction);
    EXPECT_EQ(retraction->pseudonym, "case-1000");
    EXPECT_EQ(retraction->reference, reference_of.at("case-1000"));
    EXPECT_TRUE(retraction->other_agencies.empty());
    auto b_after = run(b->pull(std::string(notices_stream), std::string("3")));
    ASSERT_TRUE(b_after);
    ASSERT_EQ(b_after->records.size(), 1u);
    EXPECT_EQ(b->notice_of(b_after->records[0])->what, duplicate_notice::kind::retraction);
}

TEST_F(hub_notices_stream, other_streams_fetch_and_a_wrong_token_are_refused) {
    auto a = make("agency_a");
    auto records = run(a->pull(std::string(records_stream), std::nullopt));
    ASSERT_FALSE(records);
    EXPECT_EQ(records.error().code, make_error_code(errc::not_found));
    auto fetched = run(a->fetch(std::string(notices_stream), "1"));
    ASSERT_FALSE(fetched);
    EXPECT_EQ(fetched.error().code, make_error_code(errc::not_found));
    auto stranger = make("not-a-token-of-any-agency");
    auto refused = run(stranger->pull(std::string(notices_stream), std::nullopt));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, make_error_code(errc::auth_failed));
    EXPECT_EQ(refused.error().http_status, 401u);
    auto bad_cursor = run(a->pull(std::string(notices_stream), std::string("abc")));
    ASSERT_FALSE(bad_cursor);
    EXPECT_EQ(bad_cursor.error().code, make_error_code(errc::remote_rejected));
}

TEST_F(hub_notices_stream, notice_of_reads_only_well_formed_notices) {
    auto a = make("agency_a");
    const auto as_record = [](const std::string& body) {
        external_record r;
        r.stream = "notices";
        r.remote_id = "1";
        auto d = json::parse(body);
        EXPECT_TRUE(d) << body;
        r.body = std::move(*d);
        return r;
    };
    const std::string good =
        R"({"id":"7","kind":"possible_duplicate","pseudonym":"case-1","reference":"C0123456789abcdef",)"
        R"("other_agencies":[{"id":"agency_c","name":"Agency C"},{"id":"agency_b","name":"Agency B"}]})";
    const auto n = a->notice_of(as_record(good));
    ASSERT_TRUE(n);
    EXPECT_EQ(n->id, "7");
    EXPECT_EQ(n->pseudonym, "case-1");
    EXPECT_EQ(n->reference, "C0123456789abcdef");
    ASSERT_EQ(n->other_agencies.size(), 2u);
    EXPECT_EQ(n->other_agencies[0].id, "agency_b") << "sorted by id";
    const auto r = a->notice_of(as_record(
        R"({"id":"8","kind":"retraction","pseudonym":"case-1","reference":"C0123456789abcdef","other_agencies":[]})"
    ));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->what, duplicate_notice::kind::retraction);

    const char* const malformed[] = {
        R"([])",
        R"({})",
        R"({"id":7,"kind":"possible_duplicate","pseudonym":"case-1","reference":"C01","other_agencies":[{"id":"b","name":"B"}]})",
        R"({"id":"x7","kind":"possible_duplicate","pseudonym":"case-1","reference":"C01","other_agencies":[{"id":"b","name":"B"}]})",
        R"({"id":"7","kind":"maybe","pseudonym":"case-1","reference":"C01","other_agencies":[{"id":"b","name":"B"}]})",
        R"({"id":"7","kind":"possible_duplicate","pseudonym":"case 1","reference":"C01","other_agencies":[{"id":"b","name":"B"}]})",
        R"({"id":"7","kind":"possible_duplicate","pseudonym":"case-1","reference":"","other_agencies":[{"id":"b","name":"B"}]})",
        R"({"id":"7","kind":"possible_duplicate","pseudonym":"case-1","reference":"ref:C01","other_agencies":[{"id":"b","name":"B"}]})",
        R"({"id":"7","kind":"possible_duplicate","pseudonym":"case-1","reference":"C01"})",
        R"({"id":"7","kind":"possible_duplicate","pseudonym":"case-1","reference":"C01","other_agencies":[]})",
        R"({"id":"7","kind":"possible_duplicate","pseudonym":"case-1","reference":"C01","other_agencies":[{"id":"b"}]})",
        R"({"id":"7","kind":"possible_duplicate","pseudonym":"case-1","reference":"C01","other_agencies":["b"]})",
        R"({"id":"7","kind":"retraction","pseudonym":"case-1","reference":"C01","other_agencies":[{"id":"b","name":"B"}]})",
    };
    for (const char* body : malformed) {
        EXPECT_FALSE(a->notice_of(as_record(body))) << body;
    }
}

}  // namespace
}  // namespace casebridge::casebridge_hub
