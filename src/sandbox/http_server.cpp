#include "sandbox/http_server.hpp"

#include <algorithm>
#include <cctype>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "net/async.hpp"
#include "net/http_server.hpp"

namespace casebridge::sandbox {

bool parse_fault_rule(const std::string& text, fault_rule& out) {
    std::string kind = text;
    std::size_t every = 10;
    if (const auto colon = text.find(':'); colon != std::string::npos) {
        kind = text.substr(0, colon);
        const std::string n = text.substr(colon + 1);
        if (n.empty() || n.size() > 6 ||
            !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return false;
        }
        every = std::stoul(n);
        if (every == 0) {
            return false;
        }
    }
    fault f;
    if (kind.rfind("latency=", 0) == 0) {
        const std::string ms = kind.substr(8);
        if (ms.empty() || ms.size() > 6 ||
            !std::all_of(ms.begin(), ms.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return false;
        }
        f = fault::delayed(std::chrono::milliseconds(std::stol(ms)));
    } else if (kind == "500" || kind == "502" || kind == "504") {
        f = fault::error(static_cast<unsigned>(std::stoul(kind)));
    } else if (kind == "503") {
        f = fault::error(503, "1");
    } else if (kind == "429") {
        f = fault::too_many_requests("1");
    } else if (kind == "reset") {
        f = fault::reset();
    } else if (kind == "truncate") {
        f = fault::truncated();
    } else if (kind == "malformed") {
        f = fault::malformed();
    } else if (kind == "lost") {
        f = fault::lost();
    } else {
        return false;
    }
    out = fault_rule{f, every};
    return true;
}

struct http_server::impl {
    mutable std::mutex mutex;
    handler on_request;
    std::deque<fault> injected;
    std::vector<fault_rule> rules;
    std::deque<request> log;  // the newest log_limit requests
    std::size_t dropped = 0;  // older ones, since the last clear
    std::size_t counter = 0;
    bool whole = false;                     // record_whole_requests()
    std::vector<request> recorded;          // kept whole, for a benchmark's replay
    std::unique_ptr<httpd::server> server;  // last: stopped before the state it uses goes

    fault pick(const request& req) {
        std::lock_guard lock(mutex);
        if (whole) {
            recorded.push_back(req);
        }
        log.push_back(req);
        log.back().body.clear();  // bodies are not kept, nor credentials
        for (auto& [name, value] : log.back().headers) {
            if (name == "authorization" || name == "ocp-apim-subscription-key" ||
                name == "cookie" || name == "x-api-key") {
                value = value.substr(0, value.find(' '));  // the scheme, or nothing
                if (name != "authorization") {
                    value.clear();
                }
            }
        }
        if (log.size() > http_server::log_limit) {
            log.pop_front();
            ++dropped;
        }
        const std::size_t n = ++counter;
        if (!injected.empty()) {
            fault f = injected.front();
            injected.pop_front();
            return f;
        }
        for (const auto& r : rules) {
            if (n % r.every == 0) {
                return r.f;
            }
        }
        return {};
    }

    // Takes the response by reference and moves its members: moving the whole response out of
    // the coroutine's frame makes GCC 12 at -O2 warn of a memcpy out of bounds (a false
    // positive of coroutine frames).
    static httpd::response wire_form(response& r, httpd::connection_ending ending) {
        httpd::response out;
        out.status = r.status;
        out.body = std::move(r.body);
        out.headers = std::move(r.headers);
        out.content_type = std::move(r.content_type);
        out.ending = ending;
        return out;
    }

    /// One request on the server's thread: the fault it gets, then the handler's answer.
    awaitable<httpd::response> handle(httpd::request in) {
        request req{
            std::move(in.method), std::move(in.target), std::move(in.headers), std::move(in.body)};
        const fault f = pick(req);
        if (f.kind == fault_kind::delay) {
            net::steady_timer timer(co_await net::this_coro::executor, f.delay);
            co_await timer.async_wait(use_nothrow);
        }
        response r;
        switch (f.kind) {
            case fault_kind::status:
                r.status = f.status;
                r.body = R"({"errors":[{"status":)" + std::to_string(f.status) +
                         R"(,"resource":")" + req.target.substr(0, req.target.find('?')) +
                         R"(","message":"Injected fault"}]})";
                if (!f.retry_after.empty()) {
                    r.headers.emplace_back("Retry-After", f.retry_after);
                }
                co_return wire_form(r, httpd::connection_ending::answer);
            case fault_kind::rate_limit:
                r.status = 429;
                r.content_type = "text/plain";
                r.body = "Retry later\n";
                r.headers.emplace_back("Retry-After", f.retry_after);
                co_return wire_form(r, httpd::connection_ending::answer);
            case fault_kind::reset:
                // Closed before the request is handled: it has no effect.
                co_return wire_form(r, httpd::connection_ending::reset);
            default:
                break;
        }
        handler h;
        {
            std::lock_guard lock(mutex);
            h = on_request;
        }
        r = h(req);
        switch (f.kind) {
            case fault_kind::lost_response:  // handled (its effect stays), never answered
                co_return wire_form(r, httpd::connection_ending::reset);
            case fault_kind::truncate_body:
                co_return wire_form(r, httpd::connection_ending::truncated_body);
            case fault_kind::malformed_json:
                r.status = 200;
                r.body = R"({"data":[{"id":"1",)";
                break;
            default:
                break;
        }
        co_return wire_form(r, httpd::connection_ending::answer);
    }
};

http_server::http_server(const std::string& address, unsigned short port, handler h)
    : impl_(std::make_unique<impl>()), address_(address) {
    impl_->on_request = std::move(h);
    httpd::service svc;
    svc.admit = [](const httpd::request&) {
        httpd::admission a;
        a.body_limit = 32 * 1024 * 1024;
        return a;
    };
    svc.handle = [i = impl_.get()](httpd::request req) { return i->handle(std::move(req)); };
    httpd::server_settings settings;
    settings.max_connections = 1024;  // drills open many; the sandbox refuses none of them
    impl_->server = std::make_unique<httpd::server>(address, port, std::move(svc), settings);
    port_ = impl_->server->port();
}

http_server::~http_server() {
    impl_->server.reset();  // joins the server's thread before the state it uses goes
}

std::string http_server::base_url() const {
    const bool v6 = address_.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + address_ + "]" : address_) + ":" + std::to_string(port_);
}

void http_server::inject(fault f, std::size_t times) {
    std::lock_guard lock(impl_->mutex);
    for (std::size_t i = 0; i < times; ++i) {
        impl_->injected.push_back(f);
    }
}

void http_server::set_rules(std::vector<fault_rule> rules) {
    std::lock_guard lock(impl_->mutex);
    impl_->rules = std::move(rules);
}

std::vector<request> http_server::requests() const {
    std::lock_guard lock(impl_->mutex);
    return {impl_->log.begin(), impl_->log.end()};
}

std::size_t http_server::request_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->log.size() + impl_->dropped;
}

void http_server::record_whole_requests() {
    std::lock_guard lock(impl_->mutex);
    impl_->whole = true;
}

std::vector<request> http_server::recording() {
    std::lock_guard lock(impl_->mutex);
    return std::exchange(impl_->recorded, {});
}

void http_server::clear_requests() {
    std::lock_guard lock(impl_->mutex);
    impl_->log.clear();
    impl_->dropped = 0;
}

}  // namespace casebridge::sandbox
