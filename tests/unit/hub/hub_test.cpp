// The IMO hub end to end: the service on loopback over real TLS (certificates made here), a
// real SQLite file, the project's HTTPS client as the agency; records encoded with the linkage
// encoder and a secret the hub never sees. Bad input is refused with nothing stored and nothing
// lost; withdrawals delete encodings; the log verifies; no name, date or id reaches the hub.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "app/config.hpp"
#include "cli/cli.hpp"
#include "core/encoding.hpp"
#include "exchange/csv.hpp"
#include "hub/hub_admin.hpp"
#include "hub/hub_service.hpp"
#include "hub/hub_store.hpp"
#include "json/json.hpp"
#include "linkage/encoder.hpp"
#include "net/http_client.hpp"
#include "sandbox/population.hpp"
#include "store/sqlite.hpp"
#include "store/transfer_log.hpp"
#include "support/browser.hpp"
#include "support/child_process.hpp"
#include "support/png_image.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"
#include "support/test_certs.hpp"
#include "support/thread_names.hpp"

namespace casebridge::hub {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path schema_file =
    std::filesystem::path(CASEBRIDGE_SOURCE_DIR) / "mappings" / "linkage" / "linkage-schema.json";

struct reply {
    unsigned status = 0;
    std::string body;
    bool failed = false;  ///< No HTTP answer at all (e.g. a refused handshake).

    rapidjson::Document json() const {
        auto d = json::parse(body);
        return d ? std::move(*d) : rapidjson::Document();
    }
    std::string error_code() const {
        auto d = json();
        return d.IsObject() && d.HasMember("error") ? d["error"]["code"].GetString() : "";
    }
    std::string message() const {
        auto d = json();
        return d.IsObject() && d.HasMember("error") ? d["error"]["message"].GetString() : "";
    }
};

awaitable<reply> send_request(http_client_settings settings, http_request req) {
    auto ex = co_await net::this_coro::executor;
    auto client = http_client::create(ex, settings, system_clock_source::instance());
    if (!client) {
        co_return reply{0, client.error().detail, true};
    }
    auto r = co_await (*client)->send(std::move(req));
    if (!r) {
        co_return reply{0, r.error().detail, true};
    }
    co_return reply{r->status, r->body, false};
}

/// Writes a screenshot to the test artefacts folder and checks that it shows something.
void save_artefact(const std::string& png, const std::string& name) {
    std::filesystem::create_directories(CASEBRIDGE_ARTEFACT_DIR);
    const auto file = std::filesystem::path(CASEBRIDGE_ARTEFACT_DIR) / name;
    std::ofstream(file, std::ios::binary) << png;
    std::string error;
    const auto image = test::read_png(file, error);
    ASSERT_TRUE(image.has_value()) << name << ": " << error;
    EXPECT_GT(image->colours(), 3u) << name;
}

/// One record as an agency sends it.
std::string record_json(
    const std::string& pseudonym,
    const linkage::encoded_record& e,
    const std::map<std::string, std::string>& coarse = {}
) {
    std::string filter(e.filter.size() * 8, '\0');
    for (std::size_t i = 0; i < e.filter.size(); ++i) {
        for (std::size_t b = 0; b < 8; ++b) {
            filter[i * 8 + b] = static_cast<char>((e.filter[i] >> (8 * b)) & 0xFFU);
        }
    }
    std::string out = "{\"pseudonym\":\"" + pseudonym + "\",\"filter\":\"" + base64_encode(filter) +
                      "\",\"tokens\":[";
    for (std::size_t i = 0; i < e.tokens.size(); ++i) {
        char hex[17];
        std::snprintf(
            hex, sizeof hex, "%016llx", static_cast<unsigned long long>(e.tokens[i].value)
        );
        out += (i ? "," : "") + std::string("{\"kind\":") + std::to_string(e.tokens[i].kind) +
               ",\"value\":\"" + hex + "\"}";
    }
    out += "],\"coarse\":{";
    bool first = true;
    for (const auto& [k, v] : coarse) {
        out += (first ? "" : ",") + std::string("\"") + k + "\":\"" + v + "\"";
        first = false;
    }
    return out + "}}";
}

std::string batch(const std::vector<std::string>& records, int version = 3) {
    std::string out = "{\"linkage_schema_version\":" + std::to_string(version) + ",\"records\":[";
    for (std::size_t i = 0; i < records.size(); ++i) {
        out += (i ? "," : "") + records[i];
    }
    return out + "]}";
}

class hub_fixture : public ::testing::Test {
protected:
    test::temp_dir dir;
    test::test_ca ca{dir.path(), "hub-root"};
    test::test_ca agency_ca{dir.path(), "agency-root"};
    test::cert_files leaf = ca.issue({}, "hub");
    std::map<std::string, std::string> tokens = {
        {"agency_a", "token-of-agency-a-0123456789"},
        {"agency_b", "token-of-agency-b-0123456789"},
        {"agency_c", "token-of-agency-c-0123456789"}};
    app::hub_config cfg;
    std::unique_ptr<service> hub;
    linkage::linkage_schema schema = linkage::linkage_schema::load(schema_file);
    linkage::encoder enc{schema, "a linkage secret the hub never has"};
    std::stringstream log_text;
    struct string_sink final : log_sink {
        std::stringstream* out;
        explicit string_sink(std::stringstream* o) : out(o) {}
        void write(std::string_view line) override { *out << line; }
    } sink{&log_text};
    logger log{sink, system_clock_source::instance(), log_level::debug};

    void SetUp() override {
        cfg.listen = "127.0.0.1:0";
        cfg.host = "127.0.0.1";
        cfg.cert_file = leaf.cert;
        cfg.key_file = leaf.key;
        cfg.store_path = dir / "hub.sqlite";
        cfg.linkage_schema = schema_file;
        cfg.coarse_fields = app::hub_coarse_field_names();
        for (const auto& [id, token] : tokens) {
            app::hub_agency_config a;
            a.id = id;
            a.display_name = "Agency " + id;
            a.token.file = dir.write(id + ".token", token + "\n");
            cfg.agencies.push_back(a);
        }
    }

    void TearDown() override { hub.reset(); }  // before the log sink goes

    void start() { hub = std::make_unique<service>(cfg, system_clock_source::instance(), log); }

    http_client_settings client_settings() const {
        http_client_settings s;
        s.tls.ca_file = ca.cert_file();
        s.max_requests_per_second = 0;
        s.connect_timeout = 5s;
        s.request_timeout = 20s;
        return s;
    }

    reply call(
        const std::string& method,
        const std::string& path,
        const std::string& body,
        const std::string& agency,
        std::optional<http_client_settings> settings = std::nullopt
    ) {
        http_request req;
        req.method = method;
        req.url = hub->base_url() + path;
        if (!agency.empty()) {
            const auto it = tokens.find(agency);
            req.headers.push_back(
                {"Authorization", "Bearer " + (it != tokens.end() ? it->second : agency)}
            );
        }
        req.headers.push_back({"Content-Type", "application/json"});
        req.body = body;
        return test::run_awaitable(send_request(settings.value_or(client_settings()), req), 60s);
    }
    reply post_records(const std::string& agency, const std::string& body) {
        return call("POST", "/hub/v1/records", body, agency);
    }

    linkage::encoded_record encode_person(
        const std::string& first, const std::string& last, const std::string& dob
    ) {
        rapidjson::Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        d.AddMember("name_first", rapidjson::Value(first.c_str(), a), a);
        d.AddMember("name_last", rapidjson::Value(last.c_str(), a), a);
        d.AddMember("date_of_birth", rapidjson::Value(dob.c_str(), a), a);
        d.AddMember("sex", "female", a);
        d.AddMember("unhcr_individual_no", "803-00012345", a);
        return enc.encode(d);
    }

    /// A row count of the hub's file (read-only connection beside the running service).
    std::int64_t count(const std::string& sql) {
        auto d = store::db::open_read_only(cfg.store_path);
        EXPECT_TRUE(d);
        auto s = d->prepare(sql);
        EXPECT_TRUE(s) << sql;
        auto row = s->step();
        return row && *row ? s->column_int(0) : -1;
    }

