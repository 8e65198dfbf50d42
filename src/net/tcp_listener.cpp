#include "sessiond/net/tcp_listener.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>

namespace sessiond {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// After a failed accept that is not about one connection: wait, doubling up to the maximum, so that a
// process out of descriptors (or memory) neither spins nor stops accepting for long once it recovers.
constexpr std::chrono::milliseconds first_pause{50};
constexpr std::chrono::milliseconds max_pause{1000};
// Descriptors the rest of the process needs besides the connections (logs, IBKR connections, timers).
constexpr std::size_t descriptor_headroom = 64;

std::string describe(const connection_registry::eviction& e, connection_registry::clock::time_point now) {
    const double seconds = std::chrono::duration<double>(now - e.since).count();
    switch (e.what) {
        case connection_registry::activity::idle: return fmt::format("idle for {:.1f} s", seconds);
        case connection_registry::activity::reading: return fmt::format("whose request began {:.1f} s ago", seconds);
        default: return "that was closing";
    }
}

void warn_if_descriptors_too_few(std::size_t max_connections, const logger& log) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
    if (max_connections + descriptor_headroom > limit.rlim_cur)
        log.warn({}, "up to {} connections allowed but only {} file descriptors (RLIMIT_NOFILE): accepts will fail "
                     "before the connection cap is reached",
                 max_connections, limit.rlim_cur);
}

}  // namespace

accept_failure classify_accept_failure(const boost::system::error_code& ec) noexcept {
    using boost::system::errc::errc_t;
    if (ec == errc_t::too_many_files_open || ec == errc_t::too_many_files_open_in_system)
        return accept_failure::out_of_descriptors;
    // accept(2): errors of the one connection being accepted, to be treated like EAGAIN.
    static constexpr int per_connection[] = {ECONNABORTED, EPROTO,    EPERM,   EAGAIN,       EINTR,
                                             ENETDOWN,     ENOPROTOOPT, EHOSTDOWN, EHOSTUNREACH, EOPNOTSUPP,
                                             ENETUNREACH,  ENONET};
    if (ec.category() == boost::system::system_category() &&
        std::find(std::begin(per_connection), std::end(per_connection), ec.value()) != std::end(per_connection))
        return accept_failure::retry_now;
    return accept_failure::pause;
}

expected<tcp::endpoint> listen_endpoint(const listen_address& where) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(where.host == "localhost" ? "127.0.0.1" : where.host, ec);
    if (ec) return make_error("\"" + where.host + "\" is not an IP address");
    return tcp::endpoint(address, where.port);
}

tcp_listener::tcp_listener(asio::any_io_executor executor, listener_options options, logger log)
    : options_(options),
      log_(std::move(log)),
      acceptor_(executor),
      pause_(executor),
      next_pause_(first_pause) {}

expected<tcp::endpoint> tcp_listener::listen(const listen_address& where) {
    auto endpoint = listen_endpoint(where);
    if (!endpoint) return endpoint.error();
    const std::string name = to_string(where);
    if (acceptor_.is_open()) return make_error("already listening, cannot listen on " + name);
    boost::system::error_code ec;
    auto fail = [&](std::string_view what) {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        return make_error(fmt::format("cannot {} {}: {}", what, name, ec.message()));
    };
    if (acceptor_.open(endpoint->protocol(), ec); ec) return fail("open a socket for");
    if (acceptor_.set_option(tcp::acceptor::reuse_address(true), ec); ec) return fail("set SO_REUSEADDR on");
    if (acceptor_.bind(*endpoint, ec); ec) return fail("bind");
    if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen on");
    auto bound = acceptor_.local_endpoint(ec);
    if (ec) return fail("read the port of");
    warn_if_descriptors_too_few(options_.max_connections, log_);
    return bound;
}

asio::awaitable<void> tcp_listener::accept(connection_handler serve) {
    while (!stopped_ && acceptor_.is_open()) {
        auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
        if (stopped_ || ec == asio::error::operation_aborted) co_return;
        if (ec) {
            ++counters_.accept_failures;
            const accept_failure kind = classify_accept_failure(ec);
            if (kind == accept_failure::retry_now) {
                log_.debug({}, "accept failed for one connection: {}", ec.message());
                continue;
            }
            // Out of descriptors: closing the connection that matters least frees one for the new one.
            if (kind == accept_failure::out_of_descriptors && evict_for("out of file descriptors")) continue;
            co_await pause_after_failure(ec);
            continue;
        }
        next_pause_ = first_pause;
        if (connections_.size() >= options_.max_connections &&
            !evict_for(fmt::format("{} connections open (the cap)", connections_.size()))) {
            ++counters_.refused;
            if (const auto verdict = refusal_warnings_.check("refused", connection_registry::clock::now()); verdict.emit)
                log_.warn({}, "connection refused: {} connections open (the cap), none of them may be closed{}",
                          connections_.size(), suppressed_suffix(verdict.suppressed));
            boost::system::error_code ignored;
            socket.close(ignored);
            continue;
        }
        ++counters_.accepted;
        serve(std::move(socket), connections_.add(connection_registry::clock::now()));
    }
}

bool tcp_listener::evict_for(std::string_view why) {
    if (options_.at_cap != at_connection_cap::evict) return false;
    const auto now = connection_registry::clock::now();
    const auto gone = connections_.evict_one();
    if (!gone) return false;
    ++counters_.evicted;
    if (const auto verdict = eviction_warnings_.check("evicted", now); verdict.emit)
        log_.warn({}, "{}: closed a connection {} to serve a new one{}", why, describe(*gone, now),
                  suppressed_suffix(verdict.suppressed));
    return true;
}

asio::awaitable<void> tcp_listener::pause_after_failure(const boost::system::error_code& ec) {
    const auto pause = next_pause_;
    next_pause_ = std::min(next_pause_ * 2, max_pause);
    if (const auto verdict = failure_warnings_.check(ec.message(), connection_registry::clock::now()); verdict.emit)
        log_.warn({}, "accept failed: {}; accepting again in {} ms{}", ec.message(), pause.count(),
                  suppressed_suffix(verdict.suppressed));
    pause_.expires_after(pause);
    co_await pause_.async_wait(use_tuple);
}

void tcp_listener::stop() {
    stopped_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    pause_.cancel();
    connections_.close_all();
}

}  // namespace sessiond
