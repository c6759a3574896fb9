// The flow runner with a target whose creates carry no idempotency key: CPIMS+ referrals to
// the PING sandbox. Lost answers are resolved by lookup (never a second referral), and an edit
// of a case already referred does not re-send (PING referrals cannot be updated).
#include <future>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "canonical/canonical_case.hpp"
#include "json/json.hpp"
#include "mapping/mapping.hpp"
#include "net/http_client.hpp"
#include "policy/policy.hpp"
#include "primero/primero_adapter.hpp"
#include "progres_ping/progres_ping_adapter.hpp"
#include "sandbox/ping/ping_sandbox.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "store/store_thread.hpp"
#include "support/forwarding_adapter.hpp"
#include "support/temp_dir.hpp"
#include "sync/flow_runner.hpp"

namespace casebridge::sync {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;

/// The CPIMS+ source, except that the services rows of the first `cases` records that have
/// any come without a unique_id (as from a source that gives its rows none).
class rows_without_ids final : public test::forwarding_adapter {
public:
    rows_without_ids(adapter& inner, std::size_t cases) : forwarding_adapter(inner), left_(cases) {}
    awaitable<remote_result<pull_page>> pull(std::string stream, std::optional<std::string> cursor)
        override {
        auto r = co_await inner_.pull(std::move(stream), std::move(cursor));
        if (r) {
            for (auto& rec : r->records) {
                auto* rows = rec.body.IsObject() && rec.body.HasMember("services_section")
                                 ? &rec.body["services_section"]
                                 : nullptr;
                if (left_ == 0 || rows == nullptr || !rows->IsArray() || rows->Empty()) {
                    continue;
                }
                --left_;
                for (auto& row : rows->GetArray()) {
                    if (row.IsObject() && row.RemoveMember("unique_id")) {
                        ++stripped_;
                    }
                }
            }
        }
        co_return r;
    }
    std::size_t stripped() const { return stripped_; }

private:
    std::size_t left_;
    std::size_t stripped_ = 0;
};

class ping_flow_test : public ::testing::Test {
protected:
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 3 / 10) + 9h};
    test::temp_dir dir;
    memory_sink sink;
    net::io_context ctx;
    std::unique_ptr<sandbox::primero_sandbox> cpims;
    std::unique_ptr<sandbox::ping_sandbox> ping;
    std::unique_ptr<http_client> http;
    std::unique_ptr<primero::primero_adapter> source;
    std::unique_ptr<progres_ping::progres_ping_adapter> target;
    std::optional<canonical_catalogue> catalogue;
    std::optional<policy::policy_set> policies;
    std::optional<mapping::compiled_mapping> in;
    std::optional<mapping::compiled_mapping> out;
    std::unique_ptr<store::store_thread> st;
    std::unique_ptr<flow_runner> runner;

    void start(
        std::vector<sandbox::fault_rule> ping_faults, std::optional<row_filter> rows = std::nullopt
    ) {
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "ping-flow-test-key-0123456789abcdef0123456", 1);
        catalogue.emplace(canonical_catalogue::load(source_dir / "mappings/canonical-case.json"));
        policies.emplace(policy::policy_set::load(source_dir / "config/policies.json", *catalogue));
        in.emplace(
            mapping::compiled_mapping::load(source_dir / "mappings/primero.case.json", *catalogue)
        );
        out.emplace(mapping::compiled_mapping::load(
            source_dir / "mappings/progres_ping.referral_out.json", *catalogue
        ));
        sandbox::primero_settings ps;
        ps.cases = 120;
        ps.seed = 31;
        cpims = std::make_unique<sandbox::primero_sandbox>(ps, clock);
        sandbox::ping_settings gs;
        gs.seed = 31;
        gs.faults = std::move(ping_faults);
        ping = std::make_unique<sandbox::ping_sandbox>(gs, clock);
        http_client_settings hs;
        hs.allow_plain_http_loopback = true;
        hs.max_requests_per_second = 0;
        hs.request_timeout = 2s;
        http = std::move(*http_client::create(ctx.get_executor(), hs, clock));
        auto env = [&] {
            return adapter_env{
                ctx.get_executor(), http.get(), &clock, logger(sink, clock, log_level::debug)};
        };
        primero::settings s;
        s.base_url = cpims->base_url();
        s.user_name = cpims->user_name();
        s.password.file = dir.write("cpims-password", cpims->password() + "\n");
        source = std::make_unique<primero::primero_adapter>(s, env());
        const auto pw = dir.write("ping-password", ping->password() + "\n");
        const auto key = dir.write("ping-key", ping->subscription_key() + "\n");
        auto d = json::parse(ping->adapter_settings_json(pw.string(), key.string(), false));
        d->AddMember("status_interval_ms", 0, d->GetAllocator());
        target = std::make_unique<progres_ping::progres_ping_adapter>(
            progres_ping::settings_from_json(*d), env()
        );
        auto opened = store::store::open(dir / "store.db", {}, clock);
        ASSERT_TRUE(opened);
        st = std::make_unique<store::store_thread>(std::move(*opened));
        flow_binding b;
        b.flow = "referrals";
        b.purpose = "referral";
        b.source_system = "cpims";
        b.source_stream = "cases";
        b.target_system = "progres";
        b.target_stream = "referrals";
        b.source = source.get();
        b.target = target.get();
        b.map_in = &*in;
        b.map_out = &*out;
        b.profile = policies->find("referral-unhcr");
        b.one_record_per_row_of = "/services_section";
        b.only_rows_where = std::move(rows);
        b.retry.initial = 1ms;
        b.retry.max = 5ms;
        b.retry.max_retry_after = 2s;
        runner = std::make_unique<flow_runner>(
            std::move(b), *st, clock, logger(sink, clock, log_level::debug)
        );
        clock.advance(5s);
    }

    void TearDown() override {
        runner.reset();
        st.reset();
    }

    run_report run_flow() {
        run_options o;
        o.keep_records = true;
        auto fut = net::co_spawn(ctx, runner->run_once(o), net::use_future);
        ctx.restart();
        while (fut.wait_for(0s) != std::future_status::ready) {
            if (ctx.run_one_for(20s) == 0) {
                break;
            }
        }
        EXPECT_EQ(fut.wait_for(0s), std::future_status::ready);
        return fut.get();
    }

    std::int64_t count_sql(const std::string& sql) {
        auto fut = net::co_spawn(
            ctx,
            st->run([sql](store::store& s) -> std::int64_t {
                auto q = s.database().prepare(sql);
                (void)q->step();
                return q->column_int(0);
            }),
            net::use_future
        );
        ctx.restart();
        ctx.run();
        return fut.get();
    }

    /// "<case id>~<row unique_id>" of every services row in the source, split by whether the
    /// row's implementing agency is UNHCR.
    std::pair<std::set<std::string>, std::set<std::string>> rows_by_agency() const {
        std::set<std::string> unhcr;
        std::set<std::string> others;
        for (const auto& id : cpims->case_ids()) {
            auto c = json::parse(*cpims->case_json(id));
            if (!c || !c->HasMember("services_section")) {
                continue;
            }
            for (const auto& row : (*c)["services_section"].GetArray()) {
                const std::string key = id + "~" + row["unique_id"].GetString();
                const bool for_unhcr = row.HasMember("service_implementing_agency") &&
                                       row["service_implementing_agency"] == "agency-unhcr";
                (for_unhcr ? unhcr : others).insert(key);
            }
        }
        return {unhcr, others};
    }

    /// Every referral in PING carries a distinct correlation key.
    void expect_no_duplicate_referrals() {
        std::set<std::string> keys;
        const auto field = ping->ids().correlation_field;
        for (const auto& id : ping->referral_ids()) {
            auto f = json::parse(*ping->referral_fields(id));
            ASSERT_TRUE(f && f->HasMember(field.c_str())) << id;
            EXPECT_TRUE(keys.insert((*f)[field.c_str()].GetString()).second)
                << "two referrals for one services row";
        }
    }
};

