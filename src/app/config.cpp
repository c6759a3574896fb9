#include "app/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter/registry.hpp"
#include "canonical/canonical_case.hpp"
#include "json/json.hpp"
#include "json/json_schema.hpp"
#include "mapping/mapping.hpp"
#include "net/url.hpp"
#include "policy/policy.hpp"
#include "report/report.hpp"
#include "store/crypto.hpp"

namespace casebridge::app {
namespace {

/// A system's limits before its `limits` block: protective where the system is known to
/// refuse more (docs/configuration.md says why for each kind).
limits_config default_limits(std::string_view kind) {
    limits_config l;  // Primero's stock nginx: 20 connections and 50 requests/s per client
    if (kind == "progres_ping" || kind == "casebridge_hub") {
        // UNHCR's PING is an API gateway in front of proGres, not one nginx: it throttles per
        // subscription and answers 429 with Retry-After, which the client honours, so the
        // Primero rate made casebridge the bottleneck of every referral flow. The IMO hub is
        // casebridge's own and takes a whole page per request.
        l.requests_per_second = 200;
    }
    return l;
}

std::string str(const rapidjson::Value& v) {
    return {v.GetString(), v.GetStringLength()};
}

// Certificates and files casebridge writes are not secrets; every other *_file is.
bool is_public_file_key(std::string_view key) {
    return key == "ca_file" || key == "client_cert_file" || key == "witness_file";
}

class loader {
public:
    loader(const json::located_document& file, std::string origin, std::filesystem::path dir)
        : file_(file), origin_(std::move(origin)), dir_(std::move(dir)) {}

    [[noreturn]] void fail(const std::string& pointer, const std::string& message) const {
        json::fail_at(file_, origin_, pointer, message);
    }

    std::filesystem::path resolve(const std::string& p) const {
        const std::filesystem::path path(p);
        return path.is_absolute() ? path : dir_ / path;
    }

    // A file that must exist (not a secret).
    std::filesystem::path existing_file(const rapidjson::Value& v, const std::string& at) const {
        const auto p = resolve(str(v));
        std::error_code ec;
        if (!std::filesystem::is_regular_file(p, ec)) {
            fail(at, "file \"" + p.string() + "\" does not exist or is not a regular file");
        }
        return p;
    }

    // A secret file: exists, and only its owner may read it. Its content is never read here.
    std::filesystem::path secret_file(const rapidjson::Value& v, const std::string& at) const {
        const auto p = existing_file(v, at);
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) {
            fail(at, "secret file \"" + p.string() + "\" cannot be read");
        }
        if ((st.st_mode & 077U) != 0) {
            fail(
                at,
                "secret file \"" + p.string() + "\" is readable by group or others (chmod 600 it)"
            );
        }
        if (::access(p.c_str(), R_OK) != 0) {
            fail(at, "secret file \"" + p.string() + "\" is not readable by this user");
        }
        return p;
    }

    // A folder that must exist (an adapter's "*_dir" setting).
    void existing_dir(const rapidjson::Value& v, const std::string& at) const {
        const auto p = resolve(str(v));
        std::error_code ec;
        if (!std::filesystem::is_directory(p, ec)) {
            fail(at, "folder \"" + p.string() + "\" does not exist or is not a folder");
        }
    }

    void secret_env(const rapidjson::Value& v, const std::string& at) const {
        const std::string name = str(v);
        const char* value = std::getenv(name.c_str());
        if (value == nullptr || *value == '\0') {
            fail(at, "environment variable " + name + " is not set");
        }
    }

