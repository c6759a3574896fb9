// The casebridge_hub adapter against a fake hub (tests/support/fake_hub) over real HTTPS on
// loopback, with certificates made here and a client certificate required: batches as the hub
// contract has them, the schema check, error classes, withdrawals.
#include "casebridge_hub/hub_adapter.hpp"

#include <future>
#include <map>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "adapter/registry.hpp"
#include "core/encoding.hpp"
#include "json/json.hpp"
#include "json/json_schema.hpp"
#include "linkage/encoder.hpp"
#include "net/http_client.hpp"
#include "policy/linkage_step.hpp"
#include "support/fake_hub.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"
#include "support/test_certs.hpp"

namespace casebridge::casebridge_hub {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;

const linkage::linkage_schema& shipped_schema() {
    static const auto s =
        linkage::linkage_schema::load(source_dir / "mappings/linkage/linkage-schema.json");
    return s;
}

// Synthetic children (names, dates and ids made up here).
const char* const names[] = {
    "Nur Begum",
    "Mohammad Rafiq",
    "Fatema Khatun",
    "Abdul Karim",
    "Rohima Akter",
    "Md. Hossain",
    "Shahida Begom",
    "Anwar Ullah",
    "Jannat Ara",
    "Yasmin Noor"};

class hub_adapter_test : public ::testing::Test {
protected:
    test::temp_dir dir;
    memory_sink sink;
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 3 / 10) + 9h};
    net::io_context ctx;
    std::optional<test::test_ca> ca;
    test::cert_files client_cert;
    std::unique_ptr<test::fake_hub> hub;
    std::unique_ptr<http_client> http;
    std::optional<linkage::encoder> enc;
    std::map<std::string, linkage::encoded_record> sent_encodings;  // by pseudonym

    void SetUp() override {
        fs::create_directories(dir / "pki");
        ca.emplace(dir / "pki", "hub-test-ca");
        client_cert =
            ca->issue(test::cert_spec{"agency-a", {}, {}, -3600, 86'400, true}, "agency-a-client");
        enc.emplace(shipped_schema(), "agencies-shared-linkage-secret-0123");
    }

    void start(test::fake_hub_settings s = {}, bool client_certificate = true) {
        const auto server_cert = ca->issue(test::cert_spec{}, "hub-server");
        s.tls = test::fake_tls{server_cert.cert, server_cert.key, ca->cert_file()};
        hub = std::make_unique<test::fake_hub>(std::move(s));
        http_client_settings hs;
        hs.tls.ca_file = ca->cert_file();
        if (client_certificate) {
            hs.tls.client_cert_file = client_cert.cert;
            hs.tls.client_key_file = client_cert.key;
        }
        hs.max_requests_per_second = 0;
        hs.request_timeout = 5s;
        auto created = http_client::create(ctx.get_executor(), hs, clock);
        ASSERT_TRUE(created) << created.error().describe();
        http = std::move(*created);
    }

    std::unique_ptr<hub_adapter> make(std::size_t batch_size = 200, std::string token = {}) {
        settings s;
        s.base_url = hub->base_url();
        s.token.file =
            dir.write("hub-token", (token.empty() ? hub->settings().token : token) + "\n");
        s.batch_size = batch_size;
        adapter_env env{
            ctx.get_executor(), http.get(), &clock, logger(sink, clock, log_level::debug)};
        return std::make_unique<hub_adapter>(std::move(s), std::move(env));
    }

    template <typename T>
    T run(net::awaitable<T> op) {
        return test::run_on(ctx, std::move(op), std::chrono::seconds(10));
    }

    /// The canonical record of child `i` (full: names, date of birth, identifiers).
    static rapidjson::Document child(int i) {
        rapidjson::Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        const std::string name = names[i % 10];
        const auto space = name.find(' ');
        d.AddMember("name_first", rapidjson::Value(name.substr(0, space).c_str(), a), a);
        d.AddMember("name_last", rapidjson::Value(name.substr(space + 1).c_str(), a), a);
        d.AddMember("sex", rapidjson::StringRef(i % 2 == 0 ? "female" : "male"), a);
        const std::string dob = "201" + std::to_string(i % 10) + "-0" + std::to_string(1 + i % 9) +
                                "-1" + std::to_string(i % 10);
        d.AddMember("date_of_birth", rapidjson::Value(dob.c_str(), a), a);
        d.AddMember("location_current", "BD20220712", a);
        if (i % 3 == 0) {
            const std::string no = "803-10000" + std::to_string(1000 + i);
            d.AddMember("unhcr_individual_no", rapidjson::Value(no.c_str(), a), a);
        }
        return d;
    }

    /// What the engine hands the adapter for child `i`: the mapped record and the encoding.
    external_record record(int i) {
        const auto full = child(i);
        const auto encoding = enc->encode(full);
        const std::string pseudonym = "case-" + std::to_string(1000 + i);
        sent_encodings[pseudonym] = encoding;
        external_record r;
        r.stream = "records";
        r.source_key = "imo/cpims/" + std::to_string(i);
        auto& a = r.body.GetAllocator();
        r.body.SetObject();
        r.body.AddMember("pseudonym", rapidjson::Value(pseudonym.c_str(), a), a);
        rapidjson::Value coarse(rapidjson::kObjectType);
        coarse.AddMember("age_band", "12-17", a);
        coarse.AddMember("sex", rapidjson::StringRef(i % 2 == 0 ? "female" : "male"), a);
        coarse.AddMember("risk_level", "high", a);
        r.body.AddMember("coarse", coarse, a);
        r.body.AddMember(
            "linkage", policy::linkage_wire_form(shipped_schema().version, encoding, a), a
        );
        return r;
    }

    void push_all(hub_adapter& a, int n, int from = 0) {
        for (int i = from; i < from + n; ++i) {
            auto id = run(a.push(record(i)));
            ASSERT_TRUE(id) << id.error().describe();
            EXPECT_EQ(*id, "case-" + std::to_string(1000 + i));
        }
    }

    std::vector<rapidjson::Document> record_posts() const {
        std::vector<rapidjson::Document> out;
        for (const auto& r : hub->server().requests()) {
            if (r.method == "POST" && r.target == "/hub/v1/records") {
                out.push_back(std::move(*json::parse(r.body)));
            }
        }
        return out;
    }
};

// The filter's words as the contract has them: little-endian bytes, word 0 first; decoded here
// independently of the code that encoded them.
std::vector<std::uint64_t> words_of(const std::string& base64) {
    const auto bytes = base64_decode(base64);
    EXPECT_TRUE(bytes);
    std::vector<std::uint64_t> words(bytes->size() / 8);
    for (std::size_t i = 0; i < bytes->size(); ++i) {
        words[i / 8] |= static_cast<std::uint64_t>(static_cast<unsigned char>((*bytes)[i]))
                        << (8 * (i % 8));
    }
    return words;
}

TEST_F(hub_adapter_test, config_schema_and_settings) {
    const json::schema schema(config_schema(), "casebridge_hub settings schema");
    auto ok = json::parse(R"({"base_url": "https://hub.example.org", "token_env": "HUB_TOKEN",
                               "batch_size": 300})");
    EXPECT_FALSE(schema.validate(*ok));
    const auto s = settings_from_json(*ok);
    EXPECT_EQ(s.token.env, "HUB_TOKEN");
    EXPECT_EQ(s.batch_size, 300u);
    auto path = json::parse(R"({"base_url": "https://hub.example.org/hub/v1", "token_env": "X"})");
    EXPECT_TRUE(schema.validate(*path));
    auto both =
        json::parse(R"({"base_url": "https://h.org", "token_env": "X", "token_file": "f"})");
    EXPECT_THROW(settings_from_json(*both), std::invalid_argument);
    auto none = json::parse(R"({"base_url": "https://h.org"})");
    EXPECT_THROW(settings_from_json(*none), std::invalid_argument);
    adapter_registry registry;
    register_builtin_adapters(registry);
    EXPECT_NE(registry.find("casebridge_hub"), nullptr);
}

TEST_F(hub_adapter_test, batches_are_well_formed_per_the_contract) {
    start();
    auto a = make(3);
    push_all(*a, 7);
    EXPECT_EQ(a->pending_records(), 7u);
    EXPECT_EQ(hub->server().request_count(), 0u) << "push sends nothing before a flush";
    auto flushed = run(a->flush());
    ASSERT_TRUE(flushed) << flushed.error().describe();
    EXPECT_EQ(a->pending_records(), 0u);

    const auto requests = hub->server().requests();
    ASSERT_EQ(requests.size(), 4u);  // the schema, then batches of 3, 3 and 1
    EXPECT_EQ(requests[0].method, "GET");
    EXPECT_EQ(requests[0].target, "/hub/v1/schema");
    EXPECT_EQ(requests[1].headers.at("content-type"), "application/json");
    for (const auto& r : requests) {
        EXPECT_EQ(r.headers.at("authorization"), "Bearer " + hub->settings().token);
        EXPECT_EQ(r.client_cn, "agency-a") << "the client certificate went with the request";
    }
    const auto posts = record_posts();
    ASSERT_EQ(posts.size(), 3u);
    std::vector<std::size_t> sizes;
    std::set<std::string> seen;
    for (const auto& body : posts) {
        ASSERT_TRUE(body.IsObject());
        EXPECT_EQ(body.MemberCount(), 2u);
        EXPECT_EQ(body["linkage_schema_version"].GetInt(), 3);
        sizes.push_back(body["records"].Size());
        for (const auto& rec : body["records"].GetArray()) {
            std::set<std::string> members;
            for (const auto& m : rec.GetObject()) {
                members.insert(m.name.GetString());
            }
            EXPECT_EQ(members, (std::set<std::string>{"pseudonym", "filter", "tokens", "coarse"}));
            const std::string p = rec["pseudonym"].GetString();
            EXPECT_TRUE(seen.insert(p).second) << p << " sent twice";
            const auto& expected = sent_encodings.at(p);
            EXPECT_EQ(words_of(rec["filter"].GetString()), expected.filter)
                << "the filter is linkage::encoder's, little-endian, word 0 first";
            EXPECT_EQ(words_of(rec["filter"].GetString()).size(), 32u);
            ASSERT_EQ(rec["tokens"].Size(), expected.tokens.size());
            for (rapidjson::SizeType t = 0; t < rec["tokens"].Size(); ++t) {
                char hex[17];
                std::snprintf(
                    hex,
                    sizeof hex,
                    "%016llx",
                    static_cast<unsigned long long>(expected.tokens[t].value)
                );
                EXPECT_EQ(rec["tokens"][t]["kind"].GetUint(), expected.tokens[t].kind);
                EXPECT_EQ(std::string(rec["tokens"][t]["value"].GetString()), hex);
            }
            EXPECT_EQ(std::string(rec["coarse"]["risk_level"].GetString()), "high");
        }
    }
    EXPECT_EQ(sizes, (std::vector<std::size_t>{3, 3, 1}));
    EXPECT_EQ(seen.size(), 7u);
    EXPECT_EQ(hub->records().size(), 7u);

    // The same records again: the hub counts them unchanged; the schema is not read again.
    push_all(*a, 7);
    ASSERT_TRUE(run(a->flush()));
    EXPECT_EQ(hub->requests_to("GET", "/hub/v1/schema"), 1u);
    EXPECT_EQ(hub->records().at("case-1000").receipts, 2);
}

TEST_F(hub_adapter_test, batches_never_exceed_the_hubs_max_batch_records) {
    test::fake_hub_settings s;
    s.max_batch_records = 2;
    start(s);
    auto a = make(200);
    push_all(*a, 5);
    ASSERT_TRUE(run(a->flush()));
    std::vector<std::size_t> sizes;
    for (const auto& body : record_posts()) {
        sizes.push_back(body["records"].Size());
    }
    EXPECT_EQ(sizes, (std::vector<std::size_t>{2, 2, 1}));
    EXPECT_EQ(hub->records().size(), 5u);
}

TEST_F(hub_adapter_test, a_schema_version_mismatch_is_refused_before_anything_is_sent) {
    test::fake_hub_settings s;
    s.schema_version = 4;
    start(s);
    auto a = make();
    push_all(*a, 3);
    auto flushed = run(a->flush());
    ASSERT_FALSE(flushed);
    EXPECT_EQ(flushed.error().code, make_error_code(errc::invalid_config));
    EXPECT_FALSE(flushed.error().transient());
    EXPECT_NE(
        flushed.error().detail.find("the hub expects linkage_schema_version 4"), std::string::npos
    ) << flushed.error().detail;
    EXPECT_EQ(hub->requests_to("POST", "/hub/v1/records"), 0u);
    EXPECT_TRUE(hub->records().empty());
    EXPECT_NE(sink.text().find("hub.schema_mismatch"), std::string::npos);
}

TEST_F(hub_adapter_test, a_hub_that_changes_its_schema_answers_409_and_is_read_again) {
    start();
    auto a = make();
    push_all(*a, 2);
    ASSERT_TRUE(run(a->flush()));
    hub->set_schema_version(4);  // upgraded while this agency runs
    push_all(*a, 2, 10);
    auto flushed = run(a->flush());
    ASSERT_FALSE(flushed);
    EXPECT_EQ(flushed.error().code, make_error_code(errc::invalid_config));
    EXPECT_EQ(flushed.error().http_status, 409u);
    EXPECT_NE(
        flushed.error().detail.find("expects linkage_schema_version 4 but received 3"),
        std::string::npos
    ) << flushed.error().detail;
    // The next flush reads the schema again and refuses before sending.
    const auto posts = hub->requests_to("POST", "/hub/v1/records");
    auto again = run(a->flush());
    ASSERT_FALSE(again);
    EXPECT_EQ(hub->requests_to("GET", "/hub/v1/schema"), 2u);
    EXPECT_EQ(hub->requests_to("POST", "/hub/v1/records"), posts);
}

TEST_F(hub_adapter_test, refusals_401_413_400_are_permanent_and_name_no_value) {
    start();
    {
        auto a = make(200, "a-token-the-hub-does-not-know-0123456789");
        push_all(*a, 1);
        auto r = run(a->flush());
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, make_error_code(errc::auth_failed));
        EXPECT_EQ(r.error().http_status, 401u);
        EXPECT_FALSE(r.error().transient());
        EXPECT_EQ(r.error().describe().find("a-token-the-hub"), std::string::npos);
    }
    auto a = make();
    hub->fail_next({.status = 413, .code = "too_large", .message = "more than 500 records"});
    push_all(*a, 1);
    auto big = run(a->flush());
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().http_status, 413u);
    EXPECT_EQ(big.error().code, make_error_code(errc::too_large));
    EXPECT_FALSE(big.error().transient());
    a->discard_pending();
    EXPECT_EQ(a->pending_records(), 0u);

    // A 400 names the pointer and the field; a value the hub's message might echo is not
    // repeated.
    hub->fail_next(
        {.status = 400,
         .code = "field_not_allowed",
         .message = "at /records/0/coarse: field risk_level is not accepted (value Nur Begum)"}
    );
    push_all(*a, 1);
    auto bad = run(a->flush());
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, make_error_code(errc::remote_rejected));
    EXPECT_EQ(bad.error().http_status, 400u);
    EXPECT_FALSE(bad.error().transient());
    const std::string d = bad.error().describe();
    EXPECT_NE(d.find("field_not_allowed"), std::string::npos) << d;
    EXPECT_NE(d.find("at /records/0/coarse"), std::string::npos) << d;
    EXPECT_NE(d.find("risk_level"), std::string::npos) << d;
    EXPECT_EQ(d.find("Nur"), std::string::npos) << d;
    EXPECT_EQ(d.find("Begum"), std::string::npos) << d;
    EXPECT_EQ(hub->records().size(), 0u) << "a refused batch stores nothing";
    a->discard_pending();

    // The pointer is the hub's text too: a step that is neither an index nor a member name of
    // the request ends it.
    hub->fail_next(
        {.status = 400,
         .code = "field_not_allowed",
         .message = "at /records/0/coarse/Nur_Begum-2015-03-02: not accepted"}
    );
    push_all(*a, 1);
    auto odd = run(a->flush());
    ASSERT_FALSE(odd);
    const std::string o = odd.error().describe();
    EXPECT_NE(o.find("at /records/0/coarse"), std::string::npos) << o;
    EXPECT_EQ(o.find("Begum"), std::string::npos) << o;
    EXPECT_EQ(o.find("2015"), std::string::npos) << o;
    a->discard_pending();

    // A number is kept only as an index the request has: a phone number or a date is not.
    for (const std::string tail : {"/coarse/01712345678", "/19900101", "/0/coarse"}) {
        hub->fail_next(
            {.status = 400, .code = "field_not_allowed", .message = "at /records" + tail + ": no"}
        );
        push_all(*a, 1);
        auto numbered = run(a->flush());
        ASSERT_FALSE(numbered);
        const std::string n = numbered.error().describe();
        EXPECT_EQ(n.find("0171"), std::string::npos) << n;
        EXPECT_EQ(n.find("1990"), std::string::npos) << n;
        EXPECT_NE(n.find("at /records"), std::string::npos) << n;
        a->discard_pending();
    }
}

