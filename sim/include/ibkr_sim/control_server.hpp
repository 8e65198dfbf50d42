#pragma once
// The control API on the project's http_server, plain HTTP on a loopback address; /control/await
// waits here, woken by the journal, never by polling.

#include "ibkr_sim/control_api.hpp"
#include "ibkr_sim/request_journal.hpp"
#include "ibkr_sim/sim_config.hpp"
#include "ibkr_sim/sim_server.hpp"

#include "sessiond/core/error.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/server/http_server.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdint>

namespace sessiond::sim {

class control_server {
public:
    control_server(asio::io_context& ioc, control_api& api, request_journal& journal, logger log,
                   std::size_t max_connections);

    // Refuses any address that is not loopback: the control API has no authentication.
    expected<std::uint16_t> listen(const listen_address& where);
    void start();
    void stop();

private:
    asio::awaitable<server_reply> respond(http_request req, const connection_context& context);
    asio::awaitable<http_response> await_calls(const await_query& q, const connection_context& context);

    control_api& api_;
    request_journal& journal_;
    logger log_;
    bool stopping_ = false;
    http_server server_;  // last: its handler calls the members above
};

}  // namespace sessiond::sim
