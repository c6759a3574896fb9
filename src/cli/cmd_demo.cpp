// `casebridge demo`: the Primero and PING sandboxes in process, a DSS exchange folder, a
// generated configuration, each flow run once, and a report of what moved where.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <ostream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <unistd.h>

#include "app/config.hpp"
#include "app/daemon.hpp"
#include "app/engine.hpp"
#include "cli/commands.hpp"
#include "cli/imo_world.hpp"
#include "cli/store_lock.hpp"
#include "core/crypto.hpp"
#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/shipped_data.hpp"
#include "core/time.hpp"
#include "hub/hub_store.hpp"
#include "json/json.hpp"
#include "log/log.hpp"
#include "sandbox/ping/ping_sandbox.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "store/crypto.hpp"
#include "store/store_thread.hpp"

namespace casebridge::cli {

namespace {

namespace fs = std::filesystem;

/// The demo keeps every synthetic case in memory (the sandboxes) and runs each flow once.
constexpr std::int64_t max_demo_cases = 100'000;

/// Writes the data files the demo's configuration names (the catalogue, mappings, value
/// tables and policies) under `dest`, keeping their paths: each file as compiled into the
/// binary, or the file at the same path under `overrides` (--data) when there is one. Returns
/// the paths taken from `overrides`; throws std::runtime_error naming a file it cannot write.
std::vector<std::string> write_data(
    const fs::path& dest, const std::optional<fs::path>& overrides
) {
    std::vector<std::string> overridden;
    for (const auto& f : shipped_files()) {
        const auto target = dest / f.path;
        fs::create_directories(target.parent_path());
        if (overrides && fs::is_regular_file(*overrides / f.path)) {
            fs::copy_file(*overrides / f.path, target, fs::copy_options::overwrite_existing);
            overridden.emplace_back(f.path);
            continue;
        }
        std::ofstream out(target, std::ios::binary | std::ios::trunc);
        out << f.text();
        out.close();
        if (!out) {
            throw std::runtime_error("cannot write " + target.string());
        }
    }
    return overridden;
}

std::string random_hex(std::size_t bytes) {
    return to_hex(crypto::random_bytes(bytes));
}

void write_secret(const fs::path& p, const std::string& content) {
    {
        std::ofstream out(p, std::ios::trunc);
        out << content << "\n";
    }
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

/// `text` as a JSON string (quotes and escapes included).
std::string json_text(std::string_view text) {
    rapidjson::Value v(rapidjson::StringRef(text.data(), text.size()));
    return json::to_string(v);
}

/// `tmpl` with each "{{name}}" replaced by its JSON text. A placeholder without a value, or a
/// result that is not JSON, is a bug in the template (checked by the demo's tests).
std::string fill_template(
    std::string_view tmpl, const std::map<std::string, std::string, std::less<>>& values
) {
    std::string out;
    std::size_t at = 0;
    for (auto open = tmpl.find("{{"); open != std::string_view::npos; open = tmpl.find("{{", at)) {
        const auto close = tmpl.find("}}", open);
        CASEBRIDGE_CHECK(close != std::string_view::npos);
        const auto it = values.find(tmpl.substr(open + 2, close - open - 2));
        CASEBRIDGE_CHECK(it != values.end());
        out.append(tmpl.substr(at, open - at));
        out += it->second;
        at = close + 2;
    }
    out.append(tmpl.substr(at));
    CASEBRIDGE_CHECK(json::parse(out).has_value());
    return out;
}

/// The demo's configuration: a CPIMS+ sandbox, a PING sandbox and a DSS exchange folder, with
/// the referral, decision, caseload and acknowledgement flows between them. Secrets are files
/// under secrets/; the sandboxes' addresses and the data paths are filled in.
constexpr std::string_view demo_config_template = R"({
  "config_version": 1,
  "log_level": "warn",
  "catalogue": {{catalogue}},
  "policies": {{policies}},
  "store": {"path": "state/casebridge.db", "signing_key_file": "secrets/checkpoint-signing.pem",
            "identifier_key_file": "secrets/identifier-hmac.key",
            "witness_file": "state/checkpoint.json"},
  "admin": {"listen": "127.0.0.1:0", "token_file": "secrets/admin-token"},
  "systems": {
    "cpims-cxb": {"kind": "primero", "description": "CPIMS+ sandbox",
                  "settings": {"base_url": {{cpims_url}},
                               "auth": {"mode": "basic", "user_name": {{cpims_user}},
                                        "password_file": "secrets/cpims-password"},
                               "per_page": 100},
                  "tls": {"allow_plain_http_on_loopback": true}},
    "progres": {"kind": "progres_ping", "description": "PING sandbox",
                "settings": {{ping_settings}},
                "tls": {"allow_plain_http_on_loopback": true}},
    "dss": {"kind": "dss_files", "description": "DSS exchange folder",
            "settings": {"outbox_dir": "state/dss/outbox", "inbox_dir": "state/dss/inbox",
                         "sent_register_dir": "state/dss/sent",
                         "passphrase_file": "secrets/dss-zip-passphrase", "sender": "cpss-cxb",
                         "ack_reason_codes": ["missing_guardian_contact"]}}
  },
  "flows": [
    {"id": "cpims-referrals-to-unhcr",
     "from": {"system": "cpims-cxb", "stream": "cases"},
     "to": {"system": "progres", "stream": "referrals"},
     "purpose": "referral", "profile": "referral-unhcr",
     "mappings": {"in": {{primero_case}}, "out": {{referral_out}}},
     "one_record_per_row_of": "/services_section",
     "only_rows_where": {"field": "/services_section/service_implementing_agency",
                         "in": ["agency-unhcr"]},
     "schedule": {"every_seconds": 60}},
    {"id": "unhcr-decisions-to-cpims",
     "from": {"system": "progres", "stream": "decisions"},
     "to": {"system": "cpims-cxb", "stream": "cases"},
     "purpose": "decision", "profile": "decision-feedback",
     "mappings": {"in": {{decision_in}}, "out": {{primero_case}}},
     "create": false, "schedule": {"every_seconds": 60}},
    {"id": "caseload-to-dss",
     "from": {"system": "cpims-cxb", "stream": "cases"},
     "to": {"system": "dss", "stream": "events"},
     "purpose": "transfer", "profile": "caseload-dss",
     "mappings": {"in": {{primero_case}}, "out": {{dss_event}}},
     "one_record_per_row_of": "/services_section", "paused": true},
    {"id": "dss-acknowledgements",
     "from": {"system": "dss", "stream": "acknowledgements"},
     "to": {"system": "cpims-cxb"},
     "purpose": "acknowledgement", "paused": true}
  ]
}
)";

struct flow_result {
    std::string id;
    std::string from;
    std::string to;
    sync::run_report report;
    bool acknowledgements = false;
};

}  // namespace

