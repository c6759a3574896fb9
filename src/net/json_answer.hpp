// The JSON answers of the admin APIs (the engine's and the IMO hub's): a body, or an error
// code as {"error": "..."}; a 401 names the scheme it wants.
#pragma once

#include <string>
#include <string_view>

#include <rapidjson/stringbuffer.h>

#include "net/http_server.hpp"

namespace casebridge::httpd {

/// `body` (JSON text) with a final newline.
response json_answer(unsigned status, std::string body);
/// The text written into `body`, with a final newline.
response json_answer(unsigned status, const rapidjson::StringBuffer& body);
/// {"error": code}; a 401 also asks for a bearer token (WWW-Authenticate).
response error_answer(unsigned status, std::string_view code);

}  // namespace casebridge::httpd
