// The DSS file exchange under the flow runner: CPIMS+ services rows (Primero sandbox) → one DSS
// event row each in an encrypted batch, and DSS case files → CPIMS+ cases, with a real store.
// The two test profiles below share exactly what the DSS mappings need.
#include <array>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "canonical/canonical_case.hpp"
#include "dss_files/dss_files_adapter.hpp"
#include "exchange/csv.hpp"
#include "json/json.hpp"
#include "mapping/mapping.hpp"
#include "net/http_client.hpp"
#include "policy/policy.hpp"
#include "primero/primero_adapter.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "store/store_thread.hpp"
#include "support/run_awaitable.hpp"
#include "support/temp_dir.hpp"
#include "sync/flow_runner.hpp"
#include "sync/reconcile.hpp"

namespace casebridge::sync {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;
constexpr std::string_view passphrase = "flow test passphrase 42";

constexpr std::string_view test_profiles = R"([
  {"id": "events-to-dss", "version": 1, "purpose": "transfer", "recipient": "dss",
   "on_withdrawal": "notify",
   "share": ["/case_id", "/dss_id", "/birth_registration_no", "/name_first", "/name_middle",
             "/name_last", "/sex", "/date_of_birth", "/age", "/language", "/location_admin1",
             "/location_admin2", "/location_admin3", "/location_admin4", "/consent_for_services",
             "/consent_info_sharing", "/risk_level", "/urgent_protection_concern",
             "/services_section/unique_id", "/services_section/service_response_type",
             "/services_section/service_response_day_time", "/services_section/service_type",
             {"field": "/services_section/service_referral_notes",
              "reviewed": "Test profile: the reason is written for the DSS officer."},
             "/services_section/service_request_agency"],
   "basis": [{"name": "consent", "when": {"all": [
     {"field": "/consent_for_services", "is": true},
     {"field": "/consent_info_sharing", "contains": "authorities"}]}}]},
  {"id": "cases-from-dss", "version": 1, "purpose": "transfer", "recipient": "partner-agency",
   "share": ["/dss_id", "/birth_registration_no", "/name_first", "/name_middle", "/name_last",
             "/sex", "/date_of_birth", "/age", "/language", "/location_admin1",
             "/location_admin2", "/location_admin3", "/location_admin4", "/consent_for_services",
             "/consent_info_sharing", "/risk_level", "/urgent_protection_concern",
             "/services_section/unique_id", "/services_section/service_response_type",
             "/services_section/service_response_day_time", "/services_section/service_type",
             {"field": "/services_section/service_referral_notes",
              "reviewed": "Test profile: DSS writes the reason for the receiving agency."},
             "/services_section/service_request_agency"],
   "basis": [{"name": "consent", "when": {"field": "/consent_for_services", "is": true}}]}
])";

std::string run_command(const std::string& cmd, int* status = nullptr) {
    std::string out;
    FILE* p = ::popen((cmd + " 2>/dev/null").c_str(), "r");
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
        out.append(buf.data(), n);
    }
    const int st = ::pclose(p);
    if (status != nullptr) {
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    return out;
}

bool have_7z() {
    int status = 0;
    run_command("command -v 7z", &status);
    return status == 0;
}

