#include "ibkr_sim/ws_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace sessiond::sim {

namespace {

namespace websocket = beast::websocket;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds handshake_timeout{30};

}  // namespace

ws_connection::ws_connection(server_stream& stream, const ibkr_model& model, websocket_registry& registry,
                             websocket_grant grant, ws_options options)
    : stream_(stream),
      ws_(stream),
      model_(model),
      registry_(registry),
      grant_(std::move(grant)),
      options_(options),
      subscriptions_(grant_.session_token),
      queue_(options.send_queue_bytes),
      wake_(stream.get_executor()) {}

ws_connection::~ws_connection() {
    if (id_) registry_.remove(*id_);
}

asio::awaitable<void> ws_connection::run(http_request upgrade) {
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = handshake_timeout;
    timeouts.idle_timeout = options_.idle_timeout;  // no frame from the client (tic, ping, anything) this long
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "ibkr-sim"); }));
    ws_.read_message_max(ws_subscriptions::max_message);
    auto [ec] = co_await ws_.async_accept(upgrade, use_tuple);
    if (ec) co_return;
    id_ = registry_.add(*this);
    send(ws_message::waiting_for_session());

    using namespace asio::experimental::awaitable_operators;
    co_await (read_loop() || write_loop() || every(options_.heartbeat, &ws_connection::heartbeat) ||
              every(options_.market_data_interval, &ws_connection::market_data_tick));
    shut_down();
}

bool ws_connection::close() {
    if (ending_) return false;
    shut_down();
    return true;
}

void ws_connection::shut_down() {
    ending_ = true;
    wake_.cancel();
    boost::system::error_code ignored;
    stream_.socket().close(ignored);
}

asio::awaitable<void> ws_connection::read_loop() {
    beast::flat_buffer buffer;
    while (!ending_) {
        buffer.clear();
        auto [ec, n] = co_await ws_.async_read(buffer, use_tuple);
        if (ec) break;
        ++registry_.stats().messages_in;
        answer(beast::buffers_to_string(buffer.data()));
    }
    shut_down();
}

asio::awaitable<void> ws_connection::write_loop() {
    ws_.text(true);
    while (!ending_) {
        while (!queue_.empty() && !ending_) {
            const close_after deadline(stream_, options_.write_timeout);  // a client that stopped reading
            auto [ec, n] = co_await ws_.async_write(asio::buffer(queue_.front()), use_tuple);
            if (ec) {
                shut_down();
                co_return;
            }
            queue_.pop();
            ++registry_.stats().messages_out;
        }
        if (ending_) break;
        wake_.expires_at(asio::steady_timer::time_point::max());
        co_await wake_.async_wait(use_tuple);  // ends at send() (cancel), at the end, or when the group cancels
        if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) break;
    }
    shut_down();
}

asio::awaitable<void> ws_connection::every(sim_duration period, bool (ws_connection::*tick)(wall_time now)) {
    asio::steady_timer timer(stream_.get_executor());
    while (!ending_) {
        timer.expires_after(period);
        auto [ec] = co_await timer.async_wait(use_tuple);
        if (ec || ending_ || !(this->*tick)(wall_clock::now())) break;
    }
    shut_down();
}

bool ws_connection::heartbeat(wall_time now) {
    if (!model_.sso_bearer_active(grant_.bearer, now)) {
        ++registry_.stats().session_ended;  // IBKR ends its sockets with the session (inferred)
        return false;
    }
    send(ws_message::heartbeat(now));
    if (subscriptions_.authenticated() && last_sts_ != sts_value()) {
        last_sts_ = sts_value();
        send(ws_message::sts(*last_sts_));
    }
    return true;
}

bool ws_connection::market_data_tick(wall_time now) {
    for (const auto& [conid, fields] : subscriptions_.market_data()) {
        if (ending_) break;
        send(ws_message::market_data(conid, fields, now));
    }
    return true;
}

void ws_connection::send(std::string message) {
    if (ending_) return;
    if (!queue_.push(std::move(message))) {
        ++registry_.stats().cut_off;
        shut_down();
        return;
    }
    wake_.cancel();
}

bool ws_connection::sts_value() const {
    return subscriptions_.authenticated() && model_.brokerage(grant_.user, wall_clock::now()).authenticated;
}

void ws_connection::answer(std::string_view message) {
    const ws_action a = subscriptions_.apply(message);
    const auto now = wall_clock::now();
    switch (a.what) {
        case ws_action::none: break;
        case ws_action::echo: send(std::string(message)); break;
        case ws_action::session_accepted:
            last_sts_ = sts_value();
            send(ws_message::sts(*last_sts_));
            send(ws_message::system_user(model_.user(grant_.user).username,
                                         model_.user(grant_.user).login == login_type::paper));
            break;
        case ws_action::session_refused:
            last_sts_ = false;
            send(ws_message::sts(false));
            break;
        case ws_action::market_data:
            send(ws_message::market_data(a.conid, subscriptions_.market_data().at(a.conid), now));
            break;
        case ws_action::orders: send(ws_message::topic_args("sor", orders().order_items())); break;
        case ws_action::pnl: send(ws_message::topic_args("spl", orders().pnl_json(now))); break;
        case ws_action::trades: send(ws_message::topic_args("str", orders().trades_json())); break;
        case ws_action::error: send(ws_message::error(a.text)); break;
    }
}

void ws_connection::orders_changed() {
    const auto now = wall_clock::now();
    if (subscriptions_.orders()) send(ws_message::topic_args("sor", orders().order_items()));
    if (subscriptions_.trades()) send(ws_message::topic_args("str", orders().trades_json()));
    if (subscriptions_.pnl()) send(ws_message::topic_args("spl", orders().pnl_json(now)));
}

boost::json::object ws_connection::describe() const {
    return {{"user", model_.user(grant_.user).username},
            {"subscriptions", subscriptions_.to_json()},
            {"queued_bytes", queue_.bytes()}};
}

}  // namespace sessiond::sim
