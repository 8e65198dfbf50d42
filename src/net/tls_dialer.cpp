#include "sessiond/net/tls_dialer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

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

tls_dialer::tls_dialer(asio::any_io_executor executor, base_url endpoint)
    : endpoint_(std::move(endpoint)), resolver_(executor), resolve_timer_(executor) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(endpoint_.host, ec);
    if (!ec) literal_address_ = address;
}

void tls_dialer::cancel() {
    cancelled_ = true;
    resolver_.cancel();
    resolve_timer_.cancel();
}

transport_failure tls_dialer::failure_of(const boost::system::error_code& ec, std::string_view during,
                                         const tls_tcp_stream* stream) const {
    const std::string where = " (" + std::string(during) + ")";
    if (cancelled_) return {transport_error::cancelled, "cancelled: the session is stopping"};
    if (ec == beast::error::timeout || resolve_timed_out_)
        return {transport_error::timeout, "no answer within " + seconds_text(timeout_) + where};
    if (ec.category() == asio::error::get_ssl_category()) {
        const long verify =
            stream != nullptr ? SSL_get_verify_result(const_cast<tls_tcp_stream*>(stream)->native_handle()) : X509_V_OK;
        if (verify != X509_V_OK)
            return {transport_error::tls, std::string("certificate verification failed: ") +
                                      X509_verify_cert_error_string(verify) + where};
        return {transport_error::tls, "TLS error: " + ec.message() + where};
    }
    if (ec == http::error::partial_message)
        return {transport_error::transport, "connection closed in the middle of the response" + where};
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == ssl::error::stream_truncated)
        return {transport_error::transport, "connection closed by the server" + where};
    if (ec.category() == http::make_error_code(http::error::bad_version).category())
        return {transport_error::bad_response, "malformed HTTP response: " + ec.message()};
    return {transport_error::transport, ec.message() + where};
}

asio::awaitable<boost::system::result<tcp::resolver::results_type, transport_failure>> tls_dialer::resolve(
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
    if (ec) co_return failure_of(ec, "resolving " + endpoint_.host, nullptr);
    co_return results;
}

void tls_dialer::begin(std::chrono::milliseconds timeout) noexcept {
    cancelled_ = false;
    resolve_timed_out_ = false;
    timeout_ = timeout;
}

asio::awaitable<boost::system::result<void, transport_failure>> tls_dialer::dial(tls_tcp_stream& stream,
                                                                                 clock::time_point deadline) {
    SSL* native = stream.native_handle();
    if (literal_address_) {
        // RFC 6066: no SNI for IP literals; verify the address against the certificate's IP SANs.
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(native), endpoint_.host.c_str());
    } else {
        SSL_set_tlsext_host_name(native, endpoint_.host.c_str());
        SSL_set1_host(native, endpoint_.host.c_str());
    }
    stream.set_verify_mode(ssl::verify_peer);

    auto endpoints = co_await resolve(deadline);
    if (!endpoints) co_return endpoints.error();
    if (cancelled_) co_return failure_of(asio::error::operation_aborted, "connecting", &stream);

    auto& tcp_layer = beast::get_lowest_layer(stream);
    tcp_layer.expires_at(deadline);
    auto [cec, ep] = co_await tcp_layer.async_connect(*endpoints, as_tuple(use_awaitable));
    if (cec) co_return failure_of(cec, "connecting to " + endpoint_.host + ":" + std::to_string(endpoint_.port), &stream);
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, as_tuple(use_awaitable));
    if (hec) co_return failure_of(hec, "TLS handshake", &stream);
    co_return boost::system::result<void, transport_failure>{};
}

}  // namespace sessiond
