// `casebridge report run` and `casebridge report audit`: sector reports of unique children with
// small cells protected (report/report.hpp, docs/reports.md). Counts only on stdout.
#include <exception>
#include <filesystem>

#include "cli/commands.hpp"
#include "report/report.hpp"

namespace casebridge::cli {

int run_report_run(const parsed_args& args, command_io& io) {
    const std::filesystem::path definitions = *args.get("definitions");
    const std::string id = *args.get("report");
    const std::string period = *args.get("period");
    if (args.has("children") == args.has("hub-store")) {
        io.err << "casebridge report run: give either --hub-store or --children\n";
        return exit_usage;
    }
    const std::filesystem::path out = *args.get("out");
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
        const auto children = args.has("hub-store")
                                  ? report::children_from_hub(*args.get("hub-store"), *spec)
                                  : report::load_children(*args.get("children"));
        const auto r = report::build_report(*spec, children, period);
        std::size_t cells = 0;
        for (const auto& t : r.tables) {
            cells += t.size();
        }
        io.out << "report " << id << " " << period << ": " << children.size()
               << " unique children, " << r.tables.size() << " tables, " << cells << " cells\n"
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