TEST_F(ping_flow_test, lost_answers_are_resolved_by_lookup_and_never_make_a_second_referral) {
    start({{sandbox::fault::lost(), 3}});
    auto first = run_flow();
    ASSERT_FALSE(first.error) << *first.error;
    ASSERT_GT(first.counts.sent, 0);
    // Attempts whose answers were lost may stay unresolved until the next run looks them up.
    auto second = run_flow();
    ASSERT_FALSE(second.error) << *second.error;
    expect_no_duplicate_referrals();
    EXPECT_EQ(
        count_sql("SELECT count(*) FROM transfer_log WHERE outcome = 'sent'"),
        static_cast<std::int64_t>(ping->referral_count())
    );
    EXPECT_EQ(count_sql("SELECT count(*) FROM deliveries WHERE state = 'in_flight'"), 0);
    EXPECT_EQ(count_sql("SELECT count(*) FROM dead_letters WHERE reason <> 'unmapped_value'"), 0);
}

TEST_F(ping_flow_test, an_edit_after_referral_keeps_the_referral_and_dead_letters_nothing) {
    start({});
    auto first = run_flow();
    ASSERT_FALSE(first.error) << *first.error;
    ASSERT_GT(first.counts.sent, 0);
    const auto referrals = ping->referral_count();
    const auto dead_before = count_sql("SELECT count(*) FROM dead_letters");
    std::string referred;
    for (const auto& r : first.records) {
        if (r.outcome == "sent") {
            referred = r.source_id.substr(0, r.source_id.find('~'));
            break;
        }
    }
    external_record edit;
    edit.stream = "cases";
    edit.remote_id = referred;
    edit.body = std::move(*json::parse(R"({"risk_level": "high"})"));
    auto fut = net::co_spawn(ctx, source->push(std::move(edit)), net::use_future);
    ctx.restart();
    ctx.run();
    ASSERT_TRUE(fut.get());
    clock.advance(5s);
    auto second = run_flow();
    ASSERT_FALSE(second.error) << *second.error;
    EXPECT_EQ(second.counts.sent, 0);
    EXPECT_EQ(second.counts.dead, 0);
    EXPECT_EQ(ping->referral_count(), referrals);
    EXPECT_EQ(count_sql("SELECT count(*) FROM dead_letters"), dead_before);
    bool kept = false;
    for (const auto& r : second.records) {
        kept = kept || r.outcome == "kept";
    }
    EXPECT_TRUE(kept);
}

