#pragma once
// What the simulator's two servers (HTTPS and control) share on top of the project's http_server:
// their limits, their answer to a request they cannot read, and a deadline for the connections a
// fault takes over.

#include "ibkr_sim/http_types.hpp"

#include "sessiond/server/http_server.hpp"
#include "sessiond/server/server_stream.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>

namespace sessiond::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;

// 16 KiB of header, 64 KiB of body, 30 s for every read and write; at the cap a new connection is
// refused (the tests count refusals), never an open one evicted.
server_limits sim_server_limits(std::size_t max_connections);

// {"error": "<reason phrase>"} with the status: the simulator's answer to 400, 413 and 431.
http_response unreadable_request(http::status status);

// Closes the stream's socket when `after` has passed, unless destroyed first: the deadline of a
// connection that a fault has taken over, where the server's own deadlines no longer apply.
class close_after {
public:
    close_after(server_stream& stream, std::chrono::steady_clock::duration after);
    ~close_after() { timer_.cancel(); }
    close_after(const close_after&) = delete;
    close_after& operator=(const close_after&) = delete;

private:
    asio::steady_timer timer_;
};

}  // namespace sessiond::sim
