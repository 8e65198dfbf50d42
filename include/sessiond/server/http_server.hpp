#pragma once
// The HTTP/1.1 server every server of the project runs on (the daemon's API, ibkr-sim's HTTPS and
// control servers), over plain TCP or TLS, hardened against bad clients: every read and
// write has a deadline, every request a header and a body limit, the number of connections a cap at
// which the least useful connection makes room for a new one (so that a monitoring probe is never
// locked out by idle or slow clients), and nothing a client sends can block the event loop.
//
// Under TLS the handshake comes first (handshake_timeout; a hook may act before it), the 408 is not
// sent (no TLS write is synchronous), and an orderly end sends close_notify.
//
// Per connection: requests are read one at a time and answered in order (pipelining works, nothing is
// read ahead while a response is computed); HTTP/1.1 keeps the connection open unless "Connection:
// close"; HTTP/1.0 closes it unless "Connection: keep-alive". A request the server cannot accept gets a
// JSON error and the connection closes: 400 malformed, 413 body over the limit, 431 header over the
// limit (in bytes or in fields), 408 when it is not complete within request_timeout (sent only if the
// socket takes it at once; a slow-loris client that does not read is just closed). Idle keep-alive
// connections close after idle_timeout, a response not written within write_timeout closes its
// connection.
//
// The handler is called for every well-formed request, whatever its method and target (routing, 404
// and 405 are the caller's: route_table.hpp), with the peer (http_handler.hpp). HEAD is passed on as
// HEAD: whatever the handler answers is sent header only, with the Content-Length of the body it
// returned, as RFC 9110 says a GET would have had. An exception escaping the handler becomes a 500
// JSON error and a log line; the connection carries on. A handler may take the connection over
// (an upgrade): the server then writes nothing more and closes the connection when the takeover ends.
//
// Every member function is called on the event loop's thread (the io_context runs on one thread).

#include "sessiond/core/values.hpp"
#include "sessiond/core/error.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/net/tcp_listener.hpp"
#include "sessiond/server/http_handler.hpp"
#include "sessiond/server/http_messages.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace sessiond {

struct server_limits {
    std::size_t max_connections = 512;
    std::size_t header_limit = 8 * 1024;                 // 431 beyond
    // 431 beyond, too, as soon as the field after the last allowed one arrives: parsed, a field costs
    // about 80 bytes besides its name and value, so that 8 KiB of empty fields ("a:") would take 160 KiB
    // for as long as the rest of the request took to come.
    std::size_t header_fields = 100;
    std::size_t body_limit = 16 * 1024;                  // 413 beyond
    std::chrono::milliseconds request_timeout{10'000};  // from a request's first byte to its last
    std::chrono::milliseconds idle_timeout{60'000};     // keep-alive connection waiting for a request
    std::chrono::milliseconds write_timeout{10'000};
    std::chrono::milliseconds handshake_timeout{10'000};  // TLS only
    // At the cap: evict the least useful connection (the daemon: a probe must get through), or refuse
    // the new one (ibkr-sim, whose clients are tests counting refusals).
    at_connection_cap at_cap = at_connection_cap::evict;
};

// Called before the TLS handshake of each accepted connection (ibkr-sim's handshake faults): false
// ends the connection without a handshake.
using handshake_hook = std::function<boost::asio::awaitable<bool>(server_stream& stream)>;
// The answer to a request the server refuses unread (400, 413, 431); began: its first byte. The server
// adds "Connection: close" and Content-Length. Without a hook: json_error.
using refusal_hook = std::function<server_response(boost::beast::http::status status,
                                                   std::chrono::steady_clock::time_point began)>;

// A request's own body limit, chosen from its header (and who sent it) once that has been read: the
// gateway takes bodies up to 1 MiB from the clients it serves, where the daemon's API takes 16 KiB.
// Without a hook: limits.body_limit.
using body_limit_hook = std::function<std::size_t(const server_request& header, const peer_info& peer)>;

struct server_options {
    server_limits limits;
    boost::asio::ssl::context* tls = nullptr;  // HTTPS when set; it must outlive the server
    handshake_hook before_handshake;
    refusal_hook refusal;
    body_limit_hook body_limit;
};

struct server_stats {
    std::uint64_t accepted = 0;         // connections served
    std::uint64_t open = 0;             // connections open now
    std::uint64_t evicted = 0;          // closed to make room for a new one (connection cap, or out of descriptors)
    std::uint64_t refused = 0;          // closed at once: at the cap with every connection responding
    std::uint64_t accept_failures = 0;  // failed accept() calls (EMFILE included)
    std::uint64_t timed_out = 0;        // requests not complete within request_timeout, responses not written in write_timeout
    std::uint64_t idle_closed = 0;      // keep-alive connections closed after idle_timeout
    std::uint64_t malformed = 0;        // 400
    std::uint64_t too_large = 0;        // 413 and 431
    std::uint64_t handler_errors = 0;   // 500: an exception escaped the handler
    std::uint64_t responses = 0;        // responses written in full, the server's own errors included
};

class http_server {
public:
    http_server(boost::asio::any_io_executor executor, request_handler handler, server_options options, logger log);
    http_server(boost::asio::any_io_executor executor, request_handler handler, server_limits limits, logger log)
        : http_server(std::move(executor), std::move(handler), server_options{limits, nullptr, {}, {}, {}},
                      std::move(log)) {}
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // Binds (SO_REUSEADDR) and returns the bound endpoint: with port 0, the port the system picked.
    // IPv6 literals work ("::1").
    expected<boost::asio::ip::tcp::endpoint> listen(const listen_address& where);

    // Starts accepting; call once, after listen().
    void start();

    // Closes the listener and every connection; the io_context then runs dry. A handler still computing
    // a response is not interrupted: its connection ends when it returns (the response is dropped), so
    // handlers must end their own waits when the daemon stops. Idempotent; the destructor calls it.
    void stop();

    [[nodiscard]] server_stats stats() const;
    [[nodiscard]] std::size_t open_connections() const noexcept;

    struct state;  // shared with the connections, which keep it alive until they end

private:
    std::shared_ptr<state> state_;
};

}  // namespace sessiond