class dss_flow_test : public ::testing::Test {
protected:
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 3 / 10) + 9h};
    test::temp_dir dir;
    memory_sink sink;
    net::io_context ctx;
    std::unique_ptr<sandbox::primero_sandbox> box;
    std::unique_ptr<http_client> http;
    std::unique_ptr<primero::primero_adapter> cpims;
    std::unique_ptr<dss_files::dss_files_adapter> dss;
    std::optional<canonical_catalogue> catalogue;
    std::optional<policy::policy_set> policies;
    std::optional<mapping::compiled_mapping> primero_map;
    std::optional<mapping::compiled_mapping> event_map;
    std::optional<mapping::compiled_mapping> case_map;
    std::unique_ptr<store::store_thread> st;
    std::unique_ptr<store::keyed_hasher> hasher;

    void SetUp() override {
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "dss-flow-test-key-0123456789abcdef0123456", 1);
        catalogue.emplace(canonical_catalogue::load(source_dir / "mappings/canonical-case.json"));
        // The shipped policies plus the two test profiles.
        auto shipped = json::load_file(source_dir / "config/policies.json");
        auto extra = json::parse(test_profiles);
        ASSERT_TRUE(extra);
        auto& a = shipped.doc.GetAllocator();
        for (auto& p : extra->GetArray()) {
            shipped.doc["profiles"].PushBack(rapidjson::Value(p, a), a);
        }
        // Written elsewhere: a linkage schema path relative to config/ would not resolve.
        const std::string linkage_schema =
            (source_dir / "mappings/linkage/linkage-schema.json").string();
        for (auto& p : shipped.doc["profiles"].GetArray()) {
            if (p.HasMember("linkage")) {
                p["linkage"]["schema"].SetString(linkage_schema.c_str(), a);
            }
        }
        const auto policies_file = dir.write("policies.json", json::to_string(shipped.doc));
        policies.emplace(policy::policy_set::load(policies_file, *catalogue));
        const auto load = [&](const char* name) {
            return mapping::compiled_mapping::load(source_dir / "mappings" / name, *catalogue);
        };
        primero_map.emplace(load("primero.case.json"));
        event_map.emplace(load("dss.event.json"));
        case_map.emplace(load("dss.case.json"));
        hasher = std::make_unique<store::keyed_hasher>(std::string(32, 'k'));

        sandbox::primero_settings ps;
        ps.cases = 30;
        ps.seed = 21;
        box = std::make_unique<sandbox::primero_sandbox>(ps, clock);
        http_client_settings hs;
        hs.allow_plain_http_loopback = true;
        hs.max_requests_per_second = 0;
        hs.request_timeout = 2s;
        http = std::move(*http_client::create(ctx.get_executor(), hs, clock));
        primero::settings cs;
        cs.base_url = box->base_url();
        cs.user_name = box->user_name();
        cs.password.file = dir.write("cpims-password", box->password() + "\n");
        cpims = std::make_unique<primero::primero_adapter>(cs, env());

        dss_files::settings ds;
        for (const char* d : {"outbox", "inbox", "sent"}) {
            fs::create_directories(dir / d);
        }
        ds.outbox = dir / "outbox";
        ds.inbox = dir / "inbox";
        ds.sent_register = dir / "sent";
        ds.passphrase_file = dir.write("passphrase", std::string(passphrase) + "\n");
        ds.sender = "cpss-cxb";
        ds.ack_reason_codes = {"missing_guardian_contact"};
        ds.max_rows_per_batch = 8;
        dss = std::make_unique<dss_files::dss_files_adapter>(ds, env());

        auto opened = store::store::open(dir / "store.db", {}, clock);
        ASSERT_TRUE(opened) << opened.error().message();
        st = std::make_unique<store::store_thread>(std::move(*opened));
    }

    void TearDown() override { st.reset(); }

    adapter_env env() {
        return adapter_env{
            ctx.get_executor(), http.get(), &clock, logger(sink, clock, log_level::debug)};
    }

    flow_binding base_binding() {
        flow_binding b;
        b.purpose = "transfer";
        b.identities = hasher.get();
        b.identity_fields = catalogue->one_person_paths();
        b.retry.initial = 1ms;
        b.retry.max = 5ms;
        b.retry.max_retry_after = 1s;
        return b;
    }

    std::unique_ptr<flow_runner> events_runner() {
        auto b = base_binding();
        b.flow = "cpims-events-to-dss";
        b.source_system = "cpims-cxb";
        b.source_stream = "cases";
        b.target_system = "dss";
        b.target_stream = "events";
        b.source = cpims.get();
        b.target = dss.get();
        b.map_in = &*primero_map;
        b.map_out = &*event_map;
        b.profile = policies->find("events-to-dss");
        b.one_record_per_row_of = "/services_section";
        return std::make_unique<flow_runner>(
            std::move(b), *st, clock, logger(sink, clock, log_level::debug)
        );
    }

    std::unique_ptr<flow_runner> acks_runner() {
        auto b = base_binding();
        b.flow = "dss-acknowledgements";
        b.purpose = "acknowledgement";
        b.source_system = "dss";
        b.source_stream = "acknowledgements";
        b.target_system = "cpims-cxb";
        b.source = dss.get();
        b.acknowledgements = true;
        return std::make_unique<flow_runner>(
            std::move(b), *st, clock, logger(sink, clock, log_level::debug)
        );
    }

    std::unique_ptr<flow_runner> cases_runner() {
        auto b = base_binding();
        b.flow = "dss-cases-to-cpims";
        b.source_system = "dss";
        b.source_stream = "cases";
        b.target_system = "cpims-cxb";
        b.target_stream = "cases";
        b.source = dss.get();
        b.target = cpims.get();
        b.map_in = &*case_map;
        b.map_out = &*primero_map;
        b.profile = policies->find("cases-from-dss");
        return std::make_unique<flow_runner>(
            std::move(b), *st, clock, logger(sink, clock, log_level::debug)
        );
    }

    template <typename T>
    T run(net::awaitable<T> op) {
        return test::run_on(ctx, std::move(op));
    }

    run_report run_flow(flow_runner& r) {
        run_options o;
        o.keep_records = true;
        return run(r.run_once(o));
    }

    rapidjson::Document source_case(const std::string& id) {
        return std::move(*json::parse(*box->case_json(id)));
    }

    // Gives every source case exactly one complete services row (a referral to DSS), removing
    // the sandbox's own rows; returns the ids of the cases the test profile lets through.
    std::set<std::string> prepare_referrals() {
        std::set<std::string> eligible;
        for (const auto& id : box->case_ids()) {
            auto c = source_case(id);
            std::string rows;
            if (c.HasMember("services_section")) {
                for (const auto& row : c["services_section"].GetArray()) {
                    rows += R"({"unique_id": ")" + std::string(row["unique_id"].GetString()) +
                            R"(", "_destroy": true},)";
                }
            }
            rows += R"({"unique_id": "svc-)" + id.substr(0, 8) +
                    R"(", "service_response_type": "external_referral",)"
                    R"( "service_response_day_time": "2026-03-09T03:00:00.000Z",)"
                    R"( "service_type": "alternative_care",)"
                    R"( "service_referral_notes": "Needs a \"safe\" place, soon,\nwith kin",)"
                    R"( "service_request_agency": "agency-cxb-cp"})";
            patch(id, R"({"services_section": [)" + rows + "]}");
            auto after = source_case(id);
            const bool enabled =
                !after.HasMember("record_state") || after["record_state"].GetBool();
            if (enabled && after["consent_for_services"].GetBool()) {
                eligible.insert(id);
            }
        }
        clock.advance(5s);
        return eligible;
    }

    void patch(const std::string& id, const std::string& data_json) {
        external_record r;
        r.stream = "cases";
        r.remote_id = id;
        r.body = std::move(*json::parse(data_json));
        auto pushed = run(cpims->push(std::move(r)));
        ASSERT_TRUE(pushed) << pushed.error().describe();
    }

    std::vector<std::string> manifests() const {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(dir / "outbox")) {
            const auto n = e.path().filename().string();
            if (n.size() > 14 && n.compare(n.size() - 14, 14, ".manifest.json") == 0) {
                out.push_back(n);
            }
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    // Exchange ids in the batches named by `names` (needs 7z).
    std::multiset<std::string> exchange_ids(const std::vector<std::string>& names) {
        std::multiset<std::string> ids;
        for (const auto& n : names) {
            const auto m = json::load_file(dir / "outbox" / n);
            const std::string csv = run_command(
                "7z x -so -p'" + std::string(passphrase) + "' " +
                (dir / "outbox" / m.doc["file"].GetString()).string() + " " +
                m.doc["csv_file"].GetString()
            );
            const auto t = exchange::parse_csv(csv);
            EXPECT_TRUE(t) << n;
            if (!t) {
                continue;
            }
            EXPECT_EQ(t->header.front(), "exchange_id");
            for (const auto& row : t->rows) {
                ids.insert(row.front());
            }
        }
        return ids;
    }
};

