// CPIMS+ → IMO hub end to end: a Primero sandbox, the flow runner with the shipped
// imo-harmonisation profile (its linkage step) and the casebridge_hub adapter, a fake hub over
// HTTPS with a client certificate, a real SQLite store. Eligibility is computed here from the
// sandbox's cases (consent_reporting, or public interest), not through the runner's code.
#include <future>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "canonical/canonical_case.hpp"
#include "casebridge_hub/hub_adapter.hpp"
#include "core/encoding.hpp"
#include "json/json.hpp"
#include "linkage/encoder.hpp"
#include "mapping/mapping.hpp"
#include "net/http_client.hpp"
#include "policy/decision.hpp"
#include "policy/linkage_step.hpp"
#include "policy/policy.hpp"
#include "primero/primero_adapter.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "store/crypto.hpp"
#include "store/store_thread.hpp"
#include "support/fake_hub.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"
#include "support/test_certs.hpp"
#include "sync/flow_runner.hpp"

namespace casebridge::sync {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;
const std::string pseudonym_key = "hub-flow-test-pseudonym-key-0123456789abcdef";
const std::string linkage_secret = "hub-flow-test-linkage-secret-0123456789";

/// The imo-harmonisation basis, read from a Primero case as the sandbox stores it.
bool consented(const rapidjson::Value& c) {
    if (c.HasMember("record_state") && c["record_state"].IsBool() && !c["record_state"].GetBool()) {
        return false;
    }
    if (c.HasMember("consent_reporting") && c["consent_reporting"].IsBool() &&
        c["consent_reporting"].GetBool()) {
        return true;
    }
    if (c.HasMember("legitimate_basis") && c["legitimate_basis"].IsArray()) {
        for (const auto& v : c["legitimate_basis"].GetArray()) {
            if (v.IsString() && std::string_view(v.GetString()) == "public_interest") {
                return true;
            }
        }
    }
    return false;
}

class hub_flow_test : public ::testing::Test {
protected:
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 3 / 10) + 9h};
    test::temp_dir dir;
    memory_sink sink;
    net::io_context ctx;
    std::optional<test::test_ca> ca;
    std::unique_ptr<sandbox::primero_sandbox> from;
    std::unique_ptr<test::fake_hub> hub;
    std::unique_ptr<http_client> source_http;
    std::unique_ptr<http_client> hub_http;
    std::unique_ptr<primero::primero_adapter> source;
    std::unique_ptr<casebridge_hub::hub_adapter> target;
    std::optional<canonical_catalogue> catalogue;
    std::optional<policy::policy_set> policies;
    std::optional<mapping::compiled_mapping> map_in;
    std::optional<mapping::compiled_mapping> map_out;
    std::unique_ptr<store::store_thread> st;
    std::unique_ptr<store::keyed_hasher> hasher;
    std::unique_ptr<flow_runner> runner;

    void SetUp() override {
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", pseudonym_key.c_str(), 1);
        ::setenv("CASEBRIDGE_LINKAGE_SECRET", linkage_secret.c_str(), 1);
        catalogue.emplace(canonical_catalogue::load(source_dir / "mappings/canonical-case.json"));
        policies.emplace(policy::policy_set::load(source_dir / "config/policies.json", *catalogue));
        map_in.emplace(
            mapping::compiled_mapping::load(source_dir / "mappings/primero.case.json", *catalogue)
        );
        map_out.emplace(mapping::compiled_mapping::load(
            source_dir / "mappings/casebridge_hub.record.json", *catalogue
        ));
        hasher = std::make_unique<store::keyed_hasher>(std::string(32, 'k'));
        fs::create_directories(dir / "pki");
        ca.emplace(dir / "pki", "hub-flow-ca");
    }

    void TearDown() override {
        runner.reset();
        st.reset();
    }

    /// A source of `cases` cases: every third has consent_reporting, every sixth (of the
    /// others) only the public-interest basis, the rest neither (some refuse explicitly).
    void start(std::size_t cases, int batch_size = 7) {
        sandbox::primero_settings a;
        a.cases = cases;
        a.seed = 31;
        from = std::make_unique<sandbox::primero_sandbox>(a, clock);
        std::size_t i = 0;
        for (const auto& id : from->case_ids()) {
            const char* fields = i % 3 == 0   ? R"({"consent_reporting": true})"
                                 : i % 6 == 1 ? R"({"consent_reporting": false,
                                                  "legitimate_basis": ["public_interest"]})"
                                 : i % 6 == 2 ? R"({"consent_reporting": false})"
                                              : "{}";
            ASSERT_TRUE(from->edit_case(id, fields));
            ++i;
        }
        clock.advance(5s);

        const auto server_cert = ca->issue(test::cert_spec{}, "hub-server");
        const auto client_cert =
            ca->issue(test::cert_spec{"agency-a", {}, {}, -3600, 86'400, true}, "agency-a");
        test::fake_hub_settings hs;
        hs.tls = test::fake_tls{server_cert.cert, server_cert.key, ca->cert_file()};
        hub = std::make_unique<test::fake_hub>(hs);

        http_client_settings plain;
        plain.allow_plain_http_loopback = true;
        plain.max_requests_per_second = 0;
        plain.request_timeout = 5s;
        source_http = std::move(*http_client::create(ctx.get_executor(), plain, clock));
        http_client_settings tls;
        tls.tls.ca_file = ca->cert_file();
        tls.tls.client_cert_file = client_cert.cert;
        tls.tls.client_key_file = client_cert.key;
        tls.max_requests_per_second = 0;
        tls.request_timeout = 5s;
        hub_http = std::move(*http_client::create(ctx.get_executor(), tls, clock));

        primero::settings ps;
        ps.base_url = from->base_url();
        ps.user_name = from->user_name();
        ps.password.file = dir.write("from-password", from->password() + "\n");
        ps.per_page = 25;
        source = std::make_unique<primero::primero_adapter>(
            ps,
            adapter_env{
                ctx.get_executor(),
                source_http.get(),
                &clock,
                logger(sink, clock, log_level::debug)}
        );
        casebridge_hub::settings hset;
        hset.base_url = hub->base_url();
        hset.token.file = dir.write("hub-token", hub->settings().token + "\n");
        hset.batch_size = static_cast<std::size_t>(batch_size);
        target = std::make_unique<casebridge_hub::hub_adapter>(
            hset,
            adapter_env{
                ctx.get_executor(), hub_http.get(), &clock, logger(sink, clock, log_level::trace)}
        );

        auto opened = store::store::open(dir / "store.db", {}, clock);
        ASSERT_TRUE(opened) << opened.error().message();
        st = std::make_unique<store::store_thread>(std::move(*opened));
        flow_binding b;
        b.flow = "imo-hub";
        b.purpose = "report";
        b.source_system = "cpims-a";
        b.source_stream = "cases";
        b.target_system = "imo-hub";
        b.target_stream = "records";
        b.source = source.get();
        b.target = target.get();
        b.map_in = &*map_in;
        b.map_out = &*map_out;
        b.profile = policies->find("imo-harmonisation");
        ASSERT_NE(b.profile, nullptr);
        ASSERT_TRUE(b.profile->unavailable_key.empty()) << b.profile->unavailable_key;
        b.identities = hasher.get();
        b.identity_fields = catalogue->one_person_paths();
        b.retry.initial = 1ms;
        b.retry.max = 5ms;
        b.retry.max_retry_after = 2s;
        runner = std::make_unique<flow_runner>(
            std::move(b), *st, clock, logger(sink, clock, log_level::trace)
        );
    }

    template <typename T>
    T run(net::awaitable<T> op) {
        return test::run_on(ctx, std::move(op));
    }

    run_report run_flow() {
        run_options o;
        o.keep_records = true;
        return run(runner->run_once(o));
    }

    rapidjson::Document source_case(const std::string& id) {
        return std::move(*json::parse(*from->case_json(id)));
    }

    static std::string pseudonym_of(const rapidjson::Value& c) {
        return policy::pseudonym(pseudonym_key, "case-", c["case_id"].GetString());
    }

    /// Pseudonym → source id, for the cases the profile lets go.
    std::map<std::string, std::string> expected() {
        std::map<std::string, std::string> out;
        for (const auto& id : from->case_ids()) {
            const auto c = source_case(id);
            if (consented(c)) {
                out.emplace(pseudonym_of(c), id);
            }
        }
        return out;
    }

    /// Times each pseudonym was received in POST /hub/v1/records bodies.
    std::map<std::string, int> receipts() {
        std::map<std::string, int> out;
        for (const auto& r : hub->server().requests()) {
            if (r.method != "POST" || r.target != "/hub/v1/records") {
                continue;
            }
            auto body = json::parse(r.body);
            EXPECT_TRUE(body && body->IsObject());
            for (const auto& rec : (*body)["records"].GetArray()) {
                ++out[rec["pseudonym"].GetString()];
            }
        }
        return out;
    }

    std::int64_t count_log(std::string_view outcome) {
        return run(st->run([o = std::string(outcome)](store::store& s) -> std::int64_t {
            auto q = s.database().prepare("SELECT count(*) FROM transfer_log WHERE outcome = ?");
            q->bind(1, std::string_view(o));
            (void)q->step();
            return q->column_int(0);
        }));
    }
};

