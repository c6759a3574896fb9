#include "cli/imo_world.hpp"

#include <fstream>
#include <future>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "adapter/adapter.hpp"
#include "app/config.hpp"
#include "app/engine.hpp"
#include "cli/commands.hpp"
#include "core/crypto.hpp"
#include "core/encoding.hpp"
#include "hub/hub_service.hpp"
#include "sandbox/primero/primero_sandbox.hpp"
#include "store/crypto.hpp"
#include "sync/notices.hpp"

namespace casebridge::cli {

namespace {

namespace fs = std::filesystem;
using json_writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void write_secret(const fs::path& p, const std::string& content) {
    fs::create_directories(p.parent_path());
    {
        std::ofstream out(p, std::ios::trunc);
        out << content << "\n";
        if (!out) {
            throw std::runtime_error("cannot write " + p.string());
        }
    }
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

void write_file(const fs::path& p, const rapidjson::StringBuffer& text) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::trunc | std::ios::binary);
    out.write(text.GetString(), static_cast<std::streamsize>(text.GetSize()));
    if (!out) {
        throw std::runtime_error("cannot write " + p.string());
    }
}

void key(json_writer& w, std::string_view k, std::string_view v) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

/// Every system here is on loopback in this process: no need for the shipped rate limit
/// (50 requests per second, what Primero's stock nginx allows a client).
void loopback_limits(json_writer& w) {
    w.Key("limits");
    w.StartObject();
    w.Key("requests_per_second");
    w.Double(2000);
    w.EndObject();
}

std::string hex_secret(std::size_t bytes) {
    return to_hex(crypto::random_bytes(bytes));
}

/// The cluster reference an IMO flag carries ("ref:" and a word), or empty.
std::string reference_in(std::string_view message) {
    const auto at = message.find("ref:");
    if (at == std::string_view::npos) {
        return {};
    }
    std::string ref;
    for (auto i = at + 4; i < message.size(); ++i) {
        const char c = message[i];
        const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!word) {
            break;
        }
        ref += c;
    }
    return ref;
}

}  // namespace

struct imo_world::impl {
    explicit impl(logger l) : log(std::move(l)) {}
    imo_world_options o;
    const clock_source* clock;
    logger log;
    net::io_context ctx;
    std::vector<std::unique_ptr<sandbox::primero_sandbox>> sandboxes;
    std::vector<imo_share> shares;
    std::vector<fs::path> configs;
    fs::path hub_file;
    std::optional<app::config> hub_cfg;
    std::unique_ptr<hub::service> hub_service;
    std::string hub_url;  ///< Where the agencies' configurations send them.
    std::vector<fs::path> tokens;
    std::vector<std::unique_ptr<app::engine>> engines;

