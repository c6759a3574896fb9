#include "app/engine.hpp"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>

#include "adapter/registry.hpp"
#include "canonical/canonical_case.hpp"
#include "mapping/mapping.hpp"
#include "net/http_client.hpp"
#include "policy/policy.hpp"
#include "store/crypto.hpp"
#include "store/store_thread.hpp"

namespace casebridge::app {

namespace fs = std::filesystem;

namespace {

/// Makes every relative "*_file" and "*_dir" in an adapter's settings absolute, from the
/// config's folder.
void resolve_files(
    rapidjson::Value& v, const fs::path& base, rapidjson::Document::AllocatorType& a
) {
    if (!v.IsObject()) {
        return;
    }
    for (auto& m : v.GetObject()) {
        const std::string_view key(m.name.GetString(), m.name.GetStringLength());
        if (m.value.IsObject()) {
            resolve_files(m.value, base, a);
        } else if (m.value.IsString() && (key.ends_with("_file") || key.ends_with("_dir"))) {
            const fs::path p(m.value.GetString());
            if (p.is_relative()) {
                m.value.SetString((base / p).lexically_normal().string().c_str(), a);
            }
        }
    }
}

store::token must_token(std::string_view text, std::string_view what) {
    auto t = store::token::make(text);
    if (!t) {
        throw std::runtime_error(std::string(what) + " is not a usable id (letters, digits, _.:-)");
    }
    return *t;
}

}  // namespace

struct engine::impl {
    config cfg;
    std::optional<canonical_catalogue> catalogue;
    std::optional<policy::policy_set> policies;
    std::vector<std::unique_ptr<system_metrics>> systems;  ///< Outlive the clients.
    std::map<std::string, std::unique_ptr<http_client>, std::less<>> clients;
    std::map<std::string, std::unique_ptr<adapter>, std::less<>> adapters;
    std::vector<std::unique_ptr<mapping::compiled_mapping>> mappings;
    std::unique_ptr<store::keyed_hasher> hasher;
    std::optional<fs::path> scratch;  ///< Throw-away store folder (read-only runs).
    std::unique_ptr<store::store_thread> st;
    std::vector<std::unique_ptr<flow_slot>> flows;

