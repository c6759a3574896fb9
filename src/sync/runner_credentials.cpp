// Credentials a system refused: remembered by fingerprint, never sent again until the secret
// changes (store/credential_refusals).
#include "sync/runner_impl.hpp"

namespace casebridge::sync {

void flow_runner::impl::note_refusal(const remote_error& e, const store::token& system) {
    // A 403 is a permission on one record or route, not a refusal of the credentials.
    if (e.code == make_error_code(errc::auth_failed) && e.http_status != 403) {
        refused_now.insert(system.str());
    }
}

adapter* flow_runner::impl::adapter_of(const std::string& system) const {
    if (system == b.source_system.str()) {
        return b.source;
    }
    return system == b.target_system.str() ? b.target : nullptr;
}

/// What the store keeps of a fingerprint: a hash keyed by the identifier key. Without that
/// key nothing is kept (an unkeyed hash of a short password can be guessed from the store).
std::optional<std::string> flow_runner::impl::refusal_key(const std::string& fingerprint) const {
    if (b.identities == nullptr) {
        return std::nullopt;
    }
    return b.identities->hmac_hex("credential-refusal", fingerprint);
}

/// Before a run: true (and the report says why) when a system of this flow refused the
/// very credentials it would be sent again; a changed secret clears the refusal.
awaitable<bool> flow_runner::impl::credentials_refused(run_report& report) {
    std::vector<std::string> systems{b.source_system.str()};
    if (b.target != nullptr && !(b.target_system == b.source_system)) {
        systems.push_back(b.target_system.str());
    }
    for (const auto& name : systems) {
        const adapter* a = adapter_of(name);
        const auto fp = a != nullptr ? a->credential_fingerprint() : std::nullopt;
        const auto key = fp ? refusal_key(*fp) : std::nullopt;
        if (!key) {
            continue;
        }
        const store::token system = token_or_hash(name);
        auto look = [system](store::store& s) { return store::refused_credentials(s, system); };
        auto stored = co_await st->run(std::move(look));
        if (!stored || !*stored) {
            continue;
        }
        if (**stored == *key) {
            report.error = "credentials_refused: " + name +
                           " refused these credentials; nothing is sent to it until its "
                           "secret file or variable changes";
            report.credentials_refused = true;
            if (metrics != nullptr) {
                metrics->credentials_refused = 1;
            }
            log.warn(
                "flow.credentials_refused",
                "credentials refused before; not sent again until the secret changes",
                {.flow = b.flow.str(), .system = name}
            );
            co_return true;
        }
        auto clear = [system](store::store& s) {
            return store::clear_refused_credentials(s, system);
        };
        (void)co_await st->run(std::move(clear));
    }
    if (metrics != nullptr) {
        metrics->credentials_refused = 0;
    }
    co_return false;
}

/// After a run: remembers the credentials each refusing system was presented.
awaitable<void> flow_runner::impl::remember_refusals() {
    for (const auto& name : refused_now) {
        const adapter* a = adapter_of(name);
        const auto fp = a != nullptr ? a->credential_fingerprint() : std::nullopt;
        const auto refused = fp ? refusal_key(*fp) : std::nullopt;
        if (!refused) {
            continue;
        }
        const store::token system = token_or_hash(name);
        const std::string key = *refused;
        const auto now = clock->now();
        auto put = [system, key, now](store::store& s) {
            return store::record_refused_credentials(s, system, key, now);
        };
        (void)co_await st->run(std::move(put));
        if (metrics != nullptr) {
            metrics->credentials_refused = 1;
        }
        log.error(
            "flow.credentials_refused",
            "credentials refused; not sent again until the secret file or variable changes",
            {.flow = b.flow.str(), .system = name}
        );
    }
    refused_now.clear();
}

}  // namespace casebridge::sync
