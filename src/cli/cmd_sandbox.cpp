// `casebridge sandbox primero|ping`: serve a sandbox until SIGINT/SIGTERM.
#include <algorithm>
#include <charconv>
#include <csignal>
#include <ostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "cli/commands.hpp"
#include "core/clock.hpp"
#include "sandbox/ping/ping_sandbox.hpp"
#include "sandbox/primero/primero_sandbox.hpp"

namespace casebridge::cli {
namespace {

bool parse_number(const std::string& text, std::uint64_t max, std::uint64_t& out) {
    // Decimal digits only: no sign, no spaces, no base prefix.
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
        return false;
    }
    std::uint64_t v = 0;
    const auto [at, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || at != text.data() + text.size() || v > max) {
        return false;  // out of range of uint64 too
    }
    out = v;
    return true;
}

bool parse_listen(const std::string& text, std::string& address, unsigned short& port) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        return false;
    }
    address = text.substr(0, colon);
    if (address.front() == '[' && address.back() == ']') {
        address = address.substr(1, address.size() - 2);
    }
    std::uint64_t p = 0;
    if (!parse_number(text.substr(colon + 1), 65535, p)) {
        return false;
    }
    port = static_cast<unsigned short>(p);
    return true;
}

}  // namespace

int run_sandbox_primero(const parsed_args& args, command_io& io) {
    sandbox::primero_settings s;
    if (!parse_listen(args.get_or("listen", "127.0.0.1:0"), s.listen_address, s.port)) {
        io.err << "casebridge sandbox primero: --listen wants ADDRESS:PORT, e.g. 127.0.0.1:0\n";
        return exit_usage;
    }
    std::uint64_t n = 0;
    if (const auto cases = args.get("cases")) {
        // Each case is held in memory (several KiB): a bound the machine can serve.
        if (!parse_number(*cases, 1'000'000, n)) {
            io.err << "casebridge sandbox primero: --cases wants a number up to 1000000\n";
            return exit_usage;
        }
        s.cases = n;
    }
    if (const auto seed = args.get("seed")) {
        if (!parse_number(*seed, ~std::uint64_t{0}, s.seed)) {
            io.err << "casebridge sandbox primero: --seed wants a whole number from 0 to "
                      "18446744073709551615\n";
            return exit_usage;
        }
    }
    if (args.has("population") || args.has("agency") || args.has("population-children")) {
        const auto seed = args.get("population");
        const auto agency = args.get("agency");
        if (!seed || !agency) {
            io.err << "casebridge sandbox primero: --population SEED and --agency K go together\n";
            return exit_usage;
        }
        if (args.has("cases")) {
            io.err << "casebridge sandbox primero: --cases and --population exclude each other "
                      "(the population decides the cases)\n";
            return exit_usage;
        }
        sandbox::primero_population p;
        if (!parse_number(*seed, ~std::uint64_t{0}, p.options.seed)) {
            io.err << "casebridge sandbox primero: --population wants a seed, a whole number "
                      "from 0 to 18446744073709551615\n";
            return exit_usage;
        }
        if (const auto children = args.get("population-children")) {
            if (!parse_number(*children, 100'000, n) || n == 0) {
                io.err << "casebridge sandbox primero: --population-children wants a number "
                          "from 1 to 100000\n";
                return exit_usage;
            }
            p.options.children = n;
        }
        const auto& agencies = p.options.agencies;
        if (parse_number(*agency, agencies.size() - 1, n)) {
            p.agency = agencies[n];
        } else if (std::find(agencies.begin(), agencies.end(), *agency) != agencies.end()) {
            p.agency = *agency;
        } else {
            io.err << "casebridge sandbox primero: --agency wants an index from 0 to "
                   << agencies.size() - 1 << " or one of";
            for (const auto& a : agencies) {
                io.err << ' ' << a;
            }
            io.err << '\n';
            return exit_usage;
        }
        s.population = std::move(p);
    }
    for (const auto& f : args.all("fault")) {
        sandbox::fault_rule rule;
        if (!sandbox::parse_fault_rule(f, rule)) {
            io.err << "casebridge sandbox primero: bad --fault '" << f
                   << "' (KIND[:EVERY], KIND one of latency=MS, 500, 502, 503, 504, 429, reset, "
                      "truncate, malformed, lost)\n";
            return exit_usage;
        }
        s.faults.push_back(rule);
    }
    s.legacy_jwt = args.has("legacy-jwt");
    boost::asio::io_context ctx;
    boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
    std::unique_ptr<sandbox::primero_sandbox> box;
    try {
        box = std::make_unique<sandbox::primero_sandbox>(s, system_clock_source::instance());
    } catch (const std::exception& e) {
        io.err << "casebridge sandbox primero: cannot listen on " << s.listen_address << ':'
               << s.port << ": " << e.what() << '\n';
        return exit_error;
    }
    io.out << box->base_url() << '\n'
           << "user: " << box->user_name() << '\n'
           << "password: " << box->password() << '\n';
    if (s.population) {
        io.out << "agency: " << s.population->agency << '\n'
               << "cases: " << box->case_count() << '\n';
    }
    io.out.flush();
    signals.async_wait([](const boost::system::error_code&, int) {});
    ctx.run();
    return exit_ok;
}

int run_sandbox_ping(const parsed_args& args, command_io& io) {
    sandbox::ping_settings s;
    const auto usage = [&io](const char* what) {
        io.err << "casebridge sandbox ping: " << what << '\n';
        return exit_usage;
    };
    if (!parse_listen(args.get_or("listen", "127.0.0.1:0"), s.listen_address, s.port)) {
        return usage("--listen wants ADDRESS:PORT, e.g. 127.0.0.1:0");
    }
    std::uint64_t n = 0;
    if (const auto v = args.get("interventions")) {
        if (!parse_number(*v, 1'000'000, n)) {
            return usage("--interventions wants a number up to 1000000");
        }
        s.interventions = n;
    }
    if (const auto v = args.get("seed")) {
        if (!parse_number(*v, ~std::uint64_t{0}, s.seed)) {
            return usage("--seed wants a whole number from 0 to 18446744073709551615");
        }
    }
    if (const auto v = args.get("token-lifetime")) {
        if (!parse_number(*v, 86'400, n) || n == 0) {
            return usage("--token-lifetime wants seconds, 1 to 86400");
        }
        s.token_lifetime = std::chrono::seconds(n);
    }
    if (const auto v = args.get("page-rows")) {
        if (!parse_number(*v, 5000, n) || n == 0) {
            return usage("--page-rows wants a number from 1 to 5000");
        }
        s.page_rows = n;
    }
    if (const auto v = args.get("decide-after")) {
        if (!parse_number(*v, 86'400 * 30, n)) {
            return usage("--decide-after wants seconds, 0 to 2592000");
        }
        s.decide_after = std::chrono::seconds(n);
    }
    for (const auto& f : args.all("fault")) {
        sandbox::fault_rule rule;
        if (!sandbox::parse_fault_rule(f, rule)) {
            io.err << "casebridge sandbox ping: bad --fault '" << f
                   << "' (KIND[:EVERY], KIND one of latency=MS, 500, 502, 503, 504, 429, reset, "
                      "truncate, malformed, lost)\n";
            return exit_usage;
        }
        s.faults.push_back(rule);
    }
    boost::asio::io_context ctx;
    boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
    std::unique_ptr<sandbox::ping_sandbox> box;
    try {
        box = std::make_unique<sandbox::ping_sandbox>(s, system_clock_source::instance());
    } catch (const std::exception& e) {
        io.err << "casebridge sandbox ping: cannot listen on " << s.listen_address << ':' << s.port
               << ": " << e.what() << '\n';
        return exit_error;
    }
    const auto& ids = box->ids();
    io.out << box->base_url() << '\n'
           << "token_url: " << box->token_url() << '\n'
           << "user: " << box->user_name() << '\n'
           << "password: " << box->password() << '\n'
           << "client_id: " << box->client_id() << '\n'
           << "subscription_key: " << box->subscription_key() << '\n'
           << "scope: " << ids.scope << '\n'
           << "partner_id: " << ids.partner_id << '\n'
           << "interop_id: " << ids.interop_id << '\n'
           << "business_unit: " << ids.business_unit << '\n'
           << "organization: " << ids.organization << '\n'
           << "correlation_field: " << ids.correlation_field << '\n'
           << "shipping_process.referrals.pull: " << ids.referrals_pull << '\n'
           << "shipping_process.referrals.fetch: " << ids.intervention_detail << '\n'
           << "shipping_process.referrals.push: " << ids.referral_ingest << '\n'
           << "shipping_process.referrals.lookup: " << ids.referral_lookup << '\n'
           << "shipping_process.decisions.pull: " << ids.decisions_pull << '\n'
           << "shipping_process.decisions.fetch: " << ids.decision_detail << '\n'
           << "shipping_process.decisions.push: " << ids.intervention_status << '\n'
           << "shipping_process.transfer_status.push: " << ids.intervention_status << '\n';
    io.out.flush();
    signals.async_wait([](const boost::system::error_code&, int) {});
    ctx.run();
    return exit_ok;
}

}  // namespace casebridge::cli
