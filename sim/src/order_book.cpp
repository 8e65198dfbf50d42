#include "ibkr_sim/order_book.hpp"

#include "ibkr_sim/market_data.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <array>

namespace sessiond::sim {

namespace {

namespace json = boost::json;

constexpr std::string_view order_path_prefix = "/v1/api/iserver/account/";
constexpr std::string_view order_path_suffix = "/orders";
constexpr std::array<std::string_view, 7> order_types{"MKT", "LMT", "STP", "STOP_LIMIT", "MIDPRICE", "TRAIL", "TRAILLMT"};
constexpr std::array<std::string_view, 7> time_in_force{"DAY", "GTC", "IOC", "OPG", "PAX", "OVT", "OND"};
constexpr double net_liquidation = 1'000'000.0;

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& values, std::string_view v) {
    return std::find(values.begin(), values.end(), v) != values.end();
}

const json::string* string_field(const json::object& o, std::string_view name) {
    const auto* v = o.if_contains(name);
    return v != nullptr && v->is_string() ? &v->get_string() : nullptr;
}

std::optional<double> number_field(const json::object& o, std::string_view name) {
    const auto* v = o.if_contains(name);
    if (v == nullptr || !v->is_number()) return std::nullopt;
    return v->to_number<double>();
}

// conid (a number) or conidex ("265598" or "265598@SMART").
std::optional<std::int64_t> order_conid(const json::object& o) {
    if (const auto* c = o.if_contains("conid"); c != nullptr) {
        if (c->is_int64()) return c->get_int64() > 0 ? std::optional(c->get_int64()) : std::nullopt;
        if (c->is_uint64()) return static_cast<std::int64_t>(c->get_uint64());
        return std::nullopt;
    }
    const auto* conidex = string_field(o, "conidex");
    if (conidex == nullptr) return std::nullopt;
    const std::string_view text(*conidex);
    return parse_conid(text.substr(0, text.find('@')));
}

std::string order_type_name(std::string_view t) {
    if (t == "MKT") return "Market";
    if (t == "LMT") return "Limit";
    if (t == "STP") return "Stop";
    if (t == "STOP_LIMIT") return "Stop Limit";
    return std::string(t);
}

double fill_price(const placed_order& o) { return static_cast<double>(o.fill_price_cents) / 100; }

}  // namespace

std::optional<std::string_view> order_placement_account(std::string_view path) {
    if (!path.starts_with(order_path_prefix) || !path.ends_with(order_path_suffix)) return std::nullopt;
    if (path.size() <= order_path_prefix.size() + order_path_suffix.size()) return std::nullopt;
    const std::string_view account =
        path.substr(order_path_prefix.size(), path.size() - order_path_prefix.size() - order_path_suffix.size());
    if (account.find('/') != std::string_view::npos) return std::nullopt;
    return account;
}

bool order_book::knows_account(std::string_view account) const {
    return std::find(accounts_.begin(), accounts_.end(), account) != accounts_.end();
}

boost::system::result<std::vector<placed_order>, order_book::order_error> order_book::parse(
    std::string_view account, std::string_view body) const {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    const json::value* list = (!ec && v.is_object()) ? v.as_object().if_contains("orders") : nullptr;
    if (list == nullptr || !list->is_array() || list->as_array().empty())
        return order_error{R"(body must be {"orders":[{...}]} with at least one order)"};
    if (list->as_array().size() > max_orders_per_request)
        return order_error{"at most " + std::to_string(max_orders_per_request) + " orders per request"};
    std::vector<placed_order> orders;
    for (const auto& item : list->as_array()) {
        if (!item.is_object()) return order_error{"every order must be an object"};
        const auto& o = item.as_object();
        placed_order p;
        p.account = std::string(account);
        if (const auto* acct = string_field(o, "acctId"); acct != nullptr && *acct != account)
            return order_error{"acctId " + std::string(*acct) + " does not match the account in the path"};
        const auto conid = order_conid(o);
        if (!conid) return order_error{"conid (a positive integer) or conidex is required"};
        p.conid = *conid;
        const auto* type = string_field(o, "orderType");
        if (type == nullptr || !one_of(order_types, *type)) return order_error{"orderType is missing or not supported"};
        p.order_type = std::string(*type);
        const auto* side = string_field(o, "side");
        if (side == nullptr || (*side != "BUY" && *side != "SELL")) return order_error{"side must be BUY or SELL"};
        p.side = std::string(*side);
        const auto* tif = string_field(o, "tif");
        if (tif == nullptr || !one_of(time_in_force, *tif)) return order_error{"tif is missing or not supported"};
        p.tif = std::string(*tif);
        const auto quantity = number_field(o, "quantity");
        if (!quantity || *quantity <= 0) return order_error{"quantity must be a positive number"};
        p.quantity = *quantity;
        p.price = number_field(o, "price");
        if ((p.order_type == "LMT" || p.order_type == "STOP_LIMIT" || p.order_type == "STP") &&
            (!p.price || *p.price <= 0))
            return order_error{"price is required for " + p.order_type + " orders"};
        if (const auto* coid = string_field(o, "cOID"); coid != nullptr) {
            p.customer_order_id = std::string(*coid);
            const auto taken = [&](const placed_order& other) {
                return !other.customer_order_id.empty() && other.customer_order_id == p.customer_order_id;
            };
            if (std::any_of(orders_.begin(), orders_.end(), taken) || std::any_of(orders.begin(), orders.end(), taken))
                return order_error{"Local order ID=" + p.customer_order_id + " is already registered."};
        }
        orders.push_back(std::move(p));
    }
    return orders;
}

