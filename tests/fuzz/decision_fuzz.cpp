// Canonical records (as a source system could make them) decided under every shipped DPISP
// profile. Properties: deciding never throws; a withheld record has no payload; a shared
// payload holds no top-level field the decision did not list; the reason and the consent values
// the transfer log keeps hold no value of the record (booleans, markers and the codes the
// profile knows for the field only).
#include <filesystem>
#include <set>
#include <string>

#include "canonical/canonical_case.hpp"
#include "fuzz_support.hpp"
#include "json/json.hpp"
#include "policy/decision.hpp"
#include "policy/policy.hpp"

using namespace casebridge;
namespace fs = std::filesystem;

namespace {

struct world {
    canonical_catalogue catalogue;
    std::optional<policy::policy_set> policies;
};

const world& the_world() {
    static const world made = [] {
        const fs::path src = CASEBRIDGE_SOURCE_DIR;
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", "fuzz-pseudonym-key-0123456789abcdef", 1);
        ::setenv("CASEBRIDGE_LINKAGE_SECRET", "fuzz-linkage-secret-0123456789abcdef", 1);
        world w{canonical_catalogue::load(src / "mappings/canonical-case.json"), {}};
        w.policies.emplace(policy::policy_set::load(src / "config/policies.json", w.catalogue));
        return w;
    }();
    return made;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& w = the_world();
    const auto text = fuzz::as_text(data, size);
    auto record = json::parse(text);
    if (!record) {
        return 0;
    }
    const bool sentinel = fuzz::has_value_sentinel_json(text);
    const auto as_of = std::chrono::sys_days(std::chrono::year{2026} / 11 / 1);
    for (const auto& p : w.policies->profiles()) {
        auto d = policy::decide(p, *record, as_of);
        if (!d) {
            fuzz::require(!record->IsObject(), "an object record is always decided");
            continue;
        }
        if (sentinel) {
            fuzz::require_no_sentinel(d->reason, "decision reason");
        }
        for (const auto& c : d->consent_values) {
            const auto known = p.known_codes.find(c.field);
            for (const auto& v : c.values) {
                fuzz::require_no_sentinel(v, "consent value");
                // Only what the configuration names reaches the log: booleans, markers, and
                // codes the profile knows for that field.
                fuzz::require(
                    v == "true" || v == "false" || v.starts_with('#') ||
                        (known != p.known_codes.end() && known->second.count(v) == 1),
                    "a consent value is a boolean, a marker or a known code"
                );
            }
        }
        if (!d->share) {
            fuzz::require(d->payload.IsNull(), "a withheld record has no payload");
            continue;
        }
        std::set<std::string> listed;
        for (const auto* v : {&d->fields_sent, &d->fields_pseudonymised, &d->fields_generalised}) {
            for (const auto& f : *v) {
                listed.insert(f.substr(0, f.find('/', 1)));
            }
        }
        if (d->payload.IsObject()) {
            for (const auto& m : d->payload.GetObject()) {
                fuzz::require(
                    listed.count("/" + std::string(m.name.GetString())) == 1,
                    "the payload holds only fields the decision lists"
                );
            }
        }
    }
    return 0;
}