    // Walks an adapter's settings block: every "*_file" is a secret file unless it is a
    // certificate, every "*_env" names a secret environment variable, every "*_dir" an
    // existing folder.
    void check_secrets(const rapidjson::Value& v, const std::string& at) const {
        if (!v.IsObject()) {
            return;
        }
        for (const auto& m : v.GetObject()) {
            const std::string key = str(m.name);
            const std::string p = at + "/" + json::escape_pointer_token(key);
            if (m.value.IsObject()) {
                check_secrets(m.value, p);
            } else if (m.value.IsString() && key.size() > 5 && key.compare(key.size() - 5, 5, "_file") == 0) {
                if (is_public_file_key(key)) {
                    existing_file(m.value, p);
                } else {
                    secret_file(m.value, p);
                }
            } else if (m.value.IsString() && key.size() > 4 && key.compare(key.size() - 4, 4, "_env") == 0) {
                secret_env(m.value, p);
            } else if (m.value.IsString() && key.size() > 4 && key.compare(key.size() - 4, 4, "_dir") == 0) {
                existing_dir(m.value, p);
            }
        }
    }

private:
    const json::located_document& file_;
    std::string origin_;
    std::filesystem::path dir_;
};

/// The top level: log_level, and which sections there are for what the caller runs (`need`).
void load_top_level(const loader& l, const rapidjson::Value& doc, config_need need, config& c) {
    if (doc.HasMember("log_level")) {
        c.log_level = str(doc["log_level"]);
    }

    // Flows need all four sections; a hub-only configuration has none of them.
    std::string missing;
    int present = 0;
    for (const char* section : {"store", "policies", "systems", "flows"}) {
        if (doc.HasMember(section)) {
            ++present;
        } else if (missing.empty()) {
            missing = section;
        }
    }
    if (present != 0 && present != 4) {
        l.fail(
            "",
            "missing required property \"" + missing +
                "\" (store, policies, systems and flows go together)"
        );
    }
    c.has_flows = present == 4;
    if (need == config_need::flows && !c.has_flows) {
        l.fail(
            "",
            "missing required property \"store\" (with policies, systems and flows); a "
            "configuration with only a hub section runs with `casebridge hub serve`"
        );
    }
    if (need == config_need::hub && !doc.HasMember("hub")) {
        l.fail("", "missing required property \"hub\" (the IMO hub's section)");
    }
    if (need == config_need::any && !c.has_flows && !doc.HasMember("hub")) {
        l.fail(
            "", "missing required property \"store\" (with policies, systems and flows) or \"hub\""
        );
    }
}

/// Splits "address:port" (the schema fixed its shape) and checks both parts.
void parse_listen(
    const loader& l,
    const std::string& listen,
    const std::string& at,
    std::string& host,
    unsigned short& port
) {
    const auto colon = listen.rfind(':');
    host = listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    const std::string digits = listen.substr(colon + 1);
    const long n = digits.size() <= 5 ? std::strtol(digits.c_str(), nullptr, 10) : -1;
    if (n < 0 || n > 65535) {
        l.fail(at, "the port must be 0 to 65535, not " + digits);
    }
    port = static_cast<unsigned short>(n);
    unsigned char addr[sizeof(in6_addr)];
    if (::inet_pton(host.find(':') == std::string::npos ? AF_INET : AF_INET6, host.c_str(), addr) !=
        1) {
        l.fail(at, "\"" + host + "\" is not an IPv4 or IPv6 address");
    }
}

bool is_loopback_address(const std::string& host) {
    return host.starts_with("127.") || host == "::1";
}

hub_config load_hub(const loader& l, const rapidjson::Value& h) {
    hub_config c;
    c.listen = str(h["listen"]);
    parse_listen(l, c.listen, "/hub/listen", c.host, c.port);
    if (h.HasMember("tls")) {
        const auto& t = h["tls"];
        if (t.HasMember("cert_file") != t.HasMember("key_file")) {
            l.fail("/hub/tls", "TLS needs both cert_file and key_file");
        }
        if (t.HasMember("cert_file")) {
            c.cert_file = l.existing_file(t["cert_file"], "/hub/tls/cert_file");
            c.key_file = l.secret_file(t["key_file"], "/hub/tls/key_file");
        }
        if (t.HasMember("client_ca_file")) {
            if (!t.HasMember("cert_file")) {
                l.fail(
                    "/hub/tls/client_ca_file",
                    "client certificates need TLS (cert_file and key_file)"
                );
            }
            c.client_ca_file = l.existing_file(t["client_ca_file"], "/hub/tls/client_ca_file");
        }
        if (t.HasMember("allow_plain_http_on_loopback")) {
            c.allow_plain_http_on_loopback = t["allow_plain_http_on_loopback"].GetBool();
        }
    }
    if (!c.tls()) {
        // Tokens and encodings would cross the network in clear text.
        if (!c.allow_plain_http_on_loopback) {
            l.fail(
                "/hub/tls",
                "the hub needs TLS (cert_file and key_file); plain HTTP only on a loopback "
                "address with allow_plain_http_on_loopback: true"
            );
        }
        if (!is_loopback_address(c.host)) {
            l.fail(
                "/hub/listen",
                "\"" + c.host +
                    "\" is not a loopback address: plain HTTP (allow_plain_http_on_loopback) "
                    "only on 127.0.0.0/8 or ::1; give hub.tls a cert_file and key_file"
            );
        }
    }
    c.store_path = l.resolve(str(h["store"]["path"]));
    const auto store_dir = c.store_path.has_parent_path() ? c.store_path.parent_path() : ".";
    if (::access(store_dir.c_str(), W_OK) != 0) {
        l.fail(
            "/hub/store/path",
            "the folder \"" + store_dir.string() + "\" does not exist or is not writable"
        );
    }
    c.linkage_schema = h.HasMember("linkage_schema")
                           ? l.existing_file(h["linkage_schema"], "/hub/linkage_schema")
                           : std::filesystem::path();
    if (h.HasMember("thresholds")) {
        const auto& t = h["thresholds"];
        if (t.HasMember("upper")) {
            c.upper_threshold = t["upper"].GetDouble();
        }
        if (t.HasMember("lower")) {
            c.lower_threshold = t["lower"].GetDouble();
        }
        if (c.upper_threshold && c.lower_threshold && *c.lower_threshold > *c.upper_threshold) {
            l.fail("/hub/thresholds/lower", "the lower threshold is above the upper one");
        }
    }
    if (h.HasMember("coarse_fields")) {
        const auto& f = h["coarse_fields"];
        for (rapidjson::SizeType i = 0; i < f.Size(); ++i) {
            const std::string name = str(f[i]);
            if (std::find(c.coarse_fields.begin(), c.coarse_fields.end(), name) !=
                c.coarse_fields.end()) {
                l.fail(
                    "/hub/coarse_fields/" + std::to_string(i), "\"" + name + "\" is listed twice"
                );
            }
            c.coarse_fields.push_back(name);
        }
    } else {
        c.coarse_fields = hub_coarse_field_names();
    }
    if (h.HasMember("max_batch_records")) {
        c.max_batch_records = h["max_batch_records"].GetInt();
    }
    if (h.HasMember("max_body_bytes")) {
        c.max_body_bytes = static_cast<std::size_t>(h["max_body_bytes"].GetInt64());
    }
    const auto& agencies = h["agencies"];
    for (rapidjson::SizeType i = 0; i < agencies.Size(); ++i) {
        const auto& a = agencies[i];
        const std::string at = "/hub/agencies/" + std::to_string(i);
        hub_agency_config ac;
        ac.id = str(a["id"]);
        if (c.find_agency(ac.id) != nullptr) {
            l.fail(at + "/id", "agency id \"" + ac.id + "\" is used twice");
        }
        ac.display_name = a.HasMember("display_name") ? str(a["display_name"]) : ac.id;
        const auto& tok = a["token"];
        if (tok.HasMember("file") == tok.HasMember("env")) {
            l.fail(at + "/token", "give the token as either a file or an env variable");
        }
        if (tok.HasMember("file")) {
            ac.token.file = l.secret_file(tok["file"], at + "/token/file");
        } else {
            ac.token.env = str(tok["env"]);
            l.secret_env(tok["env"], at + "/token/env");
        }
        if (a.HasMember("certificate_name")) {
            if (c.client_ca_file.empty()) {
                l.fail(
                    at + "/certificate_name",
                    "certificate names are checked only with hub.tls.client_ca_file"
                );
            }
            ac.certificate_name = str(a["certificate_name"]);
        } else if (!c.client_ca_file.empty()) {
            ac.certificate_name = ac.id;
        }
        c.agencies.push_back(std::move(ac));
    }
    return c;
}

reports_config load_reports(
    const loader& l, const rapidjson::Value& r, bool has_store, bool has_hub
) {
    reports_config c;
    c.definitions = l.existing_file(r["definitions"], "/reports/definitions");
    c.out_dir = l.resolve(str(r["out_dir"]));
    std::error_code ec;
    const auto out_parent = c.out_dir.has_parent_path() ? c.out_dir.parent_path() : ".";
    if (!std::filesystem::is_directory(c.out_dir, ec) && ::access(out_parent.c_str(), W_OK) != 0) {
        l.fail(
            "/reports/out_dir",
            "neither \"" + c.out_dir.string() + "\" nor its parent folder is a writable folder"
        );
    }
    std::vector<report::report_spec> specs;
    try {
        specs = report::load_report_specs(c.definitions);
    } catch (const std::exception& e) {
        l.fail("/reports/definitions", e.what());
    }
    if (r.HasMember("day")) {
        c.day = r["day"].GetInt();
    }
    if (r.HasMember("monthly")) {
        const auto& ids = r["monthly"];
        for (rapidjson::SizeType i = 0; i < ids.Size(); ++i) {
            const std::string at = "/reports/monthly/" + std::to_string(i);
            const std::string id = str(ids[i]);
            const auto spec =
                std::find_if(specs.begin(), specs.end(), [&](const auto& s) { return s.id == id; });
            if (spec == specs.end()) {
                l.fail(at, "no report \"" + id + "\" in " + c.definitions.string());
            }
            if (spec->measure == report::report_measure::events && !has_store) {
                l.fail(
                    at,
                    "report \"" + id +
                        "\" counts an agency's sharing events: it needs "
                        "the store section of a configuration with flows"
                );
            }
            if (spec->measure == report::report_measure::unique_children && !has_hub) {
                l.fail(
                    at,
                    "report \"" + id +
                        "\" counts unique children: it needs the hub "
                        "section (its store)"
                );
            }
            c.monthly.push_back(id);
        }
    }
    return c;
}

// Store: its folder must be writable; the keys are secrets.
void load_store(const loader& l, const rapidjson::Value& st, config& c) {
    c.store.path = l.resolve(str(st["path"]));
    const auto store_dir = c.store.path.has_parent_path() ? c.store.path.parent_path() : ".";
    if (::access(store_dir.c_str(), W_OK) != 0) {
        l.fail(
            "/store/path",
            "the folder \"" + store_dir.string() + "\" does not exist or is not writable"
        );
    }
    c.store.signing_key_file = l.secret_file(st["signing_key_file"], "/store/signing_key_file");
    c.store.identifier_key_file =
        l.secret_file(st["identifier_key_file"], "/store/identifier_key_file");
    // Their contents too, so that `check` fails where the daemon would (never quoting them).
    if (!store::signer::from_pem_file(c.store.signing_key_file)) {
        l.fail(
            "/store/signing_key_file",
            "\"" + c.store.signing_key_file.string() +
                "\" is not an Ed25519 private key in PEM (make one with: openssl genpkey "
                "-algorithm ed25519)"
        );
    }
    if (const auto k = store::keyed_hasher::from_file(c.store.identifier_key_file); !k) {
        std::error_code ec;
        const auto size = std::filesystem::file_size(c.store.identifier_key_file, ec);
        l.fail(
            "/store/identifier_key_file",
            "\"" + c.store.identifier_key_file.string() + "\" " +
                (k.error() == errc::invalid_config && !ec
                     ? "holds " + std::to_string(size) +
                           " bytes; an identifier key needs at least 32 (e.g. openssl rand -hex 32)"
                     : std::string("cannot be read"))
        );
    }
    if (st.HasMember("witness_file")) {
        c.store.witness_file = l.resolve(str(st["witness_file"]));
        const auto wdir = c.store.witness_file.parent_path();
        if (::access(wdir.c_str(), W_OK) != 0) {
            l.fail(
                "/store/witness_file",
                "the folder \"" + wdir.string() + "\" does not exist or is not writable"
            );
        }
    }
    if (st.HasMember("checkpoint_every")) {
        c.store.checkpoint_every = st["checkpoint_every"].GetInt();
    }
    if (st.HasMember("retention_days")) {
        c.store.retention_days = st["retention_days"].GetInt();
    }
    if (st.HasMember("purge_every_hours")) {
        c.store.purge_every_hours = st["purge_every_hours"].GetInt();
    }
}

/// The admin API: its listener (loopback unless allowed beyond) and its token file.
void load_admin(const loader& l, const rapidjson::Value& admin, config& c) {
    admin_config a;
    a.listen = str(admin["listen"]);
    // The schema fixes the shape (address:port, digits only); the values are checked here.
    const auto colon = a.listen.rfind(':');
    a.host = a.listen.substr(0, colon);
    if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') {
        a.host = a.host.substr(1, a.host.size() - 2);
    }
    const std::string digits = a.listen.substr(colon + 1);
    const long port = digits.size() <= 5 ? std::strtol(digits.c_str(), nullptr, 10) : -1;
    if (port < 0 || port > 65535) {
        l.fail("/admin/listen", "the port must be 0 to 65535, not " + digits);
    }
    a.port = static_cast<unsigned short>(port);
    unsigned char addr[sizeof(in6_addr)];
    if (::inet_pton(
            a.host.find(':') == std::string::npos ? AF_INET : AF_INET6, a.host.c_str(), addr
        ) != 1) {
        l.fail("/admin/listen", "\"" + a.host + "\" is not an IPv4 or IPv6 address");
    }
    a.token_file = l.secret_file(admin["token_file"], "/admin/token_file");
    // The admin API speaks plain HTTP: its token would cross the network in clear text
    // unless a TLS-terminating proxy sits in front (docs/operations.md).
    const bool loopback = a.host.starts_with("127.") || a.host == "::1";
    const bool beyond =
        admin.HasMember("allow_beyond_loopback") && admin["allow_beyond_loopback"].GetBool();
    if (!loopback && !beyond) {
        l.fail(
            "/admin/listen",
            "\"" + a.host +
                "\" is not a loopback address; the admin API is plain HTTP, so its token "
                "would cross the network in clear text. Keep it on 127.0.0.1 and put a "
                "TLS-terminating proxy in front (docs/operations.md), or set "
                "admin.allow_beyond_loopback to true"
        );
    } else if (!loopback) {
        c.notes.push_back(
            "admin.listen " + a.listen +
            " is beyond loopback and plain HTTP: only behind a TLS-terminating proxy or on a "
            "trusted network (admin.allow_beyond_loopback)"
        );
    }
    c.admin = std::move(a);
}