// After a retention purge (or a restore from an older backup) the store knows nothing of the
// referrals it made; changed cases come back as creates, and each is found at PING by its
// correlation key instead of being referred a second time.
TEST_F(ping_flow_test, a_case_whose_referral_was_purged_is_found_not_referred_again) {
    start({});
    auto first = run_flow();
    ASSERT_FALSE(first.error) << *first.error;
    ASSERT_GT(first.counts.sent, 0);
    const auto referrals = ping->referral_count();
    std::set<std::string> referred;
    for (const auto& r : first.records) {
        if (r.outcome == "sent") {
            referred.insert(r.source_id.substr(0, r.source_id.find('~')));
        }
    }
    // Everything the store knew of these deliveries is gone, as after a purge.
    auto forget = [](store::store& s) -> result<void> {
        for (const char* sql : {"DELETE FROM links", "DELETE FROM deliveries"}) {
            if (auto r = s.database().exec(sql); !r) {
                return r;
            }
        }
        return {};
    };
    ASSERT_TRUE(st->call(forget));
    for (const auto& id : referred) {
        external_record edit;
        edit.stream = "cases";
        edit.remote_id = id;
        edit.body = std::move(*json::parse(R"({"risk_level": "high"})"));
        auto fut = net::co_spawn(ctx, source->push(std::move(edit)), net::use_future);
        ctx.restart();
        ctx.run();
        ASSERT_TRUE(fut.get());
    }
    clock.advance(5s);
    auto second = run_flow();
    ASSERT_FALSE(second.error) << *second.error;
    EXPECT_EQ(ping->referral_count(), referrals) << "a purged referral was made again";
    expect_no_duplicate_referrals();
}

// A services row without a unique_id is dead-lettered under its record and its position:
// each such row is a dead letter of its own, none replaces another's.
TEST_F(ping_flow_test, a_row_without_an_id_is_dead_lettered_under_its_record_and_position) {
    start({});
    rows_without_ids stripped(*source, 3);
    auto b = runner->binding();
    b.source = &stripped;
    runner = std::make_unique<flow_runner>(
        std::move(b), *st, clock, logger(sink, clock, log_level::debug)
    );
    const auto report = run_flow();
    ASSERT_FALSE(report.error) << *report.error;
    ASSERT_GE(stripped.stripped(), 2u) << "the test shows nothing without two such rows";
    EXPECT_EQ(
        count_sql("SELECT count(*) FROM dead_letters WHERE reason = 'mapping_failed' AND "
                  "source_id LIKE '%~#%'"),
        static_cast<std::int64_t>(stripped.stripped())
    );
    EXPECT_EQ(count_sql("SELECT count(*) FROM dead_letters WHERE source_id = 'unset'"), 0);
    EXPECT_EQ(count_sql("SELECT count(*) FROM transfer_log WHERE source_id = 'unset'"), 0);
}

