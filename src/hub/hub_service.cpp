#include "hub/hub_service.hpp"

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "adapter/secret.hpp"
#include "core/shipped_data.hpp"
#include "core/thread_name.hpp"
#include "hub/ingest_api.hpp"
#include "json/json.hpp"
#include "linkage/candidates.hpp"
#include "linkage/link.hpp"
#include "linkage/record_set.hpp"
#include "net/http_server.hpp"

namespace casebridge::hub {

/// Shortest bearer token accepted, in characters.
constexpr std::size_t min_token_chars = 16;

namespace {

/// The file the hub reads its linkage schema from: hub.linkage_schema, else
/// linkage_schema::default_path() when it exists (a source tree, or CASEBRIDGE_LINKAGE_SCHEMA);
/// empty when neither, and the compiled-in copy is used.
std::filesystem::path schema_file_on_disk(const app::hub_config& cfg) {
    if (!cfg.linkage_schema.empty()) {
        return cfg.linkage_schema;
    }
    auto path = linkage::linkage_schema::default_path();
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec) ? path : std::filesystem::path{};
}

/// The schema file to load: schema_file_on_disk, else the compiled-in copy, written with its
/// variant table into "<store>.linkage/" beside the hub store so it can be read (and audited)
/// as a file.
std::filesystem::path schema_file(const app::hub_config& cfg) {
    if (auto path = schema_file_on_disk(cfg); !path.empty()) {
        return path;
    }
    std::error_code ec;
    const auto dir = std::filesystem::path(cfg.store_path.string() + ".linkage");
    std::filesystem::create_directories(dir, ec);
    for (const char* name : {"linkage-schema.json", "linkage-variants.json"}) {
        const auto text = find_shipped_file(std::string("mappings/linkage/") + name);
        if (!text) {
            throw std::runtime_error(std::string("the compiled-in linkage schema has no ") + name);
        }
        std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
        out.write(text->data(), static_cast<std::streamsize>(text->size()));
        if (!out) {
            throw std::runtime_error("cannot write " + (dir / name).string());
        }
    }
    return dir / "linkage-schema.json";
}

}  // namespace

linkage::threshold_spec apply_hub_thresholds(
    const app::hub_config& cfg, linkage::threshold_spec own
) {
    const linkage::threshold_spec schema = own;
    if (cfg.upper_threshold) {
        own.upper = *cfg.upper_threshold;
    }
    if (cfg.lower_threshold) {
        own.lower = *cfg.lower_threshold;
    }
    if (own.lower > own.upper) {
        std::ostringstream msg;
        msg << "the lower threshold is above the upper one";
        if (cfg.upper_threshold.has_value() != cfg.lower_threshold.has_value()) {
            msg << " (with the linkage schema's "
                << (cfg.upper_threshold ? "lower threshold, " : "upper threshold, ")
                << (cfg.upper_threshold ? schema.lower : schema.upper) << ")";
        }
        throw std::invalid_argument(msg.str());
    }
    return own;
}

std::optional<linkage::threshold_spec> hub_schema_thresholds(const app::hub_config& cfg) {
    const auto path = schema_file_on_disk(cfg);
    std::string text;
    if (!path.empty()) {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream all;
        all << in.rdbuf();
        text = all.str();
    } else if (const auto shipped = find_shipped_file("mappings/linkage/linkage-schema.json")) {
        text = std::string(*shipped);
    }
    const auto doc = json::parse(text, json::dialect::with_comments);
    if (!doc || !doc->IsObject()) {
        return std::nullopt;
    }
    const auto t = doc->FindMember("thresholds");
    if (t == doc->MemberEnd() || !t->value.IsObject()) {
        return std::nullopt;
    }
    const auto number = [&](const char* name) -> std::optional<double> {
        const auto m = t->value.FindMember(name);
        if (m == t->value.MemberEnd() || !m->value.IsNumber()) {
            return std::nullopt;
        }
        return m->value.GetDouble();
    };
    const auto upper = number("upper");
    const auto lower = number("lower");
    if (!upper || !lower) {
        return std::nullopt;
    }
    linkage::threshold_spec out;
    out.upper = *upper;
    out.lower = *lower;
    return out;
}

