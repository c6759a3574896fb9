// remote_error: what a call to an external system failed with, for the engine to act on.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "core/error.hpp"

namespace casebridge {

/// A failed remote call. `detail` is fixed text, a TLS library reason, or the remote's own
/// error message (Primero's `message`/`detail`: field names and fixed strings); it never holds
/// a response body or a record value.
struct remote_error {
    boost::system::error_code code;                   ///< An errc (or a transport code).
    unsigned http_status = 0;                         ///< 0 when no response was received.
    std::optional<std::chrono::seconds> retry_after;  ///< From Retry-After, when sent.
    std::string detail;
    std::string record_id;  ///< The record concerned, when there is one.

    /// True when retrying later may succeed (timeouts, resets, 429, 502/503/504).
    bool transient() const noexcept { return is_transient(code); }
    /// "casebridge:remote_rejected (HTTP 422) record 1234: Invalid Record JSON [/age]".
    std::string describe() const;
};

/// Lets remote_result<T>::value() throw.
[[noreturn]] void throw_exception_from_error(
    const remote_error& e, const boost::source_location& loc
);

template <typename T>
using remote_result = boost::system::result<T, remote_error>;

/// A remote_error with just a code and fixed detail text.
inline remote_error make_remote_error(errc e, std::string detail, unsigned status = 0) {
    return remote_error{make_error_code(e), status, std::nullopt, std::move(detail), {}};
}

}  // namespace casebridge
