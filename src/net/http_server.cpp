#include "net/http_server.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <limits>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/thread_name.hpp"

namespace casebridge::httpd {

using tcp = net::ip::tcp;
namespace ssl = net::ssl;
using tls_stream = beast::ssl_stream<tcp_stream>;

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

/// The subject CN of the peer's certificate when the handshake verified one, else empty.
std::string verified_peer_cn(SSL* handle) {
    if (SSL_get_verify_result(handle) != X509_V_OK) {
        return {};
    }
    X509* cert = SSL_get1_peer_certificate(handle);
    if (cert == nullptr) {
        return {};
    }
    std::string cn;
    X509_NAME* name = X509_get_subject_name(cert);
    const int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (at >= 0) {
        unsigned char* utf8 = nullptr;
        const int n =
            ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at)));
        if (n > 0) {
            cn.assign(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(n));
        }
        OPENSSL_free(utf8);
    }
    X509_free(cert);
    return cn;
}

/// A TLS server context: TLS 1.2 or later, the certificate chain and key, and (with a client
/// CA) required client certificates. Throws std::runtime_error naming the file.
void init_tls(ssl::context& ctx, const server_tls& t) {
    ctx.set_options(
        ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use
    );
    SSL_CTX* native = ctx.native_handle();
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
        throw std::runtime_error("TLS: cannot require TLS 1.2 or later");
    }
    boost::system::error_code ec;
    ctx.use_certificate_chain_file(t.cert_file.string(), ec);
    if (ec) {
        throw std::runtime_error(
            "TLS: " + t.cert_file.string() + " is not a readable PEM certificate chain"
        );
    }
    ctx.use_private_key_file(t.key_file.string(), ssl::context::pem, ec);
    if (ec &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
        throw std::runtime_error(
            "TLS: the key in " + t.key_file.string() + " does not match the certificate in " +
            t.cert_file.string()
        );
    }
    if (ec) {
        throw std::runtime_error(
            "TLS: " + t.key_file.string() + " is not a readable PEM private key"
        );
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        throw std::runtime_error(
            "TLS: the key in " + t.key_file.string() + " does not match the certificate in " +
            t.cert_file.string()
        );
    }
    if (!t.client_ca_file.empty()) {
        ctx.load_verify_file(t.client_ca_file.string(), ec);
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(t.client_ca_file.c_str());
        if (ec || names == nullptr) {
            throw std::runtime_error(
                "TLS: " + t.client_ca_file.string() + " is not a readable PEM CA bundle"
            );
        }
        SSL_CTX_set_client_CA_list(native, names);  // takes ownership
        ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
        // Needed for session resumption with client certificates.
        static constexpr unsigned char sid[] = "casebridge-httpd";
        SSL_CTX_set_session_id_context(native, sid, sizeof(sid) - 1);
    }
}

tcp_stream& lowest(tcp_stream& s) {
    return s;
}
tcp_stream& lowest(tls_stream& s) {
    return s.next_layer();
}

}  // namespace

struct server::impl {
    std::optional<ssl::context> tls;  // before the io_context: sessions hold streams using it
    net::io_context ctx;
    tcp::acceptor acceptor{ctx};
    std::thread thread;
    service svc;
    server_settings settings;
    std::size_t open = 0;                   // touched on the server's thread only...
    std::atomic<std::size_t> open_seen{0};  // ...and mirrored for other threads
    std::atomic<std::size_t> accepted{0};
    std::atomic<std::size_t> handshakes_failed{0};

    template <typename Stream>
    awaitable<void> write(Stream& stream, const response& r, bool keep_alive) {
        const std::string wire = serialize(r, keep_alive);
        lowest(stream).expires_after(settings.write_timeout);
        co_await net::async_write(stream, net::buffer(wire), use_nothrow);
    }

    awaitable<void> session(tcp::socket socket, std::size_t connection) {
        if (!tls) {
            tcp_stream stream(std::move(socket));
            co_await serve(stream, std::string(), connection);
            co_return;
        }
        tls_stream stream(std::move(socket), *tls);
        // The handshake shares the header's deadline: a client that stalls is cut off.
        lowest(stream).expires_after(settings.header_timeout);
        // A prvalue token: the const use_nothrow would also match the buffered overload.
        auto [hec] = co_await stream.async_handshake(
            ssl::stream_base::server, net::as_tuple(net::use_awaitable)
        );
        if (hec) {
            ++handshakes_failed;
            co_return;  // no certificate, an untrusted one, an old protocol: nothing served
        }
        std::string cn = verified_peer_cn(stream.native_handle());
        const bool still_open = co_await serve(stream, std::move(cn), connection);
        if (still_open) {
            lowest(stream).expires_after(settings.write_timeout);
            co_await stream.async_shutdown(net::as_tuple(net::use_awaitable));
        }
    }