    void write_hub_config(const std::vector<fs::path>& token_files) {
        rapidjson::StringBuffer sb;
        json_writer w(sb);
        w.StartObject();
        w.Key("config_version");
        w.Int(1);
        key(w, "log_level", "warn");
        w.Key("hub");
        w.StartObject();
        key(w, "listen", "127.0.0.1:0");
        w.Key("tls");
        w.StartObject();
        if (o.tls) {
            key(w, "cert_file", o.tls->server_cert.string());
            key(w, "key_file", o.tls->server_key.string());
            key(w, "client_ca_file", o.tls->ca_file.string());
        } else {
            w.Key("allow_plain_http_on_loopback");
            w.Bool(true);
        }
        w.EndObject();
        w.Key("store");
        w.StartObject();
        key(w, "path", (o.dir / "hub/hub.sqlite").string());
        w.EndObject();
        w.Key("agencies");
        w.StartArray();
        for (std::size_t k = 0; k < o.agencies.size(); ++k) {
            w.StartObject();
            key(w, "id", o.agencies[k].id);
            key(w, "display_name", o.agencies[k].display_name);
            w.Key("token");
            w.StartObject();
            key(w, "file", token_files[k].string());
            w.EndObject();
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        w.EndObject();
        hub_file = o.dir / "hub/casebridge-hub.json";
        write_file(hub_file, sb);
    }

    void write_agency_config(std::size_t k, const fs::path& token) {
        const fs::path home = o.dir / o.agencies[k].id;
        fs::create_directories(home / "state");
        const auto& cpims = *sandboxes[k];
        // Written once: a configuration written again (the hub moved) keeps the agency's keys,
        // so its store, its log and its pseudonyms stay its own.
        if (!fs::exists(home / "secrets/signing.pem")) {
            write_secret(home / "secrets/cpims-password", cpims.password());
            write_secret(home / "secrets/signing.pem", store::signer::generate().private_key_pem());
            write_secret(home / "secrets/identifier.key", hex_secret(32));
        }
        rapidjson::StringBuffer sb;
        json_writer w(sb);
        w.StartObject();
        w.Key("config_version");
        w.Int(1);
        key(w, "log_level", "warn");
        key(w, "catalogue", (o.data_dir / "mappings/canonical-case.json").string());
        key(w, "policies", (o.data_dir / "config/policies.json").string());
        w.Key("store");
        w.StartObject();
        key(w, "path", (home / "state/casebridge.db").string());
        key(w, "signing_key_file", (home / "secrets/signing.pem").string());
        key(w, "identifier_key_file", (home / "secrets/identifier.key").string());
        w.EndObject();
        w.Key("systems");
        w.StartObject();
        w.Key("cpims");
        w.StartObject();
        key(w, "kind", "primero");
        key(w, "description", "CPIMS+ sandbox of " + o.agencies[k].display_name);
        w.Key("settings");
        w.StartObject();
        key(w, "base_url", cpims.base_url());
        w.Key("auth");
        w.StartObject();
        key(w, "mode", "basic");
        key(w, "user_name", cpims.user_name());
        key(w, "password_file", (home / "secrets/cpims-password").string());
        w.EndObject();
        w.Key("per_page");
        w.Int(100);
        w.EndObject();
        w.Key("tls");
        w.StartObject();
        w.Key("allow_plain_http_on_loopback");
        w.Bool(true);
        w.EndObject();
        loopback_limits(w);
        w.EndObject();
        w.Key("imo-hub");
        w.StartObject();
        key(w, "kind", "casebridge_hub");
        key(w, "description", "The CPSS IMO's hub");
        w.Key("settings");
        w.StartObject();
        key(w, "base_url", hub_url);
        key(w, "token_file", token.string());
        w.EndObject();
        w.Key("tls");
        w.StartObject();
        if (o.tls) {
            key(w, "ca_file", o.tls->ca_file.string());
            key(w, "client_cert_file", o.tls->agency_cert_key.at(k).first.string());
            key(w, "client_key_file", o.tls->agency_cert_key.at(k).second.string());
        } else {
            w.Key("allow_plain_http_on_loopback");
            w.Bool(true);
        }
        w.EndObject();
        loopback_limits(w);
        w.EndObject();
        w.EndObject();
        w.Key("flows");
        w.StartArray();
        w.StartObject();
        key(w, "id", records_flow);
        key(w, "description", "Encoded records of consenting cases to the IMO hub");
        w.Key("from");
        w.StartObject();
        key(w, "system", "cpims");
        key(w, "stream", "cases");
        w.EndObject();
        w.Key("to");
        w.StartObject();
        key(w, "system", "imo-hub");
        key(w, "stream", "records");
        w.EndObject();
        key(w, "purpose", "report");
        key(w, "profile", "imo-harmonisation");
        w.Key("mappings");
        w.StartObject();
        key(w, "in", (o.data_dir / "mappings/primero.case.json").string());
        key(w, "out", (o.data_dir / "mappings/casebridge_hub.record.json").string());
        w.EndObject();
        w.EndObject();
        w.StartObject();
        key(w, "id", notices_flow);
        key(w, "description", "The hub's possible-duplicate notices as flags on the cases");
        w.Key("from");
        w.StartObject();
        key(w, "system", "imo-hub");
        key(w, "stream", "notices");
        w.EndObject();
        w.Key("to");
        w.StartObject();
        key(w, "system", "cpims");
        key(w, "stream", "cases");
        w.EndObject();
        key(w, "purpose", "duplicate_notice");
        w.EndObject();
        w.EndArray();
        w.EndObject();
        configs[k] = home / "casebridge.json";
        write_file(configs[k], sb);
    }

    void build_engine(std::size_t k) {
        const adapter_registry* registry = o.adapters;
        if (registry == nullptr) {
            throw std::runtime_error("no adapters registered");
        }
        engines[k] = std::make_unique<app::engine>(
            app::load_config(configs[k], registry),
            *registry,
            ctx.get_executor(),
            *clock,
            log,
            app::engine_options{false, true}
        );
    }
};

imo_world::imo_world(imo_world_options o, const clock_source& clock, logger log)
    : impl_(std::make_unique<impl>(std::move(log))) {
    auto& m = *impl_;
    m.o = std::move(o);
    m.clock = &clock;
    if (m.o.agencies.size() < 2) {
        throw std::runtime_error("the IMO use needs two agencies or more");
    }
    if (m.o.tls && m.o.tls->agency_cert_key.size() != m.o.agencies.size()) {
        throw std::runtime_error("one client certificate per agency is needed");
    }
    fs::create_directories(m.o.dir);
    sandbox::population::options pop;
    pop.seed = m.o.seed;
    pop.children = m.o.children;
    pop.agencies.clear();
    for (const auto& a : m.o.agencies) {
        pop.agencies.push_back(a.id);
    }
    // Each agency serves some of the children (the generator's coverage per agency).
    pop.coverage.assign(m.o.agencies.size(), 0.5);
    std::vector<fs::path> tokens;
    for (std::size_t k = 0; k < m.o.agencies.size(); ++k) {
        sandbox::primero_settings ps;
        ps.seed = m.o.seed * 131 + k;
        sandbox::primero_population share;
        share.options = pop;
        share.agency = m.o.agencies[k].id;
        share.cases.without_consent = m.o.without_consent;
        ps.population = share;
        m.sandboxes.push_back(std::make_unique<sandbox::primero_sandbox>(ps, clock));
        imo_share truth;
        truth.child_of = m.sandboxes.back()->population_truth();
        truth.without_consent = m.sandboxes.back()->cases_without_consent();
        m.shares.push_back(std::move(truth));
        tokens.push_back(m.o.dir / "hub/secrets" / ("token-" + m.o.agencies[k].id));
        write_secret(tokens.back(), hex_secret(24));
    }
    fs::create_directories(m.o.dir / "hub");
    m.write_hub_config(tokens);
    m.hub_cfg.emplace(app::load_config(m.hub_file, nullptr, app::config_need::hub));
    m.hub_service = std::make_unique<hub::service>(*m.hub_cfg->hub, clock, m.log);
    m.hub_url = m.hub_service->base_url();
    m.tokens = tokens;
    m.configs.resize(m.o.agencies.size());
    m.engines.resize(m.o.agencies.size());
    for (std::size_t k = 0; k < m.o.agencies.size(); ++k) {
        m.write_agency_config(k, tokens[k]);
        m.build_engine(k);
    }
}

imo_world::~imo_world() {
    if (impl_) {
        impl_->engines.clear();
        impl_->hub_service.reset();
    }
}

const imo_world_options& imo_world::options() const noexcept {
    return impl_->o;
}

std::size_t imo_world::agency_count() const noexcept {
    return impl_->o.agencies.size();
}

sandbox::primero_sandbox& imo_world::cpims(std::size_t agency) {
    return *impl_->sandboxes.at(agency);
}

const imo_share& imo_world::share(std::size_t agency) const {
    return impl_->shares.at(agency);
}

app::engine& imo_world::engine(std::size_t agency) {
    restart_agency(agency);
    return *impl_->engines.at(agency);
}

hub::service& imo_world::hub() {
    if (!impl_->hub_service) {
        throw std::runtime_error("the hub runs outside this process (release_hub)");
    }
    return *impl_->hub_service;
}

void imo_world::release_hub() {
    impl_->hub_service.reset();
}

void imo_world::restart_hub() {
    auto& m = *impl_;
    if (!m.hub_service) {
        m.hub_service = std::make_unique<hub::service>(*m.hub_cfg->hub, *m.clock, m.log);
    }
    use_hub_at(m.hub_service->base_url());
}

void imo_world::use_hub_at(const std::string& base_url) {
    auto& m = *impl_;
    m.hub_url = base_url;
    for (std::size_t k = 0; k < m.engines.size(); ++k) {
        const bool running = m.engines[k] != nullptr;
        m.engines[k].reset();
        m.write_agency_config(k, m.tokens[k]);
        if (running) {
            m.build_engine(k);
        }
    }
}

std::filesystem::path imo_world::agency_config(std::size_t agency) const {
    return impl_->configs.at(agency);
}

std::filesystem::path imo_world::hub_config() const {
    return impl_->hub_file;
}

sync::run_report imo_world::run(std::size_t agency, std::string_view flow_id, bool from_start) {
    auto& m = *impl_;
    restart_agency(agency);
    auto* slot = m.engines.at(agency)->find(flow_id);
    if (slot == nullptr) {
        throw std::runtime_error("no flow " + std::string(flow_id));
    }
    sync::run_options opts;
    opts.keep_records = true;
    opts.from_start = from_start;
    auto fut = net::co_spawn(m.ctx, slot->runner->run_once(opts), net::use_future);
    m.ctx.restart();
    m.ctx.run();
    return fut.get();
}

std::vector<sync::run_report> imo_world::send_all() {
    std::vector<sync::run_report> out;
    for (std::size_t k = 0; k < agency_count(); ++k) {
        out.push_back(run(k, records_flow));
    }
    if (impl_->hub_service) {
        impl_->hub_service->wait_for_linkage();
    }
    return out;
}

std::vector<sync::run_report> imo_world::notify_all() {
    std::vector<sync::run_report> out;
    for (std::size_t k = 0; k < agency_count(); ++k) {
        out.push_back(run(k, notices_flow));
    }
    return out;
}

void imo_world::release_agency(std::size_t agency) {
    impl_->engines.at(agency).reset();
}

void imo_world::restart_agency(std::size_t agency) {
    auto& m = *impl_;
    if (!m.engines.at(agency)) {
        m.build_engine(agency);
    }
}

imo_flag_report check_flags(imo_world& world) {
    imo_flag_report r;
    const auto& agencies = world.options().agencies;
    const std::size_t n = agencies.size();
    r.flagged_cases.assign(n, 0);
    r.resolved_flags.assign(n, 0);
    struct member {
        std::size_t agency;
        std::string case_id;
        std::string message;
    };
    std::map<std::string, std::vector<member>> by_ref;
    for (std::size_t k = 0; k < n; ++k) {
        const auto& share = world.share(k);
        for (const auto& [case_id, child] : share.child_of) {
            std::set<std::string> refs;
            std::size_t active = 0;
            for (const auto& f : world.cpims(k).flags_of(case_id)) {
                const std::string ref = reference_in(f.message);
                if (ref.empty()) {
                    continue;  // not an IMO flag
                }
                if (f.removed) {
                    ++r.resolved_flags[k];
                    continue;
                }
                ++active;
                if (refs.insert(ref).second) {
                    by_ref[ref].push_back({k, case_id, f.message});
                }
            }
            if (active == 0) {
                continue;
            }
            ++r.flagged_cases[k];
            const std::string where = agencies[k].id + " case " + case_id;
            if (refs.size() > 1) {
                r.problems.push_back(where + ": active flags of two references");
            } else if (active > 1) {
                r.problems.push_back(where + ": two active flags of one reference");
            }
            if (share.without_consent.count(case_id) != 0) {
                r.problems.push_back(where + ": flagged, but it has no basis to reach the hub");
            }
        }
    }
    r.references = by_ref.size();
    for (const auto& [ref, members] : by_ref) {
        std::set<std::size_t> held;
        for (const auto& mem : members) {
            if (!held.insert(mem.agency).second) {
                r.problems.push_back("ref:" + ref + ": on two cases of " + agencies[mem.agency].id);
            }
        }
        if (held.size() < 2) {
            r.problems.push_back("ref:" + ref + ": on the cases of one agency only");
        }
        for (const auto& mem : members) {
            for (std::size_t k = 0; k < n; ++k) {
                const bool named = mem.message.find(agencies[k].display_name) != std::string::npos;
                const bool should = k != mem.agency && held.count(k) != 0;
                if (named != should) {
                    r.problems.push_back(
                        agencies[mem.agency].id + " case " + mem.case_id + ": its flag " +
                        (should ? "does not name " : "names ") + agencies[k].id
                    );
                }
            }
        }
        for (std::size_t i = 0; i < members.size(); ++i) {
            for (std::size_t j = i + 1; j < members.size(); ++j) {
                if (members[i].agency == members[j].agency) {
                    continue;
                }
                ++r.predicted_pairs;
                const auto ci = world.share(members[i].agency).child_of.at(members[i].case_id);
                const auto cj = world.share(members[j].agency).child_of.at(members[j].case_id);
                if (ci == cj) {
                    ++r.correct_pairs;
                }
            }
        }
    }
    // Truth: cross-agency pairs of one child where both cases have a basis to reach the hub.
    std::map<std::uint32_t, std::vector<std::size_t>> agencies_of_child;
    for (std::size_t k = 0; k < n; ++k) {
        const auto& share = world.share(k);
        for (const auto& [case_id, child] : share.child_of) {
            if (share.without_consent.count(case_id) == 0) {
                agencies_of_child[child].push_back(k);
            }
        }
    }
    for (const auto& [child, ks] : agencies_of_child) {
        for (std::size_t i = 0; i < ks.size(); ++i) {
            for (std::size_t j = i + 1; j < ks.size(); ++j) {
                if (ks[i] != ks[j]) {
                    ++r.true_pairs;
                }
            }
        }
    }
    return r;
}

}  // namespace casebridge::cli