    store::verify_report verify_log() {
        auto d = store::db::open_read_only(cfg.store_path);
        auto r = store::verify(*d, {});
        EXPECT_TRUE(r);
        return *r;
    }
};

// The hub's store thread and its linker are named, as top -H and /proc show them.
// One threshold given is compared with the linkage schema's other one, by the hub as it
// starts and by `check` (both through apply_hub_thresholds); the schema's own thresholds are
// read without writing the compiled-in copy out.
TEST(hub_thresholds, one_given_is_compared_with_the_schemas_other) {
    test::temp_dir dir;
    app::hub_config cfg;
    cfg.store_path = dir / "hub.db";
    cfg.linkage_schema = "";
    const auto own = hub::hub_schema_thresholds(cfg);
    ASSERT_TRUE(own);
    EXPECT_LT(own->lower, own->upper);
    EXPECT_FALSE(std::filesystem::exists(dir / "hub.db.linkage")) << "check wrote a file";
    const auto loaded = hub::load_hub_schema(cfg);
    EXPECT_EQ(loaded.thresholds.upper, own->upper);
    EXPECT_EQ(loaded.thresholds.lower, own->lower);

    cfg.lower_threshold = own->upper + 0.01;
    try {
        (void)hub::apply_hub_thresholds(cfg, *own);
        ADD_FAILURE() << "a lower threshold above the schema's upper one was taken";
    } catch (const std::invalid_argument& e) {
        std::ostringstream upper;
        upper << own->upper;
        EXPECT_EQ(
            std::string(e.what()),
            "the lower threshold is above the upper one (with the linkage schema's upper "
            "threshold, " +
                upper.str() + ")"
        );
    }
    EXPECT_THROW((void)hub::load_hub_schema(cfg), std::runtime_error);

    cfg.lower_threshold.reset();
    cfg.upper_threshold = own->lower - 0.01;
    EXPECT_THROW((void)hub::apply_hub_thresholds(cfg, *own), std::invalid_argument);
    cfg.upper_threshold = own->lower + 0.01;
    const auto taken = hub::apply_hub_thresholds(cfg, *own);
    EXPECT_EQ(taken.upper, own->lower + 0.01);
    EXPECT_EQ(taken.lower, own->lower);
}

TEST_F(hub_fixture, its_store_and_linker_threads_are_named) {
    start();
    EXPECT_TRUE(test::has_thread_named("cb-hub-store"));
    EXPECT_TRUE(test::has_thread_named("cb-hub-linker"));
}

TEST_F(hub_fixture, ingest_is_idempotent_by_agency_and_pseudonym_and_logged) {
    start();
    auto schema_answer = call("GET", "/hub/v1/schema", "", "agency_b");
    ASSERT_EQ(schema_answer.status, 200u) << schema_answer.body;
    const auto s = schema_answer.json();
    EXPECT_STREQ(s["agency"].GetString(), "agency_b");
    EXPECT_EQ(s["linkage_schema_version"].GetInt(), 3);
    EXPECT_EQ(s["encoded_words"].GetInt(), 32);
    EXPECT_EQ(s["max_batch_records"].GetInt(), 500);
    EXPECT_EQ(s["coarse_fields"].Size(), 6u);

    const auto r1 =
        record_json("case-1", encode_person("Rahima", "Begum", "2012-03-04"), {{"sex", "female"}});
    const auto r2 = record_json("case-2", encode_person("Karim", "Uddin", "2010-07-08"));
    const auto r3 = record_json("case-3", encode_person("Nur", "Hossain", "2015-01-01"));
    auto first = post_records("agency_a", batch({r1, r2, r3}));
    ASSERT_EQ(first.status, 200u) << first.body;
    EXPECT_EQ(first.body, "{\"stored\":3,\"unchanged\":0}\n");
    auto again = post_records("agency_a", batch({r1, r2, r3}));
    EXPECT_EQ(again.body, "{\"stored\":0,\"unchanged\":3}\n");
    const auto r1b = record_json(
        "case-1",
        encode_person("Rahima", "Begum", "2012-03-04"),
        {{"sex", "female"}, {"age_band", "12-17"}}
    );
    auto changed = post_records("agency_a", batch({r1b, r2, r3}));
    EXPECT_EQ(changed.body, "{\"stored\":1,\"unchanged\":2}\n");
    hub->wait_for_linkage();

    EXPECT_EQ(
        count("SELECT count(*) FROM hub_records WHERE agency = 'agency_a' AND state = 'active'"), 3
    );
    EXPECT_EQ(count("SELECT count(*) FROM transfer_log WHERE kind = 'receipt'"), 4);
    EXPECT_EQ(
        count("SELECT count(*) FROM transfer_log WHERE kind = 'receipt' AND reason = 'changed'"), 1
    );
    EXPECT_GE(
        count("SELECT count(*) FROM transfer_log WHERE kind = 'linkage' AND outcome = 'linked'"), 1
    );
    EXPECT_EQ(count("SELECT count(*) FROM hub_cluster_refs"), 3);
    const auto v = verify_log();
    EXPECT_TRUE(v.ok) << v.problem;
    EXPECT_GE(v.entries, 5);

    // The project's own `log verify` reads the hub's file as any store.
    std::stringstream out, err;
    cli::command_io io{out, err};
    EXPECT_EQ(cli::run({"log", "verify", "--store", cfg.store_path.string()}, io), 0) << err.str();
    EXPECT_NE(out.str().find("ok: "), std::string::npos) << out.str();
}

// A hub that stopped between a receipt's commit and its linkage (a SIGKILL) links when it
// starts again; one with nothing new since its last linkage does not link at start.
TEST_F(hub_fixture, a_hub_links_at_start_only_what_came_after_its_last_linkage) {
    start();
    ASSERT_EQ(
        post_records(
            "agency_a",
            batch({record_json("case-1", encode_person("Rahima", "Begum", "2012-03-04"))})
        )
            .status,
        200u
    );
    hub->wait_for_linkage();
    hub.reset();
    const auto runs = count("SELECT count(*) FROM hub_linkage_runs");
    ASSERT_GE(runs, 1);

    start();  // nothing new
    hub->wait_for_linkage();
    EXPECT_EQ(hub->linkage_runs(), 0u);
    hub.reset();
    EXPECT_EQ(count("SELECT count(*) FROM hub_linkage_runs"), runs);

    {  // as if the hub had died before its last linkage ran
        auto d = store::db::open(cfg.store_path);
        ASSERT_TRUE(d);
        ASSERT_TRUE(d->exec(
            "DELETE FROM hub_linkage_runs WHERE id = (SELECT max(id) FROM hub_linkage_runs)"
        ));
    }
    start();
    hub->wait_for_linkage();
    EXPECT_EQ(hub->linkage_runs(), 1u);
    hub.reset();
    EXPECT_EQ(count("SELECT count(*) FROM hub_linkage_runs"), runs);
}

TEST_F(hub_fixture, a_wrong_or_missing_token_gets_401_and_nothing_is_stored) {
    start();
    const auto body =
        batch({record_json("case-1", encode_person("Rahima", "Begum", "2012-03-04"))});
    auto wrong = post_records("not-a-token-of-any-agency", body);
    EXPECT_EQ(wrong.status, 401u);
    EXPECT_EQ(wrong.error_code(), "unauthenticated");
    EXPECT_EQ(wrong.message(), "bearer token not recognised");
    auto missing = post_records("", body);
    EXPECT_EQ(missing.status, 401u);
    EXPECT_EQ(missing.message(), "missing bearer token");
    auto schema_without = call("GET", "/hub/v1/schema", "", "");
    EXPECT_EQ(schema_without.status, 401u);
    EXPECT_EQ(count("SELECT count(*) FROM hub_records"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM transfer_log"), 0);
}

TEST_F(hub_fixture, an_agency_cannot_withdraw_or_overwrite_another_agencys_record) {
    start();
    const auto rec = record_json("case-7", encode_person("Rahima", "Begum", "2012-03-04"));
    ASSERT_EQ(post_records("agency_a", batch({rec})).status, 200u);
    auto w = call(
        "POST",
        "/hub/v1/withdrawals",
        R"({"pseudonyms":["case-7"],"reason":"consent_withdrawn"})",
        "agency_b"
    );
    ASSERT_EQ(w.status, 200u) << w.body;
    EXPECT_EQ(w.body, "{\"withdrawn\":0,\"unknown\":1}\n");
    EXPECT_EQ(
        count("SELECT count(*) FROM hub_records WHERE agency = 'agency_a' AND pseudonym = 'case-7' "
              "AND state = 'active' AND filter IS NOT NULL"),
        1
    );
    // The same pseudonym from agency B is B's own record; A's stays as it was.
    const auto other = record_json("case-7", encode_person("Karim", "Uddin", "2010-07-08"));
    auto b = post_records("agency_b", batch({other}));
    EXPECT_EQ(b.body, "{\"stored\":1,\"unchanged\":0}\n");
    auto a_again = post_records("agency_a", batch({rec}));
    EXPECT_EQ(a_again.body, "{\"stored\":0,\"unchanged\":1}\n") << "A's record was changed by B";
    EXPECT_EQ(count("SELECT count(*) FROM transfer_log WHERE kind = 'withdrawal'"), 0);
}

TEST_F(hub_fixture, another_schema_version_gets_409_and_nothing_is_stored) {
    start();
    const auto body =
        batch({record_json("case-1", encode_person("Rahima", "Begum", "2012-03-04"))}, 4);
    auto r = post_records("agency_a", body);
    EXPECT_EQ(r.status, 409u) << r.body;
    EXPECT_EQ(r.error_code(), "schema_version");
    const auto d = r.json();
    EXPECT_EQ(d["expected"].GetInt(), 3);
    EXPECT_EQ(d["received"].GetInt(), 4);
    EXPECT_EQ(count("SELECT count(*) FROM hub_records"), 0);
}

TEST_F(hub_fixture, oversized_batches_and_bodies_get_413_and_nothing_is_stored) {
    cfg.max_batch_records = 2;
    cfg.max_body_bytes = 4096;
    start();
    const auto e = encode_person("Rahima", "Begum", "2012-03-04");
    auto three = post_records(
        "agency_a", batch({record_json("c-1", e), record_json("c-2", e), record_json("c-3", e)})
    );
    EXPECT_EQ(three.status, 413u) << three.body;
    EXPECT_EQ(three.error_code(), "too_large");
    EXPECT_NE(three.message().find("more than 2"), std::string::npos) << three.message();
    const std::string big = batch({record_json("c-1", e)}) + std::string(5000, ' ');
    auto body = post_records("agency_a", big);
    EXPECT_EQ(body.status, 413u) << body.body;
    EXPECT_EQ(body.error_code(), "too_large");
    EXPECT_EQ(count("SELECT count(*) FROM hub_records"), 0);
    // Within both limits it is taken.
    EXPECT_EQ(
        post_records("agency_a", batch({record_json("c-1", e), record_json("c-2", e)})).status, 200u
    );
}

TEST_F(hub_fixture, malformed_bodies_name_the_pointer_store_nothing_and_lose_nothing) {
    start();
    const auto e = encode_person("Rahima", "Begum", "2012-03-04");
    ASSERT_EQ(post_records("agency_a", batch({record_json("kept-1", e)})).status, 200u);
    hub->wait_for_linkage();
    const auto entries_before = count("SELECT count(*) FROM transfer_log");

    const auto good = record_json("new-1", e);
    auto short_filter = linkage::encoded_record{std::vector<std::uint64_t>(31, 1), {}};
    const struct {
        std::string body;
        std::string code;
        std::string pointer;
    } cases[] = {
        {"{\"linkage_schema_version\":3,\"records\":[", "malformed", ""},
        {"[]", "malformed", "at /:"},
        {"{\"records\":[]}", "malformed", "at /linkage_schema_version:"},
        {batch({good, record_json("new-2", short_filter)}),
         "malformed",
         "at /records/1/filter: expected base64 of 256 bytes"},
        {batch({good, good}), "malformed", "at /records/1/pseudonym:"},
        {batch({record_json("bad pseudonym", e)}), "malformed", "at /records/0/pseudonym:"},
        {batch({good, record_json("new-3", e, {{"name_first", "x"}})}),
         "field_not_allowed",
         "at /records/1/coarse/name_first:"},
        {batch({good}).replace(batch({good}).find("\"value\":\"") + 9, 1, "Z"),
         "malformed",
         "at /records/0/tokens/0/value:"},
        {"{\"linkage_schema_version\":3,\"records\":[],\"extra\":1}",
         "malformed",
         "at /extra: unknown member"},
    };
    for (const auto& c : cases) {
        auto r = post_records("agency_a", c.body);
        EXPECT_EQ(r.status, 400u) << c.body.substr(0, 80) << " -> " << r.body;
        EXPECT_EQ(r.error_code(), c.code) << r.body;
        EXPECT_NE(r.message().find(c.pointer), std::string::npos) << r.message();
    }
    EXPECT_EQ(count("SELECT count(*) FROM hub_records"), 1);
    EXPECT_EQ(
        count("SELECT count(*) FROM hub_records WHERE pseudonym = 'kept-1' AND state = 'active' "
              "AND filter IS NOT NULL"),
        1
    );
    EXPECT_EQ(count("SELECT count(*) FROM transfer_log"), entries_before);
    auto w = call(
        "POST", "/hub/v1/withdrawals", R"({"pseudonyms":["kept-1"],"reason":"because"})", "agency_a"
    );
    EXPECT_EQ(w.status, 400u);
    EXPECT_NE(w.message().find("at /reason:"), std::string::npos) << w.message();
    EXPECT_EQ(count("SELECT count(*) FROM hub_records WHERE state = 'active'"), 1);
}

TEST_F(hub_fixture, a_withdrawal_deletes_the_encodings_and_is_logged) {
    start();
    const auto e = encode_person("Rahima", "Begum", "2012-03-04");
    ASSERT_EQ(
        post_records("agency_a", batch({record_json("case-9", e, {{"sex", "female"}})})).status,
        200u
    );
    auto w = call(
        "POST",
        "/hub/v1/withdrawals",
        R"({"pseudonyms":["case-9","never-sent"],"reason":"consent_withdrawn"})",
        "agency_a"
    );
    ASSERT_EQ(w.status, 200u) << w.body;
    EXPECT_EQ(w.body, "{\"withdrawn\":1,\"unknown\":1}\n");
    EXPECT_EQ(
        count("SELECT count(*) FROM hub_records WHERE pseudonym = 'case-9' AND state = 'withdrawn' "
              "AND filter IS NULL AND tokens IS NULL AND coarse IS NULL AND payload_sha256 IS NULL"
        ),
        1
    );
    auto repeat = call(
        "POST",
        "/hub/v1/withdrawals",
        R"({"pseudonyms":["case-9"],"reason":"case_closed"})",
        "agency_a"
    );
    EXPECT_EQ(repeat.body, "{\"withdrawn\":0,\"unknown\":1}\n");
    EXPECT_EQ(
        count("SELECT count(*) FROM transfer_log WHERE kind = 'withdrawal' AND reason = "
              "'consent_withdrawn' AND source_id = 'case-9'"),
        1
    );
    hub->wait_for_linkage();
    EXPECT_EQ(count("SELECT count(*) FROM hub_cluster_refs WHERE pseudonym = 'case-9'"), 0);
    // Sent again, it is active again.
    auto back = post_records("agency_a", batch({record_json("case-9", e)}));
    EXPECT_EQ(back.body, "{\"stored\":1,\"unchanged\":0}\n");
    EXPECT_EQ(
        count("SELECT count(*) FROM transfer_log WHERE kind = 'receipt' AND reason = 'reactivated'"
        ),
        1
    );
    hub->wait_for_linkage();
    EXPECT_TRUE(verify_log().ok);
}

TEST_F(hub_fixture, wrong_routes_and_methods_are_refused) {
    start();
    EXPECT_EQ(call("GET", "/hub/v1/records", "", "agency_a").status, 405u);
    EXPECT_EQ(call("POST", "/hub/v1/schema", "{}", "agency_a").status, 405u);
    auto nf = call("GET", "/hub/v1/nothing", "", "agency_a");
    EXPECT_EQ(nf.status, 404u);
    EXPECT_EQ(nf.error_code(), "not_found");
    EXPECT_EQ(call("GET", "/hub/v1/notices?after=0", "", "agency_a").status, 200u);
    auto post = call("POST", "/hub/v1/notices", "{}", "agency_a");
    EXPECT_EQ(post.status, 405u);
    EXPECT_EQ(post.error_code(), "method_not_allowed");
}

/// The notices of an agency's answer: (id, kind, pseudonym, other agencies as "id=name,...").
std::vector<std::string> notice_lines(const reply& r) {
    std::vector<std::string> out;
    const auto d = r.json();
    if (!d.IsObject() || !d.HasMember("notices")) {
        return out;
    }
    for (const auto& n : d["notices"].GetArray()) {
        std::string line = std::string(n["id"].GetString()) + " " + n["kind"].GetString() + " " +
                           n["pseudonym"].GetString() + " ";
        for (const auto& a : n["other_agencies"].GetArray()) {
            line += std::string(a["id"].GetString()) + "=" + a["name"].GetString() + ",";
        }
        out.push_back(line);
    }
    return out;
}

TEST_F(hub_fixture, notices_are_each_agencys_own_paged_by_after_and_idempotent) {
    cfg.agencies[2].display_name.clear();  // agency_c: named by its id
    start();
    const auto rahima = encode_person("Rahima", "Begum", "2012-03-04");
    const auto karim = encode_person("Karim", "Uddin", "2010-07-08");
    const auto nur = encode_person("Nur", "Hossain", "2015-01-01");
    ASSERT_EQ(
        post_records(
            "agency_a",
            batch({record_json("a-1", rahima), record_json("a-2", karim), record_json("a-3", nur)})
        )
            .status,
        200u
    );
    ASSERT_EQ(
        post_records("agency_b", batch({record_json("b-1", rahima), record_json("b-2", karim)}))
            .status,
        200u
    );
    ASSERT_EQ(post_records("agency_c", batch({record_json("c-1", nur)})).status, 200u);
    hub->wait_for_linkage();

    auto all = call("GET", "/hub/v1/notices", "", "agency_a");
    ASSERT_EQ(all.status, 200u) << all.body;
    EXPECT_EQ(
        notice_lines(all),
        (std::vector<std::string>{
            "1 possible_duplicate a-1 agency_b=Agency agency_b,",
            "2 possible_duplicate a-2 agency_b=Agency agency_b,",
            "3 possible_duplicate a-3 agency_c=agency_c,"})
    ) << all.body;
    EXPECT_STREQ(all.json()["next"].GetString(), "3");
    EXPECT_FALSE(all.json()["has_more"].GetBool());
    // The reference is the same at both agencies; B sees only its own records.
    auto b = call("GET", "/hub/v1/notices?after=0", "", "agency_b");
    ASSERT_EQ(b.status, 200u) << b.body;
    EXPECT_EQ(
        notice_lines(b),
        (std::vector<std::string>{
            "1 possible_duplicate b-1 agency_a=Agency agency_a,",
            "2 possible_duplicate b-2 agency_a=Agency agency_a,"})
    ) << b.body;
    EXPECT_EQ(b.body.find("a-"), std::string::npos) << "B's answer names A's records";
    EXPECT_STREQ(
        all.json()["notices"][0]["reference"].GetString(),
        b.json()["notices"][0]["reference"].GetString()
    );

    // Paging: after + limit; the same `after` gives the same answer.
    auto page1 = call("GET", "/hub/v1/notices?limit=2", "", "agency_a");
    ASSERT_EQ(page1.status, 200u) << page1.body;
    EXPECT_EQ(notice_lines(page1).size(), 2u);
    EXPECT_STREQ(page1.json()["next"].GetString(), "2");
    EXPECT_TRUE(page1.json()["has_more"].GetBool());
    auto page2 = call("GET", "/hub/v1/notices?after=2&limit=2", "", "agency_a");
    EXPECT_EQ(notice_lines(page2), (std::vector<std::string>{notice_lines(all)[2]}));
    EXPECT_FALSE(page2.json()["has_more"].GetBool());
    EXPECT_EQ(call("GET", "/hub/v1/notices?after=2&limit=2", "", "agency_a").body, page2.body);
    EXPECT_EQ(call("GET", "/hub/v1/notices?limit=2", "", "agency_a").body, page1.body);
    auto done = call("GET", "/hub/v1/notices?after=3", "", "agency_a");
    EXPECT_EQ(done.body, "{\"notices\":[],\"next\":\"3\",\"has_more\":false}\n");
    auto c_all = call("GET", "/hub/v1/notices", "", "agency_c");
    EXPECT_EQ(notice_lines(c_all).size(), 1u);
    auto far = call("GET", "/hub/v1/notices?after=99", "", "agency_c");
    EXPECT_EQ(far.body, "{\"notices\":[],\"next\":\"99\",\"has_more\":false}\n");

    // A withdrawal at B: B's record is retracted at B, A's at A; C is untouched.
    auto w = call(
        "POST",
        "/hub/v1/withdrawals",
        R"({"pseudonyms":["b-1"],"reason":"consent_withdrawn"})",
        "agency_b"
    );
    ASSERT_EQ(w.status, 200u) << w.body;
    hub->wait_for_linkage();
    EXPECT_EQ(
        notice_lines(call("GET", "/hub/v1/notices?after=3", "", "agency_a")),
        (std::vector<std::string>{"4 retraction a-1 "})
    );
    EXPECT_EQ(
        notice_lines(call("GET", "/hub/v1/notices?after=2", "", "agency_b")),
        (std::vector<std::string>{"3 retraction b-1 "})
    );
    EXPECT_EQ(notice_lines(call("GET", "/hub/v1/notices?after=1", "", "agency_c")).size(), 0u);
    EXPECT_TRUE(verify_log().ok);
    // The hub's log says nothing of display names.
    EXPECT_EQ(count("SELECT count(*) FROM transfer_log WHERE kind = 'notice'"), 8);
    EXPECT_EQ(
        count("SELECT count(*) FROM transfer_log WHERE counts GLOB '*Agency *' OR "
              "target_id GLOB '*Agency *' OR source_id GLOB '*Agency *' OR reason GLOB '*Agency *'"
        ),
        0
    );
}

TEST_F(hub_fixture, notices_refuse_bad_parameters_and_callers_without_a_token) {
    cfg.max_batch_records = 50;
    start();
    const struct {
        std::string query;
        std::string names;
    } bad[] = {
        {"?after=abc", "query parameter after:"},
        {"?after=-1", "query parameter after:"},
        {"?after=1.5", "query parameter after:"},
        {"?after=99999999999999999999", "query parameter after:"},
        {"?after=", "query parameter after:"},
        {"?after=1&after=2", "query parameter after:"},
        {"?limit=0", "query parameter limit:"},
        {"?limit=51", "query parameter limit:"},
        {"?limit=x", "query parameter limit:"},
        {"?since=1", "unknown query parameter"},
    };
    for (const auto& c : bad) {
        auto r = call("GET", "/hub/v1/notices" + c.query, "", "agency_a");
        EXPECT_EQ(r.status, 400u) << c.query << " -> " << r.body;
        EXPECT_EQ(r.error_code(), "malformed") << c.query;
        EXPECT_NE(r.message().find(c.names), std::string::npos) << c.query << ": " << r.message();
    }
    EXPECT_EQ(call("GET", "/hub/v1/notices?after=%31", "", "agency_a").status, 200u);
    EXPECT_EQ(call("GET", "/hub/v1/notices?limit=50", "", "agency_a").status, 200u);
    auto anonymous = call("GET", "/hub/v1/notices", "", "");
    EXPECT_EQ(anonymous.status, 401u);
    EXPECT_EQ(anonymous.error_code(), "unauthenticated");
    auto wrong = call("GET", "/hub/v1/notices", "", "not-a-token-of-any-agency");
    EXPECT_EQ(wrong.status, 401u);
}

TEST_F(hub_fixture, client_certificates_must_match_the_agencys_certificate_name) {
    cfg.client_ca_file = agency_ca.cert_file();
    cfg.agencies[0].certificate_name = "agency-a.example";  // agency_a
    cfg.agencies[1].certificate_name = "agency-b.example";  // agency_b
    start();
    const auto cert_for = [&](const std::string& cn) {
        test::cert_spec spec;
        spec.common_name = cn;
        spec.dns_names = {};
        spec.ip_addresses = {};
        spec.client = true;
        auto files = agency_ca.issue(spec, cn);
        auto s = client_settings();
        s.tls.client_cert_file = files.cert;
        s.tls.client_key_file = files.key;
        return s;
    };
    auto ok = call("GET", "/hub/v1/schema", "", "agency_a", cert_for("agency-a.example"));
    EXPECT_EQ(ok.status, 200u) << ok.body;
    // agency_a's token with agency_b's certificate.
    auto swapped = call("GET", "/hub/v1/schema", "", "agency_a", cert_for("agency-b.example"));
    EXPECT_EQ(swapped.status, 401u) << swapped.body;
    EXPECT_EQ(swapped.message(), "bearer token not recognised");
    auto none = call("GET", "/hub/v1/schema", "", "agency_a");
    EXPECT_TRUE(none.failed) << "served without a client certificate: " << none.status;
}

/// Generated caseloads of three agencies, encoded with the secret, sent in batches.
class hub_caseload : public hub_fixture {
protected:
    sandbox::population::caseload load;
    void send_caseload(std::size_t children, std::size_t per_batch) {
        sandbox::population::options o;
        o.seed = 7;
        o.children = children;
        load = sandbox::population::generate(o);
        std::map<std::string, std::vector<std::string>> per_agency;
        for (const auto& r : load.records) {
            const auto doc = sandbox::population::to_canonical(r);
            per_agency[r.agency].push_back(record_json(r.key, enc.encode(doc), {{"sex", r.sex}}));
        }
        for (const auto& [agency, recs] : per_agency) {
            for (std::size_t at = 0; at < recs.size(); at += per_batch) {
                std::vector<std::string> part(
                    recs.begin() + static_cast<std::ptrdiff_t>(at),
                    recs.begin() +
                        static_cast<std::ptrdiff_t>(std::min(recs.size(), at + per_batch))
                );
                auto r = post_records(agency, batch(part));
                ASSERT_EQ(r.status, 200u) << r.body;
            }
        }
        hub->wait_for_linkage();
    }
};

TEST_F(hub_caseload, linkage_on_receipt_finds_children_served_by_several_agencies) {
    start();
    send_caseload(150, 40);
    EXPECT_GE(hub->linkage_runs(), 1u);
    // Truth: the agencies serving each child.
    std::map<std::uint32_t, std::set<std::string>> truth;
    std::map<std::string, std::uint32_t> child_of;
    for (const auto& r : load.records) {
        truth[r.child].insert(r.agency);
        child_of[r.agency + '/' + r.key] = r.child;
    }
    auto d = store::db::open_read_only(cfg.store_path);
    auto s = d->prepare("SELECT ref, agency, pseudonym FROM hub_cluster_refs ORDER BY ref");
    std::map<std::string, std::vector<std::pair<std::string, std::uint32_t>>> clusters;
    for (auto row = s->step(); row && *row; row = s->step()) {
        clusters[s->column_text(0)].emplace_back(
            s->column_text(1), child_of.at(s->column_text(1) + '/' + s->column_text(2))
        );
    }
    EXPECT_EQ(clusters.size() > 0, true);
    std::size_t multi = 0;
    std::size_t three = 0;
    std::size_t wrong = 0;
    for (const auto& [ref, members] : clusters) {
        std::set<std::string> agencies;
        for (const auto& [agency, child] : members) {
            agencies.insert(agency);
            wrong += child != members.front().second ? 1 : 0;
        }
        multi += agencies.size() >= 2 ? 1 : 0;
        three += agencies.size() >= 3 ? 1 : 0;
    }
    std::printf(
        "hub linkage of %zu records: %zu clusters, %zu with two or more agencies, %zu with three, "
        "%zu records in a cluster of another child\n",
        load.records.size(),
        clusters.size(),
        multi,
        three,
        wrong
    );
    EXPECT_GT(multi, 20u);
    EXPECT_GT(three, 0u) << "no cluster holds records of all three agencies";
    EXPECT_LE(wrong, 2u) << "clusters joining different children";

    std::stringstream out, err;
    cli::command_io io{out, err};
    const auto config_file = dir.write(
        "hub.json",
        "{\"config_version\":1,\"hub\":{\"listen\":\"127.0.0.1:0\",\"tls\":{\"allow_plain_http_on_"
        "loopback\":true},"
        "\"store\":{\"path\":\"hub.sqlite\"},\"linkage_schema\":\"" +
            schema_file.string() +
            "\","
            "\"agencies\":[{\"id\":\"agency_a\",\"display_name\":\"A\",\"token\":{\"file\":"
            "\"agency_a.token\"}},"
            "{\"id\":\"agency_b\",\"display_name\":\"B\",\"token\":{\"file\":\"agency_b.token\"}},"
            "{\"id\":\"agency_c\",\"display_name\":\"C\",\"token\":{\"file\":\"agency_c.token\"}}]}"
            "}"
    );
    ASSERT_EQ(cli::run({"hub", "stats", "--config", config_file.string(), "--json"}, io), 0)
        << err.str();
    auto stats = json::parse(out.str());
    ASSERT_TRUE(stats) << out.str();
    EXPECT_EQ((*stats)["multi_agency_clusters"].GetInt64(), static_cast<std::int64_t>(multi));
    EXPECT_EQ((*stats)["agencies"].Size(), 3u);
    std::int64_t active = 0;
    for (const auto& a : (*stats)["agencies"].GetArray()) {
        active += a["active_records"].GetInt64();
    }
    EXPECT_EQ(active, static_cast<std::int64_t>(load.records.size()));

    // The IMO's admin API answers the same counts over HTTP, with the admin token only.
    {
        hub::admin_context actx{"imo-admin-token-0123456789", cfg.store_path, {}};
        for (const auto& a : cfg.agencies) {
            actx.agencies.push_back(a.id);
        }
        httpd::server admin("127.0.0.1", 0, hub::admin_service(actx));
        auto plain = client_settings();  // the admin API is plain HTTP on loopback
        plain.allow_plain_http_loopback = true;
        const auto get =
            [&](const std::string& method, const std::string& path, const std::string& token) {
                http_request req;
                req.method = method;
                req.url = admin.base_url() + path;
                if (!token.empty()) {
                    req.headers.push_back({"Authorization", "Bearer " + token});
                }
                return test::run_awaitable(send_request(plain, req), 60s);
            };
        const auto answered = get("GET", "/hub/stats", actx.token);
        ASSERT_EQ(answered.status, 200u) << answered.body;
        EXPECT_EQ(answered.body, out.str());  // the same JSON as `hub stats --json`
        EXPECT_EQ(get("GET", "/hub/stats", "").status, 401u);
        EXPECT_EQ(get("GET", "/hub/stats", tokens.at("agency_a")).status, 401u);  // not an agency's
        EXPECT_EQ(get("GET", "/healthz", "").status, 200u);
        EXPECT_EQ(get("GET", "/readyz", "").status, 200u);
        EXPECT_EQ(get("POST", "/hub/stats", actx.token).status, 405u);
        EXPECT_EQ(get("GET", "/hub/records", actx.token).status, 404u);
        EXPECT_EQ(get("GET", "/hub/records", "").status, 401u);  // nothing told without a token
        // Counts only: no pseudonym of any record in the answer.
        for (const auto& r : load.records) {
            ASSERT_EQ(answered.body.find(r.key), std::string::npos);
        }
        hub::admin_context missing{"t0123456789", dir / "no-such-hub.sqlite", {}};
        httpd::server down("127.0.0.1", 0, hub::admin_service(missing));
        http_request ready;
        ready.method = "GET";
        ready.url = down.base_url() + "/readyz";
        EXPECT_EQ(test::run_awaitable(send_request(plain, ready), 60s).status, 503u);
    }
    // `hub link` again keeps every ref (nothing changed): no merge or split.
    out.str("");
    ASSERT_EQ(cli::run({"hub", "link", "--config", config_file.string()}, io), 0) << err.str();
    EXPECT_NE(out.str().find(" 0 merges, 0 splits"), std::string::npos) << out.str();
    EXPECT_TRUE(verify_log().ok);
}

TEST_F(hub_caseload, review_decisions_refuse_an_edited_file_and_are_remembered_and_logged) {
    cfg.lower_threshold = 0.6;  // enough review items in a small caseload
    start();
    send_caseload(150, 200);
    const auto config_file = dir.write(
        "hub.json",
        "{\"config_version\":1,\"hub\":{\"listen\":\"127.0.0.1:0\",\"tls\":{\"allow_plain_"
        "http_on_loopback\":true},\"store\":{\"path\":\"hub.sqlite\"},\"linkage_schema\":\"" +
            schema_file.string() +
            "\",\"thresholds\":{\"lower\":0.6},\"agencies\":[{\"id\":\"agency_a\",\"display_name\":"
            "\"A\",\"token\":{\"file\":\"agency_a.token\"}},{\"id\":\"agency_b\",\"display_"
            "name\":\"B\",\"token\":{\"file\":\"agency_b.token\"}},{\"id\":\"agency_c\","
            "\"display_name\":\"C\",\"token\":{\"file\":\"agency_c.token\"}}]}}"
    );
    const auto run = [](std::vector<std::string> a, std::string* out_text = nullptr) {
        std::stringstream out, err;
        cli::command_io io{out, err};
        const int code = cli::run(a, io);
        if (out_text != nullptr) {
            *out_text = out.str() + err.str();
        }
        return code;
    };
    const auto csv = (dir / "review.csv").string();
    std::string text;
    ASSERT_EQ(
        run({"hub", "review", "export", "--config", config_file.string(), "--out", csv}, &text), 0
    ) << text;
    std::ifstream in(csv, std::ios::binary);
    const std::string exported((std::istreambuf_iterator<char>(in)), {});
    auto table = exchange::parse_csv(exported);
    ASSERT_TRUE(table);
    const auto items = table->rows.size();
    ASSERT_GE(items, 2u) << "too few review items to decide";
    EXPECT_EQ(
        count("SELECT count(*) FROM hub_pairs WHERE kind = 'review'"),
        static_cast<std::int64_t>(items)
    );
    const auto write = [&](const std::vector<exchange::csv_row>& rows) {
        exchange::csv_writer w;
        w.row(table->header);
        for (const auto& r : rows) {
            w.row(r);
        }
        return dir.write("decided.csv", w.text()).string();
    };
    const auto decide = [&](const std::string& file, std::string* out) {
        return run(
            {"hub",
             "review",
             "decide",
             "--config",
             config_file.string(),
             "--in",
             file,
             "--actor",
             "imo.reviewer"},
            out
        );
    };
    auto rows = table->rows;
    rows[0][6] = "same";
    rows[1][6] = "not_same";
    // An edited pseudonym, a repeated pair and a decision outside the list are each refused.
    auto edited = rows;
    edited[1][2] = edited[1][2] + "x";
    EXPECT_EQ(decide(write(edited), &text), 1);
    EXPECT_NE(text.find(":3: ids or score edited"), std::string::npos) << text;
    auto repeated = rows;
    repeated.push_back(rows[0]);
    EXPECT_EQ(decide(write(repeated), &text), 1);
    EXPECT_NE(text.find("listed twice"), std::string::npos) << text;
    auto unknown = rows;
    unknown[0][6] = "maybe";
    EXPECT_EQ(decide(write(unknown), &text), 1);
    EXPECT_NE(text.find("decision must be same, not_same or empty"), std::string::npos) << text;
    EXPECT_EQ(count("SELECT count(*) FROM hub_decisions"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM transfer_log WHERE kind = 'review_decision'"), 0);

    ASSERT_EQ(decide(write(rows), &text), 0) << text;
    EXPECT_NE(text.find("recorded 2 decisions"), std::string::npos) << text;
    EXPECT_EQ(count("SELECT count(*) FROM hub_decisions"), 2);
    EXPECT_EQ(
        count("SELECT count(*) FROM transfer_log WHERE kind = 'review_decision' AND actor = "
              "'imo.reviewer'"),
        2
    );
    const auto ref_of = [&](const std::string& agency, const std::string& pseudonym) {
        auto d = store::db::open_read_only(cfg.store_path);
        auto s = d->prepare("SELECT ref FROM hub_cluster_refs WHERE agency = ? AND pseudonym = ?");
        s->bind(1, std::string_view(agency)).bind(2, std::string_view(pseudonym));
        auto row = s->step();
        return row && *row ? s->column_text(0) : std::string();
    };
    // Decided the same child: one cluster. Not the same: never a review item again.
    EXPECT_EQ(ref_of(rows[0][1], rows[0][2]), ref_of(rows[0][3], rows[0][4]));
    EXPECT_FALSE(ref_of(rows[0][1], rows[0][2]).empty());
    const auto still = [&](const exchange::csv_row& r) {
        return count(
            "SELECT count(*) FROM hub_pairs WHERE kind = 'review' AND agency_a = '" + r[1] +
            "' AND pseudonym_a = '" + r[2] + "' AND agency_b = '" + r[3] + "' AND pseudonym_b = '" +
            r[4] + "'"
        );
    };
    EXPECT_EQ(still(rows[0]), 0);
    EXPECT_EQ(still(rows[1]), 0);
    // Remembered: a later linkage (a new batch) keeps following them.
    ASSERT_EQ(
        post_records(
            "agency_a",
            batch({record_json("late-1", encode_person("Salma", "Akter", "2014-05-06"))})
        )
            .status,
        200u
    );
    hub->wait_for_linkage();
    EXPECT_EQ(ref_of(rows[0][1], rows[0][2]), ref_of(rows[0][3], rows[0][4]));
    EXPECT_EQ(still(rows[1]), 0);
    EXPECT_TRUE(verify_log().ok);
}

/// The IMO's admin API of a hub, on loopback (plain HTTP), and a caller with a token.
struct admin_api {
    admin_context ctx;
    httpd::server server;
    http_client_settings plain;

    explicit admin_api(admin_context c)
        : ctx(c), server("127.0.0.1", 0, admin_service(std::move(c))) {
        plain.allow_plain_http_loopback = true;
    }
    reply ask(
        const std::string& method,
        const std::string& path,
        const std::string& body = {},
        std::optional<std::string> token = std::nullopt
    ) {
        http_request req;
        req.method = method;
        req.url = server.base_url() + path;
        const auto t = token.value_or(ctx.token);
        if (!t.empty()) {
            req.headers.push_back({"Authorization", "Bearer " + t});
        }
        if (!body.empty()) {
            req.headers.push_back({"Content-Type", "application/json"});
            req.body = body;
        }
        return test::run_awaitable(send_request(plain, req), 60s);
    }
};

std::string decide_body(const rapidjson::Value& item, const std::string& decision) {
    return "{\"decision\":\"" + decision + "\",\"actor\":\"imo.reviewer\",\"agency_a\":\"" +
           item["agency_a"].GetString() + "\",\"pseudonym_a\":\"" +
           item["pseudonym_a"].GetString() + "\",\"agency_b\":\"" + item["agency_b"].GetString() +
           "\",\"pseudonym_b\":\"" + item["pseudonym_b"].GetString() + "\"}";
}

// The duplicate review through the admin API: the pairs listed as `hub review export` lists
// them; a decision names its pair again and is refused (nothing recorded) when the item no
// longer is that pair; a recorded one is logged with its actor and followed by a re-link.
TEST_F(hub_caseload, the_admin_api_lists_pairs_and_records_a_decision_for_the_named_pair) {
    cfg.lower_threshold = 0.6;  // enough review items in a small caseload
    start();
    send_caseload(150, 200);
    admin_context actx{"imo-admin-token-0123456789", cfg.store_path, {}, {}, {}};
    actx.request_linkage = [this] { hub->request_linkage(); };
    admin_api api(actx);
    auto listed = api.ask("GET", "/hub/reviews");
    ASSERT_EQ(listed.status, 200u) << listed.body;
    auto doc = listed.json();
    ASSERT_TRUE(doc.IsObject());
    const auto& items = doc["reviews"];
    ASSERT_GE(items.Size(), 2u);
    EXPECT_EQ(
        static_cast<std::int64_t>(items.Size()),
        count("SELECT count(*) FROM hub_pairs WHERE kind = 'review'")
    );
    EXPECT_GE(items[0]["score"].GetDouble(), 0.6);
    const std::string first = std::to_string(items[0]["id"].GetInt64());
    const std::string route = "/hub/reviews/" + first + "/decide";

    EXPECT_EQ(api.ask("GET", "/hub/reviews", {}, std::string()).status, 401u);
    EXPECT_EQ(api.ask("GET", "/hub/reviews", {}, tokens.at("agency_a")).status, 401u);
    EXPECT_EQ(api.ask("GET", route).status, 405u);
    EXPECT_EQ(api.ask("POST", route, decide_body(items[0], "maybe")).status, 400u);
    EXPECT_EQ(api.ask("POST", route, "[1]").status, 400u);
    EXPECT_EQ(api.ask("POST", route, R"({"decision":"same"})").status, 400u)
        << "the pair must be named";
    EXPECT_EQ(
        api.ask("POST", "/hub/reviews/999999/decide", decide_body(items[0], "same")).status, 404u
    );
    // Another item's pair under this id: a stale page. Nothing is recorded.
    auto stale = api.ask("POST", route, decide_body(items[1], "same"));
    EXPECT_EQ(stale.status, 409u) << stale.body;
    EXPECT_NE(stale.body.find("review_item_changed"), std::string::npos);
    EXPECT_EQ(count("SELECT count(*) FROM hub_decisions"), 0);

    const auto runs = hub->linkage_runs();
    auto done = api.ask("POST", route, decide_body(items[0], "not_same"));
    ASSERT_EQ(done.status, 200u) << done.body;
    EXPECT_NE(done.body.find("\"recorded\":1"), std::string::npos) << done.body;
    EXPECT_EQ(count("SELECT count(*) FROM hub_decisions"), 1);
    EXPECT_EQ(
        count("SELECT count(*) FROM transfer_log WHERE kind = 'review_decision' AND actor = "
              "'imo.reviewer'"),
        1
    );
    hub->wait_for_linkage();
    EXPECT_GT(hub->linkage_runs(), runs) << "the decision asked for a re-link";
    auto after = api.ask("GET", "/hub/reviews").json();
    for (const auto& it : after["reviews"].GetArray()) {
        EXPECT_FALSE(
            std::string_view(it["pseudonym_a"].GetString()) ==
                items[0]["pseudonym_a"].GetString() &&
            std::string_view(it["pseudonym_b"].GetString()) == items[0]["pseudonym_b"].GetString()
        ) << "a pair decided not the same is not reviewed again";
    }
    // No reports configured: an empty list, and no file.
    EXPECT_EQ(api.ask("GET", "/hub/reports").body, "{\"reports\":[]}\n");
    EXPECT_EQ(api.ask("GET", "/hub/reports/sector/2026-11/report.html").status, 404u);
    // The console, in its hub mode, without the token.
    auto page = api.ask("GET", "/console/", {}, std::string());
    EXPECT_EQ(page.status, 200u);
    EXPECT_NE(page.body.find("<body data-service=\"hub\">"), std::string::npos);
    EXPECT_TRUE(verify_log().ok);
}

// A written report is listed and its files served, only those the listing names.
TEST_F(hub_fixture, the_admin_api_lists_written_reports_and_serves_only_their_files) {
    const auto out = dir.path() / "reports";
    const auto folder = out / "sector-monthly" / "2026-11";
    std::filesystem::create_directories(folder);
    std::ofstream(folder / "manifest.json")
        << R"({"report":"sector-monthly","title":"Children served"})";
    std::ofstream(folder / "report.csv") << "indicator,value\nchildren,120\n";
    std::ofstream(dir.path() / "secret.txt") << "not a report";
    admin_context actx{"imo-admin-token-0123456789", dir.path() / "hub.sqlite", {}, out, {}};
    admin_api api(actx);
    auto listed = api.ask("GET", "/hub/reports");
    ASSERT_EQ(listed.status, 200u) << listed.body;
    EXPECT_NE(listed.body.find("\"id\":\"sector-monthly\""), std::string::npos) << listed.body;
    EXPECT_NE(listed.body.find("\"report.csv\""), std::string::npos) << listed.body;
    auto file = api.ask("GET", "/hub/reports/sector-monthly/2026-11/report.csv");
    ASSERT_EQ(file.status, 200u) << file.body;
    EXPECT_EQ(file.body, "indicator,value\nchildren,120\n");
    for (const char* bad :
         {"/hub/reports/sector-monthly/2026-11/..%2F..%2F..%2Fsecret.txt",
          "/hub/reports/sector-monthly/2026-11/secret.txt",
          "/hub/reports/sector-monthly/2026-10/report.csv",
          "/hub/reports/..%2F..%2Fsecret.txt/x/y"}) {
        EXPECT_EQ(api.ask("GET", bad).status, 404u) << bad;
    }
    EXPECT_EQ(
        api.ask("GET", "/hub/reports/sector-monthly/2026-11/report.csv", {}, std::string()).status,
        401u
    );
}

// The console served by the hub, in Chromium: the IMO signs in, sees the hub's counts, records
// that a pair is the same child, and downloads a report; no error on the way, and nothing but
// pseudonyms, codes and counts on the pages.
TEST_F(hub_caseload, the_imo_reviews_a_pair_and_downloads_a_report_in_the_console) {
    if (!test::browser::available()) {
        GTEST_SKIP() << "chromium is not installed (.ci/install-deps installs it)";
    }
    cfg.lower_threshold = 0.6;
    start();
    send_caseload(150, 200);
    const auto out = dir.path() / "reports";
    std::filesystem::create_directories(out / "sector-monthly" / "2026-11");
    std::ofstream(out / "sector-monthly" / "2026-11" / "manifest.json")
        << R"({"report":"sector-monthly","title":"Children served, de-duplicated"})";
    std::ofstream(out / "sector-monthly" / "2026-11" / "report.csv") << "indicator,value\n";
    admin_context actx{"imo-admin-token-0123456789", cfg.store_path, {}, out, {}};
    for (const auto& a : cfg.agencies) {
        actx.agencies.push_back(a.id);
    }
    actx.request_linkage = [this] { hub->request_linkage(); };
    admin_api api(actx);
    const auto before = count("SELECT count(*) FROM hub_pairs WHERE kind = 'review'");
    ASSERT_GE(before, 1);

    test::browser b(dir.path());
    b.navigate(api.server.base_url() + "/console/");
    ASSERT_TRUE(b.wait_for("!document.getElementById('sign-in-page').hidden"));
    EXPECT_EQ(b.eval("document.querySelector('a[href=\"#/flows\"]').hidden"), "true")
        << "the daemon's pages are not offered by the hub";
    b.eval(
        "document.getElementById('token').value = '" + actx.token +
        "'; document.getElementById('sign-in').requestSubmit(); true"
    );
    ASSERT_TRUE(b.wait_for("document.getElementById('page').dataset.loaded === 'hub'"))
        << b.eval("document.body.innerText");
    EXPECT_EQ(
        b.eval("document.getElementById('hub-reviews').textContent"),
        "\"" + std::to_string(before) + "\""
    );
    EXPECT_EQ(b.eval("document.querySelectorAll('tr[data-agency]').length"), "3");
    save_artefact(b.screenshot_png(), "console-hub.png");

    b.eval("location.hash = '#/duplicates'; true");
    ASSERT_TRUE(b.wait_for("document.getElementById('page').dataset.loaded === 'duplicates'"));
    ASSERT_EQ(b.eval("document.querySelectorAll('tr[data-pair]').length"), std::to_string(before));
    b.eval(
        "document.querySelector('tr[data-pair] select[name=decision]').value = 'same';"
        "document.querySelector('tr[data-pair] form').requestSubmit(); 1"
    );
    ASSERT_TRUE(b.wait_for("document.querySelector('tr[data-pair] [data-result]') !== null"));
    EXPECT_EQ(
        b.eval("document.querySelector('tr[data-pair] [data-result]').dataset.result"), "\"same\""
    ) << b.eval("document.querySelector('tr[data-pair]').innerText");
    save_artefact(b.screenshot_png(), "console-hub-duplicates.png");
    EXPECT_EQ(count("SELECT count(*) FROM hub_decisions"), 1);
    // The decided pair, as the page showed it, is linked and no longer waits for a person.
    const auto cell = [&](int i) -> std::string {
        const auto text = json::parse(b.eval(
            "document.querySelector('tr[data-pair]').children[" + std::to_string(i) +
            "].textContent"
        ));
        return text && text->IsString() ? text->GetString() : std::string();
    };
    const std::string pa = cell(2);
    const std::string pb = cell(4);
    EXPECT_EQ(
        count(
            "SELECT count(*) FROM hub_decisions WHERE decision = 'same' AND ((pseudonym_a = '" +
            pa + "' AND pseudonym_b = '" + pb + "') OR (pseudonym_a = '" + pb +
            "' AND pseudonym_b = '" + pa + "'))"
        ),
        1
    );
    hub->wait_for_linkage();
    EXPECT_EQ(
        count(
            "SELECT count(*) FROM hub_pairs WHERE kind = 'review' AND ((pseudonym_a = '" + pa +
            "' AND pseudonym_b = '" + pb + "') OR (pseudonym_a = '" + pb + "' AND pseudonym_b = '" +
            pa + "'))"
        ),
        0
    );

    b.eval("location.hash = '#/reports'; true");
    ASSERT_TRUE(b.wait_for("document.getElementById('page').dataset.loaded === 'reports'"));
    ASSERT_EQ(b.eval("document.querySelectorAll('tr[data-report]').length"), "1");
    b.eval("document.querySelector('button[data-file=\"report.csv\"]').click(); 1");
    EXPECT_TRUE(b.wait_for(
        "document.querySelector('button[data-file=\"report.csv\"]').dataset.downloaded === '16'"
    ));
    save_artefact(b.screenshot_png(), "console-hub-reports.png");
    // Pseudonyms and counts only: no name of any child on any page seen.
    const auto text = b.eval("document.body.innerText");
    for (const auto& r : load.records) {
        if (r.name_first.size() >= 4) {
            ASSERT_EQ(text.find(r.name_first), std::string::npos) << "a child's name is shown";
        }
    }
    EXPECT_TRUE(b.errors().empty()) << b.errors().front();
}

TEST_F(hub_caseload, no_name_date_or_identifier_reaches_the_hub_store_log_or_logs) {
    start();
    send_caseload(60, 100);
    hub.reset();  // the file complete, WAL checkpointed by the close
    std::set<std::string> secrets;
    for (const auto& r : load.records) {
        for (const auto* v :
             {&r.name_first,
              &r.name_last,
              &r.caregiver,
              &r.date_of_birth,
              &r.progres,
              &r.birth_registration,
              &r.fcn,
              &r.location}) {
            // Six characters or more: shorter strings turn up by chance in 256-byte filters.
            if (v->size() >= 6) {
                secrets.insert(*v);
            }
        }
    }
    ASSERT_GT(secrets.size(), 50u);
    std::string bytes;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        if (entry.path().filename().string().rfind("hub.sqlite", 0) == 0 &&
            entry.is_regular_file()) {
            std::ifstream in(entry.path(), std::ios::binary);
            bytes += std::string(std::istreambuf_iterator<char>(in), {});
        }
    }
    ASSERT_GT(bytes.size(), 10'000u);
    std::stringstream out, err;
    cli::command_io io{out, err};
    ASSERT_EQ(cli::run({"log", "export", "--store", cfg.store_path.string()}, io), 0) << err.str();
    const std::string exported = out.str();
    ASSERT_NE(exported.find("\"kind\":\"receipt\""), std::string::npos);
    const std::string logs = log_text.str();
    ASSERT_NE(logs.find("hub.records_received"), std::string::npos);
    std::size_t found = 0;
    for (const auto& s : secrets) {
        for (const std::string* hay :
             std::initializer_list<const std::string*>{&bytes, &exported, &logs}) {
            if (hay->find(s) != std::string::npos) {
                ADD_FAILURE() << "a value of a generated record reached the hub";
                ++found;
            }
        }
    }
    EXPECT_EQ(found, 0u);
}

TEST_F(hub_fixture, the_binary_serves_until_sigterm_and_its_commands_answer_help) {
    // The key is a secret file: its owner only.
    std::filesystem::permissions(
        leaf.key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write
    );
    const auto admin_token_file = dir.write("admin.token", "imo-admin-token-9876543210\n");
    std::filesystem::permissions(
        admin_token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write
    );
    const auto config_file = dir.write(
        "hub.json",
        "{\"config_version\":1,\"log_level\":\"debug\",\"admin\":{\"listen\":\"127.0.0.1:0\","
        "\"token_file\":\"admin.token\"},\"hub\":{\"listen\":\"127.0.0.1:0\","
        "\"tls\":{\"cert_file\":\"" +
            leaf.cert.string() + "\",\"key_file\":\"" + leaf.key.string() +
            "\"},\"store\":{\"path\":\"hub.sqlite\"},\"linkage_schema\":\"" + schema_file.string() +
            "\",\"agencies\":[{\"id\":\"agency_a\",\"display_name\":\"A\","
            "\"token\":{\"env\":\"HUB_TEST_TOKEN_A\"}}]}}"
    );
    auto child = test::child_process::start(
        CASEBRIDGE_BINARY,
        {"hub", "serve", "--config", config_file.string()},
        {"HUB_TEST_TOKEN_A=" + tokens["agency_a"]}
    );
    ASSERT_TRUE(child.running());
    const std::string first = child.line(std::chrono::seconds(30));
    if (first.rfind("hub: https://127.0.0.1:", 0) != 0) {
        std::string logs;
        child.stop(SIGKILL, &logs);
        FAIL() << "no 'hub: URL' line: " << first << "\n" << logs;
    }
    http_request req;
    req.url = first.substr(5) + "/hub/v1/records";
    req.method = "POST";
    req.headers = {
        {"Authorization", "Bearer " + tokens["agency_a"]}, {"Content-Type", "application/json"}};
    req.body = batch({record_json("case-1", encode_person("Rahima", "Begum", "2012-03-04"))});
    const auto r = test::run_awaitable(send_request(client_settings(), req), 60s);
    EXPECT_EQ(r.body, "{\"stored\":1,\"unchanged\":0}\n");
    // The admin API the configuration asks for: its address on the next line, counts only.
    const std::string second = child.line(std::chrono::seconds(10));
    ASSERT_EQ(second.rfind("hub admin: http://127.0.0.1:", 0), 0U) << second;
    http_request stats;
    stats.url = second.substr(11) + "/hub/stats";
    stats.method = "GET";
    stats.headers = {{"Authorization", "Bearer imo-admin-token-9876543210"}};
    auto plain = client_settings();
    plain.allow_plain_http_loopback = true;
    const auto counted = test::run_awaitable(send_request(plain, stats), 60s);
    ASSERT_EQ(counted.status, 200u) << counted.body;
    auto counts = json::parse(counted.body);
    ASSERT_TRUE(counts) << counted.body;
    EXPECT_EQ((*counts)["agencies"][0]["active_records"].GetInt64(), 1);
    EXPECT_EQ(counted.body.find("case-1"), std::string::npos);
    const auto t0 = std::chrono::steady_clock::now();
    std::string logs;
    const int status = child.stop(SIGTERM, &logs);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << logs;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
    EXPECT_NE(logs.find("hub.records_received"), std::string::npos) << logs;
    EXPECT_NE(logs.find("hub.linked"), std::string::npos) << logs;
    EXPECT_EQ(logs.find("Rahima"), std::string::npos);
    EXPECT_EQ(logs.find(tokens["agency_a"]), std::string::npos) << "the token reached the log";
    EXPECT_EQ(logs.find("imo-admin-token"), std::string::npos) << "the admin token reached the log";

    for (const char* cmd : {"serve", "link", "stats"}) {
        std::stringstream out, err;
        cli::command_io io{out, err};
        EXPECT_EQ(cli::run({"hub", cmd, "--help"}, io), 0);
        EXPECT_NE(out.str().find("--config FILE"), std::string::npos) << out.str();
    }
    // A flows configuration's daemon refuses a hub-only file, naming what is missing.
    std::stringstream out, err;
    cli::command_io io{out, err};
    EXPECT_NE(cli::run({"run", "--config", config_file.string()}, io), 0);
}

TEST(hub_config, a_hub_only_configuration_loads_and_plain_http_beyond_loopback_is_refused) {
    test::temp_dir dir;
    dir.write("a.token", "token-of-agency-a-0123456789\n");
    const auto file = dir.write(
        "hub.json",
        R"({"config_version": 1,
            "hub": {"listen": "127.0.0.1:8443", "tls": {"allow_plain_http_on_loopback": true},
                    "store": {"path": "hub.sqlite"},
                    "thresholds": {"upper": 0.85},
                    "coarse_fields": ["age_band", "sex"],
                    "agencies": [{"id": "agency_a", "display_name": "Agency A",
                                  "token": {"file": "a.token"}}]}})"
    );
    const auto c = app::load_config(file, nullptr, app::config_need::hub);
    ASSERT_TRUE(c.hub);
    EXPECT_FALSE(c.has_flows);
    EXPECT_EQ(c.hub->port, 8443);
    EXPECT_FALSE(c.hub->tls());
    EXPECT_EQ(c.hub->store_path, dir / "hub.sqlite");
    EXPECT_EQ(c.hub->upper_threshold.value_or(0), 0.85);
    EXPECT_EQ(c.hub->coarse_fields, (std::vector<std::string>{"age_band", "sex"}));
    EXPECT_EQ(c.hub->max_batch_records, 500);
    // The daemon refuses it (no flows), naming the missing section.
    try {
        app::load_config(file, nullptr, app::config_need::flows);
        ADD_FAILURE() << "a hub-only configuration was taken for flows";
    } catch (const json::file_error& e) {
        EXPECT_NE(std::string(e.what()).find("hub serve"), std::string::npos) << e.what();
    }
    const auto beyond = dir.write(
        "beyond.json",
        R"({"config_version": 1,
            "hub": {"listen": "0.0.0.0:8443", "tls": {"allow_plain_http_on_loopback": true},
                    "store": {"path": "hub.sqlite"},
                    "agencies": [{"id": "agency_a", "display_name": "A", "token": {"file": "a.token"}}]}})"
    );
    try {
        app::load_config(beyond, nullptr, app::config_need::hub);
        ADD_FAILURE() << "plain HTTP beyond loopback was accepted";
    } catch (const json::file_error& e) {
        EXPECT_NE(std::string(e.what()).find("at /hub/listen"), std::string::npos) << e.what();
    }
    const auto no_token = dir.write(
        "no_token.json",
        R"({"config_version": 1,
            "hub": {"listen": "127.0.0.1:8443", "tls": {"allow_plain_http_on_loopback": true},
                    "store": {"path": "hub.sqlite"},
                    "agencies": [{"id": "agency_a", "display_name": "A", "token": {"file": "missing.token"}}]}})"
    );
    try {
        app::load_config(no_token, nullptr, app::config_need::hub);
        ADD_FAILURE() << "a missing token file was accepted";
    } catch (const json::file_error& e) {
        EXPECT_NE(std::string(e.what()).find("at /hub/agencies/0/token/file"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace casebridge::hub