/// The canonical catalogue: `catalogue` or the default one.
canonical_catalogue load_catalogue(const loader& l, const rapidjson::Value& doc, config& c) {
    c.catalogue = doc.HasMember("catalogue") ? l.existing_file(doc["catalogue"], "/catalogue")
                                             : canonical_catalogue::default_path();
    return canonical_catalogue::load(c.catalogue);
}

/// The DPISP policies, checked against the catalogue.
policy::policy_set load_policies(
    const loader& l, const rapidjson::Value& doc, const canonical_catalogue& catalogue, config& c
) {
    c.policies = l.existing_file(doc["policies"], "/policies");
    return policy::policy_set::load(c.policies, catalogue);
}

/// The URLs of a system's settings (base_url, token_url, any *_url), parsed as its requests
/// will be: a space, a port past 65535 or a scheme left out are named here, not at the first
/// request; plain http only to a loopback host, and only where the system allows it.
/// The values are not repeated in the messages.
void check_urls(const loader& l, const rapidjson::Value& system, const std::string& at) {
    const rapidjson::Value* allow = nullptr;
    if (system.HasMember("tls") && system["tls"].IsObject() &&
        system["tls"].HasMember("allow_plain_http_on_loopback")) {
        allow = &system["tls"]["allow_plain_http_on_loopback"];
    }
    const bool plain_allowed = allow != nullptr && allow->IsBool() && allow->GetBool();
    const auto& settings = system["settings"];
    if (!settings.IsObject()) {
        return;
    }
    for (const auto& sm : settings.GetObject()) {
        const std::string key = str(sm.name);
        if (!sm.value.IsString() || !key.ends_with("_url")) {
            continue;
        }
        const std::string where = at + "/settings/" + json::escape_pointer_token(key);
        const auto url = parse_http_url(str(sm.value));
        if (!url) {
            l.fail(
                where,
                key + " is not a usable URL: " + url.error().message() +
                    " (write it as https://host or https://host:port)"
            );
        }
        if (!url->tls && !(plain_allowed && is_loopback_host(url->host))) {
            l.fail(
                where,
                key +
                    " uses plain http: casebridge sends case data only over https, except to a "
                    "loopback host (localhost, 127.0.0.0/8, ::1) when "
                    "tls.allow_plain_http_on_loopback is true"
            );
        }
    }
}