TEST_F(dss_flow_test, referrals_become_event_rows_in_batches_once) {
    const auto eligible = prepare_referrals();
    ASSERT_GT(eligible.size(), 10u);
    auto runner = events_runner();
    auto first = run_flow(*runner);
    ASSERT_FALSE(first.error) << *first.error;
    EXPECT_TRUE(first.caught_up);
    EXPECT_EQ(first.counts.sent, static_cast<std::int64_t>(eligible.size()));
    EXPECT_EQ(first.counts.dead, 0);
    std::multiset<std::string> targets;
    for (const auto& r : first.records) {
        if (r.outcome == "sent") {
            targets.insert(r.target_id);
        }
    }
    EXPECT_EQ(targets.size(), eligible.size());
    EXPECT_EQ(dss->pending_rows(), 0u);

    // Batches of at most 8 rows, each complete with its manifest.
    const auto batches = manifests();
    EXPECT_EQ(batches.size(), (eligible.size() + 7) / 8);
    std::size_t rows = 0;
    for (const auto& n : batches) {
        const auto m = json::load_file(dir / "outbox" / n);
        EXPECT_LE(m.doc["rows"].GetInt(), 8);
        rows += static_cast<std::size_t>(m.doc["rows"].GetInt());
    }
    EXPECT_EQ(rows, eligible.size());
    if (have_7z()) {
        // Each sent row's exchange id is the target id the engine linked.
        EXPECT_EQ(exchange_ids(batches), targets);
    }

    // Nothing changed: nothing is written again.
    clock.advance(30s);
    auto second = run_flow(*runner);
    ASSERT_FALSE(second.error) << *second.error;
    EXPECT_EQ(second.counts.sent, 0);
    EXPECT_EQ(manifests(), batches);
}

// The DSS adapter gives each version of an event its own exchange id (UUIDv5 of source key and
// version); the engine keeps the link on the first and logs the new one.
TEST_F(dss_flow_test, a_new_version_of_a_referral_is_a_new_event) {
    const auto eligible = prepare_referrals();
    ASSERT_FALSE(eligible.empty());
    auto runner = events_runner();
    auto first = run_flow(*runner);
    ASSERT_FALSE(first.error) << *first.error;
    std::multiset<std::string> targets;
    for (const auto& r : first.records) {
        if (r.outcome == "sent") {
            targets.insert(r.target_id);
        }
    }
    const auto batches = manifests();
    // A new version of one referral is a new event with a new exchange id.
    const std::string changed = *eligible.begin();
    patch(changed, R"({"risk_level": "high"})");
    clock.advance(5s);
    auto next = run_flow(*runner);
    ASSERT_FALSE(next.error) << *next.error;
    EXPECT_EQ(next.counts.sent, 1);
    auto after = manifests();
    ASSERT_EQ(after.size(), batches.size() + 1);
    if (have_7z()) {
        std::vector<std::string> fresh;
        std::set_difference(
            after.begin(), after.end(), batches.begin(), batches.end(), std::back_inserter(fresh)
        );
        const auto ids = exchange_ids(fresh);
        ASSERT_EQ(ids.size(), 1u);
        EXPECT_EQ(targets.count(*ids.begin()), 0u);
    }
}

