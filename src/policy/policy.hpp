// DPISP profiles: per purpose and recipient, which records may leave (legitimate basis) and
// which fields go with them (share, never, pseudonymise, generalise). Loaded once, validated
// against the canonical catalogue; default deny.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "json/json.hpp"

namespace casebridge {
class canonical_catalogue;
}

namespace casebridge::policy {

class linkage_step;

enum class purpose { referral, transfer, decision, report };
std::string_view to_string(purpose p) noexcept;

/// A condition over top-level canonical fields of type boolean, code or code_list.
struct condition {
    enum class kind { is, contains, in, present, all, any, negate };
    kind k = kind::all;
    std::string field;               ///< Top-level field name (no slash), for leaf kinds.
    bool flag = false;               ///< `is` / `present` operand.
    std::vector<std::string> codes;  ///< `contains` (one) / `in` (several).
    std::vector<condition> children;
};

/// One legitimate basis and when it holds.
struct basis_rule {
    std::string name;  ///< A legitimate_basis code ("consent", "vital_interests", ...).
    condition when;
};

enum class generalisation { year, month, age_band, admin_level };

struct age_band {
    int from = 0;  ///< Inclusive, years.
    int to = 0;    ///< Inclusive, years.
};

/// A location hierarchy level whose codes are prefixes of the level below.
struct location_level {
    std::string name;
    std::size_t code_length = 0;
};

struct field_rule;

/// Hashes a name given as any string type, so that a rule is found by a record's member name
/// without making a string of it.
struct name_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept {
        return std::hash<std::string_view>{}(name);
    }
};

/// Rules by field name. Looked up once per member of every record decided, and never walked
/// in order: hashed rather than sorted (a sorted map's look-up compared about six names).
using rule_map = std::unordered_map<std::string, field_rule, name_hash, std::equal_to<>>;

/// What happens to one field (or subform) at one place of the record.
struct field_rule {
    bool never = false;  ///< Withheld whatever else says.
    bool share = false;  ///< The value goes (scalars and arrays of scalars only).
    std::optional<generalisation> generalise;
    std::string level;  ///< admin_level: the level name to cut to.
    std::size_t level_length = 0;
    std::vector<age_band> bands;
    std::shared_ptr<const std::string> pseudonym_key;  ///< Set when pseudonymised.
    std::string pseudonym_key_id;
    std::string pseudonym_prefix;
    rule_map children;  ///< Subform row fields.
};

/// Operator override of a missing basis.
struct override_policy {
    bool allowed = false;
    bool requires_reason = true;
};

/// One compiled DPISP profile.
struct profile {
    std::string id;
    int version = 0;
    purpose purpose_ = purpose::referral;
    std::string recipient;
    std::string description;
    bool record_level = true;  ///< false: aggregate report, no record ever leaves.
    std::vector<basis_rule> bases;
    /// The codes the configuration knows for each field a basis reads: the catalogue's values
    /// and the codes the conditions name. A value outside them is logged as a marker, never
    /// copied (a source system that puts text in a consent field leaks nothing through the
    /// log).
    std::map<std::string, std::set<std::string, std::less<>>, std::less<>> known_codes;
    override_policy override_rules;
    /// When a record shared under this profile loses its basis: `notify` sends the target's
    /// withdrawal notice where the target has one (and raises a review item where it has
    /// not, or the notice fails); `review` (the default) only raises the review item.
    bool notify_on_withdrawal = false;
    rule_map fields;   ///< Top-level rules by name.
    std::string hash;  ///< "sha256:" + hex of the profile's canonical JSON.
    /// Why a pseudonym key or the linkage secret this profile needs cannot be had
    /// ("file:line:column: at POINTER: message"), or empty. Keys are loaded with the file, but
    /// a missing one only matters to the profiles that use it: a flow under such a profile is
    /// refused at load, and decide() refuses it.
    std::string unavailable_key;
    /// The linkage step (`"linkage": {"schema", "secret"}`), or null: the full record is
    /// encoded for the IMO hub before redaction (policy/linkage_step.hpp).
    std::shared_ptr<const linkage_step> linkage;
};

/// Where the key of a pseudonym comes from. Resolved at load; the material never leaves memory.
struct key_source {
    std::string file;
    std::string env;
};

/// All profiles of one policies file.
class policy_set {
public:
    /// Loads, validates (schema, field names against `catalogue`, contradictions, key
    /// references) and compiles `path`. Throws json::file_error "file:line:column: at POINTER:
    /// message": a startup error.
    static policy_set load(const std::filesystem::path& path, const canonical_catalogue& catalogue);
    /// As `load`, from a document already read; `origin` names it in messages. Relative paths
    /// in the file (a linkage schema) are resolved against `base_dir` (the current folder when
    /// empty).
    static policy_set from_document(
        const json::located_document& file,
        std::string_view origin,
        const canonical_catalogue& catalogue,
        const std::filesystem::path& base_dir = {}
    );

    /// The profile `id`, or nullptr.
    const profile* find(std::string_view id) const noexcept;
    const std::vector<profile>& profiles() const noexcept { return profiles_; }

private:
    std::vector<profile> profiles_;
};

}  // namespace casebridge::policy

namespace casebridge {
/// The JSON Schema of policies files (config/schema/policies.schema.json), embedded.
std::string_view policies_schema_text() noexcept;
}  // namespace casebridge