json::array order_book::place(std::vector<placed_order> orders, wall_time now, std::int64_t& next_order_id) {
    json::array answer;
    for (auto& o : orders) {
        o.order_id = next_order_id++;
        o.placed = now;
        o.filled = o.order_type == "MKT";
        o.fill_price_cents = o.filled ? last_price_cents(o.conid, now) : 0;
        answer.push_back(json::object{
            {"order_id", std::to_string(o.order_id)}, {"order_status", "Submitted"}, {"encrypt_message", "1"}});
        orders_.push_back(std::move(o));
        if (orders_.size() > max_orders) orders_.erase(orders_.begin());
    }
    return answer;
}

void order_body_log::record(received_order_body received) {
    received.seq = next_seq_++;
    received_.push_back(std::move(received));
    if (received_.size() > max_received_bodies) received_.pop_front();
}

json::array order_book::order_items() const {
    json::array items;
    for (const auto& o : orders_) {
        const double filled = o.filled ? o.quantity : 0.0;
        const std::string status = o.filled ? "Filled" : "Submitted";
        json::object item{{"acct", o.account},
                          {"conidex", std::to_string(o.conid)},
                          {"conid", o.conid},
                          {"orderId", o.order_id},
                          {"cashCcy", "USD"},
                          {"sizeAndFills", std::to_string(static_cast<std::int64_t>(filled)) + "/" +
                                               std::to_string(static_cast<std::int64_t>(o.quantity))},
                          {"orderDesc", o.side + " " + std::to_string(static_cast<std::int64_t>(o.quantity)) + " " +
                                            order_type_name(o.order_type) + ", " + o.tif},
                          {"description1", "SIM" + std::to_string(o.conid)},
                          {"ticker", "SIM" + std::to_string(o.conid)},
                          {"secType", "STK"},
                          {"listingExchange", "NASDAQ"},
                          {"remainingQuantity", o.quantity - filled},
                          {"filledQuantity", filled},
                          {"totalSize", o.quantity},
                          {"companyName", "Simulated " + std::to_string(o.conid)},
                          {"status", status},
                          {"order_ccp_status", status},
                          {"origOrderType", order_type_name(o.order_type)},
                          {"orderType", order_type_name(o.order_type)},
                          {"side", o.side},
                          {"timeInForce", o.tif},
                          {"lastExecutionTime_r", epoch_ms(o.placed)}};
        if (o.price) item["price"] = format_price(static_cast<std::int64_t>(*o.price * 100 + 0.5));
        if (o.filled) item["avgPrice"] = format_price(o.fill_price_cents);
        if (!o.customer_order_id.empty()) item["order_ref"] = o.customer_order_id;
        items.push_back(std::move(item));
    }
    return items;
}

json::object order_book::orders_json() const { return {{"orders", order_items()}, {"snapshot", true}}; }

json::array order_book::trades_json() const {
    json::array trades;
    for (const auto& o : orders_) {
        if (!o.filled) continue;
        const double value = fill_price(o) * o.quantity;
        trades.push_back(json::object{{"execution_id", "0000e0d5." + std::to_string(o.order_id) + ".01.01"},
                                      {"symbol", "SIM" + std::to_string(o.conid)},
                                      {"side", o.side == "BUY" ? "B" : "S"},
                                      {"order_description", o.side == "BUY" ? "Bot" : "Sold"},
                                      {"trade_time_r", epoch_ms(o.placed)},
                                      {"size", o.quantity},
                                      {"price", format_price(o.fill_price_cents)},
                                      {"order_ref", o.customer_order_id},
                                      {"exchange", "NASDAQ"},
                                      {"commission", "1.0"},
                                      {"net_amount", o.side == "BUY" ? -value : value},
                                      {"account", o.account},
                                      {"accountCode", o.account},
                                      {"company_name", "Simulated " + std::to_string(o.conid)},
                                      {"sec_type", "STK"},
                                      {"conidex", std::to_string(o.conid)},
                                      {"conid", o.conid},
                                      {"clearing_id", "IB"},
                                      {"liquidation_trade", "0"},
                                      {"is_event_trading", "0"}});
    }
    return trades;
}

json::object order_book::pnl_json(wall_time now) const {
    json::object upnl;
    for (const auto& account : accounts_) {
        double unrealized = 0;
        double market_value = 0;
        for (const auto& o : orders_) {
            if (!o.filled || o.account != account) continue;
            const double sign = o.side == "BUY" ? 1.0 : -1.0;
            const double last = static_cast<double>(last_price_cents(o.conid, now)) / 100;
            unrealized += sign * (last - fill_price(o)) * o.quantity;
            market_value += sign * last * o.quantity;
        }
        upnl[account + ".Core"] = json::object{{"rowType", 1},         {"dpl", unrealized}, {"nl", net_liquidation + unrealized},
                                               {"upl", unrealized},    {"el", net_liquidation}, {"mv", market_value}};
    }
    return upnl;
}

json::object order_body_log::to_json() const {
    json::array bodies;
    for (const auto& r : received_)
        bodies.push_back(json::object{
            {"seq", r.seq}, {"account", r.account}, {"body", r.body}, {"status", r.status}, {"reason", r.reason}});
    return {{"orders", std::move(bodies)}};
}

}  // namespace sessiond::sim
