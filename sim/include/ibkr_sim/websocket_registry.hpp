#pragma once
// The open WebSockets of /v1/api/ws, for what acts on all of them: the control API (list, drop), a
// REST order (sor updates) and the end of a session (its sockets close with it). No I/O: a socket is
// a ws_peer, and closing one only starts its end (the socket removes itself when it is gone).

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace sessiond::sim {

class ws_peer {
public:
    virtual ~ws_peer() = default;
    // Ends the socket abruptly: the TCP connection closes without a WebSocket close frame. False when
    // it was ending already.
    virtual bool close() = 0;
    // Orders were placed: send the sor/str/spl updates the socket subscribed to.
    virtual void orders_changed() = 0;
    [[nodiscard]] virtual const std::string& bearer() const = 0;
    // Whose session the socket belongs to (an index of ibkr_model::user()).
    [[nodiscard]] virtual std::size_t user() const = 0;
    // {"subscriptions":{...},...}
    [[nodiscard]] virtual boost::json::object describe() const = 0;
};

struct websocket_stats {
    std::uint64_t opened = 0;
    std::uint64_t dropped = 0;         // closed by POST /control/ws/drop
    std::uint64_t session_ended = 0;   // closed because their SSO session ended
    std::uint64_t cut_off = 0;         // closed because their send queue overflowed
    std::uint64_t messages_in = 0;
    std::uint64_t messages_out = 0;
};

class websocket_registry {
public:
    std::uint64_t add(ws_peer& peer);
    void remove(std::uint64_t id) { peers_.erase(id); }

    // Closes every open socket; returns how many.
    std::size_t drop_all();
    // Closes the sockets whose bearer no longer has a live session; returns how many.
    std::size_t close_ended(const std::function<bool(std::string_view bearer)>& alive);
    // The user's orders changed: its sockets send their updates.
    void orders_changed(std::size_t user);

    [[nodiscard]] std::size_t open() const noexcept { return peers_.size(); }
    // [{"id":n, ...describe()}]
    [[nodiscard]] boost::json::array describe() const;
    websocket_stats& stats() noexcept { return stats_; }
    [[nodiscard]] const websocket_stats& stats() const noexcept { return stats_; }
    [[nodiscard]] boost::json::object stats_json() const;
    void reset_stats() noexcept { stats_ = {}; }

private:
    // Every peer matching `which`, closed (a close only starts the end, so the map is not touched meanwhile).
    std::size_t close_where(const std::function<bool(const ws_peer&)>& which);

    std::map<std::uint64_t, ws_peer*> peers_;
    std::uint64_t next_id_ = 1;
    websocket_stats stats_;
};

}  // namespace sessiond::sim