TEST_F(hub_flow_test, every_consented_case_arrives_once_encoded_from_its_full_record) {
    start(120);
    const auto want = expected();
    ASSERT_GT(want.size(), 20u);
    ASSERT_LT(want.size(), 100u);

    auto first = run_flow();
    ASSERT_FALSE(first.error) << *first.error;
    EXPECT_TRUE(first.caught_up);
    EXPECT_EQ(first.counts.fetched, 120);
    EXPECT_EQ(first.counts.sent, static_cast<std::int64_t>(want.size()));
    EXPECT_EQ(first.counts.dead, 0);
    EXPECT_EQ(count_log("sent"), static_cast<std::int64_t>(want.size()));

    // Exactly the consented cases, each once.
    const auto got = receipts();
    EXPECT_EQ(got.size(), want.size());
    for (const auto& [p, n] : got) {
        EXPECT_EQ(n, 1) << p << " was received " << n << " times";
        EXPECT_TRUE(want.count(p)) << p << " has no consent_reporting or public interest";
    }
    const auto held = hub->records();
    EXPECT_EQ(held.size(), want.size());

    // Each encoding is linkage::encoder's over the full canonical record (mapped in here
    // again, independently of the runner), made with the agencies' linkage secret.
    linkage::encoder enc(
        linkage::linkage_schema::load(source_dir / "mappings/linkage/linkage-schema.json"),
        linkage_secret
    );
    mapping::map_context mctx{clock.now(), nullptr, nullptr};
    std::size_t with_tokens = 0;
    for (const auto& [p, id] : want) {
        ASSERT_TRUE(held.count(p)) << p;
        const auto canonical = map_in->map_in(source_case(id), mctx);
        ASSERT_TRUE(canonical);
        const auto e = enc.encode(*canonical);
        const auto& rec = held.at(p);
        EXPECT_EQ(rec.filter, base64_encode(policy::filter_bytes(e.filter))) << p;
        ASSERT_EQ(rec.tokens.size(), e.tokens.size()) << p;
        with_tokens += e.tokens.empty() ? 0 : 1;
        // Coarse fields: the profile's generalisations, nothing finer.
        EXPECT_TRUE(rec.coarse.count("sex")) << p;
        if (rec.coarse.count("age_band")) {
            EXPECT_TRUE(rec.coarse.at("age_band").find('-') != std::string::npos);
            EXPECT_LE(rec.coarse.at("age_band").size(), 5u);
        }
        if (rec.coarse.count("location")) {
            EXPECT_EQ(rec.coarse.at("location").size(), 6u) << "district only";
        }
    }
    EXPECT_GT(with_tokens, 0u) << "proGres numbers travel as keyed tokens";

    // Nothing new: the next run sends nothing.
    clock.advance(10s);
    auto second = run_flow();
    ASSERT_FALSE(second.error) << *second.error;
    EXPECT_EQ(second.counts.sent, 0);
    EXPECT_EQ(receipts().size(), want.size());
    for (const auto& [p, n] : receipts()) {
        EXPECT_EQ(n, 1) << p;
    }
}