/// `demo --imo`: three agencies' CPIMS+ sandboxes sharing one synthetic population, each
/// agency's casebridge sending encoded records to an in-process IMO hub, linkage, and the
/// hub's possible-duplicate notices back as flags on the agencies' cases.
int run_imo_demo(
    const parsed_args& args,
    command_io& io,
    const fs::path& dir,
    const fs::path& data,
    const clock_source& clock
) {
    if (args.has("serve") || args.has("cases")) {
        io.err << "casebridge demo: --imo takes --children, not --cases, and has no --serve\n";
        return exit_usage;
    }
    const auto children =
        static_cast<std::size_t>(args.number("children", 10, max_demo_cases, 300));
    const auto seed = static_cast<std::uint64_t>(args.number("seed", 0, 1'000'000'000, 2026));
    for (const char* var : {"CASEBRIDGE_PSEUDONYM_KEY", "CASEBRIDGE_LINKAGE_SECRET"}) {
        if (const char* k = std::getenv(var); k == nullptr || *k == '\0') {
            ::setenv(var, random_hex(32).c_str(), 1);
        }
    }
    memory_sink quiet;
    logger log(quiet, clock, log_level::warn);
    const auto started = std::chrono::steady_clock::now();
    imo_world_options wo;
    wo.adapters = io.adapters;
    wo.dir = dir;
    wo.data_dir = data;
    wo.seed = seed;
    wo.children = children;
    std::vector<sync::run_report> sent;
    std::vector<sync::run_report> noticed;
    std::vector<std::size_t> cases;
    imo_flag_report flags;
    std::vector<imo_agency> agencies;
    fs::path hub_file;
    try {
        imo_world world(wo, clock, log);
        agencies = world.options().agencies;
        for (std::size_t k = 0; k < world.agency_count(); ++k) {
            cases.push_back(world.cpims(k).case_count());
        }
        sent = world.send_all();
        noticed = world.notify_all();
        flags = check_flags(world);
        hub_file = world.hub_config();
    } catch (const std::exception& e) {
        io.err << "casebridge demo: " << e.what() << "\n";
        return exit_error;
    }
    // The hub has stopped: read its figures and verify its log from its store file.
    auto hs = hub::hub_store::open(dir / "hub/hub.sqlite", clock);
    if (!hs) {
        io.err << "casebridge demo: cannot open the hub's store: " << hs.error().message() << "\n";
        return exit_error;
    }
    auto stats = hs->stats();
    auto verified = store::verify(hs->database(), {});
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started
    );

    auto& o = io.out;
    o << "casebridge demo --imo in " << dir.string() << "\n\n"
      << "One synthetic population of " << children << " children (seed " << seed << "), served by "
      << agencies.size()
      << " agencies with field errors (name variants, estimated and swapped birth dates,\n"
      << "missing family names, moved blocks); each agency's CPIMS+ is a sandbox on loopback.\n\n";
    for (std::size_t k = 0; k < agencies.size(); ++k) {
        const auto& c = sent[k].counts;
        o << agencies[k].display_name << " (" << agencies[k].id << "): " << cases[k]
          << " cases; sent to the hub " << c.sent << " encoded records, withheld " << c.withheld
          << " (no basis to report)";
        if (sent[k].error) {
            o << "; stopped early: " << *sent[k].error;
        }
        o << "\n";
    }
    if (stats) {
        o << "\nIMO hub: received";
        for (const auto& [agency, n] : stats->active_per_agency) {
            o << " " << agency << " " << n;
        }
        o << "; clusters " << stats->clusters << ", of them with two or more agencies "
          << stats->multi_agency_clusters << "; automatic links " << stats->auto_links
          << ", review items " << stats->review_items << ", within-agency duplicates "
          << stats->within_agency_duplicates << "\n";
    }
    o << "\nNotices back to the agencies (flags on their own cases):\n";
    for (std::size_t k = 0; k < agencies.size(); ++k) {
        const auto& c = noticed[k].counts;
        o << "  " << agencies[k].display_name << ": " << c.fetched << " notices, flags raised "
          << c.flags_raised << ", updated " << c.flags_updated << ", resolved " << c.flags_resolved
          << ", dead-lettered " << c.dead << "; cases flagged now " << flags.flagged_cases[k]
          << "\n";
        if (noticed[k].error) {
            o << "    stopped early: " << *noticed[k].error << "\n";
        }
    }
    char figures[160];
    std::snprintf(
        figures, sizeof figures, "precision %.3f, recall %.3f", flags.precision(), flags.recall()
    );
    o << "\nAgainst the sandbox truth (pairs of one child's cases at two agencies, both with a "
         "basis): "
      << flags.true_pairs << " true pairs, " << flags.predicted_pairs << " flagged pairs, "
      << flags.correct_pairs << " correct: " << figures << "\n";
    o << "Flag checks (one reference per case, shared by two agencies or more, naming the other "
         "agencies, never on a case without a basis): "
      << (flags.problems.empty() ? std::string("ok")
                                 : std::to_string(flags.problems.size()) + " problems")
      << "\n";
    for (std::size_t i = 0; i < flags.problems.size() && i < 10; ++i) {
        o << "  " << flags.problems[i] << "\n";
    }
    o << "\nhub log verify: ";
    if (verified && verified->ok) {
        o << "ok, " << verified->entries << " entries\n";
    } else {
        o << "FAILED" << (verified ? ": " + verified->problem : std::string()) << "\n";
    }
    o << "\nFiles: hub configuration " << hub_file.string() << ", each agency's under "
      << dir.string() << "/<agency id>/ (configuration, store, secrets)\n"
      << "Try: casebridge hub stats --config " << hub_file.string()
      << ", casebridge log show --store " << (dir / "hub/hub.sqlite").string() << "\n"
      << "Done in " << took.count() << " ms.\n";
    o.flush();
    const bool ok = verified && verified->ok && flags.problems.empty();
    return ok ? exit_ok : exit_error;
}

int run_demo(const parsed_args& args, command_io& io) {
    const auto cases = static_cast<std::size_t>(args.number("cases", 0, max_demo_cases, 300));
    if (io.adapters == nullptr) {
        io.err << "casebridge demo: this build has no adapters registered\n";
        return exit_error;
    }
    std::optional<fs::path> overrides;
    if (const auto given = args.get("data")) {
        if (!fs::is_directory(*given)) {
            io.err << "casebridge demo: --data " << *given << " is not a folder\n";
            return exit_usage;
        }
        overrides = fs::path(*given);
    }
    const auto& clock = system_clock_source::instance();
    fs::path dir =
        args.get("dir")
            ? fs::path(*args.get("dir"))
            : fs::current_path() / ("casebridge-demo-" + format_rfc3339(clock.now()).substr(0, 19));
    {
        auto name = dir.filename().string();
        std::replace(name.begin(), name.end(), ':', '-');
        dir = dir.parent_path() / name;
    }
    if (fs::exists(dir / "casebridge.json")) {
        io.err << "casebridge demo: " << dir.string()
               << " already holds a demo; give another --dir or remove it\n";
        return exit_usage;
    }
    for (const char* sub : {"secrets", "state/dss/outbox", "state/dss/inbox", "state/dss/sent"}) {
        fs::create_directories(dir / sub);
    }
    fs::permissions(dir / "secrets", fs::perms::owner_all, fs::perm_options::replace);
    // The configuration names these copies, so the folder holds all that the demo used.
    const auto data = dir / "data";
    std::vector<std::string> overridden;
    try {
        overridden = write_data(data, overrides);
    } catch (const std::exception& e) {
        io.err << "casebridge demo: " << e.what() << "\n";
        return exit_error;
    }
    if (args.has("imo")) {
        return run_imo_demo(args, io, dir, data, clock);
    }
    if (const char* k = std::getenv("CASEBRIDGE_PSEUDONYM_KEY"); k == nullptr || *k == '\0') {
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", random_hex(32).c_str(), 1);
    }

    // The systems.
    sandbox::primero_settings ps;
    ps.cases = cases;
    ps.seed = 2026;
    sandbox::ping_settings gs;
    gs.seed = 2026;
    std::unique_ptr<sandbox::primero_sandbox> cpims;
    std::unique_ptr<sandbox::ping_sandbox> ping;
    try {
        cpims = std::make_unique<sandbox::primero_sandbox>(ps, clock);
        ping = std::make_unique<sandbox::ping_sandbox>(gs, clock);
    } catch (const std::exception& e) {
        io.err << "casebridge demo: a sandbox cannot listen on 127.0.0.1: " << e.what() << "\n";
        return exit_error;
    }
    const auto secrets = dir / "secrets";
    write_secret(secrets / "checkpoint-signing.pem", store::signer::generate().private_key_pem());
    write_secret(secrets / "identifier-hmac.key", random_hex(32));
    write_secret(secrets / "admin-token", random_hex(24));
    write_secret(secrets / "cpims-password", cpims->password());
    write_secret(secrets / "ping-password", ping->password());
    write_secret(secrets / "ping-subscription-key", ping->subscription_key());
    const std::string passphrase = random_hex(12);
    write_secret(secrets / "dss-zip-passphrase", passphrase);

    // Paths in a configuration are relative to its folder.
    const fs::path in_data = "data";
    const auto config_text = fill_template(
        demo_config_template,
        {
            {"catalogue", json_text((in_data / "mappings/canonical-case.json").string())},
            {"policies", json_text((in_data / "config/policies.json").string())},
            {"cpims_url", json_text(cpims->base_url())},
            {"cpims_user", json_text(cpims->user_name())},
            {"ping_settings",
             ping->adapter_settings_json(
                 "secrets/ping-password", "secrets/ping-subscription-key", false
             )},
            {"primero_case", json_text((in_data / "mappings/primero.case.json").string())},
            {"referral_out",
             json_text((in_data / "mappings/progres_ping.referral_out.json").string())},
            {"decision_in",
             json_text((in_data / "mappings/progres_ping.decision_in.json").string())},
            {"dss_event", json_text((in_data / "mappings/dss.event.json").string())},
        }
    );
    const auto config_file = dir / "casebridge.json";
    {
        std::ofstream out(config_file);
        out << config_text;
    }
    // The demo writes its store (and, with --serve, runs the daemon on it): one writer.
    auto lock =
        lock_store(dir / "state/casebridge.db", {.command = "demo", .config = config_file}, io);
    if (!lock) {
        return exit_error;
    }

    memory_sink quiet;  // the demo prints its own report; warnings are counted in it
    logger log(quiet, clock, log_level::warn);
    const auto started = std::chrono::steady_clock::now();
    std::vector<flow_result> results;
    std::vector<store::log_row> tail;
    std::optional<store::verify_report> verified;
    std::map<std::string, std::int64_t> dead_by_reason;
    {
        net::io_context ctx;
        std::unique_ptr<app::engine> e;
        try {
            e = std::make_unique<app::engine>(
                app::load_config(config_file, io.adapters),
                *io.adapters,
                ctx.get_executor(),
                clock,
                log,
                app::engine_options{false, true}
            );
        } catch (const std::exception& ex) {
            io.err << "casebridge demo: " << ex.what() << "\n";
            return exit_error;
        }
        auto run = [&](const std::string& id) {
            auto* slot = e->find(id);
            sync::run_options o;
            o.keep_records = true;
            auto fut = net::co_spawn(ctx, slot->runner->run_once(o), net::use_future);
            ctx.restart();
            ctx.run();
            results.push_back(
                {id,
                 slot->cfg->from_system,
                 slot->cfg->to_system,
                 fut.get(),
                 slot->cfg->purpose == "acknowledgement"}
            );
        };
        run("cpims-referrals-to-unhcr");
        // UNHCR decides on what it received (the sandbox's seeded caseworker).
        std::size_t n = 0;
        for (const auto& r : ping->referral_ids()) {
            ping->decide(r, n++ % 4 != 3);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // a new second
        run("unhcr-decisions-to-cpims");
        // The cases the decisions updated are listed once their second has passed.
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));
        run("caseload-to-dss");
        // DSS answers: an acknowledgement file for what it received (every fifth row rejected
        // for a missing guardian contact), plus one row for an exchange id never sent, which
        // casebridge reports instead of applying.
        {
            std::string ack = "exchange_id,status,dss_reference,reason\r\n";
            std::size_t k = 0;
            for (const auto& rec : results.back().report.records) {
                if (rec.outcome != "sent") {
                    continue;
                }
                ++k;
                char ref[32];
                std::snprintf(ref, sizeof ref, "DSS-CXB-2026-%06zu", k);
                ack += rec.target_id + (k % 5 == 0 ? ",rejected,,missing_guardian_contact\r\n"
                                                   : ",accepted," + std::string(ref) + ",\r\n");
            }
            ack += "00000000-0000-4000-8000-000000000000,accepted,DSS-CXB-2026-999999,\r\n";
            const auto inbox = dir / "state/dss/inbox";
            std::ofstream(inbox / "ack-demo.part", std::ios::binary) << ack;
            fs::rename(inbox / "ack-demo.part", inbox / "ack-demo.csv");
        }
        run("dss-acknowledgements");
        auto& st = e->store();
        auto rows = st.call([](store::store& s) {
            return store::read_entries(s.database(), std::nullopt, std::nullopt);
        });
        if (rows) {
            const auto from = rows->size() > 5 ? rows->size() - 5 : 0;
            tail.assign(rows->begin() + static_cast<std::ptrdiff_t>(from), rows->end());
        }
        auto dead =
            st.call([](store::store& s) { return s.list_dead_letters(std::nullopt, 100000); });
        if (dead) {
            for (const auto& [row, d] : *dead) {
                ++dead_by_reason[d.flow.str() + ": " + d.reason.str()];
            }
        }
        auto v = st.call([](store::store& s) { return s.verify({}); });
        if (v) {
            verified = *v;
        }
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started
    );

    auto& o = io.out;
    o << "casebridge demo in " << dir.string() << "\n\n"
      << "Systems (sandboxes on loopback): CPIMS+ " << cpims->base_url() << " with " << cases
      << " synthetic cases; UNHCR PING " << ping->base_url() << "; DSS exchange folder "
      << (dir / "state/dss").string() << "\n\n";
    for (const auto& r : results) {
        const auto& c = r.report.counts;
        o << "flow " << r.id << " (" << r.from << " -> " << r.to << ")\n";
        if (r.acknowledgements) {
            o << "  read " << c.fetched << " acknowledgements from DSS; acknowledged "
              << c.acknowledged << " (DSS reference linked to the case), rejected " << c.rejected
              << ", unknown exchange ids reported " << c.dead << "\n";
        } else {
            o << "  read " << c.fetched << " records; shared " << c.sent << ", withheld "
              << c.withheld << ", dead-lettered " << c.dead << ", retries " << c.retries << "\n";
        }
        std::map<std::string, int> why;
        for (const auto& rec : r.report.records) {
            if (rec.outcome == "withheld" || rec.outcome == "dead" || rec.outcome == "rejected") {
                ++why[rec.outcome + " " + rec.reason];
            }
        }
        for (const auto& [reason, count] : why) {
            o << "    " << reason << ": " << count << "\n";
        }
        if (r.report.error) {
            o << "  stopped early: " << *r.report.error << "\n";
        }
    }
    o << "\nUNHCR received " << ping->referral_count() << " referrals; DSS outbox holds:";
    std::vector<std::string> outbox;
    for (const auto& f : fs::directory_iterator(dir / "state/dss/outbox")) {
        outbox.push_back(f.path().filename().string());
    }
    std::sort(outbox.begin(), outbox.end());
    for (const auto& f : outbox) {
        o << " " << f;
    }
    o << (outbox.empty() ? " nothing" : "") << "\n";
    if (!dead_by_reason.empty()) {
        o << "\nDead letters (records held for a person to look at):\n";
        for (const auto& [k, v] : dead_by_reason) {
            o << "  " << k << ": " << v << "\n";
        }
    }
    o << "\nLast transfer-log entries (ids, codes and field names only):\n";
    for (const auto& row : tail) {
        auto d = json::parse(row.canonical);
        if (!d) {
            continue;
        }
        auto s = [&](const char* k) {
            const auto& v = (*d)[k];
            return v.IsString() ? std::string(v.GetString()) : std::string("-");
        };
        const auto& sent = (*d)["fields_sent"];
        o << "  #" << row.seq << " " << s("ts").substr(0, 19) << " " << s("flow") << " "
          << s("outcome") << " " << s("source_system") << ":" << s("source_id") << " -> "
          << s("target_system") << ":" << s("target_id") << " basis " << s("legitimate_basis")
          << ", " << (sent.IsArray() ? sent.Size() : 0) << " fields sent\n";
    }
    o << "\nlog verify: ";
    if (verified && verified->ok) {
        o << "ok, " << verified->entries << " entries, " << verified->checkpoints
          << " signed checkpoints\n";
    } else {
        o << "FAILED" << (verified ? ": " + verified->problem : std::string()) << "\n";
    }
    o << "\nFiles:\n"
      << "  configuration   " << config_file.string() << "\n"
      << "  store           " << (dir / "state/casebridge.db").string() << "\n"
      << "  DSS outbox      " << (dir / "state/dss/outbox").string()
      << " (open the ZIP with 7-Zip; the passphrase is in "
      << (secrets / "dss-zip-passphrase").string() << ")\n"
      << "  secrets         " << secrets.string() << " (owner-only files)\n"
      << "  data            " << data.string() << " (mappings and policies: "
      << (overridden.empty()
              ? std::string("the compiled-in ones")
              : std::to_string(overridden.size()) + " from --data, the rest compiled in")
      << "; edit them and run a new demo with --data " << data.string() << ")\n"
      << "\nTry: casebridge log show --store " << (dir / "state/casebridge.db").string()
      << " --record cpims-cxb:ID, or casebridge flow run ID --config " << config_file.string()
      << " --dry-run\n"
      << "Done in " << took.count() << " ms.\n";
    o.flush();

    if (args.has("serve")) {
        app::daemon_options d;
        d.allow_plain_http_loopback = true;
        d.on_admin_listening = [&o, &secrets, &lock](const std::string& url) {
            lock->set_admin_url(url);
            o << "\nadmin API: " << url << " (bearer token in "
              << (secrets / "admin-token").string() << ")\n"
              << "console:   " << url << "/console/ (sign in with that token: paste the "
              << "file's contents; it stays in the browser tab)\n";
            o.flush();
        };
        d.on_started = [&o] {
            o << "daemon running; stop it with Ctrl-C\n";
            o.flush();
        };
        logger daemon_log(stderr_sink::instance(), clock, log_level::info);
        return app::run_daemon(config_file, *io.adapters, clock, daemon_log, io.err, d);
    }
    return verified && verified->ok ? exit_ok : exit_error;
}

}  // namespace casebridge::cli
