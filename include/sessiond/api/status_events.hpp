#pragma once
// GET /api/ibkr/events: the status as a server-sent event stream, for the pages.
//
//   event: status
//   data: <the JSON of GET /api/ibkr/status>
//
// at once, then on each change of state (at most every 250 ms: a burst of changes is one event with
// the latest status), and ": heartbeat" every 15 s so that proxies and the page know the stream is
// alive. Each stream holds one status at a time: a client that does not read is not queued for, and
// one whose write has not gone within 10 s is closed. At most max_streams at once (then 503).

#include "sessiond/server/http_handler.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <optional>
#include <string>

namespace sessiond {

class status_events {
public:
    static constexpr std::size_t max_streams = 64;
    static constexpr std::chrono::milliseconds heartbeat_every{15'000};
    static constexpr std::chrono::milliseconds coalesce{250};
    static constexpr std::chrono::milliseconds write_timeout{10'000};
    static constexpr std::chrono::milliseconds stop_bound{1'000};

    // The status to send now, serialised; none ends the stream (the user it showed is gone).
    using status_source = std::function<std::optional<std::string>()>;

    explicit status_events(boost::asio::any_io_executor executor) : executor_(executor), stop_timer_(executor) {}

    // Wakes every stream to send the status (the service calls it on every change).
    void changed();
    // Every stream sends the status once more and ends (the daemon is stopping); `then` runs (posted)
    // when all have, or after stop_bound whatever a client does. Streams asked for later are refused.
    void stop(std::function<void()> then);
    [[nodiscard]] std::size_t streams() const noexcept { return streams_.size(); }
    [[nodiscard]] bool full() const noexcept { return stopped_ || streams_.size() >= max_streams; }

    // The takeover that serves one stream to the request's client.
    connection_takeover stream(status_source source);

private:
    struct listener;
    boost::asio::awaitable<void> run(server_stream& stream, status_source source);

    void stopped_all();

    boost::asio::any_io_executor executor_;
    std::list<listener*> streams_;
    bool stopped_ = false;
    boost::asio::steady_timer stop_timer_;
    std::function<void()> on_stopped_;
};

// One event of the stream: "event: status\ndata: <json>\n\n" (the JSON is one line).
std::string status_event(std::string_view json);

}  // namespace sessiond
