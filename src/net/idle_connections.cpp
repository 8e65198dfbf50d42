#include "sessiond/net/idle_connections.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/stream_traits.hpp>

#include <algorithm>

namespace sessiond {

namespace {

void close_quietly(tls_tcp_stream& s) {
    boost::system::error_code ignored;
    boost::beast::get_lowest_layer(s).socket().close(ignored);
}

}  // namespace

idle_connections::bucket* idle_connections::find(const std::shared_ptr<boost::asio::ssl::context>& tls,
                                                 const base_url& endpoint, bool create) {
    bucket* found = nullptr;
    for (auto& b : buckets_) {
        if (b.tls.expired()) {
            // Its context was replaced (a reload): its idle connections go. The entry stays (tiny), so
            // that a coroutine waiting on it keeps a valid reference.
            for (auto& p : b.connections) close_quietly(*p.connection);
            b.connections.clear();
            continue;
        }
        const bool same_context = !b.tls.owner_before(tls) && !tls.owner_before(b.tls);
        if (same_context && b.port == endpoint.port && b.host == endpoint.host) found = &b;
    }
    if (found != nullptr || !create) return found;
    buckets_.push_back({tls, endpoint.host, endpoint.port, {}});
    return &buckets_.back();
}

void idle_connections::drop_stale(bucket& b, clock::time_point now) {
    while (!b.connections.empty() &&
           (b.connections.size() > max_per_endpoint_ || now - b.connections.front().since >= max_idle_)) {
        close_quietly(*b.connections.front().connection);
        b.connections.pop_front();
    }
}

std::unique_ptr<tls_tcp_stream> idle_connections::take(const std::shared_ptr<boost::asio::ssl::context>& tls,
                                                        const base_url& endpoint, clock::time_point now) {
    bucket* b = find(tls, endpoint, false);
    if (b == nullptr) return nullptr;
    drop_stale(*b, now);
    if (b->connections.empty()) return nullptr;
    auto connection = std::move(b->connections.back().connection);
    b->connections.pop_back();
    ++reused_;
    return connection;
}

void idle_connections::give_back(const std::shared_ptr<boost::asio::ssl::context>& tls, const base_url& endpoint,
                                 std::unique_ptr<tls_tcp_stream> connection, clock::time_point now) {
    if (!connection) return;
    bucket& b = *find(tls, endpoint, true);
    b.connections.push_back({std::move(connection), now});
    drop_stale(b, now);
}

boost::asio::awaitable<bool> idle_connections::enter(const std::shared_ptr<boost::asio::ssl::context>& tls, const base_url& endpoint,
                                                     clock::time_point deadline, waiter** waiting) {
    bucket& b = *find(tls, endpoint, true);  // a deque's elements stay where they are
    if (b.in_flight < max_in_flight_ && b.waiters.empty()) {
        ++b.in_flight;
        co_return true;
    }
    waiter w(co_await boost::asio::this_coro::executor);
    w.turn.expires_at(deadline);
    b.waiters.push_back(&w);
    if (waiting != nullptr) *waiting = &w;
    // Off the queue however the wait ends, the coroutine's frame destroyed unresumed included.
    struct unqueue {
        bucket& b;
        waiter& w;
        waiter** waiting;
        ~unqueue() {
            if (!w.given) std::erase(b.waiters, &w);
            if (waiting != nullptr) *waiting = nullptr;
        }
    } off_the_queue{b, w, waiting};
    (void)co_await w.turn.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return w.given;  // a place handed over counts, even if the deadline came at the same moment
}

void idle_connections::leave(const std::shared_ptr<boost::asio::ssl::context>& tls, const base_url& endpoint) {
    bucket* b = find(tls, endpoint, false);
    if (b == nullptr) return;
    if (!b->waiters.empty()) {  // the place passes on; in_flight stays
        waiter* next = b->waiters.front();
        b->waiters.pop_front();
        next->given = true;
        next->turn.cancel();
        return;
    }
    if (b->in_flight > 0) --b->in_flight;
}

std::size_t idle_connections::in_flight() const noexcept {
    std::size_t n = 0;
    for (const auto& b : buckets_) n += b.in_flight;
    return n;
}

std::size_t idle_connections::waiting() const noexcept {
    std::size_t n = 0;
    for (const auto& b : buckets_) n += b.waiters.size();
    return n;
}

std::size_t idle_connections::idle() const noexcept {
    std::size_t n = 0;
    for (const auto& b : buckets_) n += b.connections.size();
    return n;
}

}  // namespace sessiond
