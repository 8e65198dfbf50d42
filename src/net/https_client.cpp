#include "sessiond/net/https_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <sys/socket.h>

#include <cerrno>

namespace sessiond {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

std::string seconds_text(std::chrono::milliseconds ms) {
    const auto tenths = (ms.count() + 50) / 100;
    return std::to_string(tenths / 10) + (tenths % 10 != 0 ? "." + std::to_string(tenths % 10) : "") + " s";
}

}  // namespace

https_client::https_client(asio::any_io_executor executor, std::shared_ptr<ssl::context> tls, base_url endpoint,
                           std::size_t body_limit)
    : executor_(std::move(executor)),
      tls_(std::move(tls)),
      endpoint_(std::move(endpoint)),
      body_limit_(body_limit),
      resolver_(executor_),
      resolve_timer_(executor_) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(endpoint_.host, ec);
    if (!ec) literal_address_ = address;
}

void https_client::close() noexcept {
    open_ = false;
    if (stream_) {
        boost::system::error_code ignored;
        beast::get_lowest_layer(*stream_).socket().close(ignored);
    }
}

void https_client::cancel() {
    cancelled_ = true;
    resolver_.cancel();
    resolve_timer_.cancel();
    if (stream_) beast::get_lowest_layer(*stream_).cancel();
    close();
}

transport_failure https_client::failure_of(const boost::system::error_code& ec, std::string_view during) {
    const std::string where = " (" + std::string(during) + ")";
    if (cancelled_) return {transport_error::cancelled, "cancelled: the session is stopping"};
    if (ec == beast::error::timeout || resolve_timed_out_)
        return {transport_error::timeout, "no answer within " + seconds_text(timeout_) + where};
    if (ec.category() == asio::error::get_ssl_category()) {
        const long verify = stream_ ? SSL_get_verify_result(stream_->native_handle()) : X509_V_OK;
        if (verify != X509_V_OK)
            return {transport_error::tls, std::string("certificate verification failed: ") +
                                      X509_verify_cert_error_string(verify) + where};
        return {transport_error::tls, "TLS error: " + ec.message() + where};
    }
    if (ec == http::error::body_limit)
        return {transport_error::bad_response, "response body larger than " + std::to_string(body_limit_) + " bytes"};
    if (ec == http::error::header_limit)
        return {transport_error::bad_response, "response header larger than " + std::to_string(max_response_header) + " bytes"};
    if (ec == http::error::partial_message)
        return {transport_error::transport, "connection closed in the middle of the response" + where};
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == ssl::error::stream_truncated)
        return {transport_error::transport, "connection closed by the server" + where};
    if (ec.category() == http::make_error_code(http::error::bad_version).category())
        return {transport_error::bad_response, "malformed HTTP response: " + ec.message()};
    return {transport_error::transport, ec.message() + where};
}

asio::awaitable<boost::system::result<tcp::resolver::results_type, transport_failure>> https_client::resolve(
    clock::time_point deadline) {
    if (literal_address_)
        co_return tcp::resolver::results_type::create(tcp::endpoint(*literal_address_, endpoint_.port), endpoint_.host,
                                                      std::to_string(endpoint_.port));
    resolve_timed_out_ = false;
    resolve_timer_.expires_at(deadline);
    // The resolver has no deadline of its own: a timer cancels it. The handler touches `this` only
    // when the timer really fired, never after cancellation (the destructor cancels it).
    resolve_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) {
            resolve_timed_out_ = true;
            resolver_.cancel();
        }
    });
    auto [ec, results] =
        co_await resolver_.async_resolve(endpoint_.host, std::to_string(endpoint_.port), as_tuple(use_awaitable));
    resolve_timer_.cancel();
    if (ec) co_return failure_of(ec, "resolving " + endpoint_.host);
    co_return results;
}

asio::awaitable<boost::system::result<void, transport_failure>> https_client::connect(clock::time_point deadline) {
    const auto began = clock::now();
    last_connect_ = clock::duration(0);
    close();
    stream_.emplace(executor_, *tls_);
    buffer_.clear();
    SSL* native = stream_->native_handle();
    if (literal_address_) {
        // RFC 6066: no SNI for IP literals; verify the address against the certificate's IP SANs.
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(native), endpoint_.host.c_str());
    } else {
        SSL_set_tlsext_host_name(native, endpoint_.host.c_str());
        SSL_set1_host(native, endpoint_.host.c_str());
    }
    stream_->set_verify_mode(ssl::verify_peer);

    auto endpoints = co_await resolve(deadline);
    if (!endpoints) co_return endpoints.error();
    if (cancelled_) co_return failure_of(asio::error::operation_aborted, "connecting");

    auto& tcp_layer = beast::get_lowest_layer(*stream_);
    tcp_layer.expires_at(deadline);
    auto [cec, ep] = co_await tcp_layer.async_connect(*endpoints, as_tuple(use_awaitable));
    if (cec) co_return failure_of(cec, "connecting to " + endpoint_.host + ":" + std::to_string(endpoint_.port));
    ++connections_opened_;
    auto [hec] = co_await stream_->async_handshake(ssl::stream_base::client, as_tuple(use_awaitable));
    if (hec) co_return failure_of(hec, "TLS handshake");
    last_connect_ = clock::now() - began;
    open_ = true;
    co_return boost::system::result<void, transport_failure>{};
}

bool https_client::reusable() {
    if (!open_ || !stream_ || buffer_.size() > 0 || SSL_pending(stream_->native_handle()) > 0) return false;
    char byte = 0;
    const int fd = beast::get_lowest_layer(*stream_).socket().native_handle();
    const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    // Nothing to read: the connection is alive. 0 is the server's FIN, data is a close_notify or
    // something unasked, an error a reset: none of them carries a request.
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

asio::awaitable<boost::system::result<http_response, transport_failure>> https_client::send(
    http_request request, std::chrono::milliseconds timeout) {
    cancelled_ = false;
    resolve_timed_out_ = false;
    timeout_ = timeout;
    const auto deadline = clock::now() + timeout;
    if (open_ && !reusable()) close();
    if (!open_) {
        auto connected = co_await connect(deadline);
        if (!connected) {
            close();
            co_return connected.error();
        }
    }
    auto& tcp_layer = beast::get_lowest_layer(*stream_);
    tcp_layer.expires_at(deadline);

    last_sent_ = clock::now();
    auto [wec, written] = co_await http::async_write(*stream_, request, as_tuple(use_awaitable));
    if (wec) {
        close();
        co_return failure_of(wec, "sending the request");
    }

    http::response_parser<http::string_body> parser;
    parser.header_limit(max_response_header);
    parser.body_limit(body_limit_);
    auto [rec, read] = co_await http::async_read(*stream_, buffer_, parser, as_tuple(use_awaitable));
    if (rec) {
        close();
        co_return failure_of(rec, "reading the response");
    }
    tcp_layer.expires_never();
    http_response response = parser.release();
    if (!response.keep_alive()) close();
    co_return response;
}

}  // namespace sessiond
