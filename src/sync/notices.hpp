// The IMO hub's possible-duplicate notices as flags on an agency's own cases (docs/imo.md):
// the flag texts and the pure step from a notice and the case's flags now to what to change.
// No I/O here; the flow runner performs the steps and logs them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace casebridge {
struct record_flag;
struct duplicate_notice;
}  // namespace casebridge

namespace casebridge::sync {

inline constexpr std::string_view default_flag_message =
    "Possible duplicate: this child may also be registered by {agencies}. IMO reference "
    "{reference}. Check with the CPSS IMO before changing the case.";
inline constexpr std::string_view default_flag_resolved_message =
    "The CPSS IMO withdrew possible-duplicate notice {reference}: the records are no longer "
    "linked.";

/// The flag texts of a duplicate_notice flow (config: flows[].flags).
struct flag_texts {
    std::string message = std::string(default_flag_message);
    std::string resolved = std::string(default_flag_resolved_message);
};

/// Why `text` cannot be a flag text (nullopt: it can): it must hold {reference} once, and may
/// hold {agencies}; no other {placeholder}.
std::optional<std::string> check_flag_text(std::string_view text);

/// "ref:" followed by the cluster reference: how a flag names its notice.
std::string reference_marker(std::string_view reference);

/// True when `message` holds `marker` as a whole word (the next character, if any, is not a
/// letter, digit, '_' or '-'), so "ref:C12" does not match a flag of "ref:C123".
bool carries_marker(std::string_view message, std::string_view marker);

/// `text` with {reference} and {agencies} ("Agency B, Agency C") filled in.
std::string render_flag_text(
    std::string_view text, std::string_view marker, const std::vector<std::string>& agencies
);

/// One change to a case's flags.
struct flag_step {
    enum class kind { raise, update, resolve };
    kind what = kind::raise;
    std::string flag_id;  ///< For update and resolve.
    std::string text;     ///< The message (raise, update) or the unflag message (resolve).
};

/// What a notice changes on a case whose flags are `flags` now. A possible duplicate raises a
/// flag when no active flag carries its reference, updates the first one (by id) when its
/// text differs (the other agencies changed), and does nothing when it is already there: a
/// notice handled twice raises one flag. A retraction resolves every active flag carrying the
/// reference. Flags without the reference (a person's) are never touched.
std::vector<flag_step> plan_flag_steps(
    const duplicate_notice& notice, const std::vector<record_flag>& flags, const flag_texts& texts
);

}  // namespace casebridge::sync
