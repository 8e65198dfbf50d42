#pragma once
// What a request handler of the http_server receives and what it may answer.
//
// It receives the request and a connection_context: the peer (address, port, TLS or not) and a
// cancellation slot that fires when the connection closes (eviction, stop, a deadline), so that a
// handler's own waits can end with the connection. It answers with a server_reply, one of:
//   - a server_response, made ready for the wire by the server (version, keep-alive, Content-Length);
//   - a prebuilt_response: a constant answer serialised once, whose bytes are written as they are;
//   - a connection_takeover: the server writes nothing and hands the connection's stream to the
//     callable (a WebSocket accept, or a simulated network fault); the connection ends when it returns.

#include "sessiond/server/http_messages.hpp"
#include "sessiond/server/server_stream.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <variant>

namespace sessiond {

// Who sent the request. The gateway extends it (an authenticated client's identity, say).
struct peer_info {
    // The credentials of a peer on a Unix socket (SO_PEERCRED); no listener of the project uses one yet.
    struct unix_credentials {
        pid_t pid = 0;
        uid_t uid = 0;
        gid_t gid = 0;
    };
    boost::asio::ip::tcp::endpoint remote;  // unspecified address and port 0 when the system could not say
    bool tls = false;
    std::optional<unix_credentials> credentials;
};

struct connection_context {
    const peer_info& peer;
    // Emitted when the connection closes while the handler runs: bind a wait to it
    // (asio::bind_cancellation_slot) and the wait ends with operation_aborted. Bind only operations on
    // objects that live until the handler returns: the server clears the slot then.
    boost::asio::cancellation_slot closed;
};

// Takes over the connection once its request has been read: `buffer` holds any bytes the client
// sent after that request. The server's deadlines no longer apply; the callable sets its own.
using connection_takeover =
    std::function<boost::asio::awaitable<void>(server_stream& stream, boost::beast::flat_buffer& buffer)>;

struct server_reply {
    server_reply(server_response r) : value(std::move(r)) {}                       // NOLINT: implicit on purpose
    server_reply(std::shared_ptr<const prebuilt_response> r) : value(std::move(r)) {}  // NOLINT
    server_reply(connection_takeover t) : value(std::move(t)) {}                   // NOLINT

    std::variant<server_response, std::shared_ptr<const prebuilt_response>, connection_takeover> value;
};

using request_handler = std::function<boost::asio::awaitable<server_reply>(server_request, const connection_context&)>;

}  // namespace sessiond
