// `casebridge hub serve|link|stats`: the IMO hub (docs/imo.md, docs/hub-api.md).
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "adapter/secret.hpp"
#include "app/config.hpp"
#include "cli/commands.hpp"
#include "cli/review_files.hpp"
#include "core/atomic_file.hpp"
#include "core/crypto.hpp"
#include "core/encoding.hpp"
#include "exchange/csv.hpp"
#include "hub/hub_admin.hpp"
#include "hub/hub_service.hpp"
#include "hub/hub_store.hpp"
#include "json/json.hpp"
#include "log/log.hpp"
#include "net/async.hpp"
#include "report/schedule.hpp"
#include "store/types.hpp"

namespace casebridge::cli {

namespace {

log_level level_of(const app::config& c) {
    return parse_log_level(c.log_level).value_or(log_level::info);
}

/// The hub section of `--config`, or nullopt after printing why.
std::optional<app::config> hub_config_of(
    std::string_view command, const parsed_args& args, command_io& io
) {
    try {
        auto c = app::load_config(*args.get("config"), nullptr, app::config_need::hub);
        return c;
    } catch (const json::file_error& e) {
        io.err << "casebridge " << command << ": " << e.what() << '\n';
        return std::nullopt;
    }
}

/// Opens the configured hub store; it must exist already (written by `hub serve`).
std::optional<hub::hub_store> existing_store(
    std::string_view command, const app::hub_config& h, command_io& io
) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(h.store_path, ec)) {
        io.err << "casebridge " << command << ": " << h.store_path.string()
               << ": no hub store yet (`casebridge hub serve` creates it)\n";
        return std::nullopt;
    }
    auto s = hub::hub_store::open(h.store_path, system_clock_source::instance());
    if (!s) {
        io.err << "casebridge " << command << ": " << h.store_path.string()
               << ": cannot open the hub store (" << s.error().message() << ")\n";
        return std::nullopt;
    }
    return std::move(*s);
}

}  // namespace

int run_hub_serve(const parsed_args& args, command_io& io) {
    auto cfg = hub_config_of("hub serve", args, io);
    if (!cfg) {
        return exit_error;
    }
    logger log(stderr_sink::instance(), system_clock_source::instance(), level_of(*cfg));
    std::unique_ptr<hub::service> svc;
    try {
        svc = std::make_unique<hub::service>(*cfg->hub, system_clock_source::instance(), log);
    } catch (const std::exception& e) {
        io.err << "casebridge hub serve: " << e.what() << '\n';
        return exit_error;
    }
    io.out << "hub: " << svc->base_url() << '\n';
    // The IMO's admin API (probes, counts, duplicate review, reports, the console) on the
    // configuration's admin listener.
    std::unique_ptr<httpd::server> admin;
    if (cfg->admin) {
        const auto& a = *cfg->admin;
        hub::admin_context actx;
        actx.token = read_secret({a.token_file, ""}).value_or("");
        if (actx.token.empty()) {
            io.err << "casebridge hub serve: admin.token_file " << a.token_file.string()
                   << " is missing or empty\n";
            return exit_error;
        }
        actx.store_path = cfg->hub->store_path;
        for (const auto& agency : cfg->hub->agencies) {
            actx.agencies.push_back(agency.id);
        }
        if (cfg->reports) {
            actx.reports_dir = cfg->reports->out_dir;
        }
        actx.request_linkage = [hub = svc.get()] { hub->request_linkage(); };
        try {
            admin = std::make_unique<httpd::server>(a.host, a.port, hub::admin_service(actx));
        } catch (const std::exception& e) {
            io.err << "casebridge hub serve: the admin API cannot listen on " << a.listen << ": "
                   << e.what() << '\n';
            return exit_error;
        }
        io.out << "hub admin: " << admin->base_url() << '\n';
    }
    io.out.flush();
    log.info(
        "hub.started",
        "hub is listening",
        {.counts =
             {{"port", svc->port()},
              {"agencies", static_cast<std::int64_t>(cfg->hub->agencies.size())}}}
    );
    net::io_context ctx;
    net::signal_set stop(ctx, SIGINT, SIGTERM);
    // Monthly reports of unique children (reports.monthly): at start, then every hour.
    net::steady_timer reports(ctx);
    std::function<void()> report_tick = [&]() {
        if (cfg->reports && !cfg->reports->monthly.empty()) {
            report::report_sources src;
            src.hub_store = cfg->hub->store_path;
            for (const auto& m : report::run_monthly(
                     cfg->reports->definitions,
                     cfg->reports->monthly,
                     cfg->reports->day,
                     src,
                     cfg->reports->out_dir,
                     system_clock_source::instance().now()
                 )) {
                const log_fields f{
                    .record = record_ref{"report", m.id + "/" + m.period},
                    .counts = {
                        {"units", static_cast<std::int64_t>(m.units)},
                        {"withheld", static_cast<std::int64_t>(m.withheld)}}};
                if (m.written) {
                    log.info("report.written", "monthly report written", f);
                } else {
                    log.error("report.failed", "monthly report not written", f);
                }
            }
        }
        reports.expires_after(std::chrono::hours(1));
        reports.async_wait([&](const boost::system::error_code& ec) {
            if (!ec) {
                report_tick();
            }
        });
    };
    stop.async_wait([&](const boost::system::error_code&, int) { reports.cancel(); });
    report_tick();
    ctx.run();  // returns once a signal arrived
    log.info("hub.shutdown", "stopping: closing connections, finishing the linkage run in hand");
    admin.reset();  // first: it asks the service for linkage runs
    svc.reset();
    log.info("hub.stopped", "hub stopped");
    return exit_ok;
}

