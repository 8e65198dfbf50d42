#pragma once
// Idle TLS connections to IBKR, shared by every session of the daemon (multi-user mode keeps 10,000
// sessions, which tickle once a minute each): a session's https_client takes one for an exchange and
// gives it back after, so connections grow with the calls in flight, not with the sessions. HTTP
// allows it: what makes a call a user's (the SSO bearer, IBKR's cookies) travels in each request,
// never in the connection. A connection only ever goes back to the endpoint (host, port) and TLS
// context (the CA it verified IBKR with) it was opened for, and not once that context is gone.
//
// At most max_in_flight exchanges run at once per endpoint, the others wait their turn (first come,
// first served) within their own deadline: 10,000 sessions stopping together, each logging out, open
// 64 connections, not 10,000. So connections never exceed max_in_flight + max_per_endpoint.
//
// Newest first: a connection IBKR has just answered on is the likeliest to be alive; the oldest are
// dropped once more than max_per_endpoint wait or when they have waited max_idle, checked whenever a
// connection is taken or given back (no timer). The caller still checks that a connection it takes
// is usable (https_client::reusable), since IBKR may have closed it meanwhile.
//
// One event loop: not thread-safe.

#include "sessiond/net/tls_dialer.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace sessiond {

class idle_connections {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::size_t default_max_per_endpoint = 32;
    static constexpr std::chrono::minutes default_max_idle{5};
    static constexpr std::size_t default_max_in_flight = 64;

    explicit idle_connections(std::size_t max_per_endpoint = default_max_per_endpoint,
                              clock::duration max_idle = default_max_idle,
                              std::size_t max_in_flight = default_max_in_flight)
        : max_per_endpoint_(max_per_endpoint), max_idle_(max_idle), max_in_flight_(max_in_flight) {}

    // Someone waiting for a place; cancel() ends the wait (enter() then answers false).
    struct waiter {
        explicit waiter(boost::asio::any_io_executor executor) : turn(std::move(executor)) {}
        void cancel() { turn.cancel(); }
        boost::asio::steady_timer turn;
        bool given = false;
    };
    // A place for one exchange to `endpoint`, at once or when one is left; false when `deadline`
    // passed or the wait was cancelled first. While it waits, `*waiting` points at its waiter. Every
    // true answer is followed by one leave().
    boost::asio::awaitable<bool> enter(const std::shared_ptr<boost::asio::ssl::context>& tls, const base_url& endpoint,
                                       clock::time_point deadline, waiter** waiting);
    void leave(const std::shared_ptr<boost::asio::ssl::context>& tls, const base_url& endpoint);
    // Exchanges under way and waiting now, over every endpoint (for tests).
    [[nodiscard]] std::size_t in_flight() const noexcept;
    [[nodiscard]] std::size_t waiting() const noexcept;

    // The newest idle connection to `endpoint` opened with `tls`, or null.
    std::unique_ptr<tls_tcp_stream> take(const std::shared_ptr<boost::asio::ssl::context>& tls, const base_url& endpoint,
                                         clock::time_point now = clock::now());
    // A connection whose exchange ended cleanly (a whole response read, keep-alive), for the next one.
    void give_back(const std::shared_ptr<boost::asio::ssl::context>& tls, const base_url& endpoint,
                   std::unique_ptr<tls_tcp_stream> connection, clock::time_point now = clock::now());

    [[nodiscard]] std::size_t idle() const noexcept;
    // Connections handed out again instead of a new one being opened (for the status and tests).
    [[nodiscard]] std::uint64_t reused() const noexcept { return reused_; }

private:
    struct parked {
        std::unique_ptr<tls_tcp_stream> connection;
        clock::time_point since;
    };
    struct bucket {
        // Weak: a reload's new TLS context (another CA) never gets a connection the old one verified,
        // even if it took the old one's address; the old one's idle connections go when it does.
        std::weak_ptr<boost::asio::ssl::context> tls;
        std::string host;
        std::uint16_t port;
        std::deque<parked> connections;  // oldest first
        std::size_t in_flight = 0;
        std::deque<waiter*> waiters;  // oldest first
    };
    bucket* find(const std::shared_ptr<boost::asio::ssl::context>& tls, const base_url& endpoint, bool create);
    void drop_stale(bucket& b, clock::time_point now);

    std::size_t max_per_endpoint_;
    clock::duration max_idle_;
    std::size_t max_in_flight_;
    std::deque<bucket> buckets_;  // one per endpoint and TLS context: a handful at most
    std::uint64_t reused_ = 0;
};

}  // namespace sessiond