    ~impl() {
        flows.clear();
        st.reset();
        if (scratch) {
            std::error_code ec;
            fs::remove_all(*scratch, ec);
        }
    }
};

engine::engine(
    config cfg,
    const adapter_registry& registry,
    net::any_io_executor executor,
    const clock_source& clock,
    logger log,
    engine_options options
)
    : impl_(std::make_unique<impl>()) {
    auto& m = *impl_;
    m.cfg = std::move(cfg);
    const fs::path base = m.cfg.file.parent_path();
    m.catalogue.emplace(canonical_catalogue::load(m.cfg.catalogue));
    m.policies.emplace(policy::policy_set::load(m.cfg.policies, *m.catalogue));

    // The store.
    store::store_options so;
    fs::path store_path = m.cfg.store.path;
    if (options.read_only_store && !fs::exists(store_path)) {
        // A fresh folder of our own (mode 0700, a name nobody can guess or plant beforehand),
        // removed with the engine.
        std::error_code ec;
        const auto tmp = fs::temp_directory_path(ec);
        std::string name = ((ec ? fs::path("/tmp") : tmp) / "casebridge-dry-run-XXXXXX").string();
        if (::mkdtemp(name.data()) == nullptr) {
            throw std::runtime_error(
                "dry run: cannot create a scratch folder in " +
                fs::path(name).parent_path().string()
            );
        }
        m.scratch = fs::path(name);
        store_path = *m.scratch / "store.db";
    } else {
        if (!m.cfg.store.signing_key_file.empty()) {
            so.signing_key = m.cfg.store.signing_key_file;
        }
        if (!m.cfg.store.witness_file.empty()) {
            so.witness_file = m.cfg.store.witness_file;
        }
        so.checkpoint_every = m.cfg.store.checkpoint_every;
    }
    auto opened = store::store::open(store_path, so, clock);
    if (!opened) {
        throw std::runtime_error(
            "store " + store_path.string() + ": cannot be opened (" + opened.error().message() + ")"
        );
    }
    m.st = std::make_unique<store::store_thread>(std::move(*opened));
    auto hasher = store::keyed_hasher::from_file(m.cfg.store.identifier_key_file);
    if (!hasher) {
        throw std::runtime_error(
            "store.identifier_key_file " + m.cfg.store.identifier_key_file.string() + ": " +
            hasher.error().message()
        );
    }
    m.hasher = std::make_unique<store::keyed_hasher>(std::move(*hasher));

    // One HTTP client and one adapter per system.
    for (auto& sys : m.cfg.systems) {
        const auto* factory = registry.find(sys.kind);
        if (factory == nullptr) {
            continue;  // `check` notes kinds without an adapter; flows using them fail below
        }
        http_client_settings hs;
        hs.tls.ca_file = sys.tls.ca_file;
        hs.tls.client_cert_file = sys.tls.client_cert_file;
        hs.tls.client_key_file = sys.tls.client_key_file;
        hs.allow_plain_http_loopback =
            options.allow_plain_http_loopback || sys.tls.allow_plain_http_on_loopback;
        hs.max_connections_per_host = static_cast<std::size_t>(sys.limits.max_connections);
        hs.max_requests_per_second = sys.limits.requests_per_second;
        hs.request_timeout = std::chrono::seconds(sys.limits.timeout_seconds);
        auto& sm = m.systems.emplace_back(std::make_unique<system_metrics>());
        sm->id = sys.id;
        hs.request_durations = &sm->request_duration;
        auto client = http_client::create(executor, hs, clock);
        if (!client) {
            throw std::runtime_error("system " + sys.id + ": " + client.error().describe());
        }
        resolve_files(sys.settings, base, sys.settings.GetAllocator());
        adapter_env env{executor, client->get(), &clock, log};
        std::unique_ptr<adapter> a;
        try {
            a = factory->create(sys.settings, env);
        } catch (const std::exception& e) {
            throw std::runtime_error("system " + sys.id + ": " + e.what());
        }
        m.clients.emplace(sys.id, std::move(*client));
        m.adapters.emplace(sys.id, std::move(a));
    }

    // One runner per flow.
    for (const auto& f : m.cfg.flows) {
        auto from = m.adapters.find(f.from_system);
        auto to = m.adapters.find(f.to_system);
        if (from == m.adapters.end() || to == m.adapters.end()) {
            throw std::runtime_error(
                "flow " + f.id + ": no adapter for system " +
                (from == m.adapters.end() ? f.from_system : f.to_system) + " in this build"
            );
        }
        const bool acks = f.purpose == "acknowledgement";
        const bool notices = f.purpose == "duplicate_notice";
        const mapping::compiled_mapping* in = nullptr;
        const mapping::compiled_mapping* out = nullptr;
        const policy::profile* profile = nullptr;
        if (notices && !to->second->can_flag(f.to_stream)) {
            throw std::runtime_error(
                "flow " + f.id + ": system " + f.to_system + " cannot flag its " + f.to_stream +
                " (a duplicate_notice flow needs a CPIMS+ system)"
            );
        }
        if (!acks && !notices) {
            m.mappings.push_back(std::make_unique<mapping::compiled_mapping>(
                mapping::compiled_mapping::load(f.mapping_in, *m.catalogue)
            ));
            in = m.mappings.back().get();
            m.mappings.push_back(std::make_unique<mapping::compiled_mapping>(
                mapping::compiled_mapping::load(f.mapping_out, *m.catalogue)
            ));
            out = m.mappings.back().get();
            profile = m.policies->find(f.profile);
            if (profile == nullptr) {
                throw std::runtime_error("flow " + f.id + ": no profile " + f.profile);
            }
        }
        sync::flow_binding b;
        b.flow = must_token(f.id, "flow id " + f.id);
        b.purpose = must_token(f.purpose, "purpose of flow " + f.id);
        b.source_system = must_token(f.from_system, "system id " + f.from_system);
        b.source_stream = f.from_stream;
        b.target_system = must_token(f.to_system, "system id " + f.to_system);
        b.target_stream = f.to_stream.empty() ? f.from_stream : f.to_stream;
        b.source = from->second.get();
        b.target = to->second.get();
        b.map_in = in;
        b.map_out = out;
        b.profile = profile;
        b.closure = m.catalogue->closure();
        b.identities = m.hasher.get();
        b.identity_fields = m.catalogue->one_person_paths();
        b.one_record_per_row_of = f.one_record_per_row_of;
        if (!f.only_rows_field.empty()) {
            b.only_rows_where = sync::row_filter{
                f.only_rows_field.substr(f.one_record_per_row_of.size()), f.only_rows_values};
        }
        b.create = f.create;
        b.acknowledgements = acks;
        if (notices) {
            b.notices = sync::flag_texts{f.flag_message, f.flag_resolved_message};
        }
        b.concurrency = f.concurrency;
        b.retry.max_attempts = f.max_attempts;
        auto slot = std::make_unique<flow_slot>();
        slot->cfg = &f;
        slot->paused = f.paused;
        slot->runner =
            std::make_unique<sync::flow_runner>(std::move(b), *m.st, clock, log, &slot->metrics);
        m.flows.push_back(std::move(slot));
    }
}

engine::~engine() = default;

const config& engine::cfg() const noexcept {
    return impl_->cfg;
}

std::vector<std::unique_ptr<flow_slot>>& engine::flows() noexcept {
    return impl_->flows;
}

flow_slot* engine::find(std::string_view flow_id) noexcept {
    for (auto& f : impl_->flows) {
        if (f->cfg->id == flow_id) {
            return f.get();
        }
    }
    return nullptr;
}

std::optional<std::filesystem::path> engine::scratch_dir() const {
    return impl_->scratch;
}

const std::vector<std::unique_ptr<system_metrics>>& engine::systems() const noexcept {
    return impl_->systems;
}

store::store_thread& engine::store() noexcept {
    return *impl_->st;
}

const store::keyed_hasher& engine::identities() const noexcept {
    return *impl_->hasher;
}

void flow_slot::set_paused(bool p) {
    paused = p;
    if (p) {
        std::lock_guard lock(stop_mutex_);
        if (run_stop_.stop_possible()) {
            run_stop_.request_stop();
        }
    }
}

void flow_slot::attach_stop(const std::stop_source* s) {
    std::lock_guard lock(stop_mutex_);
    run_stop_ = s != nullptr ? *s : std::stop_source(std::nostopstate);
}

}  // namespace casebridge::app
