#include "ibkr_sim/sim_server.hpp"

#include <boost/json/object.hpp>

namespace sessiond::sim {

server_limits sim_server_limits(std::size_t max_connections) {
    server_limits l;
    l.max_connections = max_connections;
    l.at_cap = at_connection_cap::refuse;
    l.header_limit = 16 * 1024;
    l.body_limit = 64 * 1024;
    l.request_timeout = std::chrono::seconds(30);
    l.idle_timeout = std::chrono::seconds(30);
    l.write_timeout = std::chrono::seconds(30);
    l.handshake_timeout = std::chrono::seconds(30);
    return l;
}

http_response unreadable_request(http::status status) {
    http_response res = json_response(status, boost::json::object{{"error", http::obsolete_reason(status)}});
    res.set(http::field::server, "ibkr-sim");
    return res;
}

close_after::close_after(server_stream& stream, std::chrono::steady_clock::duration after) : timer_(stream.get_executor()) {
    timer_.expires_after(after);
    // Touches the stream only when the time is up, never after a cancel: the stream may be gone by then.
    timer_.async_wait([&stream](boost::system::error_code ec) {
        if (ec) return;
        boost::system::error_code ignored;
        stream.socket().close(ignored);
    });
}

}  // namespace sessiond::sim