int run_hub_link(const parsed_args& args, command_io& io) {
    auto cfg = hub_config_of("hub link", args, io);
    if (!cfg) {
        return exit_error;
    }
    linkage::linkage_schema schema;
    try {
        schema = hub::load_hub_schema(*cfg->hub);
    } catch (const std::exception& e) {
        io.err << "casebridge hub link: " << e.what() << '\n';
        return exit_error;
    }
    auto store = existing_store("hub link", *cfg->hub, io);
    if (!store) {
        return exit_error;
    }
    auto sum = hub::relink(*store, schema);
    if (!sum) {
        io.err << "casebridge hub link: linkage failed (" << sum.error().message() << ")\n";
        return exit_error;
    }
    io.out << "linked " << sum->records << " records: " << sum->clusters << " clusters, "
           << sum->multi_agency_clusters << " with two or more agencies, " << sum->auto_links
           << " automatic matches, " << sum->review_items << " review items, "
           << sum->within_agency_duplicates << " within-agency duplicates, " << sum->merges
           << " merges, " << sum->splits << " splits; notices: " << sum->notices_issued
           << " issued, " << sum->notices_retracted << " retracted\n";
    return exit_ok;
}

int run_hub_stats(const parsed_args& args, command_io& io) {
    auto cfg = hub_config_of("hub stats", args, io);
    if (!cfg) {
        return exit_error;
    }
    auto store = existing_store("hub stats", *cfg->hub, io);
    if (!store) {
        return exit_error;
    }
    auto st = store->stats();
    if (!st) {
        io.err << "casebridge hub stats: " << st.error().message() << '\n';
        return exit_error;
    }
    // Every configured agency is listed, with 0 when it sent nothing.
    const auto count_of = [](const auto& list, const std::string& id) -> std::int64_t {
        for (const auto& [agency, n] : list) {
            if (agency == id) {
                return n;
            }
        }
        return 0;
    };
    if (args.has("json")) {
        std::vector<std::string> ids;
        for (const auto& a : cfg->hub->agencies) {
            ids.push_back(a.id);
        }
        io.out << hub::stats_json(*st, ids) << '\n';
        return exit_ok;
    }
    io.out << "agency\tactive\twithdrawn\n";
    for (const auto& a : cfg->hub->agencies) {
        io.out << a.id << '\t' << count_of(st->active_per_agency, a.id) << '\t'
               << count_of(st->withdrawn_per_agency, a.id) << '\n';
    }
    io.out << "clusters: " << st->clusters
           << "\nclusters with two or more agencies: " << st->multi_agency_clusters
           << "\nautomatic matches: " << st->auto_links << "\nreview items: " << st->review_items
           << "\nwithin-agency duplicates: " << st->within_agency_duplicates
           << "\nlast linkage: " << st->last_linkage.value_or("never") << '\n';
    return exit_ok;
}

