#pragma once
// The control API over plain HTTP on a loopback address; /control/await waits here, woken by the
// journal, never by polling.

#include "ibkr_sim/control_api.hpp"
#include "ibkr_sim/http_io.hpp"
#include "ibkr_sim/request_journal.hpp"
#include "ibkr_sim/sim_config.hpp"

#include "sessiond/core/error.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/net/tcp_listener.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <cstdint>

namespace sessiond::sim {

class control_server {
public:
    control_server(asio::io_context& ioc, control_api& api, request_journal& journal, logger log,
                   std::size_t max_connections, message_limits limits = {});

    // Refuses any address that is not loopback: the control API has no authentication.
    expected<std::uint16_t> listen(const listen_address& where);
    void start();
    void stop();

private:
    asio::awaitable<void> serve(asio::ip::tcp::socket socket, connection_registry::membership membership);
    asio::awaitable<http_response> await_calls(const await_query& q, asio::steady_timer& timer);

    asio::io_context& ioc_;
    control_api& api_;
    request_journal& journal_;
    logger log_;
    message_limits limits_;
    tcp_listener listener_;
    bool stopping_ = false;
};

}  // namespace sessiond::sim
