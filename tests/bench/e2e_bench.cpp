// The whole referral sync, end to end, against its wire floor, side by side in one run: a
// CPIMS+ (Primero) sandbox with N synthetic cases and a PING sandbox on loopback, the
// `cpims-referrals-to-unhcr` flow run by the real binary as a child process (`casebridge flow
// run`, so its peak RSS and CPU time are its own), then the wire floor: a minimal client that
// sends the very requests casebridge sent (recorded whole by the sandboxes: the same page reads
// of the source, the same token request and pushes to a fresh PING sandbox of the same seed),
// concurrently over as many connections as casebridge may open per system, with no mapping,
// store or log. Prints per size: cases/s, wall time and its ratio to the floor, peak RSS, CPU
// seconds, requests per system and the share of source reads that were re-reads.
//   build/release/tests/bench/casebridge_e2e_bench [CASES...] [--cycle N] [--cycle-only]
// (default: 10000 50000 100000). Then a running daemon (`casebridge run`, a child process): its
// full sync of the largest size (or N) and a cycle after 1 % of those cases were changed.
// Both systems are unthrottled (requests_per_second 10000, the most allowed; max_connections as
// shipped, 20), so the figures are casebridge's and the sandboxes' own cost.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.hpp"
#include "json/json.hpp"
#include "net/http_client.hpp"
#include "sandbox/ping/ping_sandbox.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "store/crypto.hpp"

namespace fs = std::filesystem;
using namespace casebridge;

namespace {

const fs::path source_dir = CASEBRIDGE_SOURCE_DIR;
constexpr std::size_t connections = 20;  // limits.max_connections as shipped, per system
int per_page = 100;  ///< Primero cases per page (--per-page; the adapter's default is 1000)

void write_secret(const fs::path& file, const std::string& text) {
    std::ofstream(file, std::ios::trunc) << text << "\n";
    ::chmod(file.c_str(), 0600);
}

std::string quoted(const fs::path& p) {
    return "\"" + p.string() + "\"";
}

/// `daemon`: with an admin API on a port the system chooses, and the flow scheduled once a
/// week (so the daemon runs it once at start, and then only when asked).
std::string config_text(
    const sandbox::primero_sandbox& cpims,
    const sandbox::ping_sandbox& ping,
    const fs::path& dir,
    bool daemon = false
) {
    const std::string limits = R"("limits": {"requests_per_second": 10000, "max_connections": )" +
                               std::to_string(connections) + "}";
    const std::string admin =
        daemon ? R"("admin": {"listen": "127.0.0.1:0", "token_file": "admin-token"},
  )"
               : "";
    const std::string schedule = daemon ? R"(, "schedule": {"every_seconds": 604800})" : "";
    return R"({"config_version": 1, "log_level": "warn",
  )" + admin +
           R"("catalogue": )" + quoted(source_dir / "mappings/canonical-case.json") +
           R"(,
  "policies": )" +
           quoted(source_dir / "config/policies.json") +
           R"(,
  "store": {"path": "casebridge.db", "signing_key_file": "signing.pem",
            "identifier_key_file": "identifier.key"},
  "systems": {
    "cpims": {"kind": "primero", "settings": {"base_url": ")" +
           cpims.base_url() + R"(", "auth": {"mode": "basic", "user_name": ")" + cpims.user_name() +
           R"(", "password_file": "cpims-password"}, "per_page": )" + std::to_string(per_page) +
           R"(},
              "tls": {"allow_plain_http_on_loopback": true}, )" +
           limits + R"(},
    "progres": {"kind": "progres_ping", "settings": )" +
           ping.adapter_settings_json(
               (dir / "ping-password").string(), (dir / "ping-subscription-key").string(), false
           ) +
           R"(, "tls": {"allow_plain_http_on_loopback": true}, )" + limits + R"(}
  },
  "flows": [
    {"id": "cpims-referrals-to-unhcr",
     "from": {"system": "cpims", "stream": "cases"},
     "to": {"system": "progres", "stream": "referrals"},
     "purpose": "referral", "profile": "referral-unhcr",
     "mappings": {"in": )" +
           quoted(source_dir / "mappings/primero.case.json") + R"(, "out": )" +
           quoted(source_dir / "mappings/progres_ping.referral_out.json") + R"(},
     "one_record_per_row_of": "/services_section",
     "only_rows_where": {"field": "/services_section/service_implementing_agency",
                         "in": ["agency-unhcr"]})" +
           schedule + R"(}
  ]
})";
}