int run_hub_review_export(const parsed_args& args, command_io& io) {
    auto cfg = hub_config_of("hub review export", args, io);
    if (!cfg) {
        return exit_error;
    }
    auto store = existing_store("hub review export", *cfg->hub, io);
    if (!store) {
        return exit_error;
    }
    auto key = store->review_key();
    auto items = store->review_items();
    if (!key || !items) {
        io.err << "casebridge hub review export: the hub store cannot be read\n";
        return exit_error;
    }
    exchange::csv_writer w;
    w.row(hub_review_header());
    for (const auto& it : *items) {
        exchange::csv_row row = {
            std::to_string(it.id),
            it.agency_a,
            it.pseudonym_a,
            it.agency_b,
            it.pseudonym_b,
            hub::score_text(it.score_milli),
            "",
            ""};
        row[7] = hub_review_check(*key, row);
        w.row(row);
    }
    const std::filesystem::path out = *args.get("out");
    if (auto written = write_file_atomically(out, w.text()); !written) {
        io.err << "casebridge hub review export: cannot write " << out.string() << "\n";
        return exit_error;
    }
    io.out << items->size() << " review items in " << out.string() << "\n"
           << "Write same or not_same in 'decision' for each pair you have decided (leave the "
              "others empty), then run\n"
              "casebridge hub review decide --config ... --in "
           << out.string() << " --actor YOUR_ID\n";
    return exit_ok;
}

int run_hub_review_decide(const parsed_args& args, command_io& io) {
    auto cfg = hub_config_of("hub review decide", args, io);
    if (!cfg) {
        return exit_error;
    }
    const std::string actor = *args.get("actor");
    if (!store::is_token_text(actor)) {
        io.err << "casebridge hub review decide: --actor must be an id (letters, digits, . _ - "
                  "@ :), no spaces\n";
        return exit_usage;
    }
    const std::filesystem::path in_file = *args.get("in");
    std::ifstream in(in_file, std::ios::binary);
    if (!in) {
        io.err << "casebridge hub review decide: cannot read " << in_file.string() << "\n";
        return exit_error;
    }
    std::stringstream text;
    text << in.rdbuf();
    const std::string origin = in_file.string();
    if (const auto bad = hub_review_shape(text.str(), origin); !bad.empty()) {
        io.err << "casebridge hub review decide: " << bad << "\n";
        return exit_error;
    }
    linkage::linkage_schema schema;
    try {
        schema = hub::load_hub_schema(*cfg->hub);
    } catch (const std::exception& e) {
        io.err << "casebridge hub review decide: " << e.what() << '\n';
        return exit_error;
    }
    auto store = existing_store("hub review decide", *cfg->hub, io);
    if (!store) {
        return exit_error;
    }
    auto key = store->review_key();
    if (!key) {
        io.err << "casebridge hub review decide: the hub store cannot be read\n";
        return exit_error;
    }
    const auto review = read_hub_review(text.str(), origin, *key);
    const auto& problems = review.problems;
    if (!problems.empty()) {
        io.err << "casebridge hub review decide: the review file is refused; nothing was "
                  "recorded:\n";
        for (const auto& p : problems) {
            io.err << "  " << p << "\n";
        }
        return exit_error;
    }
    auto counts = store->record_decisions(review.decisions, actor);
    if (!counts) {
        io.err << "casebridge hub review decide: the decisions could not be recorded ("
               << counts.error().message() << "); nothing was recorded\n";
        return exit_error;
    }
    auto sum = hub::relink(*store, schema);
    if (!sum) {
        io.err << "casebridge hub review decide: decisions recorded, but the re-link failed ("
               << sum.error().message() << "); run casebridge hub link\n";
        return exit_error;
    }
    io.out << "recorded " << counts->recorded << " decisions (" << review.undecided
           << " pairs left "
           << "undecided, " << counts->no_longer_held
           << " no longer held: a record was withdrawn since the export); re-linked: "
           << sum->multi_agency_clusters << " clusters with two or more agencies, "
           << sum->review_items << " review items\n";
    return exit_ok;
}

}  // namespace casebridge::cli
