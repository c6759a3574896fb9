#include "support/fake_http_server.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/async.hpp"

namespace casebridge::test {

using tcp = net::ip::tcp;
namespace ssl = net::ssl;

namespace {

tcp::socket& lowest(tcp::socket& s) {
    return s;
}
tcp::socket& lowest(ssl::stream<tcp::socket>& s) {
    return s.next_layer();
}

// The common name of the peer's certificate, or "".
std::string peer_common_name(SSL* ssl) {
    X509* cert = SSL_get1_peer_certificate(ssl);
    if (cert == nullptr) {
        return {};
    }
    char buf[256] = {};
    const int n =
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
    X509_free(cert);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

struct fake_http_server::impl {
    // Before the io_context: suspended TLS sessions are destroyed with it and still use it.
    std::optional<ssl::context> tls;
    net::io_context ctx;
    tcp::acceptor acceptor{ctx};
    std::thread thread;

    mutable std::mutex mutex;
    handler on_request;
    fault_plan plan;
    std::deque<fault> injected;
    std::vector<recorded_request> log;
    std::size_t connections = 0;
    std::size_t failed_handshakes = 0;

    // Records the request and picks its fault and reply, under the lock.
    std::pair<fault, reply> admit(recorded_request req) {
        std::unique_lock lock(mutex);
        const std::size_t index = log.size();
        log.push_back(req);
        fault f;
        if (!injected.empty()) {
            f = injected.front();
            injected.pop_front();
        } else if (plan) {
            f = plan(index, req);
        }
        handler h = on_request;
        lock.unlock();
        reply r = h ? h(req) : reply{404, R"({"error":"no handler"})"};
        return {f, std::move(r)};
    }

    static std::string serialize(
        const reply& r, std::string_view body, std::size_t content_length
    ) {
        http::response<http::empty_body> head{static_cast<http::status>(r.status), 11};
        head.set(http::field::server, "casebridge-test");
        head.set(http::field::content_type, r.content_type);
        for (const auto& [k, v] : r.headers) {
            head.set(k, v);
        }
        head.content_length(content_length);
        std::string out;
        out.reserve(256 + body.size());
        out += "HTTP/1.1 " + std::to_string(r.status) + ' ' + std::string(head.reason()) + "\r\n";
        for (const auto& field : head) {
            out += std::string(field.name_string()) + ": " + std::string(field.value()) + "\r\n";
        }
        out += "\r\n";
        out += body;
        return out;
    }

    awaitable<void> plain_session(tcp::socket socket, std::size_t connection_no) {
        co_await session(socket, connection_no, {});
    }

    awaitable<void> tls_session(tcp::socket socket, std::size_t connection_no) {
        ssl::stream<tcp::socket> stream(std::move(socket), *tls);
        auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, use_nothrow);
        if (hec) {
            std::lock_guard lock(mutex);
            ++failed_handshakes;
            co_return;
        }
        const std::string cn = peer_common_name(stream.native_handle());
        co_await session(stream, connection_no, cn);
    }

    template <typename Stream>
    awaitable<void> session(Stream& socket, std::size_t connection_no, std::string client_cn) {
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(64 * 1024 * 1024);
            auto [ec, n] = co_await http::async_read(socket, buffer, parser, use_nothrow);
            if (ec) {
                co_return;
            }
            auto& msg = parser.get();
            recorded_request req;
            req.method = std::string(msg.method_string());
            req.target = std::string(msg.target());
            for (const auto& field : msg) {
                std::string name(field.name_string());
                std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
                    return static_cast<char>(std::tolower(c));
                });
                req.headers[name] = std::string(field.value());
            }
            req.body = msg.body();
            req.connection = connection_no;
            req.client_cn = client_cn;
            const bool keep_alive = msg.keep_alive();
            auto [f, r] = admit(std::move(req));