// Acknowledgement files become inbound log entries about the rows that were sent, rejections
// and unknown exchange ids are raised for review, and an accepted event links the DSS
// reference to the CPIMS+ case, so a DSS case file with that reference updates that case.
TEST_F(dss_flow_test, acknowledgements_are_logged_linked_and_unknown_ids_reported) {
    const auto eligible = prepare_referrals();
    ASSERT_GE(eligible.size(), 3u);
    auto runner = events_runner();
    auto first = run_flow(*runner);
    ASSERT_FALSE(first.error) << *first.error;
    std::map<std::string, std::string> sent;  // exchange id → source row id
    for (const auto& r : first.records) {
        if (r.outcome == "sent") {
            sent.emplace(r.target_id, r.source_id);
        }
    }
    ASSERT_GE(sent.size(), 3u);
    auto it = sent.begin();
    const auto accepted = *it++;
    const auto rejected = *it++;
    const auto failed = *it++;
    const std::string unknown = "0b6f7a52-9c1e-4f3a-8d2b-5e4c3a2b1f00";
    ASSERT_EQ(sent.count(unknown), 0u);
    dir.write(
        "inbox/ack-2026-03-11.csv",
        "exchange_id,status,dss_reference,reason\r\n" + accepted.first +
            ",accepted,DSS-CXB-2026-000201,\r\n" + rejected.first +
            ",rejected,,missing_guardian_contact\r\n" + failed.first +
            ",error,,\"The officer could not open the row\"\r\n" + unknown +
            ",accepted,DSS-CXB-2026-000202,\r\n"
    );
    auto acks = acks_runner();
    auto r = run_flow(*acks);
    ASSERT_FALSE(r.error) << *r.error;
    EXPECT_EQ(r.counts.acknowledged, 1);
    EXPECT_EQ(r.counts.rejected, 2);
    EXPECT_EQ(r.counts.dead, 1);
    std::map<std::string, record_report> by_id;
    for (const auto& rec : r.records) {
        by_id.emplace(rec.source_id, rec);
    }
    EXPECT_EQ(by_id.at(accepted.first).outcome, "acknowledged");
    EXPECT_EQ(by_id.at(accepted.first).target_id, accepted.second);
    EXPECT_EQ(by_id.at(rejected.first).outcome, "rejected");
    EXPECT_EQ(by_id.at(rejected.first).reason, "missing_guardian_contact");
    EXPECT_EQ(by_id.at(failed.first).reason, "free_text");
    EXPECT_EQ(by_id.at(unknown).outcome, "dead");
    EXPECT_EQ(by_id.at(unknown).reason, "unknown_exchange_id");

    auto check = [&](store::store& s) -> result<void> {
        // The log: one inbound entry per row, about the row that was sent.
        auto q = s.database().prepare(
            "SELECT source_id, outcome, direction, remote_txn_id, reason FROM transfer_log"
            " WHERE flow = 'dss-acknowledgements' ORDER BY seq"
        );
        EXPECT_TRUE(q);
        std::map<std::string, std::vector<std::string>> rows;
        while (q && *q->step()) {
            rows[q->column_text(1)].push_back(q->column_text(0));
            EXPECT_EQ(q->column_text(2), "inbound");
            if (q->column_text(1) == "acknowledged") {
                EXPECT_EQ(q->column_text(3), "DSS-CXB-2026-000201");
            }
        }
        EXPECT_EQ(rows["acknowledged"], std::vector<std::string>{accepted.second});
        EXPECT_EQ(rows["rejected"], (std::vector<std::string>{rejected.second, failed.second}));
        EXPECT_EQ(rows["failed"], std::vector<std::string>{unknown});
        // The DSS reference now leads to the case the row came from.
        auto linked = s.linked(
            store::record_id{store::token("dss"), store::token("DSS-CXB-2026-000201")},
            store::token("cpims-cxb")
        );
        EXPECT_TRUE(linked && *linked);
        if (linked && *linked) {
            EXPECT_EQ((*linked)->id.str(), accepted.second.substr(0, accepted.second.find('~')));
        }
        // Reviews: the two rejections and the unknown id; a dead letter for the unknown id.
        auto reviews = s.reviews(100);
        EXPECT_TRUE(reviews);
        std::multiset<std::string> kinds;
        for (const auto& rv : *reviews) {
            kinds.insert(rv.kind.str());
        }
        EXPECT_EQ(kinds.count("dss_rejected"), 2u);
        EXPECT_EQ(kinds.count("unknown_acknowledgement"), 1u);
        auto dead = s.dead_letters(store::token("dss-acknowledgements"));
        EXPECT_TRUE(dead && dead->size() == 1 && (*dead)[0].source.id.str() == unknown);
        return {};
    };
    ASSERT_TRUE(st->call(check));
    // The file was settled: the next run moves it on, reads nothing and logs nothing more.
    auto again = run_flow(*acks);
    ASSERT_FALSE(again.error) << *again.error;
    EXPECT_EQ(again.counts.fetched, 0);
    EXPECT_FALSE(fs::exists(dir / "inbox/ack-2026-03-11.csv"));
    EXPECT_TRUE(fs::exists(dir / "inbox/processed/ack-2026-03-11.csv"));
}

