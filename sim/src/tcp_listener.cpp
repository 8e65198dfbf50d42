#include "ibkr_sim/tcp_listener.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sessiond::sim {

expected<boost::asio::ip::address> listen_host_address(const listen_address& where) {
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(where.host == "localhost" ? "127.0.0.1" : where.host, ec);
    if (ec) return make_error("\"" + where.host + "\" is not an IP address");
    return address;
}

expected<std::uint16_t> open_listener(boost::asio::ip::tcp::acceptor& acceptor, const listen_address& where) {
    using boost::asio::ip::tcp;
    auto address = listen_host_address(where);
    if (!address) return address.error();
    const tcp::endpoint endpoint(*address, where.port);
    const std::string name = where.host + ":" + std::to_string(where.port);
    boost::system::error_code ec;
    if (acceptor.open(endpoint.protocol(), ec); ec) return make_error("cannot open a socket for " + name + ": " + ec.message());
    if (acceptor.set_option(tcp::acceptor::reuse_address(true), ec); ec)
        return make_error("cannot set SO_REUSEADDR on " + name + ": " + ec.message());
    if (acceptor.bind(endpoint, ec); ec) return make_error("cannot bind " + name + ": " + ec.message());
    if (acceptor.listen(boost::asio::socket_base::max_listen_connections, ec); ec)
        return make_error("cannot listen on " + name + ": " + ec.message());
    return acceptor.local_endpoint().port();
}

boost::asio::awaitable<void> accept_connections(boost::asio::ip::tcp::acceptor& acceptor,
                                                connection_registry& connections, std::size_t max_connections,
                                                const logger& log, std::uint64_t& refused, connection_handler serve) {
    namespace asio = boost::asio;
    constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
    while (acceptor.is_open()) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
        if (ec) {
            // Out of descriptors or similar: say so, and give the system a moment instead of spinning.
            log.warn({}, "accept failed: {}", ec.message());
            asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(use_tuple);
            continue;
        }
        if (connections.size() >= max_connections) {
            ++refused;
            log.warn({}, "connection refused: {} connections open (--max-connections)", connections.size());
            boost::system::error_code ignored;
            socket.close(ignored);
            continue;
        }
        serve(std::move(socket), connections.add());
    }
}

}  // namespace sessiond::sim
