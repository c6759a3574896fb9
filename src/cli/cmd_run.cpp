// `casebridge run` (the daemon) and `casebridge flow run ID` (one run now, or a dry run).
#include <future>
#include <ostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "app/config.hpp"
#include "app/daemon.hpp"
#include "app/engine.hpp"
#include "cli/commands.hpp"
#include "cli/store_lock.hpp"
#include "log/log.hpp"

namespace casebridge::cli {

namespace {

log_level level_of(const app::config& c) {
    return parse_log_level(c.log_level).value_or(log_level::info);
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) {
            out += ',';
        }
        out += s;
    }
    return out.empty() ? "-" : out;
}

}  // namespace

int run_daemon_command(const parsed_args& args, command_io& io) {
    app::daemon_options o;
    o.shutdown_grace = std::chrono::seconds(args.number("shutdown-grace", 0, 3600, 30));
    if (io.adapters == nullptr) {
        io.err << "casebridge run: this build has no adapters registered\n";
        return exit_error;
    }
    const std::filesystem::path file = *args.get("config");
    // Read once for the log level and the store; the daemon loads (and checks) it again.
    const auto cfg = app::load_config(file, io.adapters);
    // One writer per store, for the daemon's whole life (a reload keeps the store path).
    auto lock = lock_store(cfg.store.path, {.command = "run", .config = file}, io);
    if (!lock) {
        return exit_error;
    }
    logger log(stderr_sink::instance(), system_clock_source::instance(), level_of(cfg));
    o.on_admin_listening = [&io, &lock](const std::string& url) {
        lock->set_admin_url(url);
        io.out << "admin: " << url << "\n";
        io.out.flush();
    };
    o.on_started = [&io] {
        io.out << "running\n";
        io.out.flush();
    };
    return app::run_daemon(file, *io.adapters, system_clock_source::instance(), log, io.err, o);
}

int run_flow_run(const parsed_args& args, command_io& io) {
    sync::run_options o;
    if (args.has("max-pages")) {
        o.max_pages = args.number("max-pages", 1, 1'000'000'000, 0);
    }
    if (io.adapters == nullptr) {
        io.err << "casebridge flow run: this build has no adapters registered\n";
        return exit_error;
    }
    const std::string flow_id = args.positional().at(0);
    auto cfg = app::load_config(*args.get("config"), io.adapters);
    if (cfg.find_flow(flow_id) == nullptr) {
        io.err << "casebridge flow run: no flow '" << flow_id << "' in " << cfg.file.string()
               << "\n";
        return exit_usage;
    }
    const bool dry = args.has("dry-run");
    // A dry run writes nothing to the store (or uses a scratch one): a reader, no lock.
    std::optional<store::writer_lock> lock;
    if (!dry) {
        lock = lock_store(
            cfg.store.path,
            {.command = "flow run", .config = *args.get("config"), .flow = flow_id},
            io
        );
        if (!lock) {
            return exit_error;
        }
    }
    logger log(stderr_sink::instance(), system_clock_source::instance(), level_of(cfg));
    net::io_context ctx;
    std::unique_ptr<app::engine> e;
    try {
        e = std::make_unique<app::engine>(
            std::move(cfg),
            *io.adapters,
            ctx.get_executor(),
            system_clock_source::instance(),
            log,
            app::engine_options{dry, false}
        );
    } catch (const std::exception& ex) {
        io.err << "casebridge flow run: " << ex.what() << "\n";
        return exit_error;
    }
    auto* slot = e->find(flow_id);
    o.dry_run = dry;
    o.keep_records = dry;
    auto fut = net::co_spawn(ctx, slot->runner->run_once(o), net::use_future);
    ctx.run();
    const auto report = fut.get();
    if (dry) {
        io.out << "# dry run of " << flow_id << ": nothing was sent and nothing was stored\n"
               << "source_id\tdecision\tbasis\treason\tfields_sent\tfields_withheld\n";
        for (const auto& r : report.records) {
            io.out << r.source_id << '\t' << r.outcome << '\t' << (r.basis.empty() ? "-" : r.basis)
                   << '\t' << (r.reason.empty() ? "-" : r.reason) << '\t' << joined(r.fields_sent)
                   << '\t' << joined(r.fields_withheld) << '\n';
        }
    }
    const auto& c = report.counts;
    io.out << "flow " << flow_id << (dry ? " (dry run)" : "") << ": pages " << c.pages
           << ", fetched " << c.fetched << ", " << (dry ? "would send " : "sent ")
           << (dry ? static_cast<std::int64_t>(std::count_if(
                         report.records.begin(),
                         report.records.end(),
                         [](const auto& r) { return r.outcome == "would_send"; }
                     ))
                   : c.sent)
           << ", withheld " << c.withheld << ", consent withdrawn " << c.withdrawn
           << ", dead-lettered " << c.dead << ", unchanged " << c.skipped << ", retries "
           << c.retries;
    if (c.acknowledged > 0 || c.rejected > 0) {
        io.out << ", acknowledged " << c.acknowledged << ", rejected " << c.rejected;
    }
    io.out << (report.caught_up ? ", caught up" : "") << "\n";
    if (report.note) {
        io.out << "note: " << *report.note << "\n";
    }
    if (report.error) {
        io.err << "casebridge flow run: stopped early: " << *report.error << "\n";
        return exit_error;
    }
    return c.dead > 0 ? exit_held : exit_ok;
}

}  // namespace casebridge::cli