linkage::linkage_schema load_hub_schema(const app::hub_config& cfg) {
    auto schema = linkage::linkage_schema::load(schema_file(cfg));
    try {
        schema.thresholds = apply_hub_thresholds(cfg, schema.thresholds);
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(std::string("hub.thresholds: ") + e.what());
    }
    return schema;
}

linkage_outcome compute_linkage(const linkage_work& work, const linkage::linkage_schema& schema) {
    linkage_outcome out;
    out.set = std::make_unique<linkage::record_set>(schema.encoded_words());
    out.set->reserve(work.records.size());
    for (const auto& r : work.records) {
        out.set->add(r.agency, r.pseudonym, r.encoding);
    }
    const auto pairs = linkage::generate_candidates(*out.set, schema);
    linkage::prepare_scoring(*out.set, schema);
    auto scored =
        linkage::score_pairs(*out.set, schema, pairs, static_cast<float>(schema.thresholds.lower));
    std::vector<std::pair<std::uint32_t, std::uint32_t>> apart;
    if (!work.decisions.empty()) {
        std::unordered_map<std::string, std::uint32_t> index;
        for (std::uint32_t i = 0; i < out.set->size(); ++i) {
            index.emplace(linkage::ref_key(*out.set, i), i);
        }
        // (a, b) with a < b → same child?
        std::map<std::pair<std::uint32_t, std::uint32_t>, bool> decided;
        for (const auto& d : work.decisions) {
            const auto a = index.find(d.agency_a + '\0' + d.pseudonym_a);
            const auto b = index.find(d.agency_b + '\0' + d.pseudonym_b);
            if (a != index.end() && b != index.end()) {
                decided[std::minmax(a->second, b->second)] = d.same;
            }
        }
        for (const auto& [pair, same] : decided) {
            if (!same) {
                apart.push_back(pair);
            }
        }
        const auto forced = static_cast<float>(schema.thresholds.upper + 1.0);
        std::vector<linkage::scored_pair> kept;
        kept.reserve(scored.size());
        for (const auto& p : scored) {
            const auto it = decided.find({p.a, p.b});
            if (it == decided.end()) {
                kept.push_back(p);
            } else if (it->second) {
                kept.push_back({p.a, p.b, forced});
                decided.erase(it);
            } else {
                decided.erase(it);  // not the same child: neither linked nor reviewed
            }
        }
        for (const auto& [pair, same] : decided) {
            if (same) {  // decided the same child though not a candidate now
                kept.push_back({pair.first, pair.second, forced});
            }
        }
        scored = std::move(kept);
    }
    out.result = linkage::link_records(
        *out.set,
        std::move(scored),
        schema.thresholds,
        work.refs.empty() ? nullptr : &work.refs,
        apart
    );
    return out;
}

result<linkage_work> read_linkage_work(hub_store& store, int schema_version) {
    linkage_work work;
    auto records = store.active_records(schema_version);
    if (!records) {
        return records.error();
    }
    work.records = std::move(*records);
    auto refs = store.cluster_refs();
    if (!refs) {
        return refs.error();
    }
    work.refs = std::move(*refs);
    auto decisions = store.decisions();
    if (!decisions) {
        return decisions.error();
    }
    work.decisions = std::move(*decisions);
    return work;
}

result<linkage_summary> relink(hub_store& store, const linkage::linkage_schema& schema) {
    auto work = read_linkage_work(store, schema.version);
    if (!work) {
        return work.error();
    }
    const auto out = compute_linkage(*work, schema);
    return store.save_linkage(*out.set, out.result);
}

struct service::impl {
    const clock_source* clock = nullptr;
    logger log;
    linkage::linkage_schema schema;

