// `casebridge check`: validate a configuration and everything it references, offline.
#include <ostream>
#include <stdexcept>

#include "app/config.hpp"
#include "cli/commands.hpp"
#include "hub/hub_service.hpp"

namespace casebridge::cli {

int run_check(const parsed_args& args, command_io& io) {
    const auto c = app::load_config(*args.get("config"), io.adapters, app::config_need::any);
    if (c.hub && (c.hub->upper_threshold.has_value() != c.hub->lower_threshold.has_value())) {
        // One threshold given: the hub compares it with the schema's other one when it starts;
        // so does check, rather than say ok to a hub that will not start.
        if (const auto own = hub::hub_schema_thresholds(*c.hub)) {
            try {
                (void)hub::apply_hub_thresholds(*c.hub, *own);
            } catch (const std::invalid_argument& e) {
                io.err << "casebridge check: " << c.file.string() << ": at /hub/thresholds/"
                       << (c.hub->upper_threshold ? "upper" : "lower") << ": " << e.what() << "\n";
                return exit_error;
            }
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