TEST_F(ping_flow_test, only_rows_whose_implementing_agency_is_unhcr_are_referred) {
    start({}, row_filter{"/service_implementing_agency", {"agency-unhcr"}});
    auto first = run_flow();
    ASSERT_FALSE(first.error) << *first.error;
    ASSERT_GT(first.counts.sent, 0);
    const auto [unhcr, others] = rows_by_agency();
    ASSERT_FALSE(others.empty()) << "the synthetic cases have rows for other agencies";
    std::string referred;
    for (const auto& r : first.records) {
        EXPECT_EQ(others.count(r.source_id), 0u) << "a row for another agency: " << r.source_id;
        EXPECT_EQ(unhcr.count(r.source_id), 1u) << r.source_id;
        if (r.outcome == "sent" && referred.empty()) {
            referred = r.source_id.substr(0, r.source_id.find('~'));
        }
    }
    EXPECT_EQ(
        count_sql("SELECT count(*) FROM transfer_log WHERE outcome = 'sent'"),
        static_cast<std::int64_t>(ping->referral_count())
    );
    for (const auto& key : others) {
        EXPECT_EQ(count_sql("SELECT count(*) FROM transfer_log WHERE source_id = '" + key + "'"), 0)
            << key;
        EXPECT_EQ(count_sql("SELECT count(*) FROM deliveries WHERE source_id = '" + key + "'"), 0)
            << key;
    }

    // A case already referred gets two more services rows: one for UNHCR, one for BRAC.
    ASSERT_FALSE(referred.empty());
    auto c = json::parse(*cpims->case_json(referred));
    ASSERT_TRUE(c);
    const auto& existing = (*c)["services_section"][0];
    auto body = json::parse(R"({"services_section": []})");
    auto& a = body->GetAllocator();
    const std::pair<const char*, const char*> added[] = {
        {"5a0f3c2e-1111-4c8e-9d6b-00000000a001", "agency-unhcr"},
        {"5a0f3c2e-1111-4c8e-9d6b-00000000b002", "agency-brac"}};
    for (const auto& [uid, agency] : added) {
        rapidjson::Value row(existing, a);
        row["unique_id"].SetString(uid, a);
        if (row.HasMember("service_implementing_agency")) {
            row["service_implementing_agency"].SetString(agency, a);
        } else {
            row.AddMember("service_implementing_agency", rapidjson::Value(agency, a), a);
        }
        (*body)["services_section"].PushBack(row, a);
    }
    external_record edit;
    edit.stream = "cases";
    edit.remote_id = referred;
    edit.body = std::move(*body);
    auto fut = net::co_spawn(ctx, source->push(std::move(edit)), net::use_future);
    ctx.restart();
    ctx.run();
    ASSERT_TRUE(fut.get());
    clock.advance(5s);
    const auto referrals = ping->referral_count();
    auto second = run_flow();
    ASSERT_FALSE(second.error) << *second.error;
    const std::string unhcr_row = referred + "~" + added[0].first;
    const std::string brac_row = referred + "~" + added[1].first;
    EXPECT_EQ(second.counts.sent, 1);
    EXPECT_EQ(ping->referral_count(), referrals + 1);
    bool sent_unhcr = false;
    for (const auto& r : second.records) {
        EXPECT_NE(r.source_id, brac_row);
        sent_unhcr = sent_unhcr || (r.source_id == unhcr_row && r.outcome == "sent");
    }
    EXPECT_TRUE(sent_unhcr);
    EXPECT_EQ(
        count_sql("SELECT count(*) FROM transfer_log WHERE source_id = '" + unhcr_row + "'"), 1
    );
    EXPECT_EQ(
        count_sql("SELECT count(*) FROM transfer_log WHERE source_id = '" + brac_row + "'"), 0
    );
    expect_no_duplicate_referrals();
}

}  // namespace
}  // namespace casebridge::sync
