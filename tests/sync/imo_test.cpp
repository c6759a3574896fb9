// The CPSS IMO use end to end: three agencies' CPIMS+ sandboxes serving overlapping children
// of one synthetic population (with field errors, the truth known), three agency engines built
// from their configuration files, and one hub over TLS with client certificates; real HTTP on
// loopback, real SQLite files. The flags on the cases are read back from the sandboxes and
// checked against the truth (cli::check_flags), not against what the engines report.
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "cli/imo_world.hpp"
#include "hub/hub_service.hpp"
#include "hub/hub_store.hpp"
#include "report/report.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "store/store.hpp"
#include "store/transfer_log.hpp"
#include "support/child_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_certs.hpp"
#include "sync/sandbox_pair.hpp"

namespace casebridge::cli {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (std::size_t i = 0; i < v.size() && i < 20; ++i) {
        out += v[i] + "\n";
    }
    return out;
}

/// The IMO reference of a flag's text ("ref:" and a word), or empty.
std::string reference_of(const std::string& message) {
    const auto at = message.find("ref:");
    if (at == std::string::npos) {
        return {};
    }
    auto end = at + 4;
    while (end < message.size() && (std::isalnum(static_cast<unsigned char>(message[end])) != 0 ||
                                    message[end] == '_' || message[end] == '-')) {
        ++end;
    }
    return message.substr(at + 4, end - at - 4);
}

class imo_test : public ::testing::Test {
protected:
    test::temp_dir dir;
    memory_sink sink;
    std::unique_ptr<imo_world> world;