struct child_run {
    int status = -1;
    double wall = 0;
    double cpu = 0;          ///< user + system seconds
    double store_cpu = 0;    ///< of them, the store thread's ("cb-store"), as last read
    double sandbox_cpu = 0;  ///< this process's meanwhile: the two sandboxes answering it
    /// Seconds its threads were ready to run but waited for a core (the kernel's schedstat,
    /// summed over them); negative when the kernel keeps no such count.
    double queued = -1;
    long peak_rss_kb = 0;
};

double seconds_of(const struct rusage& use) {
    return static_cast<double>(use.ru_utime.tv_sec + use.ru_stime.tv_sec) +
           static_cast<double>(use.ru_utime.tv_usec + use.ru_stime.tv_usec) / 1e6;
}

/// User + system seconds of this process so far (its sandboxes' threads included).
double own_cpu() {
    struct rusage use {};
    ::getrusage(RUSAGE_SELF, &use);
    return seconds_of(use);
}

/// User + system seconds of the thread named `name` in process `pid`; 0 when it has none.
double thread_cpu(pid_t pid, std::string_view name) {
    // The process may end while its tasks are read: no step may throw.
    std::error_code ec;
    const fs::path tasks = "/proc/" + std::to_string(pid) + "/task";
    for (fs::directory_iterator it(tasks, ec), end; !ec && it != end; it.increment(ec)) {
        std::string comm;
        std::getline(std::ifstream(it->path() / "comm"), comm);
        if (comm != name) {
            continue;
        }
        std::string stat;
        std::getline(std::ifstream(it->path() / "stat"), stat);
        const auto close = stat.rfind(") ");
        if (close == std::string::npos) {
            return 0;
        }
        // After the name's closing parenthesis: state is field 3, utime 14, stime 15.
        std::istringstream rest(stat.substr(close + 2));
        std::string field;
        double ticks = 0;
        for (int i = 3; i <= 15 && rest >> field; ++i) {
            if (i >= 14) {
                ticks += std::strtod(field.c_str(), nullptr);
            }
        }
        return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
    return 0;
}

/// The latest reading, by thread id, of the seconds each thread of `pid` has waited ready to
/// run for a core (the second field of /proc/PID/task/TID/schedstat). A thread that ends keeps
/// its last reading. False when the kernel gives no schedstat.
bool read_queue_waits(pid_t pid, std::map<std::string, double>& waits) {
    std::error_code ec;
    const fs::path tasks = "/proc/" + std::to_string(pid) + "/task";
    bool any = false;
    for (fs::directory_iterator it(tasks, ec), end; !ec && it != end; it.increment(ec)) {
        std::ifstream in(it->path() / "schedstat");
        double on_cpu_ns = 0;
        double waited_ns = 0;
        if (in >> on_cpu_ns >> waited_ns) {
            waits[it->path().filename().string()] = waited_ns / 1e9;
            any = true;
        }
    }
    return any;
}

/// `casebridge ARGS...` started as a child process in `dir`, its output to dir/LOG_NAME.
pid_t spawn(const std::vector<std::string>& args, const fs::path& dir, const char* log_name) {
    std::fflush(stdout);  // or the child's stdout would write the parent's buffer again
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (::chdir(dir.c_str()) != 0) {
            ::_exit(127);
        }
        const auto log = (dir / log_name).string();
        std::FILE* out = std::freopen(log.c_str(), "w", stdout);
        if (out == nullptr || ::dup2(::fileno(stdout), STDERR_FILENO) < 0) {
            ::_exit(127);
        }
        std::vector<char*> argv;
        std::string binary = CASEBRIDGE_BINARY;
        argv.push_back(binary.data());
        std::vector<std::string> copy = args;
        for (auto& a : copy) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        ::execv(binary.c_str(), argv.data());
        ::_exit(127);
    }
    return pid;
}

