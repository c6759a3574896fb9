// Reconciliation against real loopback sandboxes and a real SQLite store: each divergence is
// made on purpose behind casebridge's back (an edit, a deletion, a copy, a restore of the
// target or of the store, a second writer) and must come out in its class; an untouched
// target must come out all match.
#include "sync/reconcile.hpp"

#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>

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
#include "store/reconcile_queries.hpp"
#include "store/store_thread.hpp"
#include "support/run_awaitable.hpp"
#include "support/run_cli.hpp"
#include "support/temp_dir.hpp"
#include "sync/flow_runner.hpp"
#include "sync/sandbox_pair.hpp"

namespace casebridge::sync {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;

/// What a reconcile found, by source id.
std::map<std::string, const reconcile_row*> by_id(const reconcile_report& r) {
    std::map<std::string, const reconcile_row*> out;
    for (const auto& row : r.rows) {
        out[row.source_id] = &row;
    }
    return out;
}

/// Shared by the Primero and the PING fixtures: a loop, a manual clock, a store, a runner.
class reconcile_base : public ::testing::Test {
protected:
    manual_clock clock{std::chrono::sys_days(std::chrono::year(2026) / 3 / 10) + 9h};
    test::temp_dir dir;
    memory_sink sink;
    net::io_context ctx;
    std::unique_ptr<http_client> http;
    std::optional<canonical_catalogue> catalogue;
    std::optional<policy::policy_set> policies;
    std::unique_ptr<store::store_thread> st;
    std::unique_ptr<flow_runner> runner;
    flow_binding binding;  ///< What open_store_and_runner builds the runner from.

    void TearDown() override {
        runner.reset();
        st.reset();
    }

    void load_policies(const char* pseudonym_key) {
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", pseudonym_key, 1);
        catalogue.emplace(canonical_catalogue::load(source_dir / "mappings/canonical-case.json"));
        policies.emplace(policy::policy_set::load(source_dir / "config/policies.json", *catalogue));
        http_client_settings hs;
        hs.allow_plain_http_loopback = true;
        hs.max_requests_per_second = 0;
        hs.request_timeout = 2s;
        http = std::move(*http_client::create(ctx.get_executor(), hs, clock));
    }

    adapter_env env() {
        return adapter_env{
            ctx.get_executor(), http.get(), &clock, logger(sink, clock, log_level::debug)};
    }

    void open_store_and_runner() {
        runner.reset();
        st.reset();
        auto opened = store::store::open(dir / "store.db", {}, clock);
        ASSERT_TRUE(opened) << opened.error().message();
        st = std::make_unique<store::store_thread>(std::move(*opened));
        flow_binding b = binding;
        b.retry.initial = 1ms;
        b.retry.max = 5ms;
        b.retry.max_retry_after = 1s;
        runner = std::make_unique<flow_runner>(
            std::move(b), *st, clock, logger(sink, clock, log_level::debug)
        );
    }

    template <typename T>
    T run(net::awaitable<T> op) {
        return test::run_on(ctx, std::move(op));
    }

    run_report run_flow() {
        run_options o;
        o.keep_records = true;
        auto r = run(runner->run_once(o));
        EXPECT_FALSE(r.error) << *r.error;
        return r;
    }

    reconcile_report reconcile_now(std::optional<std::size_t> sample = std::nullopt) {
        reconcile_options o;
        o.sample = sample;
        o.seed = 7;
        auto r = run(reconcile(*runner, *st, clock, logger(sink, clock, log_level::debug), o));
        EXPECT_FALSE(r.error) << *r.error;
        return r;
    }

    /// The source ids of the records the run sent.
    static std::vector<std::string> sent_ids(const run_report& r) {
        std::vector<std::string> out;
        for (const auto& rec : r.records) {
            if (rec.outcome == "sent") {
                out.push_back(rec.source_id);
            }
        }
        return out;
    }

