// `casebridge reconcile`: what the store says a flow delivered, checked against its target
// (sync/reconcile.hpp, docs/operations.md). Reads; with --repair it also writes, under the
// writer lock.
#include <filesystem>
#include <future>
#include <ostream>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "app/config.hpp"
#include "app/engine.hpp"
#include "cli/commands.hpp"
#include "cli/store_lock.hpp"
#include "core/atomic_file.hpp"
#include "log/log.hpp"
#include "sync/reconcile.hpp"

namespace casebridge::cli {

namespace {

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) {
            out += ';';
        }
        out += s;
    }
    return out;
}

/// One CSV cell (RFC 4180): quoted, quotes doubled, when it holds a comma, quote or line end.
std::string cell(std::string_view text) {
    if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
        return std::string(text);
    }
    std::string out = "\"";
    for (const char c : text) {
        out += c;
        if (c == '"') {
            out += '"';
        }
    }
    return out + "\"";
}

/// The CSV a person acts on: ids, the class, field names and a reason code; never a value.
std::string csv_of(const sync::reconcile_report& r) {
    std::ostringstream s;
    s << "source_id,class,target_ids,fields,note\n";
    for (const auto& row : r.rows) {
        s << cell(row.source_id) << ',' << sync::to_string(row.v) << ','
          << cell(joined(row.target_ids)) << ',' << cell(joined(row.fields)) << ','
          << cell(row.note) << '\n';
    }
    return s.str();
}

void print_counts(std::ostream& out, const std::string& flow, const sync::reconcile_report& r) {
    out << "reconcile " << flow << ": ";
    if (r.sample_size) {
        out << "a random sample of " << *r.sample_size << " of " << r.population
            << " records delivered or withheld";
    } else {
        out << "every record of the source (" << r.population << ")";
    }
    out << ", " << r.checked << " checked" << (r.stopped ? " (stopped early)" : "") << "\n";
    for (std::size_t i = 0; i < sync::verdict_count; ++i) {
        const auto v = static_cast<sync::verdict>(i);
        const auto name = sync::to_string(v);
        out << "  " << name << std::string(22 - name.size(), ' ') << r.counts[i] << "\n";
    }
    out << "divergences " << r.divergences();
    if (r.log_seq > 0) {
        out << "; transfer log entry " << r.log_seq;
    }
    out << "\n";
}

}  // namespace

int run_reconcile(const parsed_args& args, command_io& io) {
    if (io.adapters == nullptr) {
        io.err << "casebridge reconcile: this build has no adapters registered\n";
        return exit_error;
    }
    if (args.has("sample") && args.has("all")) {
        throw usage_error("--sample and --all exclude each other");
    }
    sync::reconcile_options o;
    if (args.has("sample")) {
        o.sample = static_cast<std::size_t>(args.number("sample", 1, 10'000'000, 0));
    }
    o.seed = static_cast<std::uint64_t>(args.number("seed", 1, 1'000'000'000'000, 0));
    const bool repair = args.has("repair");
    const std::string flow_id = *args.get("flow");
    const std::filesystem::path file = *args.get("config");
    auto cfg = app::load_config(file, io.adapters);
    if (cfg.find_flow(flow_id) == nullptr) {
        io.err << "casebridge reconcile: no flow '" << flow_id << "' in " << cfg.file.string()
               << "\n";
        return exit_usage;
    }
    if (!std::filesystem::exists(cfg.store.path)) {
        io.err << "casebridge reconcile: the store " << cfg.store.path.string()
               << " does not exist; nothing was delivered to reconcile\n";
        return exit_error;
    }
    // Reconciling reads (its one log entry is appended in its own transaction); a repair
    // sends records, so it is one writer like any run.
    std::optional<store::writer_lock> lock;
    if (repair) {
        lock = lock_store(
            cfg.store.path, {.command = "reconcile", .config = file, .flow = flow_id}, io
        );
        if (!lock) {
            return exit_error;
        }
    }
    const auto level = parse_log_level(cfg.log_level).value_or(log_level::info);
    logger log(stderr_sink::instance(), system_clock_source::instance(), level);
    net::io_context ctx;
    std::unique_ptr<app::engine> e;
    try {
        e = std::make_unique<app::engine>(
            std::move(cfg), *io.adapters, ctx.get_executor(), system_clock_source::instance(), log
        );
    } catch (const std::exception& ex) {
        io.err << "casebridge reconcile: " << ex.what() << "\n";
        return exit_error;
    }
    auto* slot = e->find(flow_id);
    auto fut = net::co_spawn(
        ctx,
        sync::reconcile(*slot->runner, e->store(), system_clock_source::instance(), log, o),
        net::use_future
    );
    ctx.run();
    const auto report = fut.get();
    if (report.error && report.checked == 0) {
        io.err << "casebridge reconcile: flow " << flow_id << ": " << *report.error << "\n";
        return exit_error;
    }
    print_counts(io.out, flow_id, report);
    if (auto out = args.get("out")) {
        auto written = write_file_atomically(*out, csv_of(report));
        if (!written) {
            io.err << "casebridge reconcile: cannot write " << *out << ": "
                   << written.error().message() << "\n";
            return exit_error;
        }
        io.out << "records: " << *out << "\n";
    }
    if (report.error) {
        io.err << "casebridge reconcile: flow " << flow_id << ": " << *report.error << "\n";
        return exit_error;
    }
    if (repair) {
        ctx.restart();
        auto fixed =
            net::co_spawn(ctx, sync::repair(*slot->runner, e->store(), report), net::use_future);
        ctx.run();
        const auto r = fixed.get();
        io.out << "repair: re-delivered " << r.redelivered << ", withheld now " << r.withheld_now
               << ", failed " << r.failed << ", raised for review " << r.reviews
               << ", left to a person " << r.left << "\n";
        if (r.error) {
            io.err << "casebridge reconcile: repair of flow " << flow_id
                   << " stopped early: " << *r.error << "\n";
            return exit_error;
        }
        return r.failed > 0 || r.left > 0 ? exit_diverged : exit_ok;
    }
    if (report.count(sync::verdict::unchecked) > 0) {
        io.err << "casebridge reconcile: " << report.count(sync::verdict::unchecked)
               << " records could not be checked (class unchecked, reason in the CSV)\n";
        return exit_error;
    }
    return report.divergences() > 0 ? exit_diverged : exit_ok;
}

}  // namespace casebridge::cli