/// One system under /systems: its id, kind, adapter settings (and their secrets), TLS and limits.
void load_system(
    const loader& l, const rapidjson::Value::Member& m, const adapter_registry* adapters, config& c
) {
    system_config s;
    s.id = str(m.name);
    const std::string at = "/systems/" + json::escape_pointer_token(s.id);
    // Checked here, not with the schema's patternProperties: RapidJSON 1.1.0 crashes when
    // it tears down patternProperties validators after a failed validation.
    const bool id_ok =
        !s.id.empty() && s.id.size() <= 64 && s.id[0] >= 'a' && s.id[0] <= 'z' &&
        std::all_of(s.id.begin(), s.id.end(), [](char ch) {
            return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
        });
    if (!id_ok) {
        l.fail(
            at, "a system id is lower-case letters, digits, '_' and '-', starting with a letter"
        );
    }
    s.kind = str(m.value["kind"]);
    s.limits = default_limits(s.kind);
    if (m.value.HasMember("description")) {
        s.description = str(m.value["description"]);
    }
    s.settings.CopyFrom(m.value["settings"], s.settings.GetAllocator());
    check_urls(l, m.value, at);
    const adapter_factory* factory = adapters != nullptr ? adapters->find(s.kind) : nullptr;
    if (factory != nullptr) {
        const json::schema settings_schema(factory->config_schema, s.kind + " settings schema");
        if (const auto v = settings_schema.validate(s.settings)) {
            l.fail(at + "/settings" + v->pointer, v->message);
        } else if (factory->check != nullptr) {
            // What the schema cannot say, checked here as the adapter will at start-up.
            try {
                factory->check(s.settings);
            } catch (const std::invalid_argument& e) {
                l.fail(at + "/settings", e.what());
            }
        }
    } else {
        c.notes.push_back(
            "system \"" + s.id + "\": settings not checked (no " + s.kind +
            " adapter in this build)"
        );
    }
    l.check_secrets(m.value["settings"], at + "/settings");
    if (m.value.HasMember("tls")) {
        const auto& t = m.value["tls"];
        if (t.HasMember("ca_file")) {
            s.tls.ca_file = l.existing_file(t["ca_file"], at + "/tls/ca_file");
        }
        if (t.HasMember("client_cert_file") != t.HasMember("client_key_file")) {
            l.fail(at + "/tls", "mutual TLS needs both client_cert_file and client_key_file");
        }
        if (t.HasMember("client_cert_file")) {
            s.tls.client_cert_file =
                l.existing_file(t["client_cert_file"], at + "/tls/client_cert_file");
            s.tls.client_key_file =
                l.secret_file(t["client_key_file"], at + "/tls/client_key_file");
        }
        if (t.HasMember("allow_plain_http_on_loopback")) {
            s.tls.allow_plain_http_on_loopback = t["allow_plain_http_on_loopback"].GetBool();
        }
    }
    if (m.value.HasMember("limits")) {
        const auto& lim = m.value["limits"];
        if (lim.HasMember("max_connections")) {
            s.limits.max_connections = lim["max_connections"].GetInt();
        }
        if (lim.HasMember("requests_per_second")) {
            s.limits.requests_per_second = lim["requests_per_second"].GetDouble();
        }
        if (lim.HasMember("timeout_seconds")) {
            s.limits.timeout_seconds = lim["timeout_seconds"].GetInt();
        }
    }
    c.systems.push_back(std::move(s));
}

