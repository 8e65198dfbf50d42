#pragma once
// Listening and accepting, the same way for every server of the project (the daemon's status API,
// ibkr-sim's HTTPS and control servers): bind, accept until stopped, keep the number of open
// connections under a cap, and keep serving when the process runs out of file descriptors.

#include "sessiond/core/values.hpp"
#include "sessiond/core/error.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/net/connection_registry.hpp"
#include "sessiond/log/repeat_filter.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>

namespace sessiond {

// What a listener does with a new connection while max_connections are open.
enum class at_connection_cap {
    refuse,  // close the new one at once (counted as refused)
    evict,   // close the one connection_registry::evict_one() picks, so that the new one is served; refuse
             // only when every open connection is responding
};

struct listener_options {
    std::size_t max_connections = 256;
    at_connection_cap at_cap = at_connection_cap::refuse;
};

struct listener_counters {
    std::uint64_t accepted = 0;         // handed to the server
    std::uint64_t refused = 0;          // closed at once: the cap was reached and nothing could be evicted
    std::uint64_t evicted = 0;          // open connections closed to make room (cap or descriptors)
    std::uint64_t accept_failures = 0;  // accept() errors, descriptor exhaustion included
};

// How the accept loop reacts to a failed accept().
enum class accept_failure {
    retry_now,           // that one connection failed (aborted, network error): accept the next at once
    out_of_descriptors,  // EMFILE/ENFILE: free one by eviction if allowed, else pause
    pause,               // anything else (ENOBUFS, ENOMEM, unknown): pause, so as not to spin
};
accept_failure classify_accept_failure(const boost::system::error_code& ec) noexcept;

// "localhost" means 127.0.0.1; anything else must be an IP literal (IPv6 without brackets).
expected<boost::asio::ip::tcp::endpoint> listen_endpoint(const listen_address& where);

// Completion of every co_spawn of a connection or accept loop: an exception escaping one is a
// programming error, and it ends the process loudly instead of leaving a half-working server.
inline void propagate_exception(const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
}

class tcp_listener {
public:
    using connection_handler = std::function<void(boost::asio::ip::tcp::socket, connection_registry::membership)>;

    tcp_listener(boost::asio::any_io_executor executor, listener_options options, logger log);

    // Opens, sets SO_REUSEADDR (a restarted server gets its port back), binds and listens. Returns the
    // bound endpoint: with port 0, the port the system picked.
    expected<boost::asio::ip::tcp::endpoint> listen(const listen_address& where);

    // Accepts until stop(): each connection is registered (idle since now) and handed to serve, which
    // must not block. co_spawn it once, after listen(); the listener must outlive it.
    boost::asio::awaitable<void> accept(connection_handler serve);

    // Stops accepting (a pause after a failed accept included) and runs every connection's closer.
    void stop();

    [[nodiscard]] connection_registry& connections() noexcept { return connections_; }
    [[nodiscard]] const connection_registry& connections() const noexcept { return connections_; }
    [[nodiscard]] const listener_counters& counters() const noexcept { return counters_; }

private:
    // Makes room for one more connection by eviction; false when the policy or the registry forbids it.
    bool evict_for(std::string_view why);
    boost::asio::awaitable<void> pause_after_failure(const boost::system::error_code& ec);

    listener_options options_;
    logger log_;
    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::steady_timer pause_;
    std::chrono::milliseconds next_pause_;
    connection_registry connections_;
    listener_counters counters_;
    repeat_filter eviction_warnings_;
    repeat_filter refusal_warnings_;
    repeat_filter failure_warnings_;
    bool stopped_ = false;
};

}  // namespace sessiond
