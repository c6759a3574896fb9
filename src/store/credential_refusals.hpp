// Credentials a remote system refused, remembered across runs and restarts, so that a wrong
// password is not sent again and again (Primero locks an account after six refused logins):
// per system, a keyed hash of the credentials refused. Nothing is tried again until the secret
// file or variable changes (its hash then differs).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/types.hpp"

namespace casebridge::store {

class store;

/// The fingerprint of the credentials `system` refused last, or nullopt.
result<std::optional<std::string>> refused_credentials(store& s, const token& system);

/// Remembers that `system` refused the credentials with `fingerprint` (replacing an older one).
result<void> record_refused_credentials(
    store& s, const token& system, std::string_view fingerprint, time_point at
);

/// Forgets a refusal (the credentials changed, or were accepted).
result<void> clear_refused_credentials(store& s, const token& system);

}  // namespace casebridge::store
