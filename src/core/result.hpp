// result<T>: the return type of fallible work, plus helpers that attach source locations.
#pragma once

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include "core/error.hpp"

namespace casebridge {

template <typename T>
using result = boost::system::result<T>;

/// An error_code for `e` that remembers where it was raised.
inline boost::system::error_code make_error(errc e, const boost::source_location* loc) noexcept {
    return {static_cast<int>(e), casebridge_category(), loc};
}

}  // namespace casebridge

/// Returns `e` (an errc) as an error, recording the file and line that raised it.
#define CASEBRIDGE_RETURN_ERROR(e)                                                \
    do {                                                                          \
        static constexpr boost::source_location cb_loc_ = BOOST_CURRENT_LOCATION; \
        return ::casebridge::make_error((e), &cb_loc_);                           \
    } while (false)

/// The coroutine form of CASEBRIDGE_RETURN_ERROR.
#define CASEBRIDGE_CO_RETURN_ERROR(e)                                             \
    do {                                                                          \
        static constexpr boost::source_location cb_loc_ = BOOST_CURRENT_LOCATION; \
        co_return ::casebridge::make_error((e), &cb_loc_);                        \
    } while (false)

/// Always-on invariant check: a failure is a bug, reported with its location, then abort.
#define CASEBRIDGE_CHECK(cond)                                                 \
    do {                                                                       \
        if (!(cond)) {                                                         \
            ::casebridge::detail::check_failed(#cond, BOOST_CURRENT_LOCATION); \
        }                                                                      \
    } while (false)

namespace casebridge::detail {
[[noreturn]] void check_failed(const char* expr, const boost::source_location& loc) noexcept;
}