    // The store and the one thread that uses it.
    std::optional<hub_store> store;
    net::io_context store_ctx;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> store_guard;
    std::thread store_thread;

    // The linkage worker.
    std::mutex mutex;
    std::condition_variable changed;
    bool pending = false;
    bool running = false;
    bool stopping = false;
    std::size_t runs = 0;
    std::thread linker;

    std::unique_ptr<httpd::server> server;

    impl(const clock_source& c, const logger& l) : clock(&c), log(l) {}

    /// Runs `f(store)` on the store's thread and waits for its value (not on that thread).
    template <typename F>
    auto call_store(F f) -> decltype(f(*store)) {
        std::promise<decltype(f(*store))> done;
        auto fut = done.get_future();
        net::post(store_ctx, [this, &f, &done] { done.set_value(f(*store)); });
        return fut.get();
    }

    void request_linkage() {
        std::lock_guard lock(mutex);
        pending = true;
        changed.notify_all();
    }

    void link_once() {
        auto work =
            call_store([this](hub_store& s) { return read_linkage_work(s, schema.version); });
        if (!work) {
            log.error(
                "hub.linkage_failed", "linkage could not read the records", {.error = work.error()}
            );
            return;
        }
        const auto t0 = std::chrono::steady_clock::now();
        auto out = compute_linkage(*work, schema);
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t0
        )
                            .count();
        auto saved =
            call_store([&out](hub_store& s) { return s.save_linkage(*out.set, out.result); });
        if (!saved) {
            log.error(
                "hub.linkage_failed", "linkage results could not be saved", {.error = saved.error()}
            );
            return;
        }
        log.info(
            "hub.linked",
            "linkage run saved",
            {.counts =
                 {{"records", saved->records},
                  {"clusters", saved->clusters},
                  {"multi_agency_clusters", saved->multi_agency_clusters},
                  {"auto_links", saved->auto_links},
                  {"review_items", saved->review_items},
                  {"within_agency_duplicates", saved->within_agency_duplicates},
                  {"merges", saved->merges},
                  {"splits", saved->splits},
                  {"notices_issued", saved->notices_issued},
                  {"notices_retracted", saved->notices_retracted},
                  {"compute_ms", static_cast<std::int64_t>(ms)}}}
        );
    }

    void linker_loop() {
        std::unique_lock lock(mutex);
        for (;;) {
            changed.wait(lock, [this] { return pending || stopping; });
            if (stopping) {
                return;
            }
            pending = false;
            running = true;
            lock.unlock();
            try {
                link_once();
            } catch (const std::exception&) {
                log.error("hub.linkage_failed", "linkage run ended with an exception");
            }
            lock.lock();
            running = false;
            ++runs;
            changed.notify_all();
        }
    }
};

