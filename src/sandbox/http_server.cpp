#include "sandbox/http_server.hpp"

#include <algorithm>
#include <cctype>
#include <deque>
#include <mutex>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "net/async.hpp"

namespace casebridge::sandbox {

using tcp = net::ip::tcp;

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
    net::io_context ctx;
    tcp::acceptor acceptor{ctx};
    std::thread thread;
    mutable std::mutex mutex;
    handler on_request;
    std::deque<fault> injected;
    std::vector<fault_rule> rules;
    std::deque<request> log;  // the newest log_limit requests
    std::size_t dropped = 0;  // older ones, since the last clear
    std::size_t counter = 0;

    fault pick(const request& req) {
        std::lock_guard lock(mutex);
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

    static std::string serialize(const response& r, std::string_view body, std::size_t length) {
        http::response<http::empty_body> head{static_cast<http::status>(r.status), 11};
        std::string out =
            "HTTP/1.1 " + std::to_string(r.status) + ' ' + std::string(head.reason()) + "\r\n";
        out += "Content-Type: " + r.content_type + "\r\n";
        out += "X-Content-Type-Options: nosniff\r\n";
        for (const auto& [k, v] : r.headers) {
            out += k + ": " + v + "\r\n";
        }
        out += "Content-Length: " + std::to_string(length) + "\r\n\r\n";
        out += body;
        return out;
    }

    awaitable<void> session(tcp::socket socket) {
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(32 * 1024 * 1024);
            auto [ec, n] = co_await http::async_read(socket, buffer, parser, use_nothrow);
            if (ec) {
                co_return;
            }
            auto& msg = parser.get();
            request req;
            req.method = std::string(msg.method_string());
            req.target = std::string(msg.target());
            for (const auto& field : msg) {
                std::string name(field.name_string());
                std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
                    return static_cast<char>(std::tolower(c));
                });
                req.headers[name] = std::string(field.value());
            }
            req.body = std::move(msg.body());
            const bool keep_alive = msg.keep_alive();
            const fault f = pick(req);
            response r;
            if (f.kind == fault_kind::delay) {
                net::steady_timer timer(socket.get_executor(), f.delay);
                co_await timer.async_wait(use_nothrow);
            }
            switch (f.kind) {
                case fault_kind::status:
                    r.status = f.status;
                    r.body = R"({"errors":[{"status":)" + std::to_string(f.status) +
                             R"(,"resource":")" + req.target.substr(0, req.target.find('?')) +
                             R"(","message":"Injected fault"}]})";
                    if (!f.retry_after.empty()) {
                        r.headers.emplace_back("Retry-After", f.retry_after);
                    }
                    break;
                case fault_kind::rate_limit:
                    r.status = 429;
                    r.content_type = "text/plain";
                    r.body = "Retry later\n";
                    r.headers.emplace_back("Retry-After", f.retry_after);
                    break;
                case fault_kind::reset: {
                    boost::system::error_code ignored;
                    socket.set_option(net::socket_base::linger(true, 0), ignored);
                    socket.close(ignored);
                    co_return;
                }
                default: {
                    handler h;
                    {
                        std::lock_guard lock(mutex);
                        h = on_request;
                    }
                    r = h(req);
                    break;
                }
            }
            if (f.kind == fault_kind::lost_response) {
                boost::system::error_code ignored;
                socket.set_option(net::socket_base::linger(true, 0), ignored);
                socket.close(ignored);
                co_return;
            }
            if (f.kind == fault_kind::truncate_body) {
                const std::string wire = serialize(
                    r, std::string_view(r.body).substr(0, r.body.size() / 2), r.body.size()
                );
                co_await net::async_write(socket, net::buffer(wire), use_nothrow);
                boost::system::error_code ignored;
                socket.shutdown(tcp::socket::shutdown_both, ignored);
                socket.close(ignored);
                co_return;
            }
            if (f.kind == fault_kind::malformed_json) {
                r.status = 200;
                r.body = R"({"data":[{"id":"1",)";
            }
            if (!keep_alive) {
                r.headers.emplace_back("Connection", "close");
            }
            const std::string wire = serialize(r, r.body, r.body.size());
            auto [wec, wn] = co_await net::async_write(socket, net::buffer(wire), use_nothrow);
            if (wec || !keep_alive) {
                boost::system::error_code ignored;
                socket.shutdown(tcp::socket::shutdown_send, ignored);
                co_return;
            }
        }
    }

    awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
            if (ec) {
                co_return;
            }
            net::co_spawn(ctx, session(std::move(socket)), net::detached);
        }
    }
};

http_server::http_server(const std::string& address, unsigned short port, handler h)
    : impl_(std::make_unique<impl>()), address_(address) {
    impl_->on_request = std::move(h);
    const tcp::endpoint ep(net::ip::make_address(address), port);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(net::socket_base::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
    port_ = impl_->acceptor.local_endpoint().port();
    net::co_spawn(impl_->ctx, impl_->accept_loop(), net::detached);
    impl_->thread = std::thread([this] { impl_->ctx.run(); });
}

http_server::~http_server() {
    impl_->ctx.stop();
    impl_->thread.join();
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

void http_server::clear_requests() {
    std::lock_guard lock(impl_->mutex);
    impl_->log.clear();
    impl_->dropped = 0;
}

}  // namespace casebridge::sandbox
