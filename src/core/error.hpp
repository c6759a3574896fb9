// casebridge's error codes: one enum, one category, grouped by cause.
#pragma once

#include <string_view>
#include <system_error>

#include <boost/system/error_code.hpp>
#include <boost/system/is_error_code_enum.hpp>

namespace casebridge {

/// Every failure casebridge reports. Messages are fixed text: they never carry a value.
enum class errc {
    // Input files and command line (startup).
    usage = 1,         ///< A command line that does not parse.
    file_unreadable,   ///< A file could not be opened or read.
    invalid_json,      ///< Text that is not JSON (syntax, encoding, truncation).
    duplicate_key,     ///< An object with the same key twice; never resolved silently.
    too_deep,          ///< JSON nested deeper than the configured limit.
    too_large,         ///< A body or file over its size limit.
    schema_violation,  ///< JSON that does not satisfy its JSON Schema.
    invalid_config,    ///< A configuration value that is well-formed but unusable.

    // Remote systems.
    remote_unavailable,  ///< Connect/read failed, reset, timeout, 502/503/504: transient.
    rate_limited,        ///< 429 or 503 with Retry-After: transient, wait as told.
    remote_rejected,     ///< The remote refused the request (validation 4xx): permanent.
    auth_failed,         ///< 401/403 or a failed login.
    not_found,           ///< The remote or local record does not exist.
    conflict,            ///< The remote already has this record (e.g. 409 on create).
    bad_payload,         ///< The remote answered with a body we cannot use.
    tls_failed,          ///< Certificate, host name or handshake failure.

    // Pipeline.
    mapping_failed,    ///< A required field is missing or a transform failed.
    unmapped_value,    ///< A code that a value table does not list (policy reject).
    policy_violation,  ///< The DPISP profile forbids sharing this record.
    consent_missing,   ///< No recorded legitimate basis covers this sharing.
    multiple_matches,  ///< Several records match one identity: a conflict for review.

    // Store and transfer log.
    store_failed,  ///< SQLite reported an error.
    log_tampered,  ///< The transfer log's hash chain or a checkpoint does not verify.

    // Process.
    cancelled,  ///< The operation was cancelled (shutdown).
};

/// The category of `errc`, named "casebridge".
const boost::system::error_category& casebridge_category() noexcept;

/// ADL hook so `errc` converts to `boost::system::error_code`.
inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), casebridge_category()};
}

/// True for failures worth retrying later with backoff (remote down, rate limited, timeouts).
bool is_transient(const boost::system::error_code& ec) noexcept;

/// A stable machine name for an error, e.g. "casebridge:unmapped_value" or "system:111".
std::string error_name(const boost::system::error_code& ec);

}  // namespace casebridge

template <>
struct boost::system::is_error_code_enum<casebridge::errc> : std::true_type {};
