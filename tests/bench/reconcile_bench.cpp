// What a reconciliation costs against what a sync of the same records costs, side by side in one
// run: a flow between two in-process Primero sandboxes (real HTTP on 127.0.0.1:0), built by the
// engine from a generated configuration, with a real SQLite store in a temp folder. First a full
// sync delivers every case; then a reconciliation of the whole flow (every delivered record
// read at the source and at the target) and a sampled one (459, the daemon's default). Prints
// records per second and HTTP requests per record for each:
//   build/release/tests/bench/casebridge_reconcile_bench [CASES]   (default: 10000)
// The systems are not throttled (requests_per_second 10000), so the figures are casebridge's and
// the sandboxes' own cost; at a protective limit of R requests per second a run takes at least
// requests / R seconds.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter/registry.hpp"
#include "app/config.hpp"
#include "app/engine.hpp"
#include "core/clock.hpp"
#include "log/log.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "store/crypto.hpp"
#include "support/run_awaitable.hpp"
#include "sync/reconcile.hpp"

namespace fs = std::filesystem;
using namespace casebridge;

namespace {

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;

void write_secret(const fs::path& file, const std::string& text) {
    std::ofstream(file, std::ios::trunc) << text;
    ::chmod(file.c_str(), 0600);
}

std::string config_text(const sandbox::primero_sandbox& from, const sandbox::primero_sandbox& to) {
    const auto system = [](const char* password_file, const sandbox::primero_sandbox& s) {
        return std::string(R"({"kind": "primero", "settings": {"base_url": ")") + s.base_url() +
               R"(", "auth": {"mode": "basic", "user_name": ")" + s.user_name() +
               R"(", "password_file": ")" + password_file +
               R"("}, "per_page": 100},
               "tls": {"allow_plain_http_on_loopback": true},
               "limits": {"requests_per_second": 10000}})";
    };
    const std::string mapping = (source_dir / "mappings/primero.case.json").string();
    return R"({"config_version": 1, "log_level": "warn",
  "catalogue": ")" +
           (source_dir / "mappings/canonical-case.json").string() + R"(",
  "policies": ")" +
           (source_dir / "config/policies.json").string() + R"(",
  "store": {"path": "casebridge.db", "signing_key_file": "signing.pem",
            "identifier_key_file": "identifier.key"},
  "systems": {"cpims-a": )" +
           system("from-password", from) + R"(, "cpims-b": )" + system("to-password", to) +
           R"(},
  "flows": [{"id": "handover", "from": {"system": "cpims-a", "stream": "cases"},
             "to": {"system": "cpims-b", "stream": "cases"}, "purpose": "transfer",
             "profile": "transfer-agency", "mappings": {"in": ")" +
           mapping + R"(", "out": ")" + mapping + R"("}}]})";
}

struct measured {
    std::int64_t records = 0;
    double seconds = 0;
    std::size_t requests = 0;
};

