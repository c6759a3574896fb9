// `casebridge policy explain` and `casebridge policy check`: DPISP profiles from the command line.
#include <iostream>
#include <iterator>
#include <ostream>

#include "canonical/canonical_case.hpp"
#include "cli/commands.hpp"
#include "core/clock.hpp"
#include "core/time.hpp"
#include "json/json.hpp"
#include "policy/decision.hpp"
#include "policy/policy.hpp"

namespace casebridge::cli {
namespace {

canonical_catalogue load_catalogue(const parsed_args& args) {
    const auto path = args.get("catalogue");
    return canonical_catalogue::load(
        path ? std::filesystem::path(*path) : canonical_catalogue::default_path()
    );
}

}  // namespace

int run_policy_check(const parsed_args& args, command_io& io) {
    const auto catalogue = load_catalogue(args);
    const auto set = policy::policy_set::load(*args.get("policies"), catalogue);
    for (const auto& p : set.profiles()) {
        io.out << p.id << " v" << p.version << " (" << policy::to_string(p.purpose_) << " to "
               << p.recipient << ") " << p.hash << '\n';
        if (!p.unavailable_key.empty()) {
            io.out << "  note: its pseudonym key or linkage secret cannot be had, so no flow can "
                      "use it yet: "
                   << p.unavailable_key << '\n';
        }
    }
    return exit_ok;
}

int run_policy_explain(const parsed_args& args, command_io& io) {
    const auto catalogue = load_catalogue(args);
    const std::string policies_path = *args.get("policies");
    const auto set = policy::policy_set::load(policies_path, catalogue);
    const std::string id = *args.get("profile");
    const policy::profile* p = set.find(id);
    if (p == nullptr) {
        io.err << "casebridge policy explain: " << policies_path << " has no profile \"" << id
               << "\" (it has:";
        for (const auto& q : set.profiles()) {
            io.err << ' ' << q.id;
        }
        io.err << ")\n";
        return exit_error;
    }
    if (!p->unavailable_key.empty()) {
        io.err << "casebridge policy explain: profile \"" << id
               << "\" pseudonymises with a key (or encodes with a linkage secret) that cannot be "
                  "had: "
               << p->unavailable_key << "\n";
        return exit_error;
    }
    std::string origin = "<stdin>";
    std::string text;
    if (const auto input = args.get("input")) {
        origin = *input;
        auto read = json::read_file(*input);
        if (!read) {
            io.err << "casebridge policy explain: " << origin << ": "
                   << json::read_error_text(read.error()) << "\n";
            return exit_error;
        }
        text = std::move(*read);
    } else {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    auto record = json::parse(text);
    if (!record) {
        io.err << "casebridge policy explain: " << record.error().describe(origin) << '\n';
        return exit_error;
    }
    time_point as_of = system_clock_source::instance().now();
    if (const auto a = args.get("as-of")) {
        const auto parsed = parse_date(*a);
        if (!parsed) {
            io.err << "casebridge policy explain: --as-of wants a date as YYYY-MM-DD\n";
            return exit_usage;
        }
        as_of = *parsed;
    }
    std::optional<policy::operator_override> override_request;
    if (args.has("override-reason") || args.has("actor")) {
        override_request =
            policy::operator_override{args.get_or("actor", ""), args.get_or("override-reason", "")};
        if (override_request->actor.empty() || override_request->reason.empty()) {
            io.err << "casebridge policy explain: an override needs both --actor and "
                      "--override-reason\n";
            return exit_usage;
        }
    }
    const auto d = policy::decide(*p, *record, as_of, override_request);
    if (!d) {
        io.err << "casebridge policy explain: " << origin << ": the record must be a JSON object\n";
        return exit_error;
    }
    io.out << policy::to_json(*d) << '\n';
    return exit_ok;
}

}  // namespace casebridge::cli
