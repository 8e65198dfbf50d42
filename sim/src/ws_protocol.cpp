#include "ibkr_sim/ws_protocol.hpp"

#include "ibkr_sim/market_data.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

namespace sessiond::sim {

namespace {

namespace json = boost::json;

constexpr std::size_t max_quoted_topic = 32;

// "smd+265598+{...}" -> "265598", "{...}"
std::pair<std::string_view, std::string_view> split_plus(std::string_view text) {
    const auto plus = text.find('+');
    if (plus == std::string_view::npos) return {text, {}};
    return {text.substr(0, plus), text.substr(plus + 1)};
}

std::string unknown_topic(std::string_view message) {
    return "Unknown topic: " + std::string(message.substr(0, std::min(message.size(), max_quoted_topic)));
}

}  // namespace

ws_action ws_subscriptions::apply(std::string_view message) {
    if (message.starts_with("{")) {
        boost::system::error_code ec;
        const json::value v = json::parse(message, ec);
        const json::value* session = (!ec && v.is_object()) ? v.as_object().if_contains("session") : nullptr;
        if (session == nullptr || !session->is_string()) return {ws_action::error, 0, "Unrecognized message"};
        authenticated_ = session->get_string() == session_token_;
        return {authenticated_ ? ws_action::session_accepted : ws_action::session_refused, 0, {}};
    }
    if (message == "tic") return {};
    if (message.starts_with("ech+")) return {ws_action::echo, 0, {}};
    const std::string_view topic = message.substr(0, 3);
    const bool known = topic == "smd" || topic == "umd" || topic == "sor" || topic == "uor" || topic == "spl" ||
                       topic == "upl" || topic == "str" || topic == "utr";
    if (!known) return {ws_action::error, 0, unknown_topic(message)};
    if (!authenticated_) return {ws_action::error, 0, "Not authenticated: send {\"session\":...} first"};
    if (topic == "smd") return start_market_data(message.substr(3));
    if (topic == "umd") return stop_market_data(message.substr(3));
    if (topic == "sor") {
        orders_ = true;
        return {ws_action::orders, 0, {}};
    }
    if (topic == "spl") {
        pnl_ = true;
        return {ws_action::pnl, 0, {}};
    }
    if (topic == "str") {
        trades_ = true;
        return {ws_action::trades, 0, {}};
    }
    if (topic == "uor") orders_ = false;
    if (topic == "upl") pnl_ = false;
    if (topic == "utr") trades_ = false;
    return {};
}

ws_action ws_subscriptions::start_market_data(std::string_view rest) {
    // "+<conid>+{"fields":["31",...]}"
    if (!rest.starts_with("+")) return {ws_action::error, 0, "smd needs +<conid>+{\"fields\":[...]}"};
    const auto [conid_text, arguments] = split_plus(rest.substr(1));
    const auto conid = parse_conid(conid_text);
    if (!conid) return {ws_action::error, 0, "smd: the conid must be a positive integer"};
    boost::system::error_code ec;
    const json::value v = json::parse(arguments.empty() ? std::string_view("{}") : arguments, ec);
    if (ec || !v.is_object()) return {ws_action::error, 0, "smd: the arguments must be a JSON object"};
    std::vector<std::string> fields;
    if (const auto* list = v.as_object().if_contains("fields"); list != nullptr) {
        if (!list->is_array() || list->as_array().size() > max_fields)
            return {ws_action::error, 0, "smd: fields must be an array of at most 64 field numbers"};
        for (const auto& f : list->as_array()) {
            if (!f.is_string()) return {ws_action::error, 0, "smd: every field must be a string"};
            fields.emplace_back(f.get_string());
        }
    }
    if (!market_data_.contains(*conid) && market_data_.size() >= max_market_data)
        return {ws_action::error, 0, "smd: at most 100 market data subscriptions per socket"};
    market_data_[*conid] = std::move(fields);
    return {ws_action::market_data, *conid, {}};
}

ws_action ws_subscriptions::stop_market_data(std::string_view rest) {
    if (!rest.starts_with("+")) return {ws_action::error, 0, "umd needs +<conid>+{}"};
    const auto conid = parse_conid(split_plus(rest.substr(1)).first);
    if (!conid) return {ws_action::error, 0, "umd: the conid must be a positive integer"};
    market_data_.erase(*conid);
    return {};
}

json::object ws_subscriptions::to_json() const {
    json::object smd;
    for (const auto& [conid, fields] : market_data_) {
        json::array list;
        for (const auto& f : fields) list.emplace_back(f);
        smd[std::to_string(conid)] = std::move(list);
    }
    return {{"authenticated", authenticated_}, {"smd", std::move(smd)}, {"sor", orders_}, {"spl", pnl_}, {"str", trades_}};
}

namespace ws_message {

std::string waiting_for_session() { return json::serialize(json::object{{"message", "waiting for session"}}); }

std::string sts(bool authenticated) {
    return topic_args("sts", json::object{{"authenticated", authenticated}});
}

std::string system_user(std::string_view username, bool paper) {
    return json::serialize(json::object{{"topic", "system"}, {"success", username}, {"isFT", false}, {"isPaper", paper}});
}

std::string heartbeat(wall_time now) { return json::serialize(json::object{{"topic", "system"}, {"hb", epoch_ms(now)}}); }

std::string error(std::string_view text) { return json::serialize(json::object{{"topic", "error"}, {"error", text}}); }

std::string topic_args(std::string_view topic, const json::value& args) {
    return json::serialize(json::object{{"topic", topic}, {"args", args}});
}

std::string market_data(std::int64_t conid, const std::vector<std::string>& fields, wall_time now) {
    json::object o = market_data_fields(conid, fields, now);
    o["topic"] = "smd+" + std::to_string(conid);
    return json::serialize(o);
}

}  // namespace ws_message

bool send_queue::push(std::string message) {
    if (bytes_ + message.size() > max_bytes_) return false;
    bytes_ += message.size();
    messages_.push_back(std::move(message));
    return true;
}

void send_queue::pop() {
    bytes_ -= messages_.front().size();
    messages_.pop_front();
}

}  // namespace sessiond::sim