std::string queued_text(double seconds) {
    if (seconds < 0) {
        return "-";
    }
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", seconds);
    return text;
}

/// `casebridge ARGS...` in `dir`, its output to dir/run.log; waited for with its usage.
child_run run_binary(const std::vector<std::string>& args, const fs::path& dir) {
    const auto start = std::chrono::steady_clock::now();
    const double own_before = own_cpu();
    const pid_t pid = spawn(args, dir, "run.log");
    child_run r;
    std::map<std::string, double> waits;  // by thread id
    bool waits_known = false;
    struct rusage use {};
    // Peak RSS from /proc/PID/status (VmHWM), read every 10 ms: the address space exec gave
    // casebridge. (ru_maxrss would count the fork's copy of this process, sandboxes and all.)
    for (;;) {
        const pid_t done = ::wait4(pid, &r.status, WNOHANG, &use);
        if (done == pid) {
            break;
        }
        // Only once the child is casebridge: before exec it is a copy of this process.
        std::error_code ec;
        const auto exe = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
        if (ec || exe != fs::weakly_canonical(CASEBRIDGE_BINARY)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            continue;
        }
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        std::string line;
        while (std::getline(status, line)) {
            if (line.rfind("VmHWM:", 0) == 0) {
                r.peak_rss_kb = std::max(r.peak_rss_kb, std::strtol(line.c_str() + 6, nullptr, 10));
            }
        }
        r.store_cpu = std::max(r.store_cpu, thread_cpu(pid, "cb-store"));
        waits_known = read_queue_waits(pid, waits) || waits_known;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (waits_known) {
        r.queued = 0;
        for (const auto& [tid, seconds] : waits) {
            r.queued += seconds;
        }
    }
    r.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.cpu = seconds_of(use);
    r.sandbox_cpu = own_cpu() - own_before;
    return r;
}

/// The flow run once by the binary on a fresh store in `dir`, against the two sandboxes.
/// The secrets and the configuration of the flow between the two sandboxes, in `dir`.
void write_flow_files(
    const sandbox::primero_sandbox& cpims,
    const sandbox::ping_sandbox& ping,
    const fs::path& dir,
    bool daemon
) {
    write_secret(dir / "signing.pem", store::signer::generate().private_key_pem());
    write_secret(dir / "identifier.key", std::string(40, 'i'));
    write_secret(dir / "cpims-password", cpims.password());
    write_secret(dir / "ping-password", ping.password());
    write_secret(dir / "ping-subscription-key", ping.subscription_key());
    std::ofstream(dir / "casebridge.json") << config_text(cpims, ping, dir, daemon);
    ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "e2e-bench-pseudonym-key-0123456789abcdef", 1);
}

child_run run_flow(
    const sandbox::primero_sandbox& cpims, const sandbox::ping_sandbox& ping, const fs::path& dir
) {
    write_flow_files(cpims, ping, dir, false);
    return run_binary(
        {"flow", "run", "cpims-referrals-to-unhcr", "--config", (dir / "casebridge.json").string()},
        dir
    );
}

fs::path fresh_dir() {
    std::string pattern = (fs::temp_directory_path() / "cb-e2e-bench-XXXXXX").string();
    return ::mkdtemp(pattern.data());
}