TEST_F(hub_adapter_test, encodings_and_coarse_fields_the_hub_does_not_take_are_refused_first) {
    test::fake_hub_settings s;
    s.coarse_fields = {"age_band", "sex"};
    start(s);
    auto a = make();
    push_all(*a, 1);
    auto r = run(a->flush());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::invalid_config));
    EXPECT_NE(r.error().detail.find("coarse field risk_level"), std::string::npos)
        << r.error().detail;
    a->discard_pending();

    hub.reset();
    start();
    auto b = make();
    external_record shortened = record(3);
    shortened.body["linkage"]["filter"].SetString(
        base64_encode(std::string(128, '\x01')).c_str(), shortened.body.GetAllocator()
    );
    ASSERT_TRUE(run(b->push(std::move(shortened))));
    auto f = run(b->flush());
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().code, make_error_code(errc::invalid_config));
    EXPECT_NE(f.error().detail.find("encodings of 256 bytes"), std::string::npos)
        << f.error().detail;
    EXPECT_EQ(hub->requests_to("POST", "/hub/v1/records"), 0u);
}

TEST_F(hub_adapter_test, unavailable_and_rate_limited_answers_are_transient_and_resume) {
    start();
    auto a = make(2);
    push_all(*a, 5);
    hub->fail_next({.status = 503});
    auto first = run(a->flush());
    ASSERT_FALSE(first);
    EXPECT_TRUE(first.error().transient());
    EXPECT_EQ(first.error().code, make_error_code(errc::remote_unavailable));
    EXPECT_EQ(a->pending_records(), 5u) << "nothing stored, nothing dropped";
    EXPECT_TRUE(hub->records().empty());

    // The first batch is stored, the second rate limited: a retried flush goes on from there.
    hub->fail_next({.status = 429, .retry_after = "7", .after = 1});
    auto second = run(a->flush());
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, make_error_code(errc::rate_limited));
    EXPECT_TRUE(second.error().transient());
    ASSERT_TRUE(second.error().retry_after);
    EXPECT_EQ(*second.error().retry_after, 7s);
    EXPECT_EQ(a->pending_records(), 3u);
    EXPECT_EQ(hub->records().size(), 2u);

    hub->fail_next({.status = 500});
    auto third = run(a->flush());
    ASSERT_FALSE(third);
    EXPECT_TRUE(third.error().transient()) << "a 500 is the hub's trouble: retried";

    auto done = run(a->flush());
    ASSERT_TRUE(done) << done.error().describe();
    const auto held = hub->records();
    ASSERT_EQ(held.size(), 5u);
    for (const auto& [p, rec] : held) {
        EXPECT_EQ(rec.receipts, 1) << p << " arrived more than once";
    }
}