    void start(std::uint64_t seed, std::size_t children = 240) {
        test::use_builtin_adapters();
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "imo-test-pseudonym-key-0123456789abcdef", 1);
        ::setenv("CASEBRIDGE_LINKAGE_SECRET", "imo-test-linkage-secret-0123456789abcdef", 1);
        fs::create_directories(dir / "pki");
        test::test_ca ca(dir / "pki", "imo-test-ca");
        imo_world_options o;
        o.dir = dir / ("world-" + std::to_string(seed));
        o.data_dir = test::source_dir;
        o.seed = seed;
        o.children = children;
        o.adapters = test::adapters_for_commands();
        imo_world_options::tls_files tls;
        tls.ca_file = ca.cert_file();
        const auto server = ca.issue(test::cert_spec{}, "hub-server");
        tls.server_cert = server.cert;
        tls.server_key = server.key;
        // Private keys are secrets: the configuration refuses one others may read.
        fs::permissions(
            server.key, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace
        );
        for (const auto& a : o.agencies) {
            const auto c = ca.issue(test::cert_spec{a.id, {}, {}, -3600, 86'400, true}, a.id);
            fs::permissions(
                c.key, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace
            );
            tls.agency_cert_key.emplace_back(c.cert, c.key);
        }
        o.tls = tls;
        world = std::make_unique<imo_world>(
            o, system_clock_source::instance(), logger(sink, system_clock_source::instance())
        );
    }

    void TearDown() override {
        if (world) {
            no_case_values_logged();
        }
        world.reset();
    }

    /// Ids, codes and counts only: no flag text and no case's name in the diagnostic log.
    void no_case_values_logged() {
        const std::string logged = sink.text();
        EXPECT_EQ(logged.find("Possible duplicate"), std::string::npos);
        EXPECT_EQ(logged.find("ref:"), std::string::npos);
    }

    /// Active IMO flags by reference: (agency, case id) pairs.
    std::map<std::string, std::set<std::pair<std::size_t, std::string>>> active_refs() {
        std::map<std::string, std::set<std::pair<std::size_t, std::string>>> out;
        for (std::size_t k = 0; k < world->agency_count(); ++k) {
            for (const auto& [case_id, child] : world->share(k).child_of) {
                for (const auto& f : world->cpims(k).flags_of(case_id)) {
                    const auto ref = reference_of(f.message);
                    if (!ref.empty() && !f.removed) {
                        out[ref].insert({k, case_id});
                    }
                }
            }
        }
        return out;
    }

    std::size_t total_flags() {
        std::size_t n = 0;
        for (std::size_t k = 0; k < world->agency_count(); ++k) {
            for (const auto& [case_id, child] : world->share(k).child_of) {
                n += world->cpims(k).flags_of(case_id).size();
            }
        }
        return n;
    }

    hub::hub_stats hub_stats() {
        auto hs = hub::hub_store::open(
            world->options().dir / "hub/hub.sqlite", system_clock_source::instance()
        );
        EXPECT_TRUE(hs) << hs.error().message();
        auto s = hs->stats();
        EXPECT_TRUE(s) << s.error().message();
        return *s;
    }
};

TEST_F(imo_test, every_multi_agency_cluster_ends_as_flags_with_one_reference_on_each_case) {
    for (const std::uint64_t seed : {3U, 8U}) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        start(seed);
        for (const auto& r : world->send_all()) {
            ASSERT_FALSE(r.error) << *r.error;
            EXPECT_GT(r.counts.sent, 0);
        }
        std::int64_t raised = 0;
        for (const auto& r : world->notify_all()) {
            ASSERT_FALSE(r.error) << *r.error;
            EXPECT_EQ(r.counts.dead, 0);
            raised += r.counts.flags_raised;
        }
        const auto report = check_flags(*world);
        EXPECT_TRUE(report.problems.empty()) << join(report.problems);
        // The flags are the hub's clusters: one reference per multi-agency cluster.
        const auto stats = hub_stats();
        EXPECT_GT(stats.multi_agency_clusters, 10);
        EXPECT_EQ(static_cast<std::int64_t>(report.references), stats.multi_agency_clusters);
        std::size_t flagged = 0;
        for (const auto n : report.flagged_cases) {
            flagged += n;
            EXPECT_GT(n, 0U);
        }
        EXPECT_EQ(static_cast<std::int64_t>(flagged), raised);
        // The sector report counts the hub's clusters: one child per cluster, and a child of a
        // multi-agency cluster carries each agency that serves it.
        const auto spec = report::load_report_specs(test::source_dir / "config/reports.json").at(0);
        const auto children =
            report::children_from_hub(world->options().dir / "hub/hub.sqlite", spec);
        EXPECT_EQ(static_cast<std::int64_t>(children.size()), stats.clusters);
        std::int64_t served_by_several = 0;
        for (const auto& c : children) {
            const auto agencies = c.values.find("agency");
            ASSERT_NE(agencies, c.values.end());
            served_by_several += agencies->second.size() >= 2 ? 1 : 0;
            ASSERT_EQ(c.values.count("month"), 1U);
        }
        EXPECT_EQ(served_by_several, stats.multi_agency_clusters);
        // Few wrong links, most true pairs found (the linkage figures are in docs/imo.md).
        EXPECT_GE(report.precision(), 0.95)
            << report.correct_pairs << "/" << report.predicted_pairs;
        EXPECT_GE(report.recall(), 0.6) << report.correct_pairs << "/" << report.true_pairs;

        // Handled again from the start (as after a crash before the page's commit): no flag
        // is raised or changed twice.
        const auto before = total_flags();
        for (std::size_t k = 0; k < world->agency_count(); ++k) {
            const auto again = world->run(k, imo_world::notices_flow);
            ASSERT_FALSE(again.error) << *again.error;
            EXPECT_EQ(again.counts.fetched, 0);  // the cursor moved past them
        }
        for (std::size_t k = 0; k < world->agency_count(); ++k) {
            const auto replay = world->run(k, imo_world::notices_flow, true);
            ASSERT_FALSE(replay.error) << *replay.error;
            EXPECT_GT(replay.counts.fetched, 0);
            EXPECT_EQ(replay.counts.skipped, replay.counts.fetched);
            EXPECT_EQ(replay.counts.flags_raised, 0);
            EXPECT_EQ(replay.counts.flags_updated, 0);
        }
        EXPECT_EQ(total_flags(), before);
        no_case_values_logged();
        world.reset();
    }
}

