// The admin API, bytes in and response out (no sockets): each input is read as an HTTP/1.1
// request by Beast's parser, admitted from its header and answered against an engine built
// from the shipped example configuration (its store in a scratch folder; runs, retries and dry
// runs never reach a system). Properties: every answer has a known status and is JSON; no answer
// holds the admin token or a secret; a refused request without the token never reveals whether a
// route exists.
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "adapter/registry.hpp"
#include "app/admin_api.hpp"
#include "app/config.hpp"
#include "app/engine.hpp"
#include "core/clock.hpp"
#include "fuzz_support.hpp"
#include "json/json.hpp"
#include "log/log.hpp"

using namespace casebridge;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view token = "fuzz-admin-token-0123456789abcdef";

struct world {
    adapter_registry registry;
    net::io_context engine_ctx;
    memory_sink sink;
    std::shared_ptr<app::engine> engine;
    app::admin_context ctx;
};

// Made once and never destroyed (reachable through the pointer): the engine's thread runs
// until the process ends.
world& the_world() {
    static world& w = *new world;
    static const bool made = [] {
        const fs::path src = CASEBRIDGE_SOURCE_DIR;
        register_builtin_adapters(w.registry);
        const auto cfg_file = fuzz::example_layout() / "config/admin.jsonc";
        fs::copy_file(
            src / "config/casebridge.example.jsonc", cfg_file, fs::copy_options::overwrite_existing
        );
        const auto& clock = system_clock_source::instance();
        w.engine = std::make_shared<app::engine>(
            app::load_config(cfg_file, &w.registry),
            w.registry,
            w.engine_ctx.get_executor(),
            clock,
            logger(w.sink, clock)
        );
        w.ctx.token = std::string(token);
        w.ctx.current = [] { return w.engine; };
        w.ctx.run_now = [](const std::string&) { return false; };
        // A retry or a dry run goes the daemon's way up to taking the flow, which is always
        // refused here (409): the example configuration's systems are not on this machine, and
        // a fuzzer must never reach out to them. (The fuzzed store has no dead letters, so a
        // retry ends at its look-up before that.)
        w.ctx.engine_executor = w.engine_ctx.get_executor();
        w.ctx.claim_flow = [](app::flow_slot*) { return false; };
        w.ctx.release_flow = [](app::flow_slot* s) { s->running = false; };
        w.ctx.clock = &clock;
        std::thread([] {
            auto guard = net::make_work_guard(w.engine_ctx);
            w.engine_ctx.run();
        }).detach();
        return true;
    }();
    (void)made;
    return w;
}

void check_answer(const httpd::response& r) {
    static const std::set<unsigned> known = {
        200, 202, 400, 401, 404, 405, 409, 413, 422, 500, 502, 503};
    fuzz::require(known.count(r.status) == 1, "a known status", std::to_string(r.status));
    fuzz::require(r.body.find(token) == std::string::npos, "no token in an answer");
    fuzz::require(r.body.find(fuzz::secret_text) == std::string::npos, "no secret in an answer");
    if (r.content_type.rfind("application/json", 0) == 0 && !r.body.empty()) {
        fuzz::require(static_cast<bool>(json::parse(r.body)), "an answer is JSON");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto& w = the_world();
    const auto text = fuzz::as_text(data, size);
    auto read = fuzz::read_request(text, 64 * 1024);
    if (!read) {
        return 0;
    }
    httpd::request req = std::move(read->head);
    const auto admitted = app::admit_admin(req, w.ctx);
    if (admitted.refuse) {
        check_answer(*admitted.refuse);
        const bool has_token = req.header("authorization").find(token) != std::string::npos;
        if (!has_token) {
            const auto s = admitted.refuse->status;
            fuzz::require(s == 401, "without the token every refusal is 401");
        }
        return 0;
    }
    req.body = std::move(read->body);
    if (req.body.size() > admitted.body_limit) {
        return 0;  // the server answers 413 and closes
    }
    // A value written in a body (a review file's override reason, a decision's reason) is
    // never answered back; a file name in the target may be.
    const bool sentinel_in_body_only = fuzz::has_value_sentinel_csv(req.body) &&
                                       req.target.find(fuzz::sentinel) == std::string::npos;
    net::io_context io;
    auto fut = net::co_spawn(io, app::handle_admin(std::move(req), w.ctx), net::use_future);
    io.run();
    const auto answer = fut.get();
    check_answer(answer);
    if (sentinel_in_body_only) {
        fuzz::require_no_sentinel(answer.body, "admin answer");
    }
    return 0;
}
