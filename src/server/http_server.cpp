#include "sessiond/server/http_server.hpp"

#include "http_connection.hpp"

#include <boost/asio/co_spawn.hpp>

namespace sessiond {

namespace {

namespace asio = boost::asio;

// The accept loop holds the state, so that it outlives the loop whatever happens to the http_server.
asio::awaitable<void> accept_connections(std::shared_ptr<http_server::state> server) {
    // Named, not a lambda temporary converted inside the co_await: GCC 12 destroys such a temporary
    // twice, which released the state once too often (use after free in stop()).
    tcp_listener::connection_handler serve = [server](asio::ip::tcp::socket socket, connection_registry::membership m) {
        start_http_connection(std::move(socket), std::move(m), server);
    };
    co_await server->listener.accept(std::move(serve));
}

}  // namespace

http_server::http_server(asio::any_io_executor executor, request_handler handler, server_options options, logger log)
    : state_(std::make_shared<state>(std::move(executor), std::move(handler), std::move(options), std::move(log))) {}

http_server::~http_server() { stop(); }

expected<asio::ip::tcp::endpoint> http_server::listen(const listen_address& where) {
    if (state_->stopping) return make_error("the server is stopped, cannot listen on " + to_string(where));
    return state_->listener.listen(where);
}

void http_server::start() {
    if (state_->started || state_->stopping) return;
    state_->started = true;
    asio::co_spawn(state_->executor, accept_connections(state_), propagate_exception);
}

void http_server::stop() {
    if (state_->stopping) return;
    state_->stopping = true;
    state_->listener.stop();
}

std::size_t http_server::open_connections() const noexcept { return state_->listener.connections().size(); }

server_stats http_server::stats() const {
    server_stats s = state_->counts;
    const listener_counters& l = state_->listener.counters();
    s.accepted = l.accepted;
    s.open = open_connections();
    s.evicted = l.evicted;
    s.refused = l.refused;
    s.accept_failures = l.accept_failures;
    return s;
}

}  // namespace sessiond