// Reconciling a DSS target: DSS keeps no copy to read back, so what it holds is told by the
// sent register (what was written) and DSS's acknowledgements (what it accepted). Each way the
// two can part from the log comes out in its class, and a repair writes the missing row again.
TEST_F(dss_flow_test, reconciling_a_dss_target_reads_the_register_and_the_acknowledgements) {
    const auto eligible = prepare_referrals();
    ASSERT_GE(eligible.size(), 6u);
    auto runner = events_runner();
    auto first = run_flow(*runner);
    ASSERT_FALSE(first.error) << *first.error;
    std::vector<std::pair<std::string, std::string>> sent;  // exchange id, source row id
    for (const auto& r : first.records) {
        if (r.outcome == "sent") {
            sent.emplace_back(r.target_id, r.source_id);
        }
    }
    ASSERT_GE(sent.size(), 6u);
    const auto reconcile_all = [&]() {
        // A fresh adapter reads the register and the inbox as they are now.
        dss_files::settings ds;
        ds.outbox = dir / "outbox";
        ds.inbox = dir / "inbox";
        ds.sent_register = dir / "sent";
        ds.passphrase_file = dir / "passphrase";
        ds.sender = "cpss-cxb";
        ds.ack_reason_codes = {"missing_guardian_contact"};
        ds.max_rows_per_batch = 8;
        dss = std::make_unique<dss_files::dss_files_adapter>(ds, env());
        runner = events_runner();
        reconcile_options o;
        o.seed = 3;
        auto r = run(reconcile(*runner, *st, clock, logger(sink, clock, log_level::debug), o));
        EXPECT_FALSE(r.error) << r.error.value_or("");
        std::map<std::string, reconcile_row> rows;
        for (const auto& row : r.rows) {
            rows[row.source_id] = row;
        }
        return std::make_pair(r, rows);
    };

    // Written, nothing acknowledged yet: every record is pending, none diverges.
    {
        auto [report, rows] = reconcile_all();
        EXPECT_EQ(report.divergences(), 0);
        EXPECT_EQ(report.count(verdict::pending), static_cast<std::int64_t>(sent.size()));
        EXPECT_EQ(rows.at(sent[0].second).note, "awaiting_acknowledgement");
        EXPECT_EQ(rows.at(sent[0].second).target_ids, std::vector<std::string>{sent[0].first});
    }

    const auto& accepted = sent[0];
    const auto& rejected = sent[1];
    const auto& twice = sent[2];
    const auto& unanswered = sent[3];
    const auto& unwritten = sent[4];
    dir.write(
        "inbox/ack-2026-03-11.csv",
        "exchange_id,status,dss_reference,reason\r\n" + accepted.first +
            ",accepted,DSS-CXB-2026-000301,\r\n" + rejected.first +
            ",rejected,,missing_guardian_contact\r\n" + twice.first +
            ",accepted,DSS-CXB-2026-000302,\r\n"
    );
    fs::create_directories(dir / "inbox/processed");
    dir.write(
        "inbox/processed/ack-2026-03-10.csv",
        "exchange_id,status,dss_reference,reason\r\n" + twice.first +
            ",accepted,DSS-CXB-2026-000299,\r\n"
    );
    // The register loses the row of one record (a restore of the exchange folders).
    bool dropped = false;
    for (const auto& e : fs::directory_iterator(dir / "sent")) {
        std::ifstream in(e.path());
        std::stringstream text;
        text << in.rdbuf();
        const std::string all = text.str();
        const auto at = all.find(unwritten.first);
        if (at == std::string::npos) {
            continue;
        }
        const auto end = all.find('\n', at);
        std::ofstream(e.path(), std::ios::trunc) << all.substr(0, at) + all.substr(end + 1);
        dropped = true;
    }
    ASSERT_TRUE(dropped);

    auto [report, rows] = reconcile_all();
    EXPECT_EQ(rows.at(accepted.second).v, verdict::match);
    EXPECT_EQ(rows.at(rejected.second).v, verdict::missing_at_target);
    EXPECT_EQ(rows.at(rejected.second).note, "rejected_by_receiver:missing_guardian_contact");
    EXPECT_EQ(rows.at(twice.second).v, verdict::duplicated_at_target);
    EXPECT_EQ(rows.at(unanswered.second).v, verdict::pending);
    EXPECT_EQ(rows.at(unwritten.second).v, verdict::missing_at_target);
    EXPECT_EQ(rows.at(unwritten.second).note, "not_in_sent_register");
    EXPECT_TRUE(rows.at(unwritten.second).target_ids.empty());
    EXPECT_EQ(report.count(verdict::missing_at_target), 2);
    EXPECT_EQ(report.count(verdict::duplicated_at_target), 1);
    EXPECT_EQ(report.divergences(), 3);

    // The repair writes the unwritten row again (the same exchange id: DSS de-duplicates on
    // it), sends the rejected one again, and raises the duplicate for review.
    auto fixed = run(repair(*runner, *st, report));
    EXPECT_FALSE(fixed.error) << fixed.error.value_or("");
    EXPECT_EQ(fixed.redelivered, 2);
    EXPECT_EQ(fixed.reviews, 1);
    auto [after, rows_after] = reconcile_all();
    EXPECT_EQ(rows_after.at(unwritten.second).v, verdict::pending);
    EXPECT_EQ(
        rows_after.at(unwritten.second).target_ids, std::vector<std::string>{unwritten.first}
    );
    EXPECT_EQ(rows_after.at(accepted.second).v, verdict::match);
}

