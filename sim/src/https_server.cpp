#include "ibkr_sim/https_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/object.hpp>

#include <array>

namespace sessiond::sim {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view garbage_body = "<html><body>502 Bad Gateway</body></html> this is not JSON {";
constexpr std::string_view truncated_body = R"({"truncated":)";
constexpr std::size_t truncated_missing_bytes = 64;
constexpr std::chrono::seconds truncate_write_timeout{30};

// SO_LINGER 0 then close: the peer gets a TCP RST instead of an orderly FIN.
void abort_connection(server_stream& stream) {
    boost::system::error_code ignored;
    stream.socket().set_option(asio::socket_base::linger(true, 0), ignored);
    stream.socket().close(ignored);
}

}  // namespace

https_server::https_server(asio::io_context& ioc, asio::ssl::context& tls, ibkr_model& model, fault_injector& faults,
                           request_journal& journal, websocket_registry& websockets, logger log,
                           https_server_options options)
    : model_(model),
      faults_(faults),
      journal_(journal),
      websockets_(websockets),
      log_(std::move(log)),
      options_(options),
      server_(ioc.get_executor(),
              [this](http_request req, const connection_context& context) { return respond(std::move(req), context); },
              server_options{sim_server_limits(options_.max_connections), &tls,
                             [this](server_stream& stream) { return apply_handshake_fault(stream); },
                             [this](http::status status, steady_time began) { return answer_unreadable(status, began); },
                             {}},
              log_) {}

expected<std::uint16_t> https_server::listen(const listen_address& where) {
    auto endpoint = server_.listen(where);
    if (!endpoint) return endpoint.error();
    return endpoint->port();
}

void https_server::start() { server_.start(); }

void https_server::stop() {
    stopping_ = true;
    websockets_.drop_all();
    server_.stop();
}

asio::awaitable<bool> https_server::apply_handshake_fault(server_stream& stream) {
    const auto f = faults_.take_handshake();
    if (!f) co_return true;
    const auto began = std::chrono::steady_clock::now();
    request_event e;
    e.path = handshake_path;
    e.fault = to_string(f->action);
    if (f->action == fault_action::reset) {
        abort_connection(stream);
        record(std::move(e), began);
        co_return false;
    }
    record(std::move(e), began);
    co_await hold(stream);
    co_return false;
}

asio::awaitable<server_reply> https_server::respond(http_request req, const connection_context& context) {
    const auto began = std::chrono::steady_clock::now();
    request_event e;
    e.method = req.method_string();
    e.path = target_path(req.target());
    // Faults act before IBKR's own checks, as a proxy or a broken backend in front of them would.
    const std::optional<fault> f = faults_.take(e.path);
    if (f) e.fault = std::string(to_string(f->action));
    const auto action = f ? std::optional(f->action) : std::nullopt;
    // The model sees every request except those a fault answers in its place; the replica still made
    // those, so they are checked for overlaps all the same.
    const bool model_answers = !action || action == fault_action::content_type || action == fault_action::delay;
    if (!model_answers) model_.note_request(req, wall_clock::now());

    if (action == fault_action::hang || action == fault_action::reset || action == fault_action::truncate) {
        connection_takeover takeover = [this, f = *f, e = std::move(e), began](server_stream& stream,
                                                                               beast::flat_buffer& /*unread*/) {
            return break_connection(stream, f, e, began);
        };
        co_return takeover;
    }

    http_response res;
    if (model_answers) {
        const auto now = wall_clock::now();
        model_reply reply = model_.handle(req, now);
        // A logout, a new SSO session or an expiry ends the sockets of the session that ended.
        if (websockets_.open() > 0)
            websockets_.close_ended([&](std::string_view bearer) { return model_.sso_bearer_active(bearer, now); });
        if (reply.orders_changed) websockets_.orders_changed(*reply.orders_changed);
        if (reply.websocket) {
            connection_takeover takeover = [this, req = std::move(req), grant = std::move(*reply.websocket),
                                            e = std::move(e), began](server_stream& stream, beast::flat_buffer&) {
                return serve_websocket(stream, req, grant, e, began);
            };
            co_return takeover;
        }
        if (reply.history_slot) co_await hold_history_slot(context, *reply.history_slot);
        res = std::move(reply.response);
        e.reason = std::move(reply.reason);
        if (action == fault_action::content_type) res.set(http::field::content_type, "text/html; charset=utf-8");
    } else {
        res = fault_response(*f);
    }
    res.set(http::field::server, "ibkr-sim");

    if (action == fault_action::delay) {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_after(f->delay);
        co_await timer.async_wait(asio::bind_cancellation_slot(context.closed, use_tuple));
        if (stopping_) {  // the connection is closed: nothing is sent
            record(std::move(e), began);
            co_return res;
        }
    }
    e.status = res.result_int();
    record(std::move(e), began);
    co_return res;
}