TEST_F(imo_test, a_case_without_a_basis_never_reaches_the_hub_and_is_never_flagged) {
    start(5);
    std::size_t without = 0;
    for (std::size_t k = 0; k < world->agency_count(); ++k) {
        without += world->share(k).without_consent.size();
    }
    ASSERT_GT(without, 0U);
    const auto sent = world->send_all();
    for (std::size_t k = 0; k < sent.size(); ++k) {
        EXPECT_EQ(
            sent[k].counts.withheld,
            static_cast<std::int64_t>(world->share(k).without_consent.size())
        );
    }
    (void)world->notify_all();
    for (std::size_t k = 0; k < world->agency_count(); ++k) {
        for (const auto& id : world->share(k).without_consent) {
            EXPECT_TRUE(world->cpims(k).flags_of(id).empty()) << id;
        }
    }
}

TEST_F(imo_test, a_consent_withdrawal_retracts_the_notices_and_resolves_the_flags_it_caused) {
    start(5);
    (void)world->send_all();
    (void)world->notify_all();
    // A reference held by exactly two agencies: withdrawing one ends the link.
    const auto refs = active_refs();
    std::string ref;
    for (const auto& [r, members] : refs) {
        if (members.size() == 2) {
            ref = r;
            break;
        }
    }
    ASSERT_FALSE(ref.empty());
    const auto members = refs.at(ref);
    const auto [agency, case_id] = *members.begin();
    const auto [other, other_case] = *std::next(members.begin());

    ASSERT_TRUE(world->cpims(agency).edit_case(
        case_id, R"({"consent_reporting": false, "legitimate_basis": []})"
    ));
    std::this_thread::sleep_for(1100ms);  // listed once its second has passed
    const auto withdrawn = world->run(agency, imo_world::records_flow);
    ASSERT_FALSE(withdrawn.error) << *withdrawn.error;
    EXPECT_EQ(withdrawn.counts.withdrawn, 1);
    EXPECT_EQ(withdrawn.counts.notices, 1);
    world->hub().wait_for_linkage();
    for (const auto& r : world->notify_all()) {
        ASSERT_FALSE(r.error) << *r.error;
    }
    for (const auto& [k, id] : {std::pair{agency, case_id}, std::pair{other, other_case}}) {
        bool resolved = false;
        for (const auto& f : world->cpims(k).flags_of(id)) {
            if (reference_of(f.message) == ref) {
                EXPECT_TRUE(f.removed) << "agency " << k << " case " << id;
                resolved = resolved || f.removed;
            }
        }
        EXPECT_TRUE(resolved) << "agency " << k << " case " << id;
    }
    EXPECT_EQ(active_refs().count(ref), 0U);
    const auto report = check_flags(*world);
    EXPECT_TRUE(report.problems.empty()) << join(report.problems);
}

TEST_F(imo_test, lost_answers_while_flagging_raise_no_second_flag) {
    start(7, 90);
    (void)world->send_all();
    // Every fourth request to each agency's CPIMS+ is carried out but its answer is lost.
    for (std::size_t k = 0; k < world->agency_count(); ++k) {
        world->cpims(k).server().set_rules({{sandbox::fault::lost(), 4}});
    }
    for (std::size_t k = 0; k < world->agency_count(); ++k) {
        for (int attempt = 0; attempt < 5; ++attempt) {
            const auto r = world->run(k, imo_world::notices_flow);
            if (!r.error && r.caught_up) {
                break;
            }
        }
    }
    for (std::size_t k = 0; k < world->agency_count(); ++k) {
        world->cpims(k).server().set_rules({});
    }
    const auto report = check_flags(*world);
    EXPECT_TRUE(report.problems.empty()) << join(report.problems);
    EXPECT_GT(report.references, 0U);
    EXPECT_EQ(static_cast<std::int64_t>(report.references), hub_stats().multi_agency_clusters);
}

