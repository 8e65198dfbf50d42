#pragma once
// The subscriptions of one IBKR user's upstream WebSocket, shared by that user's local clients and
// counted by key (ws_topics.hpp): the first client's subscribe goes to IBKR, later clients join it;
// the last client's unsubscribe, or its leaving, ends it at IBKR. Each key keeps its latest subscribe
// frame, which is what a reconnected upstream is sent again.
//
// A client's repeated subscribe (IBKR ends a market data stream 15 minutes after it was requested
// unless it is requested again) and a subscribe with other parameters (other fields) go to IBKR too;
// a second client's identical subscribe does not. A client cannot end a subscription it does not hold.
//
// Bounded: at most max_keys_per_client keys per client and max_keys in all; a subscribe beyond is
// refused (and not sent).
//
// Pure: no I/O.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

using ws_client_id = std::uint64_t;

class ws_fanout {
public:
    static constexpr std::size_t max_keys_per_client = 200;
    static constexpr std::size_t max_keys = 1000;

    struct decision {
        std::optional<std::string> upstream;  // the frame to send IBKR, if any
        bool refused = false;                 // over a bound: nothing changed
    };

    decision subscribe(ws_client_id client, const std::string& key, std::string frame);
    decision unsubscribe(ws_client_id client, const std::string& key, std::string frame);
    // The client left: the frames ending the keys nobody else holds.
    std::vector<std::string> remove(ws_client_id client);

    // Every active subscription's latest subscribe frame, in key order.
    [[nodiscard]] std::vector<std::string> subscribe_frames() const;
    // The clients holding `key` (empty when nobody does).
    [[nodiscard]] std::vector<ws_client_id> subscribers(std::string_view key) const;
    [[nodiscard]] std::size_t keys() const noexcept { return by_key_.size(); }
    [[nodiscard]] bool holds(ws_client_id client, std::string_view key) const;

private:
    struct subscription {
        std::string frame;
        std::set<ws_client_id> clients;
    };
    std::map<std::string, subscription, std::less<>> by_key_;
    std::map<ws_client_id, std::set<std::string, std::less<>>> by_client_;
};

}  // namespace sessiond
