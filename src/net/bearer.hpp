// Bearer-token authentication of a request (RFC 6750), shared by the daemon's admin API and
// the hub's: the presented token is compared without an early exit on its content.
#pragma once

#include <string_view>

#include "net/http_server.hpp"

namespace casebridge::httpd {

/// True when `req` carries `Authorization: Bearer <token>` (scheme case-insensitive, spaces
/// around the token ignored). An empty `token` matches nothing. SHA-256 of both sides are
/// compared, so the time taken does not depend on how much of the token was right.
bool bearer_matches(const request& req, std::string_view token);

}  // namespace casebridge::httpd