    std::int64_t count_sql(const std::string& sql) {
        return run(st->run([sql](store::store& s) -> std::int64_t {
            auto q = s.database().prepare(sql);
            (void)q->step();
            return q->column_int(0);
        }));
    }

    /// Sets where `source` links to in the target system (a link that names another record).
    void relink(const std::string& source, const std::string& target) {
        const store::record_id from{binding.source_system, *store::token::make(source)};
        const store::record_id to{binding.target_system, *store::token::make(target)};
        const store::token system = binding.target_system;
        auto done = run(st->run([from, to, system](store::store& s) -> result<void> {
            if (auto u = store::unlink(s, from, system); !u) {
                return u.error();
            }
            return s.link(from, to);
        }));
        ASSERT_TRUE(done) << done.error().message();
    }

    /// Every divergence-free class adds up: no record in a divergence class or unchecked.
    static void expect_all_match(const reconcile_report& r) {
        EXPECT_EQ(r.divergences(), 0);
        EXPECT_EQ(r.count(verdict::unchecked), 0);
        EXPECT_EQ(r.count(verdict::pending), 0);
        EXPECT_EQ(r.count(verdict::match), r.checked);
        for (const auto& row : r.rows) {
            EXPECT_EQ(row.v, verdict::match)
                << row.source_id << " " << to_string(row.v) << " " << row.note;
            for (const auto& f : row.fields) {
                ADD_FAILURE() << row.source_id << " differs in " << f;
            }
        }
    }
};

// ---- CPIMS+ → CPIMS+ ---------------------------------------------------------------------

class reconcile_primero_test : public reconcile_base {
protected:
    std::unique_ptr<sandbox::primero_sandbox> from;
    std::unique_ptr<sandbox::primero_sandbox> to;
    std::unique_ptr<primero::primero_adapter> source;
    std::unique_ptr<primero::primero_adapter> target;
    std::optional<mapping::compiled_mapping> mapping;

    void SetUp() override {
        load_policies("reconcile-test-pseudonym-key-0123456789abcdef");
        mapping.emplace(
            mapping::compiled_mapping::load(source_dir / "mappings/primero.case.json", *catalogue)
        );
        sandbox::primero_settings a;
        a.cases = 40;
        a.seed = 41;
        from = std::make_unique<sandbox::primero_sandbox>(a, clock);
        sandbox::primero_settings b;
        b.seed = 42;
        to = std::make_unique<sandbox::primero_sandbox>(b, clock);
        source = std::make_unique<primero::primero_adapter>(settings_for(*from, "from-pw"), env());
        target = std::make_unique<primero::primero_adapter>(settings_for(*to, "to-pw"), env());
        binding.flow = "agency-handover";
        binding.purpose = "transfer";
        binding.source_system = "cpims-a";
        binding.source_stream = "cases";
        binding.target_system = "cpims-b";
        binding.target_stream = "cases";
        binding.source = source.get();
        binding.target = target.get();
        binding.map_in = &*mapping;
        binding.map_out = &*mapping;
        binding.profile = policies->find("transfer-agency");
        open_store_and_runner();
        clock.advance(5s);
    }

    primero::settings settings_for(sandbox::primero_sandbox& box, const std::string& name) {
        primero::settings s;
        s.base_url = box.base_url();
        s.user_name = box.user_name();
        s.password.file = dir.write(name, box.password() + "\n");
        s.per_page = 15;
        return s;
    }

    static std::string target_id_of(const std::string& source_id) {
        return primero::primero_adapter::client_id_for("agency-handover/cpims-a/" + source_id);
    }

