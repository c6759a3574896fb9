// url: URL parsing, request targets, query strings and percent-encoding, one set for every
// HTTP piece (client, adapters, admin API, sandboxes). Boost.URL does the work in url.cpp; this
// header stays light.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>

#include "core/result.hpp"

namespace casebridge {

/// Why a URL, a request target, a query string or a percent-escape was refused.
enum class url_errc {
    bad_syntax = 1,  ///< Not a URL or request target by RFC 3986.
    bad_escape,      ///< A '%' not followed by two hexadecimal digits.
    not_http,        ///< A scheme other than http or https.
    userinfo,        ///< `user[:password]@` in the authority: credentials never go in URLs.
    no_host,         ///< An empty host.
    bad_host,        ///< A host that cannot be connected to (IPvFuture, escapes in a name).
    bad_port,        ///< A port that is not a number from 1 to 65535.
};

/// The category of url_errc ("casebridge.url"); its messages name the rule, never the input.
const boost::system::error_category& url_category() noexcept;
boost::system::error_code make_error_code(url_errc e) noexcept;

/// An absolute http(s) URL, split for sending a request.
struct http_url {
    bool tls = true;          ///< https.
    std::string host;         ///< Name or address to connect to; an IPv6 literal without brackets.
    std::string port;         ///< Decimal; 443 (https) or 80 (http) when the URL has none.
    std::string target;       ///< Origin form: the path ("/" at least) and any "?query".
    std::string host_header;  ///< The authority as written (host[:port]), for Host and pool keys.
};

/// Parses an absolute http or https URL. The scheme is case-insensitive; a fragment is dropped
/// (it never goes on the wire). Errors: url_errc::bad_syntax, bad_escape, not_http, userinfo,
/// no_host, bad_host, bad_port.
result<http_url> parse_http_url(std::string_view text);

/// Whether `host` (an http_url's host) is this machine's loopback: "localhost", 127.0.0.0/8
/// or ::1. The only hosts plain http may reach, and only when a system allows it.
bool is_loopback_host(const std::string& host);

/// Decoded name=value pairs in the order given; duplicates kept.
using query_params = std::vector<std::pair<std::string, std::string>>;

/// What a '+' in a query means: itself (RFC 3986) or a space (HTML forms, Rails).
enum class plus_sign { literal, space };

/// A request target as a server receives it.
struct request_target {
    std::string path;                   ///< As received, still percent-encoded; "/" at least.
    std::vector<std::string> segments;  ///< Decoded path segments; empty ones are dropped.
    query_params query;                 ///< Decoded; a name without '=' has an empty value.
};

/// Parses an origin-form request target ("/a/b?x=1"). Characters that RFC 3986 wants escaped
/// but clients send as they are ('[', ']', '|', '"', ...) are taken as themselves; a bad
/// escape is refused. Empty query parts ("a=1&&b=2") are skipped.
/// Errors: url_errc::bad_syntax (not starting with '/'), url_errc::bad_escape.
result<request_target> parse_request_target(std::string_view target, plus_sign plus);

/// The part of a request target before any '?', as received (cheap routing; no decoding).
std::string_view target_path(std::string_view target) noexcept;

/// Decodes a query string or an application/x-www-form-urlencoded body, as
/// parse_request_target does its query. Errors: url_errc::bad_escape.
result<query_params> parse_query(std::string_view query, plus_sign plus);

/// Decodes percent-escapes (and '+' when `plus` says so). Errors: url_errc::bad_escape.
result<std::string> percent_decode(std::string_view text, plus_sign plus);

/// Percent-encodes (upper-case hex) every byte except the RFC 3986 unreserved characters
/// (letters, digits, "-._~") and those in `also_keep`.
std::string percent_encode(std::string_view text, std::string_view also_keep = {});

/// An application/x-www-form-urlencoded body: name=value pairs joined by '&', each side
/// encoded by percent_encode (so a space is "%20", never '+').
std::string form_encode(const query_params& params);

}  // namespace casebridge

template <>
struct boost::system::is_error_code_enum<casebridge::url_errc> : std::true_type {};