asio::awaitable<void> https_server::serve_websocket(server_stream& stream, http_request upgrade,
                                                    websocket_grant grant, request_event e, steady_time began) {
    e.status = static_cast<unsigned>(http::status::switching_protocols);
    record(std::move(e), began);
    if (stopping_) co_return;
    ws_connection connection(stream, model_, websockets_, std::move(grant), options_.websocket);
    co_await connection.run(std::move(upgrade));
}

asio::awaitable<void> https_server::hold_history_slot(const connection_context& context, std::size_t user) {
    if (options_.history_delay.count() > 0) {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_after(options_.history_delay);
        co_await timer.async_wait(asio::bind_cancellation_slot(context.closed, use_tuple));
    }
    model_.release_history_slot(user);
}

asio::awaitable<void> https_server::break_connection(server_stream& stream, fault f, request_event e,
                                                     steady_time began) {
    switch (f.action) {
        case fault_action::hang:
            record(std::move(e), began);
            co_await hold(stream);
            break;
        case fault_action::reset:
            abort_connection(stream);
            record(std::move(e), began);
            break;
        default: {  // truncate: a 200 whose body stops short of its Content-Length
            const std::string raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                    std::to_string(truncated_body.size() + truncated_missing_bytes) + "\r\n\r\n" +
                                    std::string(truncated_body);
            {
                const close_after deadline(stream, truncate_write_timeout);
                co_await asio::async_write(stream, asio::buffer(raw), use_tuple);
            }
            boost::system::error_code ignored;
            stream.socket().close(ignored);  // no close_notify: the body just stops
            e.status = 200;
            record(std::move(e), began);
            break;
        }
    }
}

http_response https_server::answer_unreadable(http::status status, steady_time began) {
    http_response res = unreadable_request(status);
    request_event e;
    e.path = "(unreadable)";
    e.status = res.result_int();
    e.reason = "unreadable_request";
    record(std::move(e), began);
    return res;
}

asio::awaitable<void> https_server::hold(server_stream& stream) {
    // Read (and drop) whatever arrives, so that a client closing its end ends the hold at once.
    const close_after deadline(stream, options_.hang_limit);
    std::array<char, 1024> sink{};
    for (;;) {
        auto [ec, n] = co_await stream.socket().async_read_some(asio::buffer(sink), use_tuple);
        if (ec) break;
    }
    boost::system::error_code ignored;
    stream.socket().close(ignored);
}

http_response https_server::fault_response(const fault& f) const {
    http_response res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    switch (f.action) {
        case fault_action::status:
            res.result(f.status);
            res.body() = f.body.value_or(R"({"error":"injected fault"})");
            if (f.retry_after) res.set(http::field::retry_after, std::to_string(*f.retry_after));
            break;
        case fault_action::garbage: res.body() = garbage_body; break;
        case fault_action::body: res.body() = f.body.value_or(""); break;
        default: break;  // the other actions never build a response here
    }
    return res;
}

void https_server::record(request_event e, steady_time began) {
    const auto now = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - began).count();
    log_.info({}, "{} {} {} {:.1f}ms{}{}{}{}", e.method.empty() ? "-" : e.method, e.path, e.status, ms,
              e.fault.empty() ? "" : " fault=", e.fault, e.reason.empty() ? "" : " reason=", e.reason);
    journal_.record(std::move(e), now);
}

}  // namespace sessiond::sim
