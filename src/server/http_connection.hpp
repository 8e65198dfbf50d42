#pragma once
// One client connection of the http_server (private to src/server): the TLS handshake when the server
// has a TLS context, then reads requests one at a time under the limits, hands each to the request
// handler, writes the responses in order (or hands the stream over), and closes on a bad request, a
// timeout, an eviction or stop(). The only translation unit that instantiates Beast's
// asynchronous HTTP operations is http_connection.cpp.

#include "sessiond/net/tcp_listener.hpp"
#include "sessiond/log/repeat_filter.hpp"
#include "sessiond/server/http_server.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace sessiond {

// What the server and all its connections share; the connections keep it alive until they end, so
// that an http_server destroyed before its io_context leaves nothing dangling.
struct http_server::state {
    state(boost::asio::any_io_executor ex, request_handler h, server_options o, logger lg)
        : executor(ex),
          handler(std::move(h)),
          options(std::move(o)),
          limits(options.limits),
          log(std::move(lg)),
          listener(ex, listener_options{limits.max_connections, limits.at_cap}, log) {}

    boost::asio::any_io_executor executor;
    request_handler handler;
    server_options options;
    const server_limits& limits;
    logger log;
    tcp_listener listener;
    server_stats counts;  // the connections' share: timed_out, idle_closed, malformed, too_large, ...
    repeat_filter timeout_warnings;
    bool started = false;
    bool stopping = false;
};

// Registers the connection's closer at once (an eviction may come before its coroutine first runs)
// and spawns the coroutine that serves it.
void start_http_connection(boost::asio::ip::tcp::socket socket, connection_registry::membership membership,
                        std::shared_ptr<http_server::state> server);

}  // namespace sessiond
