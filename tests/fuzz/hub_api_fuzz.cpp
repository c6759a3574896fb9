// The IMO hub's ingest API, bytes in and response out (no sockets): each input is read as an
// HTTP/1.1 request by Beast's parser, admitted from its header and answered by the service on
// a fresh hub store. Properties: every answer is JSON with a known status; a refusal holds no
// value from the request (pseudonyms, coarse values carry the sentinel in the seeds) and never
// a token; an agency's answer never names another agency's pseudonym.
#include <filesystem>
#include <set>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "app/config.hpp"
#include "core/clock.hpp"
#include "fuzz_support.hpp"
#include "hub/hub_store.hpp"
#include "hub/ingest_api.hpp"
#include "json/json.hpp"
#include "linkage/schema.hpp"

using namespace casebridge;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view token_a = "fuzz-token-agency-a-0123456789abcdef";
constexpr std::string_view token_b = "fuzz-token-agency-b-0123456789abcdef";

struct world {
    manual_clock clock{std::chrono::sys_days(std::chrono::year{2026} / 11 / 20)};
    std::optional<hub::hub_store> store;
    std::shared_ptr<hub::ingest_context> ctx = std::make_shared<hub::ingest_context>();
};

world& the_world() {
    // Made once and never destroyed: the context's store runner refers to it.
    static world& made = *[] {
        auto* w = new world;
        const fs::path src = CASEBRIDGE_SOURCE_DIR;
        const auto schema =
            linkage::linkage_schema::load(src / "mappings/linkage/linkage-schema.json");
        w->ctx->agencies = {
            {"agency-a", std::string(token_a), "", "Agency A"},
            {"agency-b", std::string(token_b), "", "Agency B"}};
        w->ctx->schema_version = schema.version;
        w->ctx->encoded_words = schema.encoded_words();
        w->ctx->identifier_kinds = schema.identifiers.size();
        w->ctx->coarse_fields = app::hub_coarse_field_names();
        w->ctx->max_batch_records = 50;
        w->ctx->max_body_bytes = 256 * 1024;
        w->ctx->run_on_store = [w](std::function<void(hub::hub_store&)> job) { job(*w->store); };
        w->ctx->linkage_due = [] {};
        return w;
    }();
    return made;
}

void check_answer(const httpd::response& r, bool sentinel) {
    static const std::set<unsigned> known = {200, 400, 401, 403, 404, 405, 409, 413, 500};
    fuzz::require(known.count(r.status) == 1, "a known status", std::to_string(r.status));
    fuzz::require(
        r.body.find(token_a) == std::string::npos && r.body.find(token_b) == std::string::npos,
        "no token in an answer"
    );
    if (r.content_type.rfind("application/json", 0) == 0 && !r.body.empty()) {
        fuzz::require(static_cast<bool>(json::parse(r.body)), "an answer is JSON");
    }
    if (sentinel && r.status >= 400) {
        fuzz::require_no_sentinel(r.body, "refusal");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto& w = the_world();
    const auto text = fuzz::as_text(data, size);
    auto read = fuzz::read_request(text, w.ctx->max_body_bytes);
    if (!read) {
        return 0;
    }
    httpd::request req = std::move(read->head);
    const bool sentinel = fuzz::has_value_sentinel_json(read->body);

    const auto db = fuzz::scratch_dir() / "hub.db";
    w.store.reset();
    for (const auto* suffix : {"", "-wal", "-shm", "-journal"}) {
        fs::remove(db.string() + suffix);
    }
    auto opened = hub::hub_store::open(db, w.clock);
    fuzz::require(static_cast<bool>(opened), "the hub store opens");
    w.store.emplace(std::move(*opened));

    const auto svc = hub::ingest_service(w.ctx);
    const auto admitted = svc.admit(req);
    if (admitted.refuse) {
        check_answer(*admitted.refuse, sentinel);
        return 0;
    }
    req.body = std::move(read->body);
    if (req.body.size() > admitted.body_limit) {
        return 0;  // the server answers 413 and closes; the handler never sees it
    }
    net::io_context io;
    auto fut = net::co_spawn(io, svc.handle(std::move(req)), net::use_future);
    io.run();
    check_answer(fut.get(), sentinel);
    w.store.reset();
    return 0;
}