// A record held before it is split into rows (an unmapped code at the record level) has a dead
// letter named by the record: retrying it runs the whole record again, and settling its rows
// (by the retry or by the next run after a fix) clears it.
TEST_F(dss_flow_test, a_dead_letter_raised_before_the_split_can_be_retried_and_cleared) {
    const auto eligible = prepare_referrals();
    ASSERT_GE(eligible.size(), 2u);
    auto it = eligible.begin();
    const std::string by_retry = *it++;
    const std::string by_run = *it++;
    for (const auto& id : {by_retry, by_run}) {
        patch(id, R"({"sex": "code-no-table-lists"})");
    }
    clock.advance(5s);
    auto runner = events_runner();
    auto first = run_flow(*runner);
    ASSERT_FALSE(first.error) << *first.error;
    auto letters = [&]() {
        std::map<std::string, std::int64_t> out;  // source id -> dead letter id
        auto rows = st->call([](store::store& s) {
            return s.list_dead_letters(store::token("cpims-events-to-dss"), 100);
        });
        EXPECT_TRUE(rows);
        for (const auto& [row, d] : *rows) {
            out[d.source.id.str()] = row.id;
            EXPECT_EQ(d.reason.str(), "unmapped_value");
        }
        return out;
    };
    auto before = letters();
    ASSERT_EQ(before.count(by_retry), 1u) << "the dead letter names the record";
    ASSERT_EQ(before.count(by_run), 1u);

    for (const auto& id : {by_retry, by_run}) {
        patch(id, R"({"sex": "female"})");
    }
    clock.advance(5s);
    auto retried = run(runner->retry_dead_letter(before.at(by_retry)));
    ASSERT_TRUE(retried) << "retry of a record-level dead letter: " << retried.error().message();
    EXPECT_EQ(retried->outcome, "sent");
    EXPECT_EQ(retried->source_id.rfind(by_retry + "~", 0), 0u) << retried->source_id;
    auto after_retry = letters();
    EXPECT_EQ(after_retry.count(by_retry), 0u) << "the retry's rows did not clear it";
    EXPECT_EQ(after_retry.count(by_run), 1u);

    auto second = run_flow(*runner);
    ASSERT_FALSE(second.error) << *second.error;
    EXPECT_TRUE(letters().empty()) << "the next run's rows did not clear it";
}

// A caseload hand-over to DSS counts an event as transferred only once DSS accepted it: one sent
// and not yet answered awaits its acknowledgement, one DSS rejected needs a person (the same
// version would carry the same exchange id), and one withheld earlier is decided again.
TEST_F(dss_flow_test, a_handover_counts_only_acknowledged_events_as_transferred) {
    const auto eligible = prepare_referrals();
    ASSERT_GE(eligible.size(), 3u);
    ASSERT_LT(eligible.size(), box->case_ids().size()) << "the sample needs withheld records";
    auto runner = events_runner();
    auto first = run_flow(*runner);
    ASSERT_FALSE(first.error) << *first.error;
    std::map<std::string, std::string> sent;  // exchange id → source row id
    std::set<std::string> withheld;
    for (const auto& r : first.records) {
        if (r.outcome == "sent") {
            sent.emplace(r.target_id, r.source_id);
        } else if (r.outcome == "withheld") {
            withheld.insert(r.source_id);
        }
    }
    ASSERT_GE(sent.size(), 3u);
    ASSERT_FALSE(withheld.empty());
    auto it = sent.begin();
    const auto accepted = *it++;
    const auto rejected = *it++;
    dir.write(
        "inbox/ack-2026-03-11.csv",
        "exchange_id,status,dss_reference,reason\r\n" + accepted.first +
            ",accepted,DSS-CXB-2026-000301,\r\n" + rejected.first +
            ",rejected,,missing_guardian_contact\r\n"
    );
    auto acks = acks_runner();
    auto a = run_flow(*acks);
    ASSERT_FALSE(a.error) << *a.error;
    ASSERT_EQ(a.counts.acknowledged, 1);
    ASSERT_EQ(a.counts.rejected, 1);

    // The plan's view: a dry run from the start under the hand-over rule.
    auto plan_runner = events_runner();
    run_options o;
    o.dry_run = true;
    o.keep_records = true;
    o.from_start = true;
    o.handover = true;
    auto plan = run(plan_runner->run_once(o));
    ASSERT_FALSE(plan.error) << *plan.error;
    std::map<std::string, record_report> by_id;
    for (const auto& r : plan.records) {
        by_id.emplace(r.source_id, r);
    }
    EXPECT_EQ(by_id.at(accepted.second).outcome, "skipped");
    EXPECT_EQ(by_id.at(rejected.second).outcome, "rejected_by_receiver");
    EXPECT_EQ(by_id.at(rejected.second).prior, "delivered");
    std::size_t awaiting = 0;
    for (const auto& [exchange_id, source] : sent) {
        if (exchange_id != accepted.first && exchange_id != rejected.first) {
            EXPECT_EQ(by_id.at(source).outcome, "awaiting_acknowledgement") << source;
            ++awaiting;
        }
    }
    EXPECT_EQ(plan.counts.awaiting_acknowledgement, static_cast<std::int64_t>(awaiting));
    EXPECT_EQ(plan.counts.rejected_by_receiver, 1);
    for (const auto& id : withheld) {
        EXPECT_EQ(by_id.at(id).outcome, "withheld") << id << " is decided again, not skipped";
        EXPECT_EQ(by_id.at(id).prior, "withheld") << id;
    }
    // The incremental rule is unchanged: an ordinary run skips all of them.
    run_options plain;
    plain.dry_run = true;
    plain.keep_records = true;
    plain.from_start = true;
    auto again = run(plan_runner->run_once(plain));
    ASSERT_FALSE(again.error) << *again.error;
    for (const auto& r : again.records) {
        EXPECT_EQ(r.outcome, "skipped") << r.source_id;
    }
}

