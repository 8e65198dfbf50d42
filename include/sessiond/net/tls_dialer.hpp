#pragma once
// Opening a TLS connection to the IBKR endpoint, shared by the HTTPS client and the upstream
// WebSocket: resolving (a timer bounds the resolver), the TCP connect and the TLS handshake all fall
// within one deadline; the certificate chain and the host name (or IP address) are always verified,
// and SNI is set for names. A failure is described in words a log line can carry.

#include "sessiond/core/values.hpp"
#include "sessiond/net/http_message.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <optional>
#include <string_view>

namespace sessiond {

using tls_tcp_stream = boost::asio::ssl::stream<boost::beast::tcp_stream>;

class tls_dialer {
public:
    using clock = std::chrono::steady_clock;

    tls_dialer(boost::asio::any_io_executor executor, base_url endpoint);
    tls_dialer(const tls_dialer&) = delete;
    tls_dialer& operator=(const tls_dialer&) = delete;

    // Starts an exchange with this deadline length (how a timeout is described): clears cancel().
    void begin(std::chrono::milliseconds timeout) noexcept;
    // Opens a fresh `stream` by `deadline`. The stream's TCP layer keeps the deadline as its expiry.
    boost::asio::awaitable<boost::system::result<void, transport_failure>> dial(tls_tcp_stream& stream,
                                                                                clock::time_point deadline);
    // Aborts a resolve in progress; every later failure reads as cancelled until the next dial().
    void cancel();
    [[nodiscard]] bool cancelled() const noexcept { return cancelled_; }

    // What went wrong, for a failure of an operation on a stream this dialer opened (or null).
    [[nodiscard]] transport_failure failure_of(const boost::system::error_code& ec, std::string_view during,
                                               const tls_tcp_stream* stream) const;
    [[nodiscard]] const base_url& endpoint() const noexcept { return endpoint_; }

private:
    boost::asio::awaitable<boost::system::result<boost::asio::ip::tcp::resolver::results_type, transport_failure>>
    resolve(clock::time_point deadline);

    base_url endpoint_;
    std::optional<boost::asio::ip::address> literal_address_;
    boost::asio::ip::tcp::resolver resolver_;
    boost::asio::steady_timer resolve_timer_;
    std::chrono::milliseconds timeout_{0};
    bool cancelled_ = false;
    bool resolve_timed_out_ = false;
};

}  // namespace sessiond
