// `casebridge check`: validate a configuration and everything it references, offline.
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>

#include "app/config.hpp"
#include "cli/commands.hpp"
#include "core/shipped_data.hpp"
#include "json/json.hpp"
#include "linkage/schema.hpp"

namespace casebridge::cli {

namespace {

/// The linkage schema's own threshold `name` ("upper", "lower"), from the file the hub will
/// load (hub.linkage_schema, else the shipped one from the working folder or
/// $CASEBRIDGE_LINKAGE_SCHEMA, else the compiled-in copy); nullopt when none can be read.
std::optional<double> schema_threshold(const app::hub_config& hub, const char* name) {
    std::string text;
    const auto path =
        hub.linkage_schema.empty() ? linkage::linkage_schema::default_path() : hub.linkage_schema;
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) {
        std::ostringstream all;
        all << std::ifstream(path).rdbuf();
        text = all.str();
    } else if (const auto shipped = find_shipped_file("mappings/linkage/linkage-schema.json")) {
        text = std::string(*shipped);
    }
    const auto doc = json::parse(text, json::dialect::with_comments);
    if (!doc || !doc->IsObject() || !doc->HasMember("thresholds") ||
        !(*doc)["thresholds"].IsObject() || !(*doc)["thresholds"].HasMember(name) ||
        !(*doc)["thresholds"][name].IsNumber()) {
        return std::nullopt;
    }
    return (*doc)["thresholds"][name].GetDouble();
}

}  // namespace

int run_check(const parsed_args& args, command_io& io) {
    const auto c = app::load_config(*args.get("config"), io.adapters, app::config_need::any);
    if (c.hub && (c.hub->upper_threshold.has_value() != c.hub->lower_threshold.has_value())) {
        // One threshold given: the hub compares it with the schema's other one when it starts;
        // so does check, rather than say ok to a hub that will not start.
        const double upper = c.hub->upper_threshold
                                 ? *c.hub->upper_threshold
                                 : schema_threshold(*c.hub, "upper").value_or(2.0);
        const double lower = c.hub->lower_threshold
                                 ? *c.hub->lower_threshold
                                 : schema_threshold(*c.hub, "lower").value_or(0.0);
        if (lower > upper) {
            io.err << "casebridge check: " << c.file.string() << ": at /hub/thresholds/"
                   << (c.hub->upper_threshold ? "upper" : "lower")
                   << ": the lower threshold is above the upper one (with the linkage schema's "
                   << (c.hub->upper_threshold ? "lower" : "upper") << " threshold, "
                   << (c.hub->upper_threshold ? lower : upper) << ")\n";
            return exit_error;
        }
    }
    io.out << "ok: " << c.file.string() << "\n";
    if (c.has_flows) {
        io.out << "  store     " << c.store.path.string() << "\n"
               << "  policies  " << c.policies.string() << "\n";
    }
    if (c.hub) {
        io.out << "  hub       " << c.hub->listen << (c.hub->tls() ? " (TLS" : " (plain HTTP")
               << (c.hub->client_ca_file.empty() ? "" : ", client certificates") << "), store "
               << c.hub->store_path.string() << ", " << c.hub->agencies.size() << " agencies\n";
    }
    for (const auto& s : c.systems) {
        io.out << "  system    " << s.id << " (" << s.kind << ")\n";
    }
    for (const auto& f : c.flows) {
        io.out << "  flow      " << f.id << ": " << f.from_system << " -> " << f.to_system << ", "
               << f.purpose << (f.profile.empty() ? std::string() : " under " + f.profile)
               << (f.paused ? " (paused)" : "") << "\n";
    }
    for (const auto& n : c.notes) {
        io.out << "  note      " << n << "\n";
    }
    return exit_ok;
}

}  // namespace casebridge::cli
