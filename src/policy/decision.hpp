// One DPISP decision: may this record go under this profile, on which basis, and with which
// fields. The redacted payload holds only what the profile shares.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "linkage/encoder.hpp"
#include "policy/policy.hpp"

namespace casebridge::policy {

/// A field the profile kept back, and the rule that kept it.
struct withheld_field {
    std::string field;  ///< Canonical path without row numbers: "/services_section/service_type".
    std::string rule;   ///< not_in_share | never | structured_value | generalise_failed |
                        ///< pseudonymise_failed | linkage_encoded (not shared, but read by
                        ///< the profile's linkage step: only its keyed encoding went)
};

/// The values a basis condition read from one field: booleans and codes only (the loader
/// guarantees conditions read nothing else). Each value is "true", "false", a code, or a marker
/// "#absent", "#null", "#empty" (an empty list), "#text" (anything that is not a code is
/// never copied) or "#other" (a code the configuration does not know for the field:
/// profile::known_codes). The values fit
/// the transfer log's token rule, so a decision can be logged as it is.
struct consent_value {
    std::string field;
    std::vector<std::string> values;
};

/// An operator's override of a missing basis.
struct operator_override {
    std::string actor;
    std::string reason;
};

struct decision {
    bool share = false;
    bool aggregate_only = false;  ///< Report profiles: the record is counted, never sent.
    std::string basis;            ///< The basis that held ("consent", "operator_override", ...).
    std::string reason;           ///< Why it was withheld; fixed text and field names only.
    std::vector<consent_value> consent_values;
    std::vector<std::string> fields_sent;
    std::vector<withheld_field> fields_withheld;
    std::vector<std::string> fields_pseudonymised;
    std::vector<std::string> fields_generalised;
    std::string profile_id;
    int profile_version = 0;
    std::string profile_hash;
    std::optional<operator_override> override_used;
    rapidjson::Document payload;  ///< The redacted canonical record; null when withheld.
    /// Profiles with a linkage step, when shared: the encoding of the FULL record (made before
    /// redaction), which travels with the payload (policy/linkage_step.hpp for its wire form).
    std::optional<linkage::encoded_record> linkage;
    int linkage_schema_version = 0;
    std::vector<std::string> fields_encoded;  ///< Canonical paths the encoding read.
};

/// Decides for `record` (a canonical case) under `p`. `as_of` dates age bands. A profile with
/// a linkage step encodes `record` whole when it is shared (decision::linkage).
/// Errors: errc::bad_payload when the record is not a JSON object; errc::usage when an override
/// is given without a reason that the profile requires.
result<decision> decide(
    const profile& p,
    const rapidjson::Value& record,
    time_point as_of,
    const std::optional<operator_override>& override_request = std::nullopt
);

/// The pseudonym of `value` under `key`: prefix + 32 hex characters of HMAC-SHA-256.
std::string pseudonym(std::string_view key, std::string_view prefix, std::string_view value);

/// The decision as JSON for `policy explain`: decision, basis, reason, fields, profile, payload.
std::string to_json(const decision& d, bool pretty = true);

}  // namespace casebridge::policy
