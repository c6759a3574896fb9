#include "support/browser.hpp"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include "core/encoding.hpp"
#include "support/child_process.hpp"

namespace casebridge::test {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

std::string chromium_path() {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        const fs::path p = fs::path(dir) / "chromium";
        if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) {
            return p.string();
        }
    }
    return {};
}

std::string json_string(const std::string& s) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
    return {sb.GetString(), sb.GetSize()};
}

std::string to_json(const rapidjson::Value& v) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    v.Accept(w);
    return {sb.GetString(), sb.GetSize()};
}

}  // namespace

struct browser::impl {
    std::unique_ptr<child_process> chrome;
    asio::io_context ctx;
    std::unique_ptr<websocket::stream<tcp::socket>> ws;
    int next_id = 0;
    std::vector<std::string> errors;

    // One read is always outstanding once started; a wait runs the io_context for at most a
    // second and leaves an unfinished read to the next wait (a websocket read is never
    // cancelled: that would leave the stream unusable).
    beast::flat_buffer read_buffer;
    bool reading = false;
    bool read_done = false;
    beast::error_code read_error;

    /// Reads one message, waiting at most one second; false when none arrived.
    bool read_one(rapidjson::Document& out) {
        if (!reading) {
            reading = true;
            read_done = false;
            read_buffer.clear();
            ws->async_read(read_buffer, [this](beast::error_code ec, std::size_t) {
                read_error = ec;
                read_done = true;
            });
        }
        ctx.restart();
        ctx.run_for(std::chrono::seconds(1));
        if (!read_done) {
            return false;
        }
        reading = false;
        if (read_error) {
            throw std::runtime_error("browser: DevTools connection: " + read_error.message());
        }
        const auto text = beast::buffers_to_string(read_buffer.data());
        out.Parse(text.c_str(), text.size());
        if (out.HasParseError() || !out.IsObject()) {
            throw std::runtime_error("browser: a DevTools message that is not JSON");
        }
        if (!out.HasMember("id")) {
            note_event(out);
        }
        return true;
    }

    void note_event(const rapidjson::Document& m) {
        if (!m.HasMember("method") || !m.HasMember("params")) {
            return;
        }
        const std::string method = m["method"].GetString();
        const auto& p = m["params"];
        if (method == "Runtime.consoleAPICalled" && p.HasMember("type") &&
            std::string(p["type"].GetString()) == "error") {
            errors.push_back("console.error: " + to_json(p["args"]));
        } else if (method == "Runtime.exceptionThrown") {
            errors.push_back("exception: " + to_json(p["exceptionDetails"]));
        } else if (method == "Log.entryAdded") {
            const auto& e = p["entry"];
            if (std::string(e["level"].GetString()) == "error") {
                errors.push_back(
                    std::string("log: ") + e["source"].GetString() + ": " + e["text"].GetString()
                );
            }
        }
    }

    /// Sends a command and returns its result (events that arrive meanwhile are noted).
    rapidjson::Document command(
        const std::string& method,
        const std::string& params_json,
        std::chrono::milliseconds limit = std::chrono::seconds(60)
    ) {
        const int id = ++next_id;
        ws->write(asio::buffer(
            "{\"id\":" + std::to_string(id) + ",\"method\":\"" + method +
            "\",\"params\":" + params_json + "}"
        ));
        const auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            rapidjson::Document m;
            if (!read_one(m)) {
                continue;
            }
            if (m.HasMember("id") && m["id"].IsInt() && m["id"].GetInt() == id) {
                if (m.HasMember("error")) {
                    throw std::runtime_error(
                        "browser: " + method + " failed: " + to_json(m["error"])
                    );
                }
                rapidjson::Document result;
                result.CopyFrom(m["result"], result.GetAllocator());
                return result;
            }
        }
        throw std::runtime_error("browser: no answer to " + method);
    }

    /// Reads events until one named `method` arrives; false after `limit`.
    bool wait_event(const std::string& method, std::chrono::milliseconds limit) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            rapidjson::Document m;
            if (read_one(m) && m.HasMember("method") && method == m["method"].GetString()) {
                return true;
            }
        }
        return false;
    }
};

bool browser::available() {
    return !chromium_path().empty();
}