// A profile with "on_withdrawal": "notify": when consent for a services row already sent to DSS
// is withdrawn, DSS gets a notice row naming that event (and nothing of the child), the log
// entry carries the notice's id, and no review item is needed.
TEST_F(dss_flow_test, a_withdrawal_after_sharing_sends_dss_a_notice_row) {
    const auto eligible = prepare_referrals();
    ASSERT_FALSE(eligible.empty());
    auto runner = events_runner();
    auto first = run_flow(*runner);
    ASSERT_FALSE(first.error) << *first.error;
    const std::string withdrawn = *eligible.begin();
    std::string shared;
    for (const auto& r : first.records) {
        if (r.outcome == "sent" && r.source_id.rfind(withdrawn, 0) == 0) {
            shared = r.target_id;
        }
    }
    ASSERT_FALSE(shared.empty());
    const auto batches = manifests();
    patch(withdrawn, R"({"consent_for_services": false})");
    clock.advance(5s);
    auto next = run_flow(*runner);
    ASSERT_FALSE(next.error) << *next.error;
    EXPECT_EQ(next.counts.withdrawn, 1);
    EXPECT_EQ(next.counts.notices, 1);
    EXPECT_EQ(next.counts.sent, 0);
    auto after = manifests();
    ASSERT_EQ(after.size(), batches.size() + 1) << "the notice is written as a batch";
    std::string notice_txn;
    auto check = [&](store::store& s) -> result<void> {
        auto q = s.database().prepare(
            "SELECT remote_txn_id, target_id FROM transfer_log WHERE outcome = 'consent_withdrawn'"
        );
        EXPECT_TRUE(q && *q->step());
        if (q) {
            notice_txn = q->column_text(0);
            EXPECT_EQ(q->column_text(1), shared);
        }
        auto reviews = s.reviews(100);
        EXPECT_TRUE(reviews && reviews->empty()) << "DSS was told; nothing left for review";
        return {};
    };
    ASSERT_TRUE(st->call(check));
    EXPECT_FALSE(notice_txn.empty());
    EXPECT_NE(notice_txn, shared);
    if (have_7z()) {
        std::vector<std::string> fresh;
        std::set_difference(
            after.begin(), after.end(), batches.begin(), batches.end(), std::back_inserter(fresh)
        );
        ASSERT_EQ(fresh.size(), 1u);
        const auto m = json::load_file(dir / "outbox" / fresh[0]);
        const std::string csv = run_command(
            "7z x -so -p'" + std::string(passphrase) + "' " +
            (dir / "outbox" / m.doc["file"].GetString()).string() + " " +
            m.doc["csv_file"].GetString()
        );
        const auto t = exchange::parse_csv(csv);
        ASSERT_TRUE(t);
        ASSERT_EQ(t->rows.size(), 1u);
        const auto col = std::find(t->header.begin(), t->header.end(), "withdraws_exchange_id");
        ASSERT_NE(col, t->header.end());
        const auto at = static_cast<std::size_t>(col - t->header.begin());
        EXPECT_EQ(t->rows[0][0], notice_txn);
        EXPECT_EQ(t->rows[0][at], shared);
        for (std::size_t i = 1; i < t->rows[0].size(); ++i) {
            if (i != at) {
                EXPECT_TRUE(t->rows[0][i].empty()) << "the notice carries " << t->header[i];
            }
        }
    }
    // Nothing changed since: no second notice.
    clock.advance(5s);
    auto again = run_flow(*runner);
    ASSERT_FALSE(again.error) << *again.error;
    EXPECT_EQ(again.counts.notices, 0);
    EXPECT_EQ(manifests(), after);
}

/// The columns of a DSS case file.
const exchange::csv_row& case_file_header() {
    static const exchange::csv_row header = {
        "dss_reference",
        "updated_at",
        "child_name",
        "sex",
        "date_of_birth",
        "consent_for_services",
        "consent_sharing",
        "event_id",
        "event_type",
        "event_time",
        "service_code",
        "referral_reason",
        "referring_agency"};
    return header;
}

