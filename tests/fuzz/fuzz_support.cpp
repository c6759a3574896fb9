#include "fuzz_support.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <system_error>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <unistd.h>

#include "store/crypto.hpp"

namespace casebridge::fuzz {

void require(bool ok, std::string_view what, std::string_view detail) {
    if (ok) {
        return;
    }
    std::fprintf(
        stderr,
        "property failed: %.*s%s%.*s\n",
        static_cast<int>(what.size()),
        what.empty() ? "" : what.data(),  // never null, as %.*s wants even for no characters
        detail.empty() ? "" : ": ",
        static_cast<int>(detail.size()),
        detail.empty() ? "" : detail.data()
    );
    std::abort();
}

namespace {

/// Could the quoted string that holds position `at` be an object key? Looks back for its
/// opening quote, then past white space for '{' or ','.
bool may_be_key(std::string_view text, std::size_t at) {
    std::size_t q = text.rfind('"', at);
    while (q != std::string_view::npos && q > 0 && text[q - 1] == '\\') {
        q = text.rfind('"', q - 2 == std::string_view::npos ? 0 : q - 2);
    }
    if (q == std::string_view::npos) {
        return true;  // not in a string as far as we can tell: be cautious
    }
    std::size_t p = q;
    while (p > 0) {
        const char c = text[p - 1];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            --p;
            continue;
        }
        return c == '{' || c == ',' || c == '/';  // '/' : after a comment
    }
    return true;
}

}  // namespace

bool has_value_sentinel_json(std::string_view text) {
    bool any = false;
    for (std::size_t at = text.find(sentinel); at != std::string_view::npos;
         at = text.find(sentinel, at + 1)) {
        if (may_be_key(text, at)) {
            return false;
        }
        any = true;
    }
    return any;
}

bool has_value_sentinel_csv(std::string_view text) {
    const auto first = text.find(sentinel);
    if (first == std::string_view::npos) {
        return false;
    }
    const auto nl = text.find_first_of("\r\n");
    return nl != std::string_view::npos && first > nl;
}

void require_no_sentinel(std::string_view message, std::string_view what) {
    require(message.find(sentinel) == std::string_view::npos, what, "a case value in a message");
}

const std::filesystem::path& scratch_dir() {
    static const std::filesystem::path dir = [] {
        std::string tmpl = (std::filesystem::temp_directory_path() / "cb-fuzz-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) {
            std::perror("mkdtemp");
            std::abort();
        }
        static std::filesystem::path made = tmpl;
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(made, ec);
        });
        return made;
    }();
    return dir;
}

const std::filesystem::path& example_layout() {
    namespace fs = std::filesystem;
    static const fs::path root = [] {
        const fs::path src = CASEBRIDGE_SOURCE_DIR;
        const fs::path r = scratch_dir() / "layout";
        fs::create_directories(r / "config");
        fs::copy(src / "mappings", r / "mappings", fs::copy_options::recursive);
        fs::copy_file(src / "config/policies.json", r / "config/policies.json");
        fs::copy(src / "config/tables", r / "config/tables", fs::copy_options::recursive);
        for (const char* d :
             {"state/witness",
              "state/dss/outbox",
              "state/dss/inbox",
              "state/dss/sent",
              "tls",
              "secrets"}) {
            fs::create_directories(r / d);
        }
        const auto owner_only = fs::perms::owner_read | fs::perms::owner_write;
        for (const char* s :
             {"identifier-hmac.key",
              "admin-token",
              "cpims-password",
              "ping-password",
              "ping-subscription-key",
              "dss-zip-passphrase",
              "hub-token",
              "hub.key",
              "hub-token-save-bd",
              "hub-token-unhcr-cxb"}) {
            write_file(r / "secrets" / s, secret_text);
            fs::permissions(r / "secrets" / s, owner_only);
        }
        write_file(r / "tls/hub.pem", "certificate");
        write_file(r / "tls/agencies-ca.pem", "certificate");
        write_file(
            r / "secrets/checkpoint-signing.pem", store::signer::generate().private_key_pem()
        );
        fs::permissions(r / "secrets/checkpoint-signing.pem", owner_only);
        ::setenv("CASEBRIDGE_PSEUDONYM_KEY", std::string(secret_text).c_str(), 1);
        ::setenv("CASEBRIDGE_LINKAGE_SECRET", std::string(secret_text).c_str(), 1);
        return r;
    }();
    return root;
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    require(static_cast<bool>(out), "scratch file written");
}

std::optional<raw_request> read_request(std::string_view bytes, std::size_t body_limit) {
    namespace http = boost::beast::http;
    http::request_parser<http::string_body> parser;
    parser.eager(true);
    parser.header_limit(16 * 1024);
    parser.body_limit(body_limit);
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    if (!ec && !parser.is_done()) {
        parser.put_eof(ec);
    }
    if (ec || !parser.is_done()) {
        return std::nullopt;
    }
    auto& msg = parser.get();
    raw_request out;
    out.head.method = std::string(msg.method_string());
    out.head.target = std::string(msg.target());
    for (const auto& f : msg) {
        std::string name(f.name_string());
        for (auto& c : name) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        out.head.headers[name] = std::string(f.value());
    }
    out.body = std::move(msg.body());
    return out;
}

}  // namespace casebridge::fuzz