/// One system's share of the floor: requests sent again to `base_url`.
struct replay_set {
    std::string base_url;
    std::vector<sandbox::request> requests;
    std::string bearer;  ///< Set: replaces the Authorization of each request.
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> ok{0};
    std::chrono::steady_clock::time_point finished{};  ///< When its last worker ended.
};

http_request to_request(const sandbox::request& r, const replay_set& set) {
    http_request req;
    req.method = r.method;
    req.url = set.base_url + r.target;
    for (const auto& [name, value] : r.headers) {
        if (name == "host" || name == "content-length" || name == "connection" ||
            name == "accept-encoding" || name == "user-agent") {
            continue;
        }
        if (name == "authorization" && !set.bearer.empty()) {
            req.headers.push_back({name, "Bearer " + set.bearer});
            continue;
        }
        req.headers.push_back({name, value});
    }
    req.body = r.body;
    return req;
}

/// Sends the set's requests, one after the other, until none is left (several of these run
/// at once, one per connection).
awaitable<void> replay_worker(http_client* client, replay_set* set) {
    for (;;) {
        const std::size_t i = set->next.fetch_add(1);
        if (i >= set->requests.size()) {
            break;
        }
        auto answer = co_await client->send(to_request(set->requests[i], *set));
        if (answer && answer->status >= 200 && answer->status < 300) {
            ++set->ok;
        }
    }
    set->finished = std::max(set->finished, std::chrono::steady_clock::now());
    co_return;
}

/// Sends one request and waits for its answer.
std::optional<http_response> send_one(net::io_context& io, http_client& client, http_request req) {
    std::optional<http_response> out;
    auto ask = [](http_client* c, http_request r, std::optional<http_response>* o
               ) -> awaitable<void> {
        auto answer = co_await c->send(std::move(r));
        if (answer) {
            *o = std::move(*answer);
        }
        co_return;
    };
    net::co_spawn(io, ask(&client, std::move(req), &out), net::detached);
    io.run();
    io.restart();
    return out;
}

struct floor_run {
    double wall = 0;
    double source_wall = 0;  ///< The source's share alone: from the start to its last answer.
    double target_wall = 0;  ///< The target's, token requests included.
    std::size_t source_ok = 0;
    std::size_t target_ok = 0;
};

/// The wire floor: the source's recorded requests again against the source, and the target's
/// against a fresh target of the same seed (its token requests first, as casebridge's first
/// requests were; then the rest with that token), both systems at once, each over
/// `connections` connections.
floor_run replay(
    const std::string& source_url,
    std::vector<sandbox::request> source_requests,
    sandbox::ping_sandbox& target,
    const std::vector<sandbox::request>& target_requests
) {
    net::io_context io;
    http_client_settings s;
    s.allow_plain_http_loopback = true;
    s.max_connections_per_host = connections;
    s.max_idle_per_host = connections;
    s.max_requests_per_second = 1e6;
    auto source_client = http_client::create(io.get_executor(), s, system_clock_source::instance());
    auto target_client = http_client::create(io.get_executor(), s, system_clock_source::instance());
    if (!source_client || !target_client) {
        std::fprintf(stderr, "e2e bench: no HTTP client\n");
        std::exit(1);
    }
    replay_set source;
    source.base_url = source_url;
    source.requests = std::move(source_requests);
    replay_set pushes;
    pushes.base_url = target.base_url();
    const std::string token_url = target.token_url();
    const auto token_base = token_url.substr(0, token_url.find('/', token_url.find("//") + 2));
    const auto token_path = token_url.substr(token_base.size());
    std::vector<sandbox::request> tokens;
    for (const auto& r : target_requests) {
        (r.target.rfind(token_path, 0) == 0 ? tokens : pushes.requests).push_back(r);
    }
    const auto start = std::chrono::steady_clock::now();
    for (const auto& t : tokens) {
        replay_set one;
        one.base_url = token_base;
        auto answer = send_one(io, **target_client, to_request(t, one));
        if (answer && answer->status == 200) {
            if (auto doc = json::parse(answer->body);
                doc && doc->IsObject() && doc->HasMember("access_token")) {
                pushes.bearer = (*doc)["access_token"].GetString();
            }
        }
    }
    for (std::size_t i = 0; i < connections; ++i) {
        net::co_spawn(io, replay_worker(source_client->get(), &source), net::detached);
        net::co_spawn(io, replay_worker(target_client->get(), &pushes), net::detached);
    }
    io.run();
    floor_run out;
    const auto since_start = [start](std::chrono::steady_clock::time_point t) {
        return std::chrono::duration<double>(t - start).count();
    };
    out.wall = since_start(std::chrono::steady_clock::now());
    out.source_wall = since_start(std::max(source.finished, start));
    out.target_wall = since_start(std::max(pushes.finished, start));
    out.source_ok = source.ok;
    out.target_ok = pushes.ok + (pushes.bearer.empty() ? 0 : tokens.size());
    return out;
}

