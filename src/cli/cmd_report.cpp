// `casebridge report run` and `casebridge report audit`: sector reports of unique children with
// small cells protected (report/report.hpp, docs/reports.md). Counts only on stdout.
#include <exception>
#include <filesystem>
#include <optional>

#include "app/config.hpp"
#include "cli/commands.hpp"
#include "report/report.hpp"
#include "report/schedule.hpp"

namespace casebridge::cli {

int run_report_run(const parsed_args& args, command_io& io) {
    const std::string id = *args.get("report");
    const std::string period = *args.get("period");
    // Either a configuration (its reports section, its store and its hub's store) or the
    // definitions and one source given on the command line.
    std::filesystem::path definitions;
    report::report_sources from;
    std::optional<std::filesystem::path> out_dir;
    if (const auto config_file = args.get("config")) {
        if (args.has("definitions") || args.has("store") || args.has("hub-store") ||
            args.has("children")) {
            io.err << "casebridge report run: --config gives the definitions and the stores; "
                      "leave out --definitions, --store, --hub-store and --children\n";
            return exit_usage;
        }
        try {
            const auto cfg = app::load_config(*config_file, io.adapters, app::config_need::any);
            if (!cfg.reports) {
                io.err << "casebridge report run: " << *config_file
                       << " has no reports section (docs/configuration.md)\n";
                return exit_usage;
            }
            definitions = cfg.reports->definitions;
            out_dir = cfg.reports->out_dir;
            if (cfg.has_flows) {
                from.store = cfg.store.path;
            }
            if (cfg.hub) {
                from.hub_store = cfg.hub->store_path;
            }
        } catch (const std::exception& e) {
            io.err << "casebridge report run: " << e.what() << "\n";
            return exit_usage;
        }
    } else {
        if (!args.has("definitions")) {
            io.err << "casebridge report run: give --config, or --definitions and a source\n";
            return exit_usage;
        }
        definitions = *args.get("definitions");
        const int sources =
            int(args.has("children")) + int(args.has("hub-store")) + int(args.has("store"));
        if (sources != 1) {
            io.err << "casebridge report run: give one of --hub-store, --children or --store\n";
            return exit_usage;
        }
        if (args.has("store")) {
            from.store = std::filesystem::path(*args.get("store"));
        }
        if (args.has("hub-store")) {
            from.hub_store = std::filesystem::path(*args.get("hub-store"));
        }
    }
    if (!args.has("out") && !out_dir) {
        io.err << "casebridge report run: give --out DIR\n";
        return exit_usage;
    }
    const std::filesystem::path out = args.has("out") ? std::filesystem::path(*args.get("out"))
                                                      : report::report_dir(*out_dir, id, period);
    try {
        const auto specs = report::load_report_specs(definitions);
        const report::report_spec* spec = nullptr;
        for (const auto& s : specs) {
            if (s.id == id) {
                spec = &s;
            }
        }
        if (spec == nullptr) {
            io.err << "casebridge report run: no report '" << id << "' in " << definitions.string()
                   << "\n";
            return exit_usage;
        }
        const bool events = spec->measure == report::report_measure::events;
        if (events ? !from.store : !(from.hub_store || args.has("children"))) {
            io.err << "casebridge report run: report '" << id << "' counts "
                   << (events ? "an agency's sharing events: give its --store (or a --config "
                                "with flows)"
                              : "unique children: give --hub-store or --children (or a --config "
                                "with a hub section)")
                   << "\n";
            return exit_usage;
        }
        const auto children = events           ? report::events_from_log(*from.store, period)
                              : from.hub_store ? report::children_from_hub(*from.hub_store, *spec)
                                               : report::load_children(*args.get("children"));
        const auto r = report::build_report(*spec, children, period);
        std::size_t cells = 0;
        for (const auto& t : r.tables) {
            cells += t.size();
        }
        io.out << "report " << id << " " << period << ": " << children.size()
               << (events ? " sharing events, " : " unique children, ") << r.tables.size()
               << " tables, " << cells << " cells\n"
               << "withheld: " << r.protection.primary_count << " small counts (1 to "
               << spec->k - 1 << ") and " << r.protection.secondary_count
               << " cells that would reveal them; " << r.protection.programmes
               << " linear programmes\n";
        if (!r.exposures.empty()) {
            io.err << "casebridge report run: the audit found " << r.exposures.size()
                   << " withheld cells narrower than k; nothing written\n";
            return exit_error;
        }
        report::write_report(r, out);
        io.out << "audit: every withheld cell is at least " << spec->k << " wide\n"
               << "written: " << out.string() << " (report.html, report.xlsx, " << r.tables.size()
               << " CSV files, manifest.json)\n";
        return exit_ok;
    } catch (const std::exception& e) {
        io.err << "casebridge report run: " << e.what() << "\n";
        return exit_error;
    }
}

int run_report_audit(const parsed_args& args, command_io& io) {
    const std::filesystem::path dir = args.positional().at(0);
    try {
        const auto a = report::audit_folder(dir);
        io.out << "report " << a.report << " " << a.period << ": " << a.tables << " tables, "
               << a.cells << " cells, " << a.withheld << " withheld, k " << a.k << ", "
               << a.programmes << " programmes\n";
        if (a.exposed.empty()) {
            io.out << "audit: passed; no withheld cell can be narrowed below " << a.k << "\n";
            return exit_ok;
        }
        io.out << "audit: FAILED; " << a.exposed.size() << " withheld cells narrower than " << a.k
               << ":\n";
        for (const auto& e : a.exposed) {
            io.out << "  " << e << "\n";
        }
        return exit_diverged;
    } catch (const std::exception& e) {
        io.err << "casebridge report audit: " << e.what() << "\n";
        return exit_error;
    }
}

}  // namespace casebridge::cli