TEST_F(imo_test, an_agency_killed_while_flagging_repeats_no_flag_and_loses_no_notice) {
    start(9);
    (void)world->send_all();
    // Agency A's notices flow runs as `casebridge flow run` in its own process, killed with
    // SIGKILL at random moments, then once to its end.
    world->release_agency(0);
    world->cpims(0).server().set_rules({{sandbox::fault::delayed(15ms), 1}});
    std::uint64_t seed = std::random_device{}();
    if (const char* s = std::getenv("CASEBRIDGE_DRILL_SEED")) {
        seed = std::stoull(s);
    }
    std::mt19937_64 rng(seed);
    const std::vector<std::string> args = {
        "flow",
        "run",
        std::string(imo_world::notices_flow),
        "--config",
        world->agency_config(0).string()};
    int killed_running = 0;
    for (int i = 0; i < 6; ++i) {
        auto child = test::child_process::start(CASEBRIDGE_BINARY, args);
        ASSERT_TRUE(child.running());
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<int>(150, 1500)(rng))
        );
        const int status = child.stop(SIGKILL);
        if (WIFSIGNALED(status)) {
            ++killed_running;
        }
    }
    world->cpims(0).server().set_rules({});
    auto last = test::child_process::start(CASEBRIDGE_BINARY, args);
    std::string logs;
    const int status = last.stop(0, &logs);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << logs;
    std::printf(
        "[ imo ] kill drill: seed %llu, 6 kills, %d during a run\n",
        static_cast<unsigned long long>(seed),
        killed_running
    );
    EXPECT_GT(killed_running, 0);
    for (std::size_t k = 1; k < world->agency_count(); ++k) {
        const auto r = world->run(k, imo_world::notices_flow);
        ASSERT_FALSE(r.error) << *r.error;
    }
    // No case holds two flags of one reference, every flag names exactly the agencies whose
    // cases carry the same reference (a notice lost at A would leave B's and C's flags naming
    // A while A's case has none), and every multi-agency cluster is on the cases.
    const auto report = check_flags(*world);
    EXPECT_TRUE(report.problems.empty()) << join(report.problems);
    EXPECT_GT(report.flagged_cases[0], 0U);
    EXPECT_EQ(static_cast<std::int64_t>(report.references), hub_stats().multi_agency_clusters);
}