// Pulling past a DSS file moves it to processed/: before that, the page read from it is
// settled and its cursor on disk. A settle that fails leaves the file in the inbox, and the
// next run reads it again (its sent cases found, not sent twice).
TEST_F(dss_flow_test, a_case_file_is_moved_only_after_its_page_is_settled_on_disk) {
    const auto before = box->case_count();
    const auto file_of = [](const std::string& reference) {
        exchange::csv_writer w;
        w.row(case_file_header());
        w.row(
            {reference,
             "2026-03-10 11:00",
             "Test Child",
             "F",
             "15/09/2014",
             "yes",
             "authorities|other_organizations",
             "EV-" + reference,
             "transfer",
             "2026-03-10 10:30",
             "DSS-PSS",
             "Follow-up",
             "dss-ukhia"}
        );
        return w.text();
    };
    dir.write("inbox/case-20260310-a.csv", file_of("DSS-CXB-2026-000201"));
    dir.write("inbox/case-20260310-b.csv", file_of("DSS-CXB-2026-000202"));
    const auto refuse = [this](bool on) {
        return run(st->run([on](store::store& s) {
            return s.database().exec(
                on ? "CREATE TEMP TRIGGER refuse_insert BEFORE INSERT ON main.cursors BEGIN"
                     " SELECT RAISE(ABORT, 'test: the settle is refused'); END;"
                     "CREATE TEMP TRIGGER refuse_update BEFORE UPDATE ON main.cursors BEGIN"
                     " SELECT RAISE(ABORT, 'test: the settle is refused'); END"
                   : "DROP TRIGGER temp.refuse_insert; DROP TRIGGER temp.refuse_update"
            );
        }));
    };
    ASSERT_TRUE(refuse(true));
    auto runner = cases_runner();
    const auto first = run_flow(*runner);
    ASSERT_TRUE(first.error) << "the refused settle was not reported";
    EXPECT_EQ(first.error->rfind("store: ", 0), 0u) << *first.error;
    ASSERT_EQ(box->case_count(), before + 1) << "the first file's case was not sent";
    EXPECT_TRUE(fs::exists(dir / "inbox/case-20260310-a.csv"))
        << "a file was moved aside before its page's settle was on disk";
    EXPECT_FALSE(fs::exists(dir / "inbox/processed/case-20260310-a.csv"));

    ASSERT_TRUE(refuse(false));
    clock.advance(1min);
    for (int i = 0; i < 3; ++i) {
        const auto r = run_flow(*runner);
        ASSERT_FALSE(r.error) << *r.error;
    }
    EXPECT_EQ(box->case_count(), before + 2) << "a case was sent twice, or not at all";
    EXPECT_TRUE(fs::exists(dir / "inbox/processed/case-20260310-a.csv"));
    EXPECT_TRUE(fs::exists(dir / "inbox/processed/case-20260310-b.csv"));
}

TEST_F(dss_flow_test, dss_case_files_become_cpims_cases_and_move_on_when_settled) {
    const auto before = box->case_count();
    exchange::csv_writer w;
    w.row(case_file_header());
    const std::vector<std::array<std::string, 4>> rows = {
        {"DSS-CXB-2026-000101", "মোঃ আরিফ হোসেন", "M", "yes"},
        {"DSS-CXB-2026-000102", "Nur Begum", "F", "yes"},
        {"DSS-CXB-2026-000103", "Rina Akter", "F", "no"},
    };
    for (const auto& r : rows) {
        w.row(
            {r[0],
             "2026-03-10 11:00",
             r[1],
             r[2],
             "15/09/2014",
             r[3],
             "authorities|other_organizations",
             "EV-" + r[0],
             "transfer",
             "2026-03-10 10:30",
             "DSS-PSS",
             "Follow-up after \"1098\" call, family agrees",
             "dss-ukhia"}
        );
    }
    dir.write("inbox/case-20260310-ukhia.csv", w.text());

    auto runner = cases_runner();
    auto first = run_flow(*runner);
    ASSERT_FALSE(first.error) << *first.error;
    EXPECT_EQ(first.counts.fetched, 3);
    EXPECT_EQ(first.counts.sent, 2);
    EXPECT_EQ(first.counts.withheld, 1);  // no consent for services
    EXPECT_EQ(box->case_count(), before + 2);
    const auto id =
        primero::primero_adapter::client_id_for("dss-cases-to-cpims/dss/DSS-CXB-2026-000101");
    const auto stored = box->case_json(id);
    ASSERT_TRUE(stored);
    EXPECT_NE(stored->find("DSS-CXB-2026-000101"), std::string::npos);
    EXPECT_NE(stored->find("আরিফ"), std::string::npos);
    EXPECT_TRUE(fs::exists(dir / "inbox/case-20260310-ukhia.csv"));  // not settled yet

    // The next run comes back with the cursor: the file moves on and nothing is sent twice.
    clock.advance(1min);
    auto second = run_flow(*runner);
    ASSERT_FALSE(second.error) << *second.error;
    EXPECT_EQ(second.counts.sent, 0);
    EXPECT_FALSE(fs::exists(dir / "inbox/case-20260310-ukhia.csv"));
    EXPECT_TRUE(fs::exists(dir / "inbox/processed/case-20260310-ukhia.csv"));
    EXPECT_EQ(box->case_count(), before + 2);

    // A broken file stops the run with its name and is set aside; the next run goes on.
    dir.write("inbox/case-20260311-a.csv", "dss_reference,child_name\r\nDSS 1,x\r\n");
    dir.write("inbox/case-20260311-b.csv", "dss_reference,child_name,sex,consent_for_services\r\n");
    auto third = run_flow(*runner);
    ASSERT_TRUE(third.error);
    EXPECT_NE(third.error->find("case-20260311-a.csv:2:1"), std::string::npos) << *third.error;
    EXPECT_TRUE(fs::exists(dir / "inbox/rejected/case-20260311-a.csv.reason.txt"));
    auto fourth = run_flow(*runner);
    ASSERT_FALSE(fourth.error) << *fourth.error;
    EXPECT_TRUE(fourth.caught_up);
}

}  // namespace
}  // namespace casebridge::sync