TEST_F(hub_adapter_test, a_withdrawal_is_sent_with_its_pseudonym_and_reason) {
    start();
    auto a = make();
    push_all(*a, 3);
    ASSERT_TRUE(run(a->flush()));
    EXPECT_TRUE(a->can_notify_withdrawal("records"));
    auto notice = run(a->notify_withdrawal("records", "case-1001", "imo/cpims/1", "v2"));
    ASSERT_TRUE(notice);
    EXPECT_EQ(*notice, "withdrawal:case-1001");
    // The same notice twice before a flush goes once.
    ASSERT_TRUE(run(a->notify_withdrawal("records", "case-1001", "imo/cpims/1", "v2")));
    EXPECT_EQ(a->pending_withdrawals(), 1u);
    ASSERT_TRUE(run(a->flush()));
    const auto w = hub->withdrawals();
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].first, "case-1001");
    EXPECT_EQ(w[0].second, "consent_withdrawn");
    const auto held = hub->records();
    EXPECT_TRUE(held.at("case-1001").withdrawn);
    EXPECT_TRUE(held.at("case-1001").filter.empty());
    EXPECT_FALSE(held.at("case-1000").withdrawn);
    // A repeat (a retried page) counts as unknown at the hub and still succeeds here.
    ASSERT_TRUE(run(a->notify_withdrawal("records", "case-1001", "imo/cpims/1", "v2")));
    ASSERT_TRUE(run(a->flush()));
    EXPECT_EQ(hub->withdrawals().size(), 2u);
    EXPECT_FALSE(run(a->notify_withdrawal("records", "not a pseudonym", "k", "v")));
}