TEST_F(hub_flow_test, no_name_date_of_birth_or_identifier_reaches_the_hub) {
    start(120);
    ASSERT_FALSE(run_flow().error);
    // Every name, date of birth and identifier the sandbox holds.
    std::set<std::string> sentinels;
    const auto add = [&](const rapidjson::Value& c, const char* member) {
        if (c.HasMember(member) && c[member].IsString() && c[member].GetStringLength() >= 3) {
            sentinels.insert(c[member].GetString());
        }
    };
    for (const auto& id : from->case_ids()) {
        const auto c = source_case(id);
        for (const char* m :
             {"id",
              "case_id",
              "case_id_display",
              "short_id",
              "unique_identifier",
              "name_first",
              "name_last",
              "name_middle",
              "name",
              "date_of_birth",
              "unhcr_individual_no",
              "unhcr_id_no",
              "birth_registration_no",
              "national_id_no",
              "family_count_no"}) {
            add(c, m);
        }
        if (c.HasMember("family_details_section")) {
            for (const auto& row : c["family_details_section"].GetArray()) {
                add(row, "relation_name");
                add(row, "unique_id");
            }
        }
    }
    ASSERT_GT(sentinels.size(), 400u);

    const auto bodies = hub->bodies();
    ASSERT_GT(bodies.size(), 2u);
    std::size_t strings = 0;
    for (const auto& body : bodies) {
        if (body.empty()) {
            continue;  // GET /hub/v1/schema
        }
        auto doc = json::parse(body);
        ASSERT_TRUE(doc) << "a body that is not JSON";
        // Every string and member name, except the filters, which must be base64 of the
        // encoding's length (no room for text).
        std::vector<const rapidjson::Value*> stack{&*doc};
        while (!stack.empty()) {
            const rapidjson::Value* v = stack.back();
            stack.pop_back();
            if (v->IsObject()) {
                for (const auto& m : v->GetObject()) {
                    const std::string name = m.name.GetString();
                    if (name == "filter") {
                        const auto bytes = base64_decode(m.value.GetString());
                        ASSERT_TRUE(bytes);
                        EXPECT_EQ(bytes->size(), 256u);
                        continue;
                    }
                    for (const auto& s : sentinels) {
                        ASSERT_EQ(name.find(s), std::string::npos);
                    }
                    stack.push_back(&m.value);
                }
            } else if (v->IsArray()) {
                for (const auto& e : v->GetArray()) {
                    stack.push_back(&e);
                }
            } else if (v->IsString()) {
                ++strings;
                const std::string text = v->GetString();
                for (const auto& s : sentinels) {
                    ASSERT_EQ(text.find(s), std::string::npos)
                        << "a sandbox value reached the hub inside \"" << text << "\"";
                }
            }
        }
    }
    EXPECT_GT(strings, 100u);
    // Nor the log lines of the run.
    const std::string log = sink.text();
    for (const auto& s : sentinels) {
        if (s.size() >= 6) {
            ASSERT_EQ(log.find(s), std::string::npos) << "a sandbox value in the log";
        }
    }
}