/// Every system under /systems, in the file's order.
void load_systems(
    const loader& l, const rapidjson::Value& systems, const adapter_registry* adapters, config& c
) {
    for (const auto& m : systems.GetObject()) {
        load_system(l, m, adapters, c);
    }
}

/// A duplicate_notice flow: where it reads and writes, its flag texts.
void load_duplicate_notice_flow(
    const loader& l,
    const rapidjson::Value& f,
    const std::string& at,
    const config& c,
    flow_config& fc
) {
    // The IMO hub's notices become flags on the agency's own cases: nothing is mapped,
    // decided or shared (docs/imo.md).
    if (fc.from_stream != "notices" || c.find_system(fc.from_system)->kind != "casebridge_hub") {
        l.fail(
            at + "/from",
            "a duplicate_notice flow reads the notices stream of a casebridge_hub system"
        );
    }
    if (!f["to"].HasMember("stream")) {
        fc.to_stream = "cases";
    } else if (fc.to_stream != "cases") {
        l.fail(at + "/to/stream", "a duplicate_notice flow flags cases");
    }
    for (const char* key :
         {"profile",
          "mappings",
          "one_record_per_row_of",
          "only_rows_where",
          "create",
          "reconcile"}) {
        if (f.HasMember(key)) {
            l.fail(at + "/" + key, "not used by a duplicate_notice flow; remove it");
        }
    }
    if (f.HasMember("flags")) {
        const auto& fl = f["flags"];
        if (fl.HasMember("message")) {
            fc.flag_message = fl["message"].GetString();
        }
        if (fl.HasMember("resolved_message")) {
            fc.flag_resolved_message = fl["resolved_message"].GetString();
        }
    }
    for (const auto& [text, where] :
         {std::pair{&fc.flag_message, "/flags/message"},
          std::pair{&fc.flag_resolved_message, "/flags/resolved_message"}}) {
        if (auto bad = sync::check_flag_text(*text)) {
            l.fail(at + where, *bad);
        }
    }
}

