#include "app/console.hpp"

#include <string>

namespace casebridge::app {

namespace {

std::string_view type_of(std::string_view name) {
    if (name.ends_with(".js")) {
        return "text/javascript; charset=utf-8";
    }
    if (name.ends_with(".css")) {
        return "text/css; charset=utf-8";
    }
    if (name.ends_with(".svg")) {
        return "image/svg+xml";
    }
    return "text/html; charset=utf-8";
}

}  // namespace

std::optional<httpd::response> console_answer(std::string_view name, std::string_view service) {
    if (name.empty()) {
        name = "index.html";
    }
    if (name.find('/') != std::string_view::npos) {
        return std::nullopt;
    }
    const auto text = find_embedded_file(console_files(), "src/console/" + std::string(name));
    if (!text) {
        return std::nullopt;
    }
    httpd::response r;
    r.body = std::string(*text);
    if (name == "index.html") {
        const std::string body = "<body>";
        if (const auto at = r.body.find(body); at != std::string::npos) {
            r.body.replace(at, body.size(), "<body data-service=\"" + std::string(service) + "\">");
        }
    }
    r.content_type = std::string(type_of(name));
    r.headers.emplace_back("Content-Security-Policy", std::string(console_csp));
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("X-Frame-Options", "DENY");
    r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
    return r;
}

}  // namespace casebridge::app
