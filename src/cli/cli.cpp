#include "cli/cli.hpp"

#include <algorithm>
#include <ostream>
#include <sstream>

#include "cli/commands.hpp"
#include "json/json.hpp"

namespace casebridge::cli {

const std::vector<command_spec>& commands() {
    static const std::vector<command_spec> table = {
        {
            .name = "version",
            .summary = "print the version of casebridge and of the libraries it was built with",
            .usage = "[--json]",
            .description =
                "Prints casebridge's version, then the versions of Boost, OpenSSL, SQLite and\n"
                "RapidJSON: the ones it was compiled against and, for OpenSSL and SQLite, the\n"
                "ones loaded at run time.",
            .options = {{"json", "", "print one JSON object instead of text"}},
            .run = run_version,
        },
        {
            .name = "sandbox primero",
            .summary = "serve a simulated CPIMS+ (Primero v2) API with synthetic cases",
            .usage = "[--listen ADDRESS:PORT] [--cases N] [--seed S] [--fault KIND[:EVERY] ...]",
            .description =
                "Serves the Primero v2 API as the reference describes it (Basic and session\n"
                "auth, envelopes and errors, paging, filters, create/update/disable, referrals\n"
                "and transfers) with N synthetic cases, the same for the same seed. Prints the\n"
                "base URL on the first line of stdout, then 'user: NAME' and 'password: SECRET',\n"
                "and serves until interrupted. Plain HTTP: bind it to loopback only.",
            .options =
                {{"listen", "ADDRESS:PORT", "where to listen (default 127.0.0.1:0, any free port)"},
                 {"cases", "N", "synthetic cases to generate (default 0)"},
                 {"seed", "S", "seed for cases and password (default 1)"},
                 {"fault",
                  "KIND[:EVERY]",
                  "inject a fault every EVERY requests (default 10): latency=MS, 500, 502, 503, "
                  "504, 429, reset, truncate, malformed, lost (handled, then reset)",
                  false,
                  true},
                 {"legacy-jwt", "", "log in as Primero <= 2.10 did: a JWT instead of a session"}},
            .run = run_sandbox_primero,
        },
    };
    return table;
}

std::string help_text(const command_spec& c) {
    std::ostringstream s;
    s << "Usage: casebridge " << c.name;
    if (!c.usage.empty()) {
        s << ' ' << c.usage;
    }
    s << "\n\n" << c.summary << ".\n";
    if (!c.description.empty()) {
        s << '\n' << c.description << '\n';
    }
    s << "\nOptions:\n";
    std::size_t width = 10;
    std::vector<std::string> left;
    for (const auto& o : c.options) {
        std::string l = "--" + std::string(o.name);
        if (!o.value_name.empty()) {
            l += ' ' + std::string(o.value_name);
        }
        width = std::max(width, l.size());
        left.push_back(std::move(l));
    }
    for (std::size_t i = 0; i < c.options.size(); ++i) {
        const auto& o = c.options[i];
        s << "  " << left[i] << std::string(width - left[i].size() + 2, ' ') << o.help;
        if (o.required) {
            s << " (required)";
        }
        if (o.repeatable) {
            s << " (may be repeated)";
        }
        s << '\n';
    }
    s << "  -h, --help" << std::string(width > 10 ? width - 10 + 2 : 2, ' ') << "show this help\n";
    s << "\nExit codes: 0 ok, 1 error, 2 usage";
    if (c.name == "mapping apply") {
        s << ", 3 record held";
    }
    s << ".\n";
    return s.str();
}

std::string overview_text() {
    std::ostringstream s;
    s << "casebridge moves child-protection case data between CPIMS+ (Primero v2), UNHCR\n"
         "proGres v4 (through PING) and the Bangladesh DSS, under DPISP profiles, with a\n"
         "tamper-evident transfer log.\n\n"
         "Usage: casebridge COMMAND [OPTIONS]\n\nCommands:\n";
    std::size_t width = 0;
    for (const auto& c : commands()) {
        width = std::max(width, c.name.size());
    }
    for (const auto& c : commands()) {
        s << "  " << c.name << std::string(width - c.name.size() + 2, ' ') << c.summary << '\n';
    }
    s << "\nRun 'casebridge COMMAND --help' for a command's options.\n"
         "Exit codes: 0 ok, 1 error, 2 usage, 3 record held (mapping apply).\n";
    return s.str();
}

int run(const std::vector<std::string>& args, command_io& io) {
    if (args.empty() || args[0] == "-h" || args[0] == "--help") {
        io.out << overview_text();
        return args.empty() ? exit_usage : exit_ok;
    }
    if (args[0] == "-V" || args[0] == "--version") {
        return run(std::vector<std::string>{"version"}, io);
    }
    if (args[0] == "help") {
        if (args.size() == 1) {
            io.out << overview_text();
            return exit_ok;
        }
        std::vector<std::string> rest(args.begin() + 1, args.end());
        rest.emplace_back("--help");
        return run(rest, io);
    }
    // Longest match first: "mapping check" before a one-word "mapping".
    const command_spec* best = nullptr;
    std::size_t best_words = 0;
    for (const auto& c : commands()) {
        const std::string_view name = c.name;
        const std::size_t space = name.find(' ');
        const std::size_t words = space == std::string_view::npos ? 1 : 2;
        const bool match = words == 1 ? args[0] == name
                                      : args.size() >= 2 && args[0] == name.substr(0, space) &&
                                            args[1] == name.substr(space + 1);
        if (match && words > best_words) {
            best = &c;
            best_words = words;
        }
    }
    if (best == nullptr) {
        // A group word alone ("mapping") or with an unknown second word: list the group.
        std::vector<const command_spec*> group;
        for (const auto& c : commands()) {
            if (c.name.substr(0, c.name.find(' ')) == args[0] &&
                c.name.find(' ') != std::string_view::npos) {
                group.push_back(&c);
            }
        }
        if (!group.empty()) {
            if (args.size() >= 2 && args[1] != "-h" && args[1] != "--help") {
                io.err << "casebridge: unknown command '" << args[0] << ' ' << args[1] << "'\n";
            }
            io.err << "casebridge " << args[0] << " needs one of:\n";
            for (const auto* c : group) {
                io.err << "  " << c->name << "  " << c->summary << '\n';
            }
            const bool asked = args.size() >= 2 && (args[1] == "-h" || args[1] == "--help");
            return asked ? exit_ok : exit_usage;
        }
        io.err << "casebridge: unknown command '" << args[0] << "' (run 'casebridge --help')\n";
        return exit_usage;
    }
    const std::vector<std::string> rest(
        args.begin() + static_cast<std::ptrdiff_t>(best_words), args.end()
    );
    const option_parser parser(best->options, best->min_positional, best->max_positional);
    auto parsed = parser.parse(rest);
    if (parsed.help_requested) {
        io.out << help_text(*best);
        return exit_ok;
    }
    if (!parsed.args) {
        io.err << "casebridge " << best->name << ": " << parsed.error << "\n"
               << "Usage: casebridge " << best->name << ' ' << best->usage << "\n"
               << "Run 'casebridge " << best->name << " --help' for details.\n";
        return exit_usage;
    }
    try {
        return best->run(*parsed.args, io);
    } catch (const json::file_error& e) {
        // Startup-style errors: a file that cannot be used. The message names file:line:col.
        io.err << "casebridge " << best->name << ": " << e.what() << '\n';
        return exit_error;
    }
}

}  // namespace casebridge::cli
