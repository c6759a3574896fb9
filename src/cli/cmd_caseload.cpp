// `casebridge caseload-transfer plan|execute`: hand every open case over at project end, after
// a person has reviewed each case's consent (Cox's Bazar SOP §4.6).
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include "app/config.hpp"
#include "app/engine.hpp"
#include "cli/commands.hpp"
#include "cli/review_files.hpp"
#include "cli/store_lock.hpp"
#include "core/atomic_file.hpp"
#include "core/time.hpp"
#include "exchange/csv.hpp"
#include "log/log.hpp"
#include "policy/policy.hpp"
#include "store/crypto.hpp"
#include "store/store_thread.hpp"

namespace casebridge::cli {

namespace {

/// The hand-over decision for a record from its dry-run outcome (run_options::handover: only
/// a current version the receiver holds, and accepted where it answers, is "skipped").
std::string plan_decision(const sync::record_report& r, bool override_allowed) {
    if (r.outcome == "would_send") {
        return "transfer";
    }
    if (r.outcome == "skipped" || r.outcome == "kept") {
        return "already_transferred";
    }
    if (r.outcome == "awaiting_acknowledgement") {
        return "awaiting_acknowledgement";
    }
    if (r.outcome == "dead" || r.outcome == "rejected_by_receiver" || r.outcome == "unresolved") {
        return "held";
    }
    if (r.outcome == "withheld" && r.reason == "no_basis" && override_allowed) {
        return "needs_consent_confirmation";
    }
    return "withheld";
}

struct loaded {
    std::optional<store::writer_lock> lock;  ///< First, so it is released after the engine.
    std::unique_ptr<app::engine> engine;
    app::flow_slot* slot = nullptr;
    std::unique_ptr<store::keyed_hasher> key;
};

std::optional<loaded> load(
    const parsed_args& args,
    command_io& io,
    net::io_context& ctx,
    bool read_only,
    std::string_view name
) {
    if (io.adapters == nullptr) {
        io.err << "casebridge " << name << ": this build has no adapters registered\n";
        return std::nullopt;
    }
    auto cfg = app::load_config(*args.get("config"), io.adapters);
    const std::string flow = *args.get("flow");
    if (cfg.find_flow(flow) == nullptr) {
        io.err << "casebridge " << name << ": no flow '" << flow << "' in " << cfg.file.string()
               << "\n";
        return std::nullopt;
    }
    if (cfg.find_flow(flow)->purpose == "acknowledgement") {
        io.err
            << "casebridge " << name << ": flow '" << flow
            << "' reads acknowledgements; a caseload is transferred by a flow that sends cases\n";
        return std::nullopt;
    }
    auto key = store::keyed_hasher::from_file(cfg.store.identifier_key_file);
    if (!key) {
        io.err << "casebridge " << name << ": store.identifier_key_file cannot be read\n";
        return std::nullopt;
    }
    loaded l;
    if (!read_only) {  // one writer per store (see store_lock.hpp)
        l.lock = lock_store(cfg.store.path, {.command = name, .config = *args.get("config")}, io);
        if (!l.lock) {
            return std::nullopt;
        }
    }
    l.key = std::make_unique<store::keyed_hasher>(std::move(*key));
    logger log(stderr_sink::instance(), system_clock_source::instance(), log_level::warn);
    try {
        l.engine = std::make_unique<app::engine>(
            std::move(cfg),
            *io.adapters,
            ctx.get_executor(),
            system_clock_source::instance(),
            log,
            app::engine_options{read_only, false}
        );
    } catch (const std::exception& e) {
        io.err << "casebridge " << name << ": " << e.what() << "\n";
        return std::nullopt;
    }
    l.slot = l.engine->find(flow);
    return l;
}

}  // namespace

int run_caseload_plan(const parsed_args& args, command_io& io) {
    net::io_context ctx;
    auto l = load(args, io, ctx, true, "caseload-transfer plan");
    if (!l) {
        return exit_error;
    }
    const auto& flow = l->slot->cfg->id;
    const bool can_override = l->slot->runner->binding().profile->override_rules.allowed;
    sync::run_options o;
    o.dry_run = true;
    o.keep_records = true;
    o.from_start = true;
    o.handover = true;
    auto fut = net::co_spawn(ctx, l->slot->runner->run_once(o), net::use_future);
    ctx.run();
    const auto report = fut.get();
    if (report.error) {
        io.err << "casebridge caseload-transfer plan: the source could not be read to the end: "
               << *report.error << "\n";
        return exit_error;
    }
    exchange::csv_writer w;
    w.row(caseload_review_header());
    std::map<std::string, int> counts;
    for (const auto& r : report.records) {
        const auto decision = plan_decision(r, can_override);
        ++counts[decision];
        w.row(
            {r.source_id,
             decision,
             r.reason,
             r.basis,
             l->slot->cfg->to_system,
             std::to_string(r.fields_sent.size()),
             "",
             "",
             caseload_row_check(*l->key, flow, r.source_id, decision)}
        );
    }
    const std::filesystem::path out = *args.get("out");
    if (auto written = write_file_atomically(out, w.text()); !written) {
        io.err << "casebridge caseload-transfer plan: cannot write " << out.string() << "\n";
        return exit_error;
    }
    io.out << "plan for " << flow << " (" << l->slot->cfg->from_system << " -> "
           << l->slot->cfg->to_system << ", profile " << l->slot->cfg->profile
           << "): " << report.records.size() << " records in " << out.string() << "\n";
    for (const auto& [k, v] : counts) {
        io.out << "  " << k << ": " << v << "\n";
    }
    io.out << "Review the file: write yes in 'confirm' for each record to transfer; a record that\n"
              "needs consent confirmation also needs a written 'override_reason'. Then run\n"
              "casebridge caseload-transfer execute --config ... --flow "
           << flow << " --review " << out.string() << "\n";
    return exit_ok;
}

int run_caseload_execute(const parsed_args& args, command_io& io) {
    const std::filesystem::path review = *args.get("review");
    std::ifstream in(review, std::ios::binary);
    if (!in) {
        io.err << "casebridge caseload-transfer execute: cannot read " << review.string() << "\n";
        return exit_error;
    }
    std::stringstream text;
    text << in.rdbuf();
    const std::string origin = review.string();
    if (const auto bad = caseload_review_shape(text.str(), origin); !bad.empty()) {
        io.err << "casebridge caseload-transfer execute: " << bad << "\n";
        return exit_error;
    }
    // Each execute writes its own receipt and never replaces one: it is what the receiving
    // side verifies. The name is chosen (and an existing --receipt refused) before anything
    // is sent.
    std::filesystem::path receipt;
    if (args.get("receipt")) {
        receipt = *args.get("receipt");
        if (std::filesystem::exists(receipt)) {
            io.err << "casebridge caseload-transfer execute: " << receipt.string()
                   << " exists; a receipt is never overwritten (name a new file with --receipt, "
                      "or leave --receipt out for a numbered one); nothing was sent\n";
            return exit_error;
        }
    } else {
        receipt = review.string() + ".receipt.json";
        for (int n = 2; std::filesystem::exists(receipt); ++n) {
            receipt = review.string() + ".receipt-" + std::to_string(n) + ".json";
        }
    }
    net::io_context ctx;
    auto l = load(args, io, ctx, false, "caseload-transfer execute");
    if (!l) {
        return exit_error;
    }
    const auto& flow = l->slot->cfg->id;
    const std::string actor = args.get("actor").value_or("operator");
    auto read = read_caseload_review(text.str(), origin, *l->key, flow, actor);
    auto& chosen = read.chosen;
    const auto& problems = read.problems;
    const auto& overrides = read.overrides;
    auto& left = read.left;
    const auto not_confirmed = read.not_confirmed;
    if (!problems.empty()) {
        io.err << "casebridge caseload-transfer execute: the review file is refused; nothing was "
                  "sent:\n";
        for (const auto& p : problems) {
            io.err << "  " << p << "\n";
        }
        return exit_error;
    }
    const bool tty = ::isatty(STDERR_FILENO) == 1;
    auto progress = [&io, tty](std::size_t done, std::size_t total) {
        if (tty) {
            io.err << "\rtransferring " << done << "/" << total << std::flush;
        }
    };
    auto fut = net::co_spawn(ctx, l->slot->runner->run_selected(chosen, progress), net::use_future);
    ctx.run();
    const auto report = fut.get();
    if (tty) {
        io.err << "\n";
    }
    auto cp = l->engine->store().call([](store::store& s) {
        return store::latest_checkpoint(s.database());
    });

    // Every confirmed record lands in exactly one count, so the counts add up to `confirmed`.
    std::map<std::string, std::int64_t> counts{
        {"transferred", 0},
        {"already_transferred", 0},
        {"awaiting_acknowledgement", 0},
        {"withheld", 0},
        {"held", 0},
        {"not_processed", 0}};
    std::set<std::string> settled;
    for (const auto& r : report.records) {
        settled.insert(r.source_id);
        std::string status;
        if (r.outcome == "sent") {
            status = "transferred";
        } else if (r.outcome == "skipped" || r.outcome == "kept") {
            status = "already_transferred";
        } else if (r.outcome == "awaiting_acknowledgement") {
            status = "awaiting_acknowledgement";
        } else if (r.outcome == "withheld" || r.outcome == "consent_withdrawn") {
            status = "withheld";
        } else {
            status = "held";  // dead, rejected_by_receiver, unresolved
        }
        ++counts[status];
        if (status != "transferred" && status != "already_transferred") {
            left.push_back({r.source_id, status, r.reason.empty() ? r.outcome : r.reason});
        }
    }
    for (const auto& c : chosen) {
        if (settled.count(c.source_id) == 0) {
            ++counts["not_processed"];
            left.push_back({c.source_id, "not_processed", "run_stopped"});
        }
    }

    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("receipt");
    w.String("casebridge-caseload-transfer/v2");
    w.Key("flow");
    w.String(flow.c_str());
    w.Key("from");
    w.String(l->slot->cfg->from_system.c_str());
    w.Key("to");
    w.String(l->slot->cfg->to_system.c_str());
    w.Key("executed_at");
    w.String(format_rfc3339(system_clock_source::instance().now()).c_str());
    w.Key("review_file");
    w.String(review.filename().string().c_str());
    w.Key("counts");
    w.StartObject();
    w.Key("confirmed");
    w.Int64(static_cast<std::int64_t>(chosen.size()));
    for (const auto& [k, v] : counts) {
        w.Key(k.c_str());
        w.Int64(v);
    }
    w.Key("not_confirmed");
    w.Int64(static_cast<std::int64_t>(not_confirmed));
    w.EndObject();
    w.Key("transferred");
    w.StartArray();
    for (const auto& r : report.records) {
        if (r.outcome == "sent") {
            w.StartObject();
            w.Key("source_id");
            w.String(r.source_id.c_str());
            w.Key("target_id");
            w.String(r.target_id.c_str());
            w.EndObject();
        }
    }
    w.EndArray();
    w.Key("not_handed_over");
    w.StartArray();
    for (const auto& p : left) {
        w.StartObject();
        w.Key("source_id");
        w.String(p.source_id.c_str());
        w.Key("status");
        w.String(p.status.c_str());
        w.Key("reason");
        w.String(p.reason.c_str());
        w.EndObject();
    }
    w.EndArray();
    w.Key("overrides");
    w.StartArray();
    for (const auto& [id, hash] : overrides) {
        w.StartObject();
        w.Key("source_id");
        w.String(id.c_str());
        w.Key("reason_sha256");
        w.String(hash.c_str());
        w.EndObject();
    }
    w.EndArray();
    if (cp && *cp) {
        w.Key("log_checkpoint");
        w.RawValue((*cp)->to_json().c_str(), (*cp)->to_json().size(), rapidjson::kObjectType);
    }
    w.EndObject();
    if (auto written = write_new_file(receipt, std::string(sb.GetString()) + "\n"); !written) {
        io.err << "casebridge caseload-transfer execute: cannot write the receipt "
               << receipt.string() << " (" << written.error().message()
               << "); what was sent is in the transfer log\n";
        return exit_error;
    }
    io.out << "caseload transfer " << flow << ": confirmed " << chosen.size() << ", transferred "
           << counts["transferred"] << ", already transferred " << counts["already_transferred"]
           << ", awaiting acknowledgement " << counts["awaiting_acknowledgement"] << ", withheld "
           << counts["withheld"] << ", held " << counts["held"];
    if (counts["not_processed"] > 0) {
        io.out << ", not processed " << counts["not_processed"];
    }
    io.out << "; not handed over " << left.size() << "; receipt " << receipt.string() << "\n";
    if (report.error) {
        io.err << "casebridge caseload-transfer execute: stopped early: " << *report.error
               << " (run it again: nothing is sent twice)\n";
        return exit_error;
    }
    return counts["held"] > 0 ? exit_held : exit_ok;
}

}  // namespace casebridge::cli