TEST_F(imo_test, a_hub_killed_while_receiving_and_linking_loses_no_record_and_repeats_no_notice) {
    start(11);
    // The hub runs as `casebridge hub serve` in its own process. While the three agencies send
    // their cases and read their notices, again and again, another thread kills it with
    // SIGKILL at random moments and starts it again on the same port (the one the system gave
    // its first start), as a supervisor would; the agencies retry what the kills cut.
    world->release_hub();
    for (std::size_t k = 0; k < world->agency_count(); ++k) {
        world->cpims(k).server().set_rules({{sandbox::fault::delayed(10ms), 1}});
    }
    std::uint64_t seed = std::random_device{}();
    if (const char* s = std::getenv("CASEBRIDGE_DRILL_SEED")) {
        seed = std::stoull(s);
    }
    std::mt19937_64 rng(seed);
    const auto serve = [](const fs::path& config) {
        return test::child_process::start(
            CASEBRIDGE_BINARY, {"hub", "serve", "--config", config.string()}
        );
    };
    std::optional<test::child_process> hub;
    hub.emplace(serve(world->hub_config()));
    ASSERT_TRUE(hub->running());
    const auto address = hub->line();
    ASSERT_EQ(address.rfind("hub: https://127.0.0.1:", 0), 0U) << address;
    const std::string url = address.substr(5);
    world->use_hub_at(url);
    // The same configuration, listening on the port the first start was given.
    std::string text;
    {
        std::ifstream in(world->hub_config());
        text.assign(std::istreambuf_iterator<char>(in), {});
    }
    const auto any_port = text.find("127.0.0.1:0\"");
    ASSERT_NE(any_port, std::string::npos);
    text.replace(any_port, 11, url.substr(url.find("127.0.0.1:")));
    const auto fixed = world->hub_config().parent_path() / "casebridge-hub-fixed-port.json";
    std::ofstream(fixed, std::ios::trunc) << text;

    std::atomic<bool> done{false};
    int killed_running = 0;
    std::string restart_problem;
    std::vector<int> delays;
    for (int i = 0; i < 6; ++i) {
        delays.push_back(std::uniform_int_distribution<int>(100, 1500)(rng));
    }
    std::thread supervisor([&] {
        for (const int ms : delays) {
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            if (WIFSIGNALED(hub->stop(SIGKILL))) {
                ++killed_running;
            }
            hub.reset();
            hub.emplace(serve(fixed));
            const auto again = hub->line();
            if (again != address) {
                restart_problem = "the hub came back as '" + again + "'";
                break;
            }
        }
        done = true;
    });
    std::int64_t retries = 0;
    int rounds = 0;
    while (!done) {
        for (std::size_t k = 0; k < world->agency_count(); ++k) {
            for (const auto flow : {imo_world::records_flow, imo_world::notices_flow}) {
                const auto r = world->run(k, flow);
                retries += r.counts.retries;
            }
        }
        ++rounds;
    }
    supervisor.join();
    ASSERT_EQ(restart_problem, "");
    std::string logs;
    EXPECT_TRUE(WIFEXITED(hub->stop(SIGTERM, &logs))) << logs;
    hub.reset();
    for (std::size_t k = 0; k < world->agency_count(); ++k) {
        world->cpims(k).server().set_rules({});
    }
    std::printf(
        "[ imo ] hub kill drill: seed %llu, 6 kills, %d of a running hub, %d rounds of the "
        "agencies' flows, %lld retries\n",
        static_cast<unsigned long long>(seed),
        killed_running,
        rounds,
        static_cast<long long>(retries)
    );
    EXPECT_GT(killed_running, 0);

    // The hub back in this process: every agency's flows run to their end.
    world->restart_hub();
    for (const auto& r : world->send_all()) {
        ASSERT_FALSE(r.error) << *r.error;
    }
    for (const auto& r : world->notify_all()) {
        ASSERT_FALSE(r.error) << *r.error;
    }
    // Every record an agency's store says it delivered is active at the hub, and no kill left
    // a dead letter; the flags are the hub's clusters: no case holds two flags of one
    // reference, every flag names the agencies whose cases carry its reference, every
    // multi-agency cluster is on the cases.
    const auto stats = hub_stats();
    const auto flow = store::token::make(imo_world::records_flow);
    ASSERT_TRUE(flow);
    for (std::size_t k = 0; k < world->agency_count(); ++k) {
        const auto& id = world->options().agencies[k].id;
        world->release_agency(k);
        auto st = store::store::open(
            world->options().dir / id / "state/casebridge.db", {}, system_clock_source::instance()
        );
        ASSERT_TRUE(st) << st.error().message();
        std::int64_t delivered = 0;
        const auto counts = st->delivery_counts(*flow);
        ASSERT_TRUE(counts);
        for (const auto& [state, n] : *counts) {
            delivered += state == store::delivery_state::delivered ? n : 0;
        }
        // A record the mapping cannot take is held as it is without kills; none is held
        // because the hub was gone.
        const auto dead = st->dead_letters(*flow);
        ASSERT_TRUE(dead);
        for (const auto& d : *dead) {
            EXPECT_NE(d.reason.str(), "retries_exhausted") << id << " " << d.source.id.str();
            EXPECT_NE(d.reason.str(), "remote_unavailable") << id << " " << d.source.id.str();
            std::printf("[ imo ] %s dead letter: %s\n", id.c_str(), d.reason.str().c_str());
        }
        std::int64_t active = -1;
        for (const auto& [agency, n] : stats.active_per_agency) {
            if (agency == id) {
                active = n;
            }
        }
        EXPECT_GT(delivered, 0) << id;
        EXPECT_EQ(active, delivered) << id;
    }
    const auto report = check_flags(*world);
    EXPECT_TRUE(report.problems.empty()) << join(report.problems);
    EXPECT_GT(report.references, 0U);
    EXPECT_EQ(static_cast<std::int64_t>(report.references), stats.multi_agency_clusters);
    EXPECT_GE(report.precision(), 0.95) << report.correct_pairs << "/" << report.predicted_pairs;
    // The hub's log holds every receipt, withdrawal and linkage in one unbroken chain.
    world->release_hub();
    auto hs = hub::hub_store::open(
        world->options().dir / "hub/hub.sqlite", system_clock_source::instance()
    );
    ASSERT_TRUE(hs) << hs.error().message();
    const auto verified = store::verify(hs->database(), {});
    ASSERT_TRUE(verified) << verified.error().message();
    EXPECT_TRUE(verified->ok) << verified->problem;
    EXPECT_GT(verified->entries, 0);
}

}  // namespace
}  // namespace casebridge::cli