TEST_F(hub_flow_test, consent_withdrawn_at_the_source_becomes_a_withdrawal_at_the_hub) {
    start(60);
    ASSERT_FALSE(run_flow().error);
    const auto want = expected();
    ASSERT_FALSE(want.empty());
    const auto [pseudonym, id] = *want.begin();
    ASSERT_TRUE(from->edit_case(id, R"({"consent_reporting": false, "legitimate_basis": []})"));
    clock.advance(5s);

    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_EQ(report.counts.withdrawn, 1);
    EXPECT_EQ(report.counts.notices, 1);
    EXPECT_EQ(report.counts.sent, 0);
    const auto w = hub->withdrawals();
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].first, pseudonym);
    EXPECT_EQ(w[0].second, "consent_withdrawn");
    const auto held = hub->records();
    EXPECT_TRUE(held.at(pseudonym).withdrawn);
    EXPECT_TRUE(held.at(pseudonym).filter.empty());
    EXPECT_EQ(count_log("consent_withdrawn"), 1);
    const auto txn = run(st->run([](store::store& s) -> std::string {
        auto q = s.database().prepare(
            "SELECT remote_txn_id FROM transfer_log WHERE outcome = 'consent_withdrawn'"
        );
        (void)q->step();
        return q->column_text(0);
    }));
    EXPECT_EQ(txn, "withdrawal:" + pseudonym);

    // Once only.
    clock.advance(10s);
    auto again = run_flow();
    ASSERT_FALSE(again.error);
    EXPECT_EQ(again.counts.withdrawn, 0);
    EXPECT_EQ(hub->withdrawals().size(), 1u);

    // Consent given again: the record goes again and the hub holds it again.
    ASSERT_TRUE(from->edit_case(id, R"({"consent_reporting": true})"));
    clock.advance(5s);
    auto back = run_flow();
    ASSERT_FALSE(back.error) << *back.error;
    EXPECT_EQ(back.counts.sent, 1);
    EXPECT_FALSE(hub->records().at(pseudonym).withdrawn);
}

TEST_F(hub_flow_test, an_unavailable_or_rate_limited_hub_is_retried_and_nothing_is_lost) {
    start(60, 4);
    const auto want = expected();
    hub->fail_next({.status = 503});
    hub->fail_next({.status = 429, .retry_after = "1", .after = 1});
    auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    EXPECT_GE(report.counts.retries, 2);
    EXPECT_EQ(report.counts.sent, static_cast<std::int64_t>(want.size()));
    EXPECT_EQ(hub->records().size(), want.size());
    for (const auto& [p, rec] : hub->records()) {
        EXPECT_EQ(rec.receipts, 1) << p;
    }
}

TEST_F(hub_flow_test, a_hub_on_another_schema_version_stops_the_run_and_settles_nothing) {
    start(30);
    hub->set_schema_version(4);
    auto report = run_flow();
    ASSERT_TRUE(report.error);
    EXPECT_NE(report.error->find("linkage_schema_version 4"), std::string::npos) << *report.error;
    EXPECT_TRUE(hub->records().empty());
    EXPECT_EQ(count_log("sent"), 0);

    // Once the hub and the profile agree, the same records go, once each.
    hub->set_schema_version(3);
    auto retried = run_flow();
    ASSERT_FALSE(retried.error) << *retried.error;
    EXPECT_EQ(hub->records().size(), expected().size());
    for (const auto& [p, n] : receipts()) {
        EXPECT_EQ(n, 1) << p;
    }
}

}  // namespace
}  // namespace casebridge::sync
