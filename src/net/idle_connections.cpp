#include "sessiond/net/idle_connections.hpp"

#include <boost/beast/core/stream_traits.hpp>

namespace sessiond {

namespace {

void close_quietly(tls_tcp_stream& s) {
    boost::system::error_code ignored;
    boost::beast::get_lowest_layer(s).socket().close(ignored);
}

}  // namespace

idle_connections::bucket* idle_connections::find(const boost::asio::ssl::context& tls, const base_url& endpoint,
                                                 bool create) {
    for (auto& b : buckets_)
        if (b.tls == &tls && b.port == endpoint.port && b.host == endpoint.host) return &b;
    if (!create) return nullptr;
    buckets_.push_back({&tls, endpoint.host, endpoint.port, {}});
    return &buckets_.back();
}

void idle_connections::drop_stale(bucket& b, clock::time_point now) {
    while (!b.connections.empty() &&
           (b.connections.size() > max_per_endpoint_ || now - b.connections.front().since >= max_idle_)) {
        close_quietly(*b.connections.front().connection);
        b.connections.pop_front();
    }
}

std::unique_ptr<tls_tcp_stream> idle_connections::take(const boost::asio::ssl::context& tls,
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

void idle_connections::give_back(const boost::asio::ssl::context& tls, const base_url& endpoint,
                                 std::unique_ptr<tls_tcp_stream> connection, clock::time_point now) {
    if (!connection) return;
    bucket& b = *find(tls, endpoint, true);
    b.connections.push_back({std::move(connection), now});
    drop_stale(b, now);
}

std::size_t idle_connections::idle() const noexcept {
    std::size_t n = 0;
    for (const auto& b : buckets_) n += b.connections.size();
    return n;
}

}  // namespace sessiond
