#include "support/tls_test_server.hpp"

#include <future>
#include <map>
#include <stdexcept>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>

#include "net/async.hpp"

namespace casebridge::test {

using tcp = net::ip::tcp;
namespace ssl = net::ssl;

struct tls_test_server::impl {
    // Declared before the io_context: destroying it destroys the suspended sessions, whose
    // cleanup still uses these.
    std::map<std::size_t, tcp::socket*> open;  // used on the server thread only
    std::size_t next_session = 0;
    ssl::context tls{ssl::context::tls_server};
    net::io_context ctx;
    tcp::acceptor acceptor{ctx};
    std::thread thread;
    tls_test_server* owner = nullptr;

    awaitable<void> session(tcp::socket socket) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), tls);
        const std::size_t key = next_session++;
        open[key] = &beast::get_lowest_layer(stream).socket();
        struct forget {
            impl* self;
            std::size_t key;
            ~forget() { self->open.erase(key); }
        } guard{this, key};
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
            ++owner->connections_;
            net::co_spawn(ctx, session(std::move(socket)), net::detached);
        }
    }
};

tls_test_server::tls_test_server(tls_server_settings settings) : impl_(std::make_unique<impl>()) {
    impl_->owner = this;
    SSL_CTX* native = impl_->tls.native_handle();
    if (settings.max_version != 0 &&
        SSL_CTX_set_max_proto_version(native, settings.max_version) != 1) {
        throw std::runtime_error("tls_test_server: cannot set the highest protocol version");
    }
    if (!settings.cipher_list.empty() &&
        SSL_CTX_set_cipher_list(native, settings.cipher_list.c_str()) != 1) {
        throw std::runtime_error("tls_test_server: cipher list refused");
    }
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

void tls_test_server::close_connections() {
    std::promise<void> done;
    net::post(impl_->ctx, [this, &done] {
        for (auto& [key, socket] : impl_->open) {
            boost::system::error_code ignored;
            socket->shutdown(tcp::socket::shutdown_both, ignored);
            socket->close(ignored);
        }
        done.set_value();
    });
    done.get_future().wait();
}

tls_test_server::~tls_test_server() {
    impl_->ctx.stop();
    impl_->thread.join();
}

}  // namespace casebridge::test