TEST_F(hub_adapter_test, push_refuses_what_is_not_a_hub_record) {
    start();
    auto a = make();
    const auto refused = [&](auto edit) {
        external_record r = record(4);
        edit(r.body);
        auto id = run(a->push(std::move(r)));
        EXPECT_FALSE(id);
        return id ? std::string() : id.error().describe();
    };
    EXPECT_NE(
        refused([](rapidjson::Document& b) { b.RemoveMember("linkage"); }
        ).find("/linkage: the record carries no encoding"),
        std::string::npos
    );
    EXPECT_NE(
        refused([](rapidjson::Document& b) { b["pseudonym"].SetString("has space"); }
        ).find("/pseudonym"),
        std::string::npos
    );
    EXPECT_NE(
        refused([](rapidjson::Document& b) { b.AddMember("name_first", "Nur", b.GetAllocator()); }
        ).find("/name_first: not part of a hub record"),
        std::string::npos
    );
    EXPECT_NE(
        refused([](rapidjson::Document& b) {
            b["linkage"]["tokens"].PushBack(
                rapidjson::Value(rapidjson::kObjectType), b.GetAllocator()
            );
        }).find("/linkage/tokens"),
        std::string::npos
    );
    EXPECT_EQ(a->pending_records(), 0u);
    EXPECT_FALSE(run(a->pull("records", std::nullopt)));
}

TEST_F(hub_adapter_test, without_a_client_certificate_the_hub_refuses_the_connection) {
    start({}, false);
    auto a = make();
    auto r = run(a->probe());
    ASSERT_FALSE(r);
    EXPECT_GE(hub->server().failed_handshakes(), 1u);
    EXPECT_EQ(hub->server().request_count(), 0u);
}

TEST_F(hub_adapter_test, probe_reads_the_schema_and_the_fingerprint_follows_the_token) {
    start();
    auto a = make();
    ASSERT_TRUE(run(a->probe()));
    auto s = run(a->schema());
    ASSERT_TRUE(s);
    EXPECT_EQ(s->agency, "agency-a");
    EXPECT_EQ(s->linkage_schema_version, 3);
    EXPECT_EQ(s->encoded_words, 32u);
    EXPECT_EQ(s->coarse_fields.size(), 6u);
    const auto fp = a->credential_fingerprint();
    ASSERT_TRUE(fp);
    EXPECT_EQ(fp->find(hub->settings().token), std::string::npos);
    dir.write("hub-token", "a-rotated-token-0123456789abcdef\n");
    EXPECT_NE(a->credential_fingerprint(), fp);
}

}  // namespace
}  // namespace casebridge::casebridge_hub
