#pragma once
// Listening and accepting the same way for both servers.

#include "ibkr_sim/connection_registry.hpp"
#include "ibkr_sim/sim_config.hpp"

#include "sessiond/core/error.hpp"
#include "sessiond/log/log.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <exception>
#include <functional>

namespace sessiond::sim {

// "localhost" means 127.0.0.1; anything else must be an IP literal.
expected<boost::asio::ip::address> listen_host_address(const listen_address& where);

// Opens, sets SO_REUSEADDR (a restarted simulator gets its port back), binds and listens; returns the port.
expected<std::uint16_t> open_listener(boost::asio::ip::tcp::acceptor& acceptor, const listen_address& where);

// Completion of every co_spawn: an exception inside a connection is a programming error, and it ends
// the process loudly instead of leaving a half-working simulator.
inline void propagate_exception(const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
}

using connection_handler =
    std::function<void(boost::asio::ip::tcp::socket, connection_registry::membership)>;

// Accepts until the acceptor is closed. A connection beyond max_connections is closed at once
// (counted in refused and logged); every other one is registered and handed to serve.
boost::asio::awaitable<void> accept_connections(boost::asio::ip::tcp::acceptor& acceptor,
                                                connection_registry& connections, std::size_t max_connections,
                                                const logger& log, std::uint64_t& refused, connection_handler serve);

}  // namespace sessiond::sim