/// Page reads that were re-reads: a tie walk of one second (ordered by case id), or a target
/// asked before.
std::size_t re_reads(const std::vector<sandbox::request>& reads) {
    std::set<std::string> seen;
    std::size_t n = 0;
    for (const auto& r : reads) {
        if (r.target.rfind("/api/v2/cases?", 0) != 0) {
            continue;
        }
        const bool tie = r.target.find("order_by=case_id") != std::string::npos;
        if (tie || !seen.insert(r.target).second) {
            ++n;
        }
    }
    return n;
}

std::size_t page_reads(const std::vector<sandbox::request>& reads) {
    std::size_t n = 0;
    for (const auto& r : reads) {
        n += r.target.rfind("/api/v2/cases?", 0) == 0 ? 1 : 0;
    }
    return n;
}

// ---- the daemon's cycle ---------------------------------------------------------------------

/// `casebridge run` as a child process in `dir`, its output in dir/daemon.log.
pid_t start_daemon(const fs::path& dir) {
    return spawn({"run", "--config", (dir / "casebridge.json").string()}, dir, "daemon.log");
}

/// The admin URL the daemon prints once listening (`admin: URL`); empty when it exits first
/// or says nothing within a minute.
std::string admin_url_of(const fs::path& log, pid_t pid) {
    for (int i = 0; i < 6000; ++i) {
        std::ifstream in(log);
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("admin: ", 0) == 0) {
                return line.substr(7);
            }
        }
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            return {};
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return {};
}

/// User + system CPU seconds of a running process.
double cpu_seconds_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    if (close == std::string::npos) {
        return 0;
    }
    std::vector<std::string> fields;
    std::size_t at = close + 2;
    while (at < text.size()) {
        const auto end = text.find(' ', at);
        fields.push_back(text.substr(at, end == std::string::npos ? std::string::npos : end - at));
        if (end == std::string::npos) {
            break;
        }
        at = end + 1;
    }
    // After the name: state is field 3, utime 14 and stime 15 (proc(5)).
    if (fields.size() < 13) {
        return 0;
    }
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    return (std::strtod(fields[11].c_str(), nullptr) + std::strtod(fields[12].c_str(), nullptr)) /
           ticks;
}

/// The flow's finished runs and their summed duration, as the daemon's /metrics says.
struct run_totals {
    std::size_t finished = 0;
    double seconds = 0;
};

struct admin_client {
    net::io_context io;
    std::unique_ptr<http_client> client;
    std::string url;
    std::string token;

    std::optional<http_response> ask(const std::string& method, const std::string& path) {
        http_request req;
        req.method = method;
        req.url = url + path;
        req.headers.push_back({"authorization", "Bearer " + token});
        return send_one(io, *client, std::move(req));
    }

