#include "sessiond/api/status_events.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <utility>

namespace sessiond {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view stream_header =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-store\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "X-Accel-Buffering: no\r\n"
    "Connection: close\r\n"
    "\r\n";

constexpr std::string_view heartbeat = ": heartbeat\n\n";

}  // namespace

std::string status_event(std::string_view json) {
    std::string out;
    out.reserve(json.size() + 22);
    out += "event: status\ndata: ";
    out += json;
    out += "\n\n";
    return out;
}

struct status_events::listener {
    explicit listener(const asio::any_io_executor& ex) : bell(ex), watchdog(ex) {}
    asio::steady_timer bell;      // waits for the next heartbeat; cancelled to wake the stream
    asio::steady_timer watchdog;  // closes the connection when a write takes too long
    bool rung = false;       // the status changed since it was last sent
    bool listening = false;  // waiting for a change or the heartbeat (not coalescing)
};

void status_events::changed() {
    for (listener* l : streams_) {
        l->rung = true;
        if (l->listening) l->bell.cancel();
    }
}

void status_events::stop(std::function<void()> then) {
    stopped_ = true;
    on_stopped_ = std::move(then);
    for (listener* l : streams_) l->bell.cancel();
    if (streams_.empty()) return stopped_all();
    stop_timer_.expires_after(stop_bound);
    stop_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) stopped_all();
    });
}

void status_events::stopped_all() {
    stop_timer_.cancel();
    if (auto then = std::exchange(on_stopped_, nullptr)) asio::post(executor_, std::move(then));
}

connection_takeover status_events::stream(status_source source) {
    return [this, source = std::move(source)](server_stream& stream, boost::beast::flat_buffer& /*buffer*/) mutable {
        return run(stream, std::move(source));
    };
}

asio::awaitable<void> status_events::run(server_stream& stream, status_source source) {
    listener me(executor_);
    const auto at = streams_.insert(streams_.end(), &me);
    struct leave {
        status_events& events;
        std::list<listener*>::iterator at;
        ~leave() {
            events.streams_.erase(at);
            if (events.stopped_ && events.streams_.empty()) events.stopped_all();
        }
    } const guard{*this, at};

    // A write that does not finish in time closes the connection, which ends the write.
    const auto write = [&](std::string_view bytes) -> asio::awaitable<bool> {
        me.watchdog.expires_after(write_timeout);
        me.watchdog.async_wait([&stream](const boost::system::error_code& ec) {
            if (ec) return;
            boost::system::error_code ignored;
            stream.socket().close(ignored);
        });
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes.data(), bytes.size()), use_tuple);
        me.watchdog.cancel();
        co_return !ec;
    };

    bool sent = co_await write(stream_header);
    auto next_heartbeat = clock_type::now() + heartbeat_every;
    me.rung = true;  // the status at once
    while (sent && !stopped_) {
        if (me.rung) {
            me.rung = false;
            const std::optional<std::string> json = source();
            if (!json) co_return;
            const std::string event = status_event(*json);
            sent = co_await write(event);
            // A burst of changes is one event: changes while this wait runs only set `rung`.
            me.bell.expires_after(coalesce);
            co_await me.bell.async_wait(use_tuple);
            continue;
        }
        me.listening = true;
        me.bell.expires_at(next_heartbeat);
        co_await me.bell.async_wait(use_tuple);
        me.listening = false;
        if (me.rung || stopped_) continue;
        sent = co_await write(heartbeat);
        next_heartbeat = clock_type::now() + heartbeat_every;
    }
    // The daemon is stopping: the last status says so, then the stream ends.
    if (!sent) co_return;
    const std::optional<std::string> json = source();
    if (!json) co_return;
    const std::string event = status_event(*json);
    co_await write(event);
}

}  // namespace sessiond