    void patch_source(const std::string& id, const std::string& data_json) {
        external_record r;
        r.stream = "cases";
        r.remote_id = id;
        r.body = std::move(*json::parse(data_json));
        auto pushed = run(source->push(std::move(r)));
        ASSERT_TRUE(pushed) << pushed.error().describe();
        clock.advance(5s);
    }
};

TEST_F(reconcile_primero_test, an_untouched_target_is_all_match_and_the_run_is_logged) {
    const auto first = run_flow();
    const auto sent = sent_ids(first);
    ASSERT_GT(sent.size(), 5u);
    ASSERT_GT(first.counts.withheld, 0);
    const auto before = count_sql("SELECT count(*) FROM transfer_log");

    auto all = reconcile_now();
    expect_all_match(all);
    EXPECT_EQ(all.checked, first.counts.sent + first.counts.withheld);
    EXPECT_FALSE(all.sample_size.has_value());

    auto sample = reconcile_now(5);
    expect_all_match(sample);
    ASSERT_TRUE(sample.sample_size.has_value());
    EXPECT_EQ(*sample.sample_size, 5);
    EXPECT_EQ(sample.checked, 5);
    EXPECT_EQ(sample.population, first.counts.sent + first.counts.withheld);

    // One chained entry per run, with counts and versions; the chain still verifies.
    EXPECT_EQ(count_sql("SELECT count(*) FROM transfer_log"), before + 2);
    EXPECT_EQ(
        count_sql("SELECT count(*) FROM transfer_log WHERE kind = 'reconciliation' AND outcome = "
                  "'reconciled' AND flow = 'agency-handover' AND profile_id = 'transfer-agency'"),
        2
    );
    auto rows = run(st->run([](store::store& s) { return store::read_entries(s.database(), {}); }));
    ASSERT_TRUE(rows);
    const auto& last = rows->back().canonical;
    EXPECT_NE(last.find("\"sample_size\":5"), std::string::npos) << last;
    EXPECT_NE(last.find("\"match\":5"), std::string::npos) << last;
    EXPECT_NE(last.find("\"mapping_out_version\":1"), std::string::npos) << last;
    EXPECT_TRUE(run(st->run([](store::store& s) { return s.verify({}); }))->ok);
}

TEST_F(reconcile_primero_test, each_change_behind_its_back_comes_out_in_its_class) {
    const auto first = run_flow();
    const auto sent = sent_ids(first);
    ASSERT_GE(sent.size(), 7u);
    const std::string edited = sent[0], deleted = sent[1], copied = sent[2], restored = sent[3],
                      withdrawn = sent[4], changed = sent[5];

    // Restored: the target goes back to what it held before a later send.
    const auto old_version = to->case_json(target_id_of(restored));
    ASSERT_TRUE(old_version);
    clock.advance(60s);
    patch_source(restored, R"({"name_first": "Second version"})");
    patch_source(withdrawn, R"({"disclosure_other_orgs": false})");
    const auto second = run_flow();
    ASSERT_EQ(second.counts.sent, 1);
    ASSERT_EQ(second.counts.withdrawn, 1);
    clock.advance(60s);
    ASSERT_TRUE(to->replace_case(target_id_of(restored), *old_version));

    // Edited by hand, deleted, copied (and the link names the copy), changed at the source.
    ASSERT_TRUE(to->edit_case(target_id_of(edited), R"({"name_first": "Edited by hand"})"));
    ASSERT_TRUE(to->delete_case(target_id_of(deleted)));
    const auto copy = to->duplicate_case(target_id_of(copied));
    ASSERT_TRUE(copy);
    relink(copied, *copy);
    patch_source(changed, R"({"name_nickname": "Changed at the source"})");

    const auto r = reconcile_now();
    const auto rows = by_id(r);
    auto is = [&](const std::string& id, verdict v) {
        ASSERT_TRUE(rows.count(id)) << id << " not checked";
        EXPECT_EQ(rows.at(id)->v, v)
            << id << ": " << to_string(rows.at(id)->v) << " " << rows.at(id)->note;
    };
    is(edited, verdict::differs);
    EXPECT_EQ(rows.at(edited)->fields, std::vector<std::string>{"/name_first"});
    is(deleted, verdict::missing_at_target);
    EXPECT_TRUE(rows.at(deleted)->target_ids.empty());
    is(copied, verdict::duplicated_at_target);
    EXPECT_EQ(rows.at(copied)->target_ids.size(), 2u);
    is(restored, verdict::stale_at_target);
    EXPECT_EQ(rows.at(restored)->fields, std::vector<std::string>{"/name_first"});
    is(withdrawn, verdict::withheld_but_present);
    is(changed, verdict::pending);
    EXPECT_EQ(r.divergences(), 5);
    EXPECT_EQ(r.count(verdict::pending), 1);
    EXPECT_EQ(r.count(verdict::unchecked), 0);
    EXPECT_EQ(r.count(verdict::match), r.checked - 6);

    // A sample draws from the same classes: a sample of everything finds the same counts.
    const auto whole = reconcile_now(1000);
    EXPECT_EQ(whole.counts, r.counts);

    // Nothing of a value reached the log lines.
    for (const auto& line : sink.lines()) {
        EXPECT_EQ(line.find("Edited by hand"), std::string::npos) << line;
        EXPECT_EQ(line.find("Second version"), std::string::npos) << line;
    }
}

TEST_F(reconcile_primero_test, a_restore_of_an_older_store_shows_what_the_target_holds_unlogged) {
    const fs::path backup = dir / "backup.db";
    auto saved = run(st->run([&](store::store& s) {
        return s.database().exec("VACUUM INTO '" + backup.string() + "'");
    }));
    ASSERT_TRUE(saved) << saved.error().message();
    const auto first = run_flow();
    ASSERT_GT(first.counts.sent, 0);

    runner.reset();
    st.reset();
    for (const char* suffix : {"-wal", "-shm"}) {
        fs::remove(dir / (std::string("store.db") + suffix));
    }
    fs::copy_file(backup, dir / "store.db", fs::copy_options::overwrite_existing);
    open_store_and_runner();

    // The store knows nothing was sent; the target holds every record sent before.
    const auto r = reconcile_now();
    EXPECT_EQ(r.count(verdict::unexpected_at_target), first.counts.sent);
    EXPECT_EQ(r.count(verdict::missing_at_target), 0);
    for (const auto& id : sent_ids(first)) {
        const auto rows = by_id(r);
        ASSERT_TRUE(rows.count(id));
        EXPECT_EQ(rows.at(id)->v, verdict::unexpected_at_target) << id;
    }
    // A sample draws from what the store says was settled: nothing here.
    EXPECT_EQ(reconcile_now(50).checked, 0);

    // The next run finds each record at its deterministic id (409) and logs it again.
    clock.advance(10s);
    run_flow();
    expect_all_match(reconcile_now());
}

TEST_F(
    reconcile_primero_test, a_second_writers_record_and_a_lost_link_are_unexpected_until_logged
) {
    // A second writer (another store, the same flow) created one case before this store ran.
    std::string id;
    for (const auto& c : from->case_ids()) {
        if (test::eligible(*json::parse(*from->case_json(c)))) {
            id = c;
            break;
        }
    }
    ASSERT_FALSE(id.empty());
    external_record pre;
    pre.stream = "cases";
    pre.source_key = "agency-handover/cpims-a/" + id;
    pre.body = std::move(*json::parse(*from->case_json(id)));
    pre.body.RemoveMember("id");
    ASSERT_TRUE(run(target->push(std::move(pre))));

    const auto before = reconcile_now();
    EXPECT_EQ(before.count(verdict::unexpected_at_target), 1);
    EXPECT_EQ(by_id(before).at(id)->v, verdict::unexpected_at_target);
    EXPECT_GT(before.count(verdict::pending), 0) << "eligible cases not sent yet";

    // The run sends every case; the one that exists answers 409 and is updated.
    run_flow();
    EXPECT_EQ(to->repeated_creates(), 1u);
    expect_all_match(reconcile_now());

    // A purge loses a link and its delivery: the target's record is then unexpected.
    const store::record_id rec{"cpims-a", *store::token::make(id)};
    auto purged = run(st->run([&](store::store& s) -> result<store::store::purge_counts> {
        if (auto closed = s.mark_closed(rec, clock.now() - 1s); !closed) {
            return closed.error();
        }
        return s.purge(0s, "retention-test");
    }));
    ASSERT_TRUE(purged) << purged.error().message();
    EXPECT_EQ(by_id(reconcile_now()).at(id)->v, verdict::unexpected_at_target);
}

TEST_F(reconcile_primero_test, a_repair_redelivers_stale_and_missing_and_reviews_the_rest) {
    const auto first = run_flow();
    const auto sent = sent_ids(first);
    ASSERT_GE(sent.size(), 6u);
    const std::string deleted = sent[0], restored = sent[1], copied = sent[2], withdrawn = sent[3],
                      lost_consent = sent[4];
    const auto old_version = to->case_json(target_id_of(restored));
    clock.advance(60s);
    patch_source(restored, R"({"name_first": "Second version"})");
    patch_source(withdrawn, R"({"disclosure_other_orgs": false})");
    run_flow();
    clock.advance(60s);
    ASSERT_TRUE(to->replace_case(target_id_of(restored), *old_version));
    ASSERT_TRUE(to->delete_case(target_id_of(deleted)));
    ASSERT_TRUE(to->delete_case(target_id_of(lost_consent)));
    const auto copy = to->duplicate_case(target_id_of(copied));
    relink(copied, *copy);
    // Consent is withdrawn at the source of a missing record (the flow has not run since):
    // a repair decides again and must not send it.
    ASSERT_TRUE(from->edit_case(lost_consent, R"({"disclosure_other_orgs": false})"));

    const auto found = reconcile_now();
    ASSERT_EQ(found.count(verdict::missing_at_target), 2);
    ASSERT_EQ(found.count(verdict::stale_at_target), 1);
    ASSERT_EQ(found.count(verdict::duplicated_at_target), 1);
    ASSERT_EQ(found.count(verdict::withheld_but_present), 1);
    const auto sent_before = count_sql("SELECT count(*) FROM transfer_log WHERE outcome = 'sent'");
    const auto cases_before = to->case_count();

    const auto fixed = run(repair(*runner, *st, found));
    EXPECT_FALSE(fixed.error) << *fixed.error;
    EXPECT_EQ(fixed.redelivered, 2);   // the stale one and the deleted one
    EXPECT_EQ(fixed.withheld_now, 1);  // the deleted one whose consent is gone
    EXPECT_EQ(fixed.reviews, 2);       // the duplicate and the withdrawn one: never deleted
    EXPECT_EQ(fixed.failed, 0);
    EXPECT_EQ(to->case_count(), cases_before + 1) << "only the deleted case with consent";
    EXPECT_TRUE(to->case_json(*copy)) << "a duplicate is never deleted";
    EXPECT_EQ(
        count_sql("SELECT count(*) FROM transfer_log WHERE outcome = 'sent'"), sent_before + 2
    );
    EXPECT_EQ(count_sql("SELECT count(*) FROM reviews WHERE kind LIKE 'reconcile_%'"), 2);
    // A second repair of the same findings raises no second review item.
    EXPECT_EQ(run(repair(*runner, *st, found)).reviews, 0);

    // After the repair the repaired classes are gone; what is left is for a person.
    const auto after = reconcile_now();
    EXPECT_EQ(after.count(verdict::stale_at_target), 0);
    EXPECT_EQ(after.count(verdict::missing_at_target), 0);
    EXPECT_EQ(by_id(after).at(restored)->v, verdict::match);
    EXPECT_EQ(by_id(after).at(deleted)->v, verdict::match);
    EXPECT_EQ(by_id(after).at(lost_consent)->v, verdict::match) << "withheld, and not there";
    EXPECT_EQ(after.divergences(), 2);  // duplicated and withheld_but_present, under review

    // Once a person settles those at the target, a reconcile reports only matches.
    ASSERT_TRUE(to->delete_case(*copy));
    relink(copied, target_id_of(copied));
    ASSERT_TRUE(to->delete_case(target_id_of(withdrawn)));
    expect_all_match(reconcile_now());
}

// ---- CPIMS+ → PING (referrals, create-only, found by correlation key) ---------------------

class reconcile_ping_test : public reconcile_base {
protected:
    std::unique_ptr<sandbox::primero_sandbox> cpims;
    std::unique_ptr<sandbox::ping_sandbox> ping;
    std::unique_ptr<primero::primero_adapter> source;
    std::unique_ptr<progres_ping::progres_ping_adapter> target;
    std::optional<mapping::compiled_mapping> in;
    std::optional<mapping::compiled_mapping> out;