    std::optional<run_totals> totals(const std::string& flow) {
        const auto answer = ask("GET", "/metrics");
        if (!answer || answer->status != 200) {
            return std::nullopt;
        }
        const std::string label = "{flow=\"" + flow + "\"} ";
        run_totals t;
        std::istringstream lines(answer->body);
        std::string line;
        bool found = false;
        while (std::getline(lines, line)) {
            const auto value_of = [&](const std::string& name) -> const char* {
                const auto head = name + label;
                return line.rfind(head, 0) == 0 ? line.c_str() + head.size() : nullptr;
            };
            if (const char* v = value_of("casebridge_run_duration_seconds_count")) {
                t.finished = std::strtoull(v, nullptr, 10);
                found = true;
            } else if (const char* sum = value_of("casebridge_run_duration_seconds_sum")) {
                t.seconds = std::strtod(sum, nullptr);
            }
        }
        return found ? std::optional<run_totals>(t) : std::nullopt;
    }

    /// Waits until the flow has finished `runs` runs; the totals then, or nothing when the
    /// daemon stops answering.
    std::optional<run_totals> wait_for(const std::string& flow, std::size_t runs) {
        for (;;) {
            auto t = totals(flow);
            if (!t || t->finished >= runs) {
                return t;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
};

/// A running daemon's full sync of `n` cases (its first run, at start), then a cycle after
/// 1 % of the cases were changed at the source (asked for through the admin API). Prints both
/// as the daemon measured them (its run-duration histogram), the cycle's CPU time and its share
/// of the full sync.
int daemon_cycle(std::size_t n) {
    const auto& clock = system_clock_source::instance();
    const fs::path dir = fresh_dir();
    sandbox::primero_settings ps;
    ps.cases = n;
    ps.seed = 2027;
    sandbox::ping_settings gs;
    gs.seed = 2027;
    sandbox::primero_sandbox cpims(ps, clock);
    sandbox::ping_sandbox ping(gs, clock);
    write_flow_files(cpims, ping, dir, true);
    write_secret(dir / "admin-token", "e2e-bench-admin-token-0123456789");
    const std::string flow = "cpims-referrals-to-unhcr";
    cpims.server().record_whole_requests();
    const pid_t pid = start_daemon(dir);
    admin_client admin;
    http_client_settings s;
    s.allow_plain_http_loopback = true;
    auto client = http_client::create(admin.io.get_executor(), s, clock);
    admin.url = admin_url_of(dir / "daemon.log", pid);
    if (!client || admin.url.empty()) {
        std::fprintf(
            stderr, "e2e bench: the daemon did not start; see %s\n", (dir / "daemon.log").c_str()
        );
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return 1;
    }
    admin.client = std::move(*client);
    admin.token = "e2e-bench-admin-token-0123456789";
    const auto full = admin.wait_for(flow, 1);
    const double cpu_full = cpu_seconds_of(pid);
    // 1 % of the cases changed: one in a hundred, a field the referral carries.
    const auto ids = cpims.case_ids();
    std::size_t changed = 0;
    for (std::size_t i = 0; i < ids.size(); i += 100) {
        changed += cpims.edit_case(ids[i], R"({"protection_concerns": ["unaccompanied"]})") ? 1 : 0;
    }
    // The Primero adapter walks up to one second before a walk starts (a closed window, so that
    // records stamped during the walk cannot shift its pages): a run asked for within that
    // second finds none of the changes and measures an empty walk.
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    // The sandbox keeps its last_updated_at index and its query views in memory and builds
    // them again after a change, on the next read, over every case (a database maintains its
    // index as it writes). The full sync's last page read, asked again, does that now, so the
    // cycle measures casebridge and not the rebuild.
    const auto reads = cpims.server().recording();
    const auto last_read = std::find_if(reads.rbegin(), reads.rend(), [](const auto& r) {
        return r.target.rfind("/api/v2/cases?", 0) == 0;
    });
    if (last_read != reads.rend()) {
        replay_set again;
        again.base_url = cpims.base_url();
        (void)send_one(admin.io, *admin.client, to_request(*last_read, again));
    }
    const auto asked = admin.ask("POST", "/flows/" + flow + "/run");
    const auto cycle = asked && asked->status == 202 ? admin.wait_for(flow, 2) : std::nullopt;
    const double cpu_cycle = cpu_seconds_of(pid) - cpu_full;
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!full || !cycle || full->finished != 1 || cycle->finished != 2) {
        std::fprintf(
            stderr,
            "e2e bench: the daemon's runs were not measured; see %s\n",
            (dir / "daemon.log").c_str()
        );
        return 1;
    }
    const double cycle_s = cycle->seconds - full->seconds;
    std::printf(
        "daemon cycle: %zu cases, full sync %.2f s (cpu %.2f s); %zu changed: cycle %.3f s (cpu "
        "%.3f s), %.2f %% of the full sync\n",
        n,
        full->seconds,
        cpu_full,
        changed,
        cycle_s,
        cpu_cycle,
        100.0 * cycle_s / full->seconds
    );
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::size_t> sizes;
    std::size_t cycle = 0;
    bool cycle_only = false;
    bool keep = false;
    const unsigned cores = std::max(1U, std::thread::hardware_concurrency());
    const auto usage = [] {
        std::fprintf(
            stderr,
            "usage: casebridge_e2e_bench [CASES...] [--cycle CASES] [--cycle-only] [--per-page N] "
            "[--keep]\n"
            "  CASES         caseload sizes of the sync and its floor (default 10000 50000 "
            "100000)\n"
            "  --cycle N     the daemon's cycle with 1 %% of N cases changed (default: the largest "
            "size)\n"
            "  --cycle-only  the daemon's cycle alone\n"
            "  --per-page N  Primero cases per page, 1 to 1000 (default 100; the adapter's own "
            "default is 1000)\n"
            "  --keep        keep each size's directory (store, configuration, run.log) and "
            "print its path\n"
        );
        return 2;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            usage();
            return 0;
        }
        if (a == "--per-page") {
            if (++i == argc || (per_page = std::atoi(argv[i])) < 1 || per_page > 1000) {
                return usage();
            }
            continue;
        }
        if (a == "--keep") {
            keep = true;
            continue;
        }
        if (a == "--cycle-only") {
            cycle_only = true;
            continue;
        }
        if (a == "--cycle") {
            if (++i == argc || (cycle = std::strtoull(argv[i], nullptr, 10)) == 0) {
                return usage();
            }
            continue;
        }
        sizes.push_back(std::strtoull(argv[i], nullptr, 10));
        if (sizes.back() == 0) {
            return usage();
        }
    }
    if (sizes.empty()) {
        sizes = {10000, 50000, 100000};
    }
    if (cycle == 0) {
        cycle = *std::max_element(sizes.begin(), sizes.end());
    }
    std::printf("CPIMS+ cases per page: %d\n", per_page);
    if (cycle_only) {
        return daemon_cycle(cycle);
    }
    const auto& clock = system_clock_source::instance();
    {
        // Start-up and shut-down alone: the same run on an empty caseload.
        const fs::path dir = fresh_dir();
        sandbox::primero_settings ps;
        ps.seed = 2026;
        sandbox::ping_settings gs;
        gs.seed = 2026;
        sandbox::primero_sandbox cpims(ps, clock);
        sandbox::ping_sandbox ping(gs, clock);
        const auto run = run_flow(cpims, ping, dir);
        if (!WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0) {
            std::fprintf(
                stderr, "e2e bench: the empty run failed; see %s\n", (dir / "run.log").c_str()
            );
            return 1;
        }
        std::printf(
            "start-up and shut-down (an empty caseload): wall %.3f s, cpu %.3f s, peak %.1f MB\n",
            run.wall,
            run.cpu,
            static_cast<double>(run.peak_rss_kb) / 1024.0
        );
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    std::printf(
        "%8s %9s %8s %8s %7s %6s %6s %6s %8s %9s %8s %8s %6s %7s %8s %8s %8s\n",
        "cases",
        "referrals",
        "wall s",
        "cases/s",
        "floor s",
        "src s",
        "tgt s",
        "ratio",
        "peak MB",
        "cpu s",
        "store s",
        "queued s",
        "sbx s",
        "bound s",
        "reads",
        "re-reads",
        "pushes"
    );
    for (const auto n : sizes) {
        const fs::path dir = fresh_dir();
        sandbox::primero_settings ps;
        ps.cases = n;
        ps.seed = 2026;
        sandbox::ping_settings gs;
        gs.seed = 2026;
        sandbox::primero_sandbox cpims(ps, clock);
        sandbox::ping_sandbox ping(gs, clock);
        cpims.server().record_whole_requests();
        ping.server().record_whole_requests();
        const auto run = run_flow(cpims, ping, dir);
        // 0, or 3 when records were held for a person (the synthetic caseload has some).
        if (!WIFEXITED(run.status) ||
            (WEXITSTATUS(run.status) != 0 && WEXITSTATUS(run.status) != 3)) {
            std::fprintf(
                stderr,
                "e2e bench: casebridge flow run failed (status %d); see %s\n",
                run.status,
                (dir / "run.log").c_str()
            );
            return 1;
        }
        const auto reads = cpims.server().recording();
        const auto writes = ping.server().recording();
        const auto referrals = ping.referral_count();
        // The floor's target: a fresh PING sandbox of the same seed (same credentials, no
        // referral yet), so that the pushes do what they did.
        sandbox::ping_sandbox fresh(gs, clock);
        const auto floor = replay(cpims.base_url(), reads, fresh, writes);
        if (floor.source_ok != reads.size() || floor.target_ok != writes.size()) {
            std::fprintf(
                stderr,
                "e2e bench: the floor's requests were not all answered 2xx (%zu of %zu reads, "
                "%zu of %zu writes)\n",
                floor.source_ok,
                reads.size(),
                floor.target_ok,
                writes.size()
            );
        }
        std::printf(
            "%8zu %9zu %8.2f %8.0f %7.2f %6.2f %6.2f %6.2f %8.1f %9.2f %8.2f %8s %6.2f %7.2f %8zu "
            "%8zu %8zu\n",
            n,
            referrals,
            run.wall,
            static_cast<double>(n) / run.wall,
            floor.wall,
            floor.source_wall,
            floor.target_wall,
            run.wall / floor.wall,
            static_cast<double>(run.peak_rss_kb) / 1024.0,
            run.cpu,
            run.store_cpu,
            queued_text(run.queued).c_str(),
            run.sandbox_cpu,
            (run.cpu + run.sandbox_cpu) / cores,
            page_reads(reads),
            re_reads(reads),
            writes.size()
        );
        std::fflush(stdout);
        if (keep) {
            std::printf("  kept: %s\n", dir.c_str());
        } else {
            std::error_code ec;
            fs::remove_all(dir, ec);
        }
    }
    std::printf(
        "wall: casebridge flow run as a child process, start-up included; floor: the same "
        "requests again, %zu connections per system, no mapping, store or log; ratio = wall / "
        "floor; src s, tgt s: each system's share of the floor alone; re-reads: tie walks of one "
        "second and pages asked twice; store s: the store thread's share of cpu s (read every 10 "
        "ms); queued s: the time casebridge's threads were ready to run but waited for a core "
        "(schedstat, summed over its threads; - where the kernel keeps none); sbx s: this "
        "process's cpu meanwhile (the two sandboxes); bound s = (cpu s + sbx s) / %u cores, the "
        "least wall time that work takes on this machine\n",
        connections,
        cores
    );
    return daemon_cycle(cycle);
}