void print(const char* what, const measured& m) {
    std::printf(
        "%-34s %7lld records %8.2f s %9.0f records/s %7.2f requests/record\n",
        what,
        static_cast<long long>(m.records),
        m.seconds,
        m.seconds > 0 ? static_cast<double>(m.records) / m.seconds : 0.0,
        m.records > 0 ? static_cast<double>(m.requests) / static_cast<double>(m.records) : 0.0
    );
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t cases = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000;
    if (cases == 0) {
        std::fprintf(stderr, "usage: casebridge_reconcile_bench [CASES]\n");
        return 2;
    }
    ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "reconcile-bench-pseudonym-key-0123456789abcdef", 1);
    std::string pattern = (fs::temp_directory_path() / "cb-reconcile-bench-XXXXXX").string();
    const fs::path dir = ::mkdtemp(pattern.data());
    const auto& clock = system_clock_source::instance();
    int code = 0;
    {
        sandbox::primero_settings a;
        a.cases = cases;
        a.seed = 31;
        sandbox::primero_sandbox from(a, clock);
        sandbox::primero_settings b;
        b.seed = 32;
        sandbox::primero_sandbox to(b, clock);
        // Every case may be shared, so every one is delivered and then reconciled.
        for (const auto& id : from.case_ids()) {
            from.edit_case(
                id,
                R"({"record_state": true, "consent_for_services": true,
                    "disclosure_other_orgs": true,
                    "consent_info_sharing": ["other_organizations"]})"
            );
        }
        // The Primero adapter reads up to one second before now (cases still being written are
        // left to the next run): wait until the edits are behind that window.
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        write_secret(dir / "signing.pem", store::signer::generate().private_key_pem());
        write_secret(dir / "identifier.key", std::string(40, 'i'));
        write_secret(dir / "from-password", from.password() + "\n");
        write_secret(dir / "to-password", to.password() + "\n");
        std::ofstream(dir / "casebridge.json") << config_text(from, to);

        adapter_registry registry;
        register_builtin_adapters(registry);
        net::io_context ctx;
        logger log(stderr_sink::instance(), clock, log_level::warn);
        app::engine e(
            app::load_config(dir / "casebridge.json", &registry),
            registry,
            ctx.get_executor(),
            clock,
            log,
            app::engine_options{false, true}
        );
        auto& runner = *e.find("handover")->runner;
        const auto requests = [&] {
            return from.server().request_count() + to.server().request_count();
        };

        measured sync;
        auto before = requests();
        auto t0 = std::chrono::steady_clock::now();
        const auto ran = test::run_on(ctx, runner.run_once({}));
        sync.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        sync.requests = requests() - before;
        sync.records = ran.counts.sent;
        if (ran.error || ran.counts.sent != static_cast<std::int64_t>(cases)) {
            std::fprintf(
                stderr,
                "the sync sent %lld of %zu cases (fetched %lld, withheld %lld, dead "
                "%lld)%s%s%s%s\n",
                static_cast<long long>(ran.counts.sent),
                cases,
                static_cast<long long>(ran.counts.fetched),
                static_cast<long long>(ran.counts.withheld),
                static_cast<long long>(ran.counts.dead),
                ran.error ? ": " : "",
                ran.error ? ran.error->c_str() : "",
                ran.note ? "; " : "",
                ran.note ? ran.note->c_str() : ""
            );
            code = 1;
        }

        const auto reconcile_timed = [&](std::optional<std::size_t> sample, measured& m) {
            sync::reconcile_options o;
            o.sample = sample;
            o.seed = 5;
            const auto at = requests();
            const auto t = std::chrono::steady_clock::now();
            const auto r = test::run_on(ctx, sync::reconcile(runner, e.store(), clock, log, o));
            m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
            m.requests = requests() - at;
            m.records = r.checked;
            if (r.error || r.count(sync::verdict::match) != r.checked) {
                std::fprintf(
                    stderr,
                    "a reconciliation found %lld of %lld matching%s%s\n",
                    static_cast<long long>(r.count(sync::verdict::match)),
                    static_cast<long long>(r.checked),
                    r.error ? ": " : "",
                    r.error ? r.error->c_str() : ""
                );
                code = 1;
            }
        };
        measured full;
        reconcile_timed(std::nullopt, full);
        measured sampled;
        reconcile_timed(459, sampled);

        std::printf(
            "%zu cases, Primero sandbox to Primero sandbox, per_page 100, concurrency 4\n", cases
        );
        print("full sync (every case sent)", sync);
        print("reconcile, every record (--all)", full);
        print("reconcile, sample 459", sampled);
        if (sync.seconds > 0 && full.seconds > 0) {
            std::printf(
                "reconcile --all / sync: %.2f x the time, %.2f x the requests\n",
                full.seconds / sync.seconds,
                static_cast<double>(full.requests) / static_cast<double>(sync.requests)
            );
        }
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    return code;
}
