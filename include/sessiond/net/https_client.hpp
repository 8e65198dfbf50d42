#pragma once
// One HTTPS connection to the IBKR endpoint at a time, kept alive between calls: by this client, or,
// when it is given the daemon's idle_connections, there, for whichever client sends next (the
// connection is then this client's only for the length of an exchange).
//
// Every exchange has one deadline that covers resolving, connecting, the TLS handshake, writing and
// reading: a peer that stops answering at any point costs at most the timeout, never a hang. The
// certificate chain and the host name (or IP address) are always verified, and SNI is set for
// names. A request that fails on a reused connection before any byte of the answer arrived is
// retried once on a fresh connection, since servers close idle keep-alive connections.

#include "sessiond/core/values.hpp"
#include "sessiond/net/http_message.hpp"
#include "sessiond/net/idle_connections.hpp"
#include "sessiond/net/tls_dialer.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace sessiond {

class https_client {
public:
    static constexpr std::size_t max_response_body = 1024 * 1024;
    static constexpr std::size_t max_response_header = 16 * 1024;

    // `body_limit`: the largest response body read (a bigger one fails as bad_response). `shared`:
    // where the connection waits between exchanges (none: with this client).
    https_client(boost::asio::any_io_executor executor, std::shared_ptr<boost::asio::ssl::context> tls,
                 base_url endpoint, std::size_t body_limit = max_response_body,
                 std::shared_ptr<idle_connections> shared = nullptr);
    https_client(const https_client&) = delete;
    https_client& operator=(const https_client&) = delete;

    // One exchange at a time: the session never overlaps its calls. A request is sent at most once:
    // IBKR's calls are not idempotent (a login counts against the budget, validate is paced to one a
    // minute), and one that went out on a connection the server then reset may have been processed.
    // A kept-alive connection the server has already closed is noticed before the request goes out
    // (reusable()), and a new one is opened instead.
    boost::asio::awaitable<boost::system::result<http_response, transport_failure>> send(
        http_request request, std::chrono::milliseconds timeout);

    // Aborts the exchange in progress (it ends with failure::cancelled) and drops the connection.
    void cancel();
    // Drops the connection (the next send opens a new one).
    void close() noexcept;
    [[nodiscard]] bool is_open() const noexcept { return open_; }
    // Connections this client opened so far (each one is a TCP connect and a TLS handshake); one
    // taken from the shared idle connections is not counted.
    [[nodiscard]] std::uint64_t connections_opened() const noexcept { return connections_opened_; }
    // How long the last connection took to open (resolve, TCP connect, TLS handshake); zero while one
    // is opening or when the last one failed to.
    [[nodiscard]] std::chrono::steady_clock::duration last_connect_duration() const noexcept { return last_connect_; }
    // When the last request began to be written (after any connection it needed was open); the epoch
    // before the first.
    [[nodiscard]] std::chrono::steady_clock::time_point last_request_sent() const noexcept { return last_sent_; }

private:
    using tls_stream = tls_tcp_stream;
    using clock = std::chrono::steady_clock;

    boost::asio::awaitable<boost::system::result<void, transport_failure>> connect(clock::time_point deadline);
    transport_failure failure_of(const boost::system::error_code& ec, std::string_view during);
    // Whether the open connection can carry a request: the server has not closed it (FIN, a TLS
    // close_notify waiting) nor sent anything unasked. Looks at the socket without blocking.
    [[nodiscard]] bool reusable();
    // With shared idle connections: a usable one becomes this client's (stale ones are closed).
    void take_shared();
    // After a clean exchange: the connection goes to the shared idle connections.
    void give_back_shared();

    boost::asio::any_io_executor executor_;
    std::shared_ptr<boost::asio::ssl::context> tls_;
    std::size_t body_limit_;
    std::shared_ptr<idle_connections> shared_;
    idle_connections::waiter* waiting_ = nullptr;  // while waiting for a place among the shared
    tls_dialer dialer_;
    std::unique_ptr<tls_stream> stream_;
    boost::beast::flat_buffer buffer_;
    std::chrono::milliseconds timeout_{0};
    bool open_ = false;
    std::uint64_t connections_opened_ = 0;
    clock::duration last_connect_{0};
    clock::time_point last_sent_{};
};

}  // namespace sessiond