service::service(const app::hub_config& cfg, const clock_source& clock, const logger& log)
    : impl_(std::make_unique<impl>(clock, log)) {
    impl_->schema = load_hub_schema(cfg);

    auto ctx = std::make_shared<ingest_context>();
    for (const auto& a : cfg.agencies) {
        const auto token = read_secret(a.token);
        const std::string where = a.token.file.empty() ? "environment variable " + a.token.env
                                                       : "token file " + a.token.file.string();
        if (!token) {
            throw std::runtime_error(
                "hub agency " + a.id + ": " + where + " cannot be read or is empty"
            );
        }
        if (token->size() < min_token_chars) {
            throw std::runtime_error(
                "hub agency " + a.id + ": the token in " + where + " is shorter than " +
                std::to_string(min_token_chars) + " characters"
            );
        }
        for (const auto& other : ctx->agencies) {
            if (other.token == *token) {
                throw std::runtime_error(
                    "hub agencies " + other.id + " and " + a.id +
                    " have the same token: each agency needs its own"
                );
            }
        }
        ctx->agencies.push_back(
            {a.id, *token, a.certificate_name, a.display_name.empty() ? a.id : a.display_name}
        );
    }
    ctx->schema_version = impl_->schema.version;
    ctx->encoded_words = impl_->schema.encoded_words();
    ctx->identifier_kinds = impl_->schema.identifiers.size();
    ctx->coarse_fields = cfg.coarse_fields;
    ctx->max_batch_records = static_cast<std::size_t>(cfg.max_batch_records);
    ctx->max_body_bytes = cfg.max_body_bytes;

    auto opened = hub_store::open(cfg.store_path, clock);
    if (!opened) {
        throw std::runtime_error(
            "hub store " + cfg.store_path.string() + ": cannot be opened (" +
            opened.error().message() + ")"
        );
    }
    impl_->store.emplace(std::move(*opened));
    impl_->store_guard.emplace(net::make_work_guard(impl_->store_ctx));
    impl* self = impl_.get();
    impl_->store_thread = std::thread([self] {
        name_this_thread("cb-hub-store");
        self->store_ctx.run();
    });
    impl_->linker = std::thread([self] {
        name_this_thread("cb-hub-linker");
        self->linker_loop();
    });

    ctx->run_on_store = [self](std::function<void(hub_store&)> job) {
        net::post(self->store_ctx, [self, job = std::move(job)] { job(*self->store); });
    };
    ctx->linkage_due = [self] { self->request_linkage(); };
    ctx->on_accepted =
        [self](
            const std::string& agency, const std::string& route, std::int64_t a, std::int64_t b
        ) {
            if (route == "records") {
                self->log.info(
                    "hub.records_received",
                    "batch of records accepted",
                    {.system = agency, .counts = {{"stored", a}, {"unchanged", b}}}
                );
            } else {
                self->log.info(
                    "hub.withdrawals_received",
                    "withdrawals accepted",
                    {.system = agency, .counts = {{"withdrawn", a}, {"unknown", b}}}
                );
            }
        };

    httpd::server_settings st;
    if (cfg.tls()) {
        st.tls = httpd::server_tls{cfg.cert_file, cfg.key_file, cfg.client_ca_file};
    }
    try {
        impl_->server =
            std::make_unique<httpd::server>(cfg.host, cfg.port, ingest_service(std::move(ctx)), st);
    } catch (...) {
        // Stop the threads before the exception leaves the constructor.
        {
            std::lock_guard lock(impl_->mutex);
            impl_->stopping = true;
            impl_->changed.notify_all();
        }
        impl_->linker.join();
        impl_->store_guard.reset();
        impl_->store_thread.join();
        throw;
    }
    // Batches answered before a stop or a crash (a SIGKILL between a receipt's commit and its
    // linkage) may not have been linked yet: link once at start when any record changed since
    // the last linkage, so that their clusters and notices do not wait for the next batch.
    if (impl_->call_store([](hub_store& s) {
            const auto due = s.linkage_due();
            return !due || *due;  // when it cannot tell, link
        })) {
        impl_->request_linkage();
    }
}

service::~service() {
    impl_->server.reset();  // no new work from now on
    {
        std::unique_lock lock(impl_->mutex);
        // A run in progress or asked for finishes, so the refs cover every batch answered.
        impl_->changed.wait(lock, [this] { return !impl_->pending && !impl_->running; });
        impl_->stopping = true;
        impl_->changed.notify_all();
    }
    impl_->linker.join();
    impl_->store_guard.reset();
    impl_->store_thread.join();
}

std::string service::base_url() const {
    return impl_->server->base_url();
}

unsigned short service::port() const {
    return impl_->server->port();
}

void service::request_linkage() {
    impl_->request_linkage();
}

void service::wait_for_linkage() {
    std::unique_lock lock(impl_->mutex);
    impl_->changed.wait(lock, [this] { return !impl_->pending && !impl_->running; });
}

std::size_t service::linkage_runs() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->runs;
}

}  // namespace casebridge::hub