    /// Serves requests on one connection; returns true when the connection is still usable
    /// for a TLS close_notify (closed after an answer), false after an I/O failure.
    template <typename Stream>
    awaitable<bool> serve(Stream& stream, std::string peer_cn, std::size_t connection) {
        beast::flat_buffer buffer;
        buffer.reserve(64 * 1024);  // reads as large as the room: a large body in few reads
        bool first = true;
        for (;;) {
            http::request_parser<http::empty_body> head_parser;
            head_parser.header_limit(static_cast<std::uint32_t>(settings.max_header_bytes));
            // The route's limit is applied after admission; the announced length is not
            // refused here (that would answer 400 before the token is checked).
            head_parser.body_limit(std::numeric_limits<std::uint64_t>::max());
            // One deadline for the whole header: a client trickling bytes is cut off.
            lowest(stream).expires_after(first ? settings.header_timeout : settings.idle_timeout);
            auto [ec, n] =
                co_await http::async_read_header(stream, buffer, head_parser, use_nothrow);
            if (ec == http::error::header_limit) {
                co_await write(stream, plain_error(431, "header_too_large"), false);
                co_return true;
            }
            if (ec) {
                if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
                    ec != net::error::eof && ec != net::error::connection_reset &&
                    ec != net::error::operation_aborted &&
                    ec.category() != net::error::get_ssl_category() &&
                    ec != ssl::error::stream_truncated) {
                    co_await write(stream, plain_error(400, "bad_request"), false);
                    co_return true;
                }
                co_return false;
            }
            first = false;
            const auto& head = head_parser.get();
            request req;
            req.peer_common_name = peer_cn;
            req.connection = connection;
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
                    co_return true;
                }
                continue;
            }
            const response too_large =
                adm.too_large ? *adm.too_large : plain_error(413, "body_too_large");
            if (head_parser.content_length() && *head_parser.content_length() > adm.body_limit) {
                co_await write(stream, too_large, false);
                co_return true;
            }
            http::request_parser<http::string_body> parser(std::move(head_parser));
            parser.body_limit(adm.body_limit);  // a chunked body, as it arrives
            lowest(stream).expires_after(settings.body_timeout);
            auto [bec, bn] = co_await http::async_read(stream, buffer, parser, use_nothrow);
            if (bec == http::error::body_limit) {
                co_await write(stream, too_large, false);
                co_return true;
            }
            if (bec) {
                co_return false;
            }
            req.body = std::move(parser.get().body());
            lowest(stream).expires_never();  // the handler's own time is not the client's
            response r;
            try {
                r = co_await svc.handle(std::move(req));
            } catch (const std::exception&) {
                r = plain_error(500, "internal");
            }
            if (r.ending == connection_ending::reset) {
                boost::system::error_code ignored;
                lowest(stream).socket().set_option(net::socket_base::linger(true, 0), ignored);
                lowest(stream).socket().close(ignored);
                co_return false;
            }
            if (r.ending == connection_ending::truncated_body) {
                std::string wire = serialize(r, false);
                wire.resize(wire.size() - (r.body.size() - r.body.size() / 2));
                lowest(stream).expires_after(settings.write_timeout);
                co_await net::async_write(stream, net::buffer(wire), use_nothrow);
                boost::system::error_code ignored;
                lowest(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
                lowest(stream).socket().close(ignored);
                co_return false;
            }
            co_await write(stream, r, keep_alive);
            if (!keep_alive) {
                if (!tls) {
                    boost::system::error_code ignored;
                    lowest(stream).socket().shutdown(tcp::socket::shutdown_send, ignored);
                }
                co_return true;
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
            const std::size_t number = ++accepted;
            net::co_spawn(
                ctx,
                session(std::move(socket), number),
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
    : impl_(std::make_shared<impl>()), address_(address), tls_(s.tls.has_value()) {
    impl_->svc = std::move(svc);
    impl_->settings = s;
    if (s.tls) {
        impl_->tls.emplace(ssl::context::tls_server);
        init_tls(*impl_->tls, *s.tls);
    }
    const tcp::endpoint ep(net::ip::make_address(address), port);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(net::socket_base::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
    port_ = impl_->acceptor.local_endpoint().port();
    net::co_spawn(impl_->ctx, impl_->accept_loop(), net::detached);
    impl_->thread = std::thread([i = impl_.get()] {
        name_this_thread("cb-http");
        i->ctx.run();
    });
}

server::~server() {
    impl_->ctx.stop();
    impl_->thread.join();
}

std::string server::base_url() const {
    const bool v6 = address_.find(':') != std::string::npos;
    return (tls_ ? "https://" : "http://") + (v6 ? "[" + address_ + "]" : address_) + ":" +
           std::to_string(port_);
}

std::size_t server::open_connections() const {
    return impl_->open_seen;
}

std::size_t server::accepted_connections() const {
    return impl_->accepted;
}

std::size_t server::failed_handshakes() const {
    return impl_->handshakes_failed;
}

}  // namespace casebridge::httpd
