#include "net/bearer.hpp"

#include <cctype>

#include "core/crypto.hpp"

namespace casebridge::httpd {

bool bearer_matches(const request& req, std::string_view token) {
    auto h = req.headers.find("authorization");
    if (h == req.headers.end() || token.empty()) {
        return false;
    }
    std::string_view v = h->second;
    constexpr std::string_view scheme = "bearer";
    if (v.size() <= scheme.size() || v[scheme.size()] != ' ') {
        return false;
    }
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(v[i])) != scheme[i]) {
            return false;
        }
    }
    v.remove_prefix(scheme.size());
    while (!v.empty() && v.front() == ' ') {
        v.remove_prefix(1);
    }
    while (!v.empty() && v.back() == ' ') {
        v.remove_suffix(1);
    }
    return crypto::sha256_hex(v) == crypto::sha256_hex(token);
}

}  // namespace casebridge::httpd