    void SetUp() override {
        load_policies("reconcile-ping-test-key-0123456789abcdef0123");
        in.emplace(
            mapping::compiled_mapping::load(source_dir / "mappings/primero.case.json", *catalogue)
        );
        out.emplace(mapping::compiled_mapping::load(
            source_dir / "mappings/progres_ping.referral_out.json", *catalogue
        ));
        sandbox::primero_settings ps;
        ps.cases = 80;
        ps.seed = 31;
        cpims = std::make_unique<sandbox::primero_sandbox>(ps, clock);
        sandbox::ping_settings gs;
        gs.seed = 31;
        ping = std::make_unique<sandbox::ping_sandbox>(gs, clock);
        primero::settings s;
        s.base_url = cpims->base_url();
        s.user_name = cpims->user_name();
        s.password.file = dir.write("cpims-password", cpims->password() + "\n");
        source = std::make_unique<primero::primero_adapter>(s, env());
        const auto pw = dir.write("ping-password", ping->password() + "\n");
        const auto key = dir.write("ping-key", ping->subscription_key() + "\n");
        auto d = json::parse(ping->adapter_settings_json(pw.string(), key.string(), false));
        target = std::make_unique<progres_ping::progres_ping_adapter>(
            progres_ping::settings_from_json(*d), env()
        );
        binding.flow = "referrals";
        binding.purpose = "referral";
        binding.source_system = "cpims";
        binding.source_stream = "cases";
        binding.target_system = "progres";
        binding.target_stream = "referrals";
        binding.source = source.get();
        binding.target = target.get();
        binding.map_in = &*in;
        binding.map_out = &*out;
        binding.profile = policies->find("referral-unhcr");
        binding.one_record_per_row_of = "/services_section";
        open_store_and_runner();
        clock.advance(5s);
    }

