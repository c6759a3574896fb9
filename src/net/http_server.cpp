#include "net/http_server.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <limits>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

namespace casebridge::httpd {

using tcp = net::ip::tcp;

std::string request::header(const std::string& lower_case_name) const {
    auto it = headers.find(lower_case_name);
    return it == headers.end() ? std::string() : it->second;
}

namespace {

std::string reason_phrase(unsigned status) {
    return std::string(http::obsolete_reason(static_cast<http::status>(status)));
}

std::string serialize(const response& r, bool keep_alive) {
    std::string out =
        "HTTP/1.1 " + std::to_string(r.status) + ' ' + reason_phrase(r.status) + "\r\n";
    out += "Content-Type: " + r.content_type + "\r\n";
    out += "X-Content-Type-Options: nosniff\r\n";
    out += "Cache-Control: no-store\r\n";
    for (const auto& [k, v] : r.headers) {
        out += k + ": " + v + "\r\n";
    }
    if (!keep_alive) {
        out += "Connection: close\r\n";
    }
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
    out += r.body;
    return out;
}

response plain_error(unsigned status, std::string_view code) {
    response r;
    r.status = status;
    r.body = "{\"error\":\"" + std::string(code) + "\"}\n";
    return r;
}

}  // namespace

struct server::impl {
    net::io_context ctx;
    tcp::acceptor acceptor{ctx};
    std::thread thread;
    service svc;
    server_settings settings;
    std::size_t open = 0;                   // touched on the server's thread only...
    std::atomic<std::size_t> open_seen{0};  // ...and mirrored for other threads

    awaitable<void> write(tcp_stream& stream, const response& r, bool keep_alive) {
        const std::string wire = serialize(r, keep_alive);
        stream.expires_after(settings.write_timeout);
        co_await net::async_write(stream, net::buffer(wire), use_nothrow);
    }

    awaitable<void> session(tcp::socket socket) {
        tcp_stream stream(std::move(socket));
        beast::flat_buffer buffer;
        bool first = true;
        for (;;) {
            http::request_parser<http::empty_body> head_parser;
            head_parser.header_limit(static_cast<std::uint32_t>(settings.max_header_bytes));
            // The route's limit is applied after admission; the announced length is not
            // refused here (that would answer 400 before the token is checked).
            head_parser.body_limit(std::numeric_limits<std::uint64_t>::max());
            // One deadline for the whole header: a client trickling bytes is cut off.
            stream.expires_after(first ? settings.header_timeout : settings.idle_timeout);
            auto [ec, n] = co_await http::async_read_header(stream, buffer, head_parser);
            if (ec == http::error::header_limit) {
                co_await write(stream, plain_error(431, "header_too_large"), false);
                co_return;
            }
            if (ec) {
                if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
                    ec != net::error::eof && ec != net::error::connection_reset &&
                    ec != net::error::operation_aborted) {
                    co_await write(stream, plain_error(400, "bad_request"), false);
                }
                co_return;
            }
            first = false;
            const auto& head = head_parser.get();
            request req;
            req.method = std::string(head.method_string());
            req.target = std::string(head.target());
            for (const auto& field : head) {
                std::string name(field.name_string());
                std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
                    return static_cast<char>(std::tolower(c));
                });
                req.headers[name] = std::string(field.value());
            }
            const bool keep_alive = head.keep_alive();
            const bool has_body = head_parser.chunked() || (head_parser.content_length() &&
                                                            *head_parser.content_length() > 0);
            admission adm = svc.admit ? svc.admit(req) : admission{};
            if (adm.refuse) {
                // The body, if any, is never read: close after answering.
                co_await write(stream, *adm.refuse, keep_alive && !has_body);
                if (!keep_alive || has_body) {
                    co_return;
                }
                continue;
            }
            if (head_parser.content_length() && *head_parser.content_length() > adm.body_limit) {
                co_await write(stream, plain_error(413, "body_too_large"), false);
                co_return;
            }
            http::request_parser<http::string_body> parser(std::move(head_parser));
            parser.body_limit(adm.body_limit);  // a chunked body, as it arrives
            stream.expires_after(settings.body_timeout);
            auto [bec, bn] = co_await http::async_read(stream, buffer, parser);
            if (bec == http::error::body_limit) {
                co_await write(stream, plain_error(413, "body_too_large"), false);
                co_return;
            }
            if (bec) {
                co_return;
            }
            req.body = std::move(parser.get().body());
            stream.expires_never();  // the handler's own time is not the client's
            response r;
            try {
                r = co_await svc.handle(std::move(req));
            } catch (const std::exception&) {
                r = plain_error(500, "internal");
            }
            co_await write(stream, r, keep_alive);
            if (!keep_alive) {
                boost::system::error_code ignored;
                stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                co_return;
            }
        }
    }

    awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
            if (ec) {
                if (ec == net::error::operation_aborted || !acceptor.is_open()) {
                    co_return;
                }
                continue;  // e.g. EMFILE: keep serving the connections already open
            }
            if (open >= settings.max_connections) {
                boost::system::error_code ignored;
                socket.close(ignored);  // over the cap: refused at once
                continue;
            }
            ++open;
            open_seen = open;
            net::co_spawn(
                ctx,
                session(std::move(socket)),
                // Not called when the server stops (the io_context is destroyed with it).
                [this](std::exception_ptr) {
                    --open;
                    open_seen = open;
                }
            );
        }
    }
};

server::server(const std::string& address, unsigned short port, service svc, server_settings s)
    : impl_(std::make_shared<impl>()), address_(address) {
    impl_->svc = std::move(svc);
    impl_->settings = s;
    const tcp::endpoint ep(net::ip::make_address(address), port);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(net::socket_base::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
    port_ = impl_->acceptor.local_endpoint().port();
    net::co_spawn(impl_->ctx, impl_->accept_loop(), net::detached);
    impl_->thread = std::thread([i = impl_.get()] { i->ctx.run(); });
}

server::~server() {
    impl_->ctx.stop();
    impl_->thread.join();
}

std::string server::base_url() const {
    const bool v6 = address_.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + address_ + "]" : address_) + ":" + std::to_string(port_);
}

std::size_t server::open_connections() const {
    return impl_->open_seen;
}

}  // namespace casebridge::httpd