/// An acknowledgement flow: what it reads, and no mapping settings.
void check_acknowledgement_flow(
    const loader& l, const rapidjson::Value& f, const std::string& at, const flow_config& fc
) {
    // Acknowledgements are read, logged and linked; nothing is mapped or shared.
    if (fc.from_stream != "acknowledgements") {
        l.fail(at + "/from/stream", "an acknowledgement flow reads the acknowledgements stream");
    }
    for (const char* key : {"profile", "mappings", "one_record_per_row_of", "create"}) {
        if (f.HasMember(key)) {
            l.fail(at + "/" + key, "not used by an acknowledgement flow; remove it");
        }
    }
}

/// A flow that shares records: its DPISP profile and its two mappings.
void load_profile_and_mappings(
    const loader& l,
    const rapidjson::Value& f,
    const std::string& at,
    const canonical_catalogue& catalogue,
    const policy::policy_set& policies,
    const config& c,
    flow_config& fc
) {
    fc.profile = str(f["profile"]);
    const policy::profile* p = policies.find(fc.profile);
    if (p == nullptr) {
        l.fail(
            at + "/profile", "no DPISP profile \"" + fc.profile + "\" in " + c.policies.string()
        );
    }
    if (!p->unavailable_key.empty()) {
        l.fail(
            at + "/profile",
            "profile \"" + fc.profile +
                "\" pseudonymises with a key (or encodes with a linkage secret) that "
                "cannot be had: " +
                p->unavailable_key
        );
    }
    if (policy::to_string(p->purpose_) != fc.purpose) {
        l.fail(
            at + "/purpose",
            "the flow's purpose is " + fc.purpose + " but profile \"" + fc.profile + "\" is for " +
                std::string(policy::to_string(p->purpose_))
        );
    }
    // A linkage encoding is for the IMO hub only, and the hub takes nothing else.
    const bool to_hub = c.find_system(fc.to_system)->kind == "casebridge_hub";
    if (p->linkage && !to_hub) {
        l.fail(
            at + "/profile",
            "profile \"" + fc.profile +
                "\" has a linkage step, whose encoding only a casebridge_hub system "
                "receives; system \"" +
                fc.to_system + "\" is " + c.find_system(fc.to_system)->kind
        );
    }
    if (to_hub && !p->linkage) {
        l.fail(
            at + "/profile",
            "a casebridge_hub system receives encoded records: profile \"" + fc.profile +
                "\" needs a linkage step (docs/dpisp.md)"
        );
    }
    fc.mapping_in = l.existing_file(f["mappings"]["in"], at + "/mappings/in");
    fc.mapping_out = l.existing_file(f["mappings"]["out"], at + "/mappings/out");
    // Each mapping compiles (its own errors name its own file), reads or writes the right
    // kind of system, and supports the direction the flow uses it in.
    const struct {
        const std::filesystem::path& file;
        const std::string& system;
        mapping::direction dir;
        const char* where;
    } uses[] = {
        {fc.mapping_in, fc.from_system, mapping::direction::in, "/mappings/in"},
        {fc.mapping_out, fc.to_system, mapping::direction::out, "/mappings/out"},
    };
    for (const auto& u : uses) {
        const auto m = mapping::compiled_mapping::load(u.file, catalogue);
        const std::string& kind = c.find_system(u.system)->kind;
        if (m.system() != kind) {
            l.fail(
                at + u.where,
                "mapping \"" + m.id() + "\" is for " + m.system() + " but system \"" + u.system +
                    "\" is " + kind
            );
        }
        if (!m.supports(u.dir)) {
            l.fail(
                at + u.where,
                "mapping \"" + m.id() + "\" has no " +
                    (u.dir == mapping::direction::in ? "inbound" : "outbound") + " direction"
            );
        }
    }
}

