#pragma once
// The orders IBKR keeps for one user: placed through POST /iserver/account/{accountId}/orders, listed
// by /iserver/account/orders and /trades and pushed on the WebSocket's sor/str/spl topics. Beside it,
// order_body_log keeps, byte-exact, every body that arrived at the order endpoint (any user's), so
// that tests can prove that a proxy forwarded an order once and unchanged. No I/O; bounded.

#include "ibkr_sim/sim_types.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/system/result.hpp>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond::sim {

struct placed_order {
    std::int64_t order_id = 0;
    std::string account;
    std::int64_t conid = 0;
    std::string side;        // BUY, SELL
    std::string order_type;  // MKT, LMT, ...
    std::string tif;         // DAY, GTC, ...
    double quantity = 0;
    std::optional<double> price;  // LMT, STP ...
    std::string customer_order_id;  // cOID
    bool filled = false;     // market orders fill at once, at the made-up last price
    std::int64_t fill_price_cents = 0;
    wall_time placed{};
};

// One body that arrived at POST /iserver/account/{accountId}/orders, whatever the answer.
struct received_order_body {
    std::uint64_t seq = 0;
    std::string account;  // the path segment
    std::string body;     // byte-exact
    unsigned status = 0;
    std::string reason;
};

class order_book {
public:
    static constexpr std::size_t max_orders = 1000;
    static constexpr std::size_t max_orders_per_request = 20;

    explicit order_book(std::vector<std::string> accounts) : accounts_(std::move(accounts)) {}

    [[nodiscard]] bool knows_account(std::string_view account) const;

    // Checks a {"orders":[...]} body for `account`: the orders it would place, or a message for a 400.
    struct order_error {
        std::string message;
    };
    [[nodiscard]] boost::system::result<std::vector<placed_order>, order_error> parse(std::string_view account,
                                                                                      std::string_view body) const;
    // Places them and returns IBKR's answer: [{"order_id","order_status","encrypt_message"}]. Ids come
    // from `next_order_id`, which IBKR counts across users.
    boost::json::array place(std::vector<placed_order> orders, wall_time now, std::int64_t& next_order_id);

    // {"orders":[...],"snapshot":true}
    [[nodiscard]] boost::json::object orders_json() const;
    // The items of orders_json, also the args of the WebSocket's sor topic.
    [[nodiscard]] boost::json::array order_items() const;
    // /iserver/account/trades and the str topic: the fills of market orders.
    [[nodiscard]] boost::json::array trades_json() const;
    // /iserver/account/pnl/partitioned's "upnl" (and the spl topic's args): per "<account>.Core".
    [[nodiscard]] boost::json::object pnl_json(wall_time now) const;
    [[nodiscard]] std::size_t size() const noexcept { return orders_.size(); }

private:
    std::vector<std::string> accounts_;
    // Oldest first. A vector, not a deque: an empty one costs no heap, and a book per user is kept.
    std::vector<placed_order> orders_;
};

// The bodies that arrived at POST /iserver/account/{accountId}/orders, whoever sent them.
class order_body_log {
public:
    static constexpr std::size_t max_received_bodies = 256;

    void record(received_order_body received);
    void clear() { received_.clear(); }
    // {"orders":[{"seq","account","body","status","reason"}]}: the received bodies, oldest first.
    [[nodiscard]] boost::json::object to_json() const;
    [[nodiscard]] const std::deque<received_order_body>& received() const noexcept { return received_; }

private:
    std::deque<received_order_body> received_;
    std::uint64_t next_seq_ = 1;
};

// The first order id IBKR hands out in the simulator.
inline constexpr std::int64_t first_order_id = 1'000'000'001;

// "/v1/api/iserver/account/DU123/orders" -> "DU123"; nullopt for any other path.
std::optional<std::string_view> order_placement_account(std::string_view path);

}  // namespace sessiond::sim
