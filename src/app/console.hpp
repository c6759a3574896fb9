// The web console's files (src/console), compiled into the binary and served by the admin
// listener under /console/ (docs/console.md). They hold code, no data: every figure the console
// shows comes from the admin API, with the admin token.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "core/shipped_data.hpp"
#include "net/http_server.hpp"

namespace casebridge {
/// The console's files as compiled in, sorted by path ("src/console/console.js").
std::span<const shipped_file> console_files() noexcept;
}  // namespace casebridge

namespace casebridge::app {

/// The Content-Security-Policy of every console answer: files from the admin listener only,
/// no inline script or style, no frames, no form posts elsewhere.
inline constexpr std::string_view console_csp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The answer for GET /console/NAME ("" for the page itself): the file with its type and the
/// security headers, or nullopt when there is no such file. `service` is the API the console
/// speaks to: "daemon" (the daemon's admin API) or "hub" (the hub's), marked on the page's
/// body as data-service.
std::optional<httpd::response> console_answer(
    std::string_view name, std::string_view service = "daemon"
);

}  // namespace casebridge::app