    /// The PING referral linked from a services row.
    std::string referral_of(const std::string& row_id) {
        auto t = run(st->run([row_id](store::store& s) {
            return s.linked({"cpims", *store::token::make(row_id)}, "progres");
        }));
        EXPECT_TRUE(t && *t) << row_id;
        return t && *t ? (*t)->id.str() : std::string();
    }
};

TEST_F(reconcile_ping_test, referrals_deleted_or_duplicated_at_ping_are_found_by_correlation_key) {
    const auto first = run_flow();
    const auto sent = sent_ids(first);
    ASSERT_GE(sent.size(), 3u);
    ASSERT_EQ(ping->referral_count(), sent.size());

    const auto clean = reconcile_now();
    expect_all_match(clean);
    EXPECT_EQ(clean.checked, first.counts.sent + first.counts.withheld);
    for (const auto& row : clean.rows) {
        if (std::find(sent.begin(), sent.end(), row.source_id) != sent.end()) {
            EXPECT_EQ(row.target_ids.size(), 1u) << row.source_id;
            EXPECT_EQ(row.note, "content_not_compared");
        }
    }

    ASSERT_TRUE(ping->delete_referral(referral_of(sent[0])));
    ASSERT_TRUE(ping->duplicate_referral(referral_of(sent[1])));
    const auto r = reconcile_now();
    const auto rows = by_id(r);
    EXPECT_EQ(rows.at(sent[0])->v, verdict::missing_at_target);
    EXPECT_EQ(rows.at(sent[1])->v, verdict::duplicated_at_target);
    EXPECT_EQ(r.divergences(), 2);
    EXPECT_EQ(r.count(verdict::match), r.checked - 2);
}

// ---- the command -------------------------------------------------------------------------

class reconcile_command_test : public test::sandbox_pair {
protected:
    std::size_t cases() const override { return 30; }