browser::browser(const fs::path& scratch, int width, int height) : impl_(std::make_unique<impl>()) {
    const auto exe = chromium_path();
    if (exe.empty()) {
        throw std::runtime_error("browser: chromium is not installed");
    }
    const auto profile = scratch / "chromium-profile";
    fs::create_directories(profile);
    impl_->chrome = std::make_unique<child_process>(child_process::start(
        exe,
        {"--headless",
         "--no-sandbox",
         "--disable-gpu",
         "--no-first-run",
         "--no-default-browser-check",
         "--disable-extensions",
         "--disable-background-networking",
         "--disable-component-update",
         "--disable-sync",
         "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0",
         "--user-data-dir=" + profile.string(),
         "--window-size=" + std::to_string(width) + "," + std::to_string(height),
         "about:blank"}
    ));
    // Chromium writes the port it chose and the browser's path into the profile.
    const auto port_file = profile / "DevToolsActivePort";
    std::string port;
    for (int i = 0; i < 600 && port.empty(); ++i) {
        std::ifstream in(port_file);
        std::getline(in, port);
        if (port.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    if (port.empty()) {
        throw std::runtime_error("browser: chromium wrote no DevTools port");
    }
    // The page targets; the first page is the about:blank it opened.
    std::string page_path;
    for (int attempt = 0; attempt < 100 && page_path.empty(); ++attempt) {
        tcp::socket s(impl_->ctx);
        s.connect(tcp::endpoint(
            asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(port))
        ));
        http::request<http::empty_body> req{http::verb::get, "/json/list", 11};
        req.set(http::field::host, "127.0.0.1:" + port);
        http::write(s, req);
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        http::read(s, buf, res);
        rapidjson::Document list;
        list.Parse(res.body().c_str());
        if (!list.HasParseError() && list.IsArray()) {
            for (const auto& t : list.GetArray()) {
                if (std::string(t["type"].GetString()) == "page" &&
                    t.HasMember("webSocketDebuggerUrl")) {
                    const std::string url = t["webSocketDebuggerUrl"].GetString();
                    page_path = url.substr(url.find('/', std::string("ws://").size()));
                    break;
                }
            }
        }
        if (page_path.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    if (page_path.empty()) {
        throw std::runtime_error("browser: chromium has no page to drive");
    }
    impl_->ws = std::make_unique<websocket::stream<tcp::socket>>(impl_->ctx);
    impl_->ws->next_layer().connect(tcp::endpoint(
        asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(port))
    ));
    impl_->ws->read_message_max(64 * 1024 * 1024);
    impl_->ws->handshake("127.0.0.1:" + port, page_path);
    // Reads wait at most one second, so a wait can end without a message.
    timeval tv{1, 0};
    ::setsockopt(impl_->ws->next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    impl_->command("Page.enable", "{}");
    impl_->command("Runtime.enable", "{}");
    impl_->command("Log.enable", "{}");
}

browser::~browser() {
    if (impl_->ws) {
        beast::error_code ignored;
        impl_->ws->next_layer().close(ignored);
    }
    if (impl_->chrome) {
        (void)impl_->chrome->stop(SIGKILL);
    }
}

void browser::navigate(const std::string& url, std::chrono::milliseconds limit) {
    impl_->command("Page.navigate", "{\"url\":" + json_string(url) + "}");
    if (!impl_->wait_event("Page.loadEventFired", limit)) {
        throw std::runtime_error("browser: " + url + " did not load");
    }
}

std::string browser::eval(const std::string& expression) {
    auto r = impl_->command(
        "Runtime.evaluate",
        "{\"expression\":" + json_string(expression) +
            ",\"returnByValue\":true,\"awaitPromise\":true}"
    );
    if (r.HasMember("exceptionDetails")) {
        throw std::runtime_error(
            "browser: the script threw: " + to_json(r["exceptionDetails"]) +
            "\nscript: " + expression.substr(0, 300)
        );
    }
    const auto& result = r["result"];
    if (!result.HasMember("value")) {
        return "null";
    }
    return to_json(result["value"]);
}

bool browser::wait_for(const std::string& condition, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (eval("Boolean(" + condition + ")") == "true") {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

std::string browser::screenshot_png() {
    auto r = impl_->command("Page.captureScreenshot", "{\"format\":\"png\"}");
    auto bytes = base64_decode(r["data"].GetString());
    if (!bytes) {
        throw std::runtime_error("browser: a screenshot that is not base64");
    }
    return std::move(*bytes);
}

std::vector<std::string> browser::errors() const {
    return impl_->errors;
}

void browser::clear_errors() {
    impl_->errors.clear();
}

}  // namespace casebridge::test