/// A flow's only_rows_where: a field of the rows it sends one record per, and its values.
void load_only_rows_where(
    const loader& l,
    const rapidjson::Value& w,
    const std::string& at,
    const canonical_catalogue& catalogue,
    flow_config& fc
) {
    const std::string where = at + "/only_rows_where";
    fc.only_rows_field = w["field"].GetString();
    const std::string& rows = fc.one_record_per_row_of;
    if (rows.empty()) {
        l.fail(where, "only_rows_where needs one_record_per_row_of");
    }
    const auto* def = catalogue.resolve(fc.only_rows_field);
    if (fc.only_rows_field.rfind(rows + "/", 0) != 0 || def == nullptr || def->is_subform()) {
        l.fail(where + "/field", "not a field of the rows of " + rows);
    }
    for (rapidjson::SizeType k = 0; k < w["in"].Size(); ++k) {
        const std::string v = w["in"][k].GetString();
        if (def->has_value_set() && !def->allows(v)) {
            l.fail(
                where + "/in/" + std::to_string(k), "not in the value set of " + fc.only_rows_field
            );
        }
        fc.only_rows_values.push_back(v);
    }
}

/// A flow's reconcile schedule, for the targets that can be reconciled.
void load_reconcile(
    const loader& l,
    const rapidjson::Value& r,
    const std::string& at,
    const config& c,
    flow_config& fc
) {
    if (fc.purpose == "acknowledgement") {
        l.fail(
            at + "/reconcile",
            "an acknowledgement flow sends no records, so there is nothing to reconcile"
        );
    }
    if (c.find_system(fc.to_system)->kind == "casebridge_hub") {
        l.fail(
            at + "/reconcile",
            "the IMO hub answers no reads of what it holds, so a flow to it cannot be "
            "reconciled"
        );
    }
    if (c.find_system(fc.to_system)->kind == "dss_files") {
        l.fail(
            at + "/reconcile",
            "reconciling a DSS file exchange is not supported yet (Primero and PING "
            "targets are)"
        );
    }
    flow_config::reconcile_schedule rs;
    rs.every_hours = r["every_hours"].GetInt();
    if (r.HasMember("sample")) {
        rs.sample = r["sample"].GetInt();
    }
    fc.reconcile = rs;
}

