#include "net/url.hpp"

#include <charconv>

#include <boost/asio/ip/address.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/grammar/lut_chars.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>

namespace casebridge {
namespace {

namespace urls = boost::urls;

// boost::system::error_category has a protected non-virtual destructor by design; categories
// are static objects never deleted through a base pointer (as in core/error.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class url_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "casebridge.url"; }

    std::string message(int ev) const override {
        switch (static_cast<url_errc>(ev)) {
            case url_errc::bad_syntax:
                return "not a URL or request target (RFC 3986)";
            case url_errc::bad_escape:
                return "bad percent-escape: '%' must be followed by two hexadecimal digits";
            case url_errc::not_http:
                return "not an absolute http or https URL";
            case url_errc::userinfo:
                return "credentials (user@) are not allowed in a URL";
            case url_errc::no_host:
                return "the URL has no host";
            case url_errc::bad_host:
                return "the URL's host is neither a plain name nor an IP address";
            case url_errc::bad_port:
                return "the URL's port is not a number from 1 to 65535";
        }
        return "URL error " + std::to_string(ev);
    }
};
#pragma GCC diagnostic pop

// What a query (and a path, which has no '?' left after the first) may hold unescaped.
constexpr auto target_chars = urls::pchars + '/' + '?';

// Escapes the bytes that RFC 3986 wants escaped but clients send as they are ('[', ']', '|',
// '"', non-ASCII, ...), leaving each '%' for the strict check of escapes.
std::string escape_loose(std::string_view text) {
    std::string out;
    for (;;) {
        const auto pct = text.find('%');
        out += urls::encode(text.substr(0, pct), target_chars);
        if (pct == std::string_view::npos) {
            return out;
        }
        out += '%';
        text.remove_prefix(pct + 1);
    }
}

urls::encoding_opts options_for(plus_sign plus) {
    return urls::encoding_opts(plus == plus_sign::space, false, false);
}

// Appends the decoded parameters of an encoded query, skipping empty parts.
void append_params(urls::params_encoded_view params, plus_sign plus, query_params& out) {
    const auto opts = options_for(plus);
    for (const auto p : params) {
        if (p.key.empty() && !p.has_value) {
            continue;
        }
        out.emplace_back(p.key.decode(opts), p.has_value ? p.value.decode(opts) : std::string{});
    }
}

}  // namespace

const boost::system::error_category& url_category() noexcept {
    static const url_category_impl category;
    return category;
}

boost::system::error_code make_error_code(url_errc e) noexcept {
    return {static_cast<int>(e), url_category()};
}

bool is_loopback_host(const std::string& host) {
    if (host == "localhost") {
        return true;
    }
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(host, ec);
    return !ec && addr.is_loopback();
}

result<http_url> parse_http_url(std::string_view text) {
    text = text.substr(0, text.find('#'));  // a fragment never goes on the wire
    // The path and query are sent as written. Characters there that RFC 3986 wants escaped but
    // clients write as they are ('[', ']', '"', ...) are escaped only for the check.
    std::string_view rest;  // path and query
    std::string checked(text);
    if (const auto scheme_end = text.find("://"); scheme_end != std::string_view::npos) {
        const auto authority_end = text.find_first_of("/?", scheme_end + 3);
        if (authority_end != std::string_view::npos) {
            rest = text.substr(authority_end);
            checked = std::string(text.substr(0, authority_end)) + escape_loose(rest);
        }
    }
    if (!urls::make_pct_string_view(checked)) {
        return url_errc::bad_escape;
    }
    const auto parsed = urls::parse_uri(checked);
    if (!parsed) {
        return url_errc::bad_syntax;
    }
    const urls::url_view& u = *parsed;
    // Boost.URL 1.81 takes "https://[::1]x/" as host [::1] and path "x/"; after an authority
    // RFC 3986 allows only an empty path or one starting with '/'.
    if (u.has_authority() && !u.encoded_path().empty() && !u.encoded_path().starts_with('/')) {
        return url_errc::bad_syntax;
    }
    http_url out;
    if (u.scheme_id() == urls::scheme::https) {
        out.tls = true;
    } else if (u.scheme_id() == urls::scheme::http) {
        out.tls = false;
    } else {
        return url_errc::not_http;
    }
    if (u.has_userinfo()) {
        return url_errc::userinfo;
    }
    if (!u.has_authority() || u.encoded_host().empty()) {
        return url_errc::no_host;
    }
    switch (u.host_type()) {
        case urls::host_type::name:
            if (u.encoded_host().find('%') != std::string_view::npos) {
                return url_errc::bad_host;
            }
            break;
        case urls::host_type::ipv4:
        case urls::host_type::ipv6:
            break;
        default:  // IPvFuture
            return url_errc::bad_host;
    }
    out.host = std::string(u.encoded_host_address());
    if (u.has_port() && !u.port().empty()) {
        const std::string_view p = u.port();
        unsigned n = 0;
        const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
        if (ec != std::errc() || end != p.data() + p.size() || n == 0 || n > 65535) {
            return url_errc::bad_port;
        }
        out.port = std::to_string(n);
    } else {
        out.port = out.tls ? "443" : "80";
    }
    out.target = rest.empty() || rest.front() == '?' ? "/" : "";
    out.target += rest;
    out.host_header = std::string(u.encoded_authority());
    return out;
}

result<request_target> parse_request_target(std::string_view target, plus_sign plus) {
    if (target.empty() || target.front() != '/') {
        return url_errc::bad_syntax;
    }
    const std::string escaped = escape_loose(target);
    if (!urls::make_pct_string_view(escaped)) {
        return url_errc::bad_escape;
    }
    const auto parsed = urls::parse_origin_form(escaped);
    if (!parsed) {
        return url_errc::bad_syntax;
    }
    request_target out;
    out.path = std::string(target_path(target));
    for (auto s : parsed->segments()) {
        if (!s.empty()) {
            out.segments.push_back(std::move(s));
        }
    }
    if (parsed->has_query()) {
        append_params(parsed->encoded_params(), plus, out.query);
    }
    return out;
}

std::string_view target_path(std::string_view target) noexcept {
    return target.substr(0, target.find('?'));
}

result<query_params> parse_query(std::string_view query, plus_sign plus) {
    const std::string escaped = escape_loose(query);
    if (!urls::make_pct_string_view(escaped)) {
        return url_errc::bad_escape;
    }
    const auto params = urls::parse_query(escaped);
    if (!params) {
        return url_errc::bad_syntax;
    }
    query_params out;
    append_params(*params, plus, out);
    return out;
}

result<std::string> percent_decode(std::string_view text, plus_sign plus) {
    const auto pct = urls::make_pct_string_view(text);
    if (!pct) {
        return url_errc::bad_escape;
    }
    return pct->decode(options_for(plus));
}

std::string percent_encode(std::string_view text, std::string_view also_keep) {
    urls::grammar::lut_chars keep = urls::unreserved_chars;
    for (const char c : also_keep) {
        keep = keep + c;
    }
    return urls::encode(text, keep);
}

std::string form_encode(const query_params& params) {
    std::string out;
    for (const auto& [name, value] : params) {
        if (!out.empty()) {
            out += '&';
        }
        out += percent_encode(name);
        out += '=';
        out += percent_encode(value);
    }
    return out;
}

}  // namespace casebridge
