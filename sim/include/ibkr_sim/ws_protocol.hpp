#pragma once
// The /v1/api/ws protocol without sockets: what a client's text message asks for, the subscriptions
// of one socket, the messages the server sends, and the bounded queue of one socket's outgoing
// messages. The I/O side (ws_connection) feeds messages in and sends what comes out.

#include "ibkr_sim/sim_types.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond::sim {

// What the server does about one client message (ws_subscriptions::apply).
struct ws_action {
    enum kind {
        none,              // tic, an unsubscribe: nothing to send
        echo,              // ech+hb: the message goes back as it came
        session_accepted,  // {"session":...} matched: sts (authenticated) and system (the user)
        session_refused,   // it did not: sts authenticated false
        market_data,       // smd: send conid's data now (then at every market data tick)
        orders,            // sor: send the orders now (then whenever orders change)
        pnl,               // spl
        trades,            // str
        error,             // an "error" topic message with `text`
    };
    kind what = none;
    std::int64_t conid = 0;
    std::string text;
};

class ws_subscriptions {
public:
    static constexpr std::size_t max_market_data = 100;  // conids per socket (IBKR's default lines)
    static constexpr std::size_t max_fields = 64;
    static constexpr std::size_t max_message = 64 * 1024;

    // The tickle session value the socket's {"session":...} must carry.
    explicit ws_subscriptions(std::string session_token) : session_token_(std::move(session_token)) {}

    // Parses one client text message and updates the subscriptions. Topics other than the session
    // message, tic and ech need the session first.
    ws_action apply(std::string_view message);

    [[nodiscard]] bool authenticated() const noexcept { return authenticated_; }
    [[nodiscard]] const std::map<std::int64_t, std::vector<std::string>>& market_data() const noexcept {
        return market_data_;
    }
    [[nodiscard]] bool orders() const noexcept { return orders_; }
    [[nodiscard]] bool pnl() const noexcept { return pnl_; }
    [[nodiscard]] bool trades() const noexcept { return trades_; }
    // {"authenticated":bool,"smd":{"<conid>":["31",...]},"sor":bool,"spl":bool,"str":bool}
    [[nodiscard]] boost::json::object to_json() const;

private:
    ws_action start_market_data(std::string_view rest);
    ws_action stop_market_data(std::string_view rest);

    std::string session_token_;
    bool authenticated_ = false;
    std::map<std::int64_t, std::vector<std::string>> market_data_;
    bool orders_ = false;
    bool pnl_ = false;
    bool trades_ = false;
};

// The server's messages.
namespace ws_message {
std::string waiting_for_session();                    // {"message":"waiting for session"}
std::string sts(bool authenticated);                  // {"topic":"sts","args":{"authenticated":..}}
std::string system_user(std::string_view username, bool paper);  // {"topic":"system","success":..}
std::string heartbeat(wall_time now);                 // {"topic":"system","hb":<ms>}
std::string error(std::string_view text);             // {"topic":"error","error":..}
// {"topic":"<topic>","args":<args>}
std::string topic_args(std::string_view topic, const boost::json::value& args);
// {"topic":"smd+<conid>","conid":..,"31":..}
std::string market_data(std::int64_t conid, const std::vector<std::string>& fields, wall_time now);
}  // namespace ws_message

// One socket's outgoing messages, bounded in bytes: a client that does not read fills it, and is cut off.
class send_queue {
public:
    explicit send_queue(std::size_t max_bytes) : max_bytes_(max_bytes) {}
    // False (and nothing queued) when the message would take the queue over its bound.
    bool push(std::string message);
    [[nodiscard]] bool empty() const noexcept { return messages_.empty(); }
    [[nodiscard]] const std::string& front() const { return messages_.front(); }
    void pop();
    [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

private:
    std::size_t max_bytes_;
    std::size_t bytes_ = 0;
    std::deque<std::string> messages_;
};

}  // namespace sessiond::sim