            switch (f.kind) {
                case fault_kind::none:
                    break;
                case fault_kind::delay: {
                    net::steady_timer timer(socket.get_executor(), f.delay);
                    co_await timer.async_wait(use_nothrow);
                    break;
                }
                case fault_kind::status:
                    r = reply{
                        f.status,
                        R"({"errors":[{"status":)" + std::to_string(f.status) +
                            R"(,"message":"injected fault"}]})"};
                    if (!f.retry_after.empty()) {
                        r.headers.emplace_back("Retry-After", f.retry_after);
                    }
                    break;
                case fault_kind::rate_limit:
                    r = reply{429, R"({"errors":[{"status":429,"message":"rate limited"}]})"};
                    r.headers.emplace_back("Retry-After", f.retry_after);
                    break;
                case fault_kind::reset: {
                    boost::system::error_code ignored;
                    lowest(socket).set_option(net::socket_base::linger(true, 0), ignored);
                    lowest(socket).close(ignored);
                    co_return;
                }
                case fault_kind::truncate_body: {
                    const std::string wire = serialize(
                        r, std::string_view(r.body).substr(0, r.body.size() / 2), r.body.size()
                    );
                    co_await net::async_write(socket, net::buffer(wire), use_nothrow);
                    boost::system::error_code ignored;
                    lowest(socket).shutdown(tcp::socket::shutdown_both, ignored);
                    lowest(socket).close(ignored);
                    co_return;
                }
                case fault_kind::malformed_json:
                    r.body = R"({"data":[{"id":"1",)";
                    r.status = 200;
                    break;
                case fault_kind::stall: {
                    net::steady_timer timer(socket.get_executor(), std::chrono::hours(24));
                    co_await timer.async_wait(use_nothrow);
                    co_return;
                }
            }
            if (!keep_alive) {
                r.headers.emplace_back("Connection", "close");
            }
            const std::string wire = serialize(r, r.body, r.body.size());
            auto [wec, wn] = co_await net::async_write(socket, net::buffer(wire), use_nothrow);
            if (wec || !keep_alive) {
                boost::system::error_code ignored;
                lowest(socket).shutdown(tcp::socket::shutdown_send, ignored);
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
            std::size_t n = 0;
            {
                std::lock_guard lock(mutex);
                n = ++connections;
            }
            if (tls) {
                net::co_spawn(ctx, tls_session(std::move(socket), n), net::detached);
            } else {
                net::co_spawn(ctx, plain_session(std::move(socket), n), net::detached);
            }
        }
    }
};

fake_http_server::fake_http_server(handler h) : fake_http_server(std::move(h), fake_tls{}) {}

fake_http_server::fake_http_server(handler h, fake_tls tls) : impl_(std::make_unique<impl>()) {
    impl_->on_request = std::move(h);
    if (!tls.cert_file.empty()) {
        impl_->tls.emplace(ssl::context::tls_server);
        impl_->tls->use_certificate_chain_file(tls.cert_file.string());
        impl_->tls->use_private_key_file(tls.key_file.string(), ssl::context::pem);
        if (!tls.client_ca_file.empty()) {
            impl_->tls->load_verify_file(tls.client_ca_file.string());
            impl_->tls->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
        }
    }
    const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(net::socket_base::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
    port_ = impl_->acceptor.local_endpoint().port();
    net::co_spawn(impl_->ctx, impl_->accept_loop(), net::detached);
    impl_->thread = std::thread([this] { impl_->ctx.run(); });
}

fake_http_server::~fake_http_server() {
    impl_->ctx.stop();
    impl_->thread.join();
}

std::string fake_http_server::base_url() const {
    return (impl_->tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_);
}

std::size_t fake_http_server::failed_handshakes() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->failed_handshakes;
}

void fake_http_server::inject(fault f, std::size_t times) {
    std::lock_guard lock(impl_->mutex);
    for (std::size_t i = 0; i < times; ++i) {
        impl_->injected.push_back(f);
    }
}

void fake_http_server::set_fault_plan(fault_plan plan) {
    std::lock_guard lock(impl_->mutex);
    impl_->plan = std::move(plan);
}

void fake_http_server::set_handler(handler h) {
    std::lock_guard lock(impl_->mutex);
    impl_->on_request = std::move(h);
}

std::vector<recorded_request> fake_http_server::requests() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->log;
}

std::size_t fake_http_server::request_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->log.size();
}

std::size_t fake_http_server::connection_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->connections;
}

}  // namespace casebridge::test