/// One flow under /flows: its systems and streams, what its purpose needs, its options.
void load_flow(
    const loader& l,
    const rapidjson::Value& f,
    const std::string& at,
    const canonical_catalogue& catalogue,
    const policy::policy_set& policies,
    std::set<std::string>& flow_ids,
    config& c
) {
    flow_config fc;
    fc.id = str(f["id"]);
    if (!flow_ids.insert(fc.id).second) {
        l.fail(at + "/id", "flow id \"" + fc.id + "\" is used twice");
    }
    if (f.HasMember("description")) {
        fc.description = str(f["description"]);
    }
    fc.from_system = str(f["from"]["system"]);
    fc.from_stream = str(f["from"]["stream"]);
    fc.to_system = str(f["to"]["system"]);
    fc.to_stream = f["to"].HasMember("stream") ? str(f["to"]["stream"]) : fc.from_stream;
    for (const auto& [sys, where] :
         {std::pair{fc.from_system, "/from/system"}, std::pair{fc.to_system, "/to/system"}}) {
        if (c.find_system(sys) == nullptr) {
            l.fail(at + where, "no system \"" + sys + "\" under /systems");
        }
    }
    if (fc.from_system == fc.to_system) {
        l.fail(at + "/to/system", "a flow goes from one system to another, not to itself");
    }
    fc.purpose = str(f["purpose"]);
    if (fc.from_stream == "notices" && fc.purpose != "duplicate_notice") {
        l.fail(at + "/purpose", "the notices stream is read by a duplicate_notice flow");
    }
    if (f.HasMember("flags") && fc.purpose != "duplicate_notice") {
        l.fail(at + "/flags", "only a duplicate_notice flow raises flags");
    }
    if (fc.purpose == "duplicate_notice") {
        load_duplicate_notice_flow(l, f, at, c, fc);
    } else if (fc.purpose == "acknowledgement") {
        check_acknowledgement_flow(l, f, at, fc);
        const system_config* from = c.find_system(fc.from_system);
        if (from != nullptr && from->kind == "dss_files" && from->settings.IsObject() &&
            !from->settings.HasMember("ack_reason_codes")) {
            c.notes.push_back(
                "flow \"" + fc.id + "\": system \"" + fc.from_system +
                "\" lists no ack_reason_codes, so every reason DSS gives is recorded as "
                "free_text; list the codes agreed with DSS to keep them"
            );
        }
    } else if (!f.HasMember("profile") || !f.HasMember("mappings")) {
        l.fail(
            at + (f.HasMember("profile") ? "/mappings" : "/profile"),
            "required for a flow whose purpose is " + fc.purpose
        );
    } else {
        load_profile_and_mappings(l, f, at, catalogue, policies, c, fc);
    }
    if (f.HasMember("schedule")) {
        fc.every_seconds = f["schedule"]["every_seconds"].GetInt();
    }
    if (f.HasMember("paused")) {
        fc.paused = f["paused"].GetBool();
    }
    if (f.HasMember("batch_size")) {
        fc.batch_size = f["batch_size"].GetInt();
        c.notes.push_back(
            "flow " + fc.id +
            ": batch_size is ignored; the page size is the source system's setting (Primero "
            "per_page)"
        );
    }
    if (f.HasMember("concurrency")) {
        fc.concurrency = f["concurrency"].GetInt();
    }
    if (f.HasMember("max_attempts")) {
        fc.max_attempts = f["max_attempts"].GetInt();
    }
    if (f.HasMember("one_record_per_row_of")) {
        fc.one_record_per_row_of = f["one_record_per_row_of"].GetString();
        const auto* def = catalogue.resolve(fc.one_record_per_row_of);
        if (def == nullptr || def->type != field_type::subform) {
            l.fail(at + "/one_record_per_row_of", "not a subform of the canonical case");
        }
    }
    if (f.HasMember("only_rows_where")) {
        load_only_rows_where(l, f["only_rows_where"], at, catalogue, fc);
    }
    if (f.HasMember("create")) {
        fc.create = f["create"].GetBool();
    }
    if (f.HasMember("reconcile")) {
        load_reconcile(l, f["reconcile"], at, c, fc);
    }
    c.flows.push_back(std::move(fc));
}

/// Every flow under /flows, in order; flow ids are unique.
void load_flows(
    const loader& l,
    const rapidjson::Value& flows,
    const canonical_catalogue& catalogue,
    const policy::policy_set& policies,
    config& c
) {
    std::set<std::string> flow_ids;
    for (rapidjson::SizeType i = 0; i < flows.Size(); ++i) {
        const auto& f = flows[i];
        const std::string at = "/flows/" + std::to_string(i);
        load_flow(l, f, at, catalogue, policies, flow_ids, c);
    }
}

}  // namespace

const std::vector<std::string>& hub_coarse_field_names() {
    static const std::vector<std::string> names = {
        "age_band", "sex", "location", "protection_status", "risk_level", "status"};
    return names;
}

const hub_agency_config* hub_config::find_agency(std::string_view id) const noexcept {
    for (const auto& a : agencies) {
        if (a.id == id) {
            return &a;
        }
    }
    return nullptr;
}

const system_config* config::find_system(std::string_view id) const noexcept {
    for (const auto& s : systems) {
        if (s.id == id) {
            return &s;
        }
    }
    return nullptr;
}

const flow_config* config::find_flow(std::string_view id) const noexcept {
    for (const auto& f : flows) {
        if (f.id == id) {
            return &f;
        }
    }
    return nullptr;
}

config load_config(
    const std::filesystem::path& path, const adapter_registry* adapters, config_need need
) {
    const auto file = json::load_file(path);
    const std::string origin = path.string();
    static const json::schema schema(config_schema_text(), "config.schema.json");
    schema.check_file(file, origin);
    const auto& doc = file.doc;
    const loader l(file, origin, path.has_parent_path() ? path.parent_path() : ".");

    config c;
    c.file = path;
    load_top_level(l, doc, need, c);
    if (doc.HasMember("hub")) {
        c.hub = load_hub(l, doc["hub"]);
    }
    if (doc.HasMember("reports")) {
        c.reports = load_reports(l, doc["reports"], c.has_flows, c.hub.has_value());
    }
    // The admin listener serves the daemon (`run`) and, in a hub configuration, `hub serve`.
    if (doc.HasMember("admin")) {
        load_admin(l, doc["admin"], c);
    }
    if (!c.has_flows) {
        return c;
    }

    load_store(l, doc["store"], c);

    // Catalogue and policies: loaded now, so their own errors surface at startup.
    const auto catalogue = load_catalogue(l, doc, c);
    const auto policies = load_policies(l, doc, catalogue, c);

    load_systems(l, doc["systems"], adapters, c);
    load_flows(l, doc["flows"], catalogue, policies, c);
    return c;
}

}  // namespace casebridge::app
