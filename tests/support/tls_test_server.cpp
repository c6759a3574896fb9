#include "support/tls_test_server.hpp"

#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "net/async.hpp"

namespace casebridge::test {

using tcp = net::ip::tcp;
namespace ssl = net::ssl;

struct tls_test_server::impl {
    net::io_context ctx;
    ssl::context tls{ssl::context::tls_server};
    tcp::acceptor acceptor{ctx};
    std::thread thread;
    tls_test_server* owner = nullptr;

    awaitable<void> session(tcp::socket socket) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), tls);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
        auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, use_nothrow);
        if (hec) {
            ++owner->failed_handshakes_;
            co_return;
        }
        beast::flat_buffer buffer;
        for (;;) {
            http::request<http::string_body> req;
            auto [rec, rn] = co_await http::async_read(stream, buffer, req, use_nothrow);
            if (rec) {
                co_return;
            }
            ++owner->requests_;
            http::response<http::string_body> res{http::status::ok, 11};
            res.set(http::field::content_type, "application/json");
            res.body() = R"({"ok":true})";
            res.keep_alive(req.keep_alive());
            res.prepare_payload();
            auto [wec, wn] = co_await http::async_write(stream, res, use_nothrow);
            if (wec || !req.keep_alive()) {
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

tls_test_server::tls_test_server(tls_server_settings settings) : impl_(std::make_unique<impl>()) {
    impl_->owner = this;
    impl_->tls.use_certificate_chain_file(settings.cert_file.string());
    impl_->tls.use_private_key_file(settings.key_file.string(), ssl::context::pem);
    if (!settings.client_ca_file.empty()) {
        impl_->tls.load_verify_file(settings.client_ca_file.string());
        impl_->tls.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    }
    const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
    port_ = impl_->acceptor.local_endpoint().port();
    net::co_spawn(impl_->ctx, impl_->accept_loop(), net::detached);
    impl_->thread = std::thread([this] { impl_->ctx.run(); });
}

tls_test_server::~tls_test_server() {
    impl_->ctx.stop();
    impl_->thread.join();
}

}  // namespace casebridge::test