    test::cli_result reconcile_cli(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{
            "reconcile", "--config", config.string(), "--flow", "handover"};
        args.insert(args.end(), extra.begin(), extra.end());
        return test::run_cli(args);
    }

    static std::string read(const fs::path& p) {
        std::ifstream in(p);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
};

TEST_F(reconcile_command_test, exit_codes_counts_and_csv) {
    const auto help = test::run_cli({"reconcile", "--help"});
    EXPECT_EQ(help.code, 0);
    EXPECT_NE(help.out.find("--sample N"), std::string::npos);
    EXPECT_NE(help.out.find("4 divergences found"), std::string::npos) << help.out;

    const auto no_store = reconcile_cli();
    EXPECT_EQ(no_store.code, 1);
    EXPECT_NE(no_store.err.find("does not exist"), std::string::npos) << no_store.err;
    EXPECT_EQ(test::run_cli({"reconcile", "--config", config.string(), "--flow", "nope"}).code, 2);
    EXPECT_EQ(reconcile_cli({"--sample", "3", "--all"}).code, 2);

    const auto sync = test::run_cli({"flow", "run", "handover", "--config", config.string()});
    ASSERT_EQ(sync.code, 0) << sync.err;
    const auto ids = eligible_ids();
    ASSERT_GE(ids.size(), 2u);

    const fs::path csv = dir / "clean.csv";
    const auto clean = reconcile_cli({"--out", csv.string()});
    EXPECT_EQ(clean.code, 0) << clean.out << clean.err;
    EXPECT_NE(clean.out.find("divergences 0"), std::string::npos) << clean.out;
    const auto clean_csv = read(csv);
    EXPECT_EQ(clean_csv.rfind("source_id,class,target_ids,fields,note\n", 0), 0u);
    EXPECT_NE(clean_csv.find(*ids.begin() + ",match,"), std::string::npos) << clean_csv;

    const std::string gone = *ids.begin();
    ASSERT_TRUE(to->delete_case(primero::primero_adapter::client_id_for("handover/cpims-a/" + gone))
    );
    const fs::path found_csv = dir / "found.csv";
    const auto found = reconcile_cli({"--sample", "1000", "--out", found_csv.string()});
    EXPECT_EQ(found.code, 4) << found.out << found.err;
    EXPECT_NE(found.out.find("  missing_at_target     1\n"), std::string::npos) << found.out;
    EXPECT_NE(read(found_csv).find(gone + ",missing_at_target,,,"), std::string::npos);

    // --repair creates it again through the flow; a reconcile after it is all match.
    const auto repaired = reconcile_cli({"--repair"});
    EXPECT_EQ(repaired.code, 0) << repaired.out << repaired.err;
    EXPECT_NE(repaired.out.find("repair: re-delivered 1,"), std::string::npos) << repaired.out;
    EXPECT_TRUE(to->case_json(primero::primero_adapter::client_id_for("handover/cpims-a/" + gone)));
    const auto after = reconcile_cli();
    EXPECT_EQ(after.code, 0) << after.out << after.err;
    EXPECT_NE(after.out.find("divergences 0"), std::string::npos) << after.out;
}

}  // namespace
}  // namespace casebridge::sync
