#include "ibkr_sim/https_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/object.hpp>

#include <array>

namespace sessiond::sim {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds shutdown_timeout{5};
constexpr std::string_view garbage_body = "<html><body>502 Bad Gateway</body></html> this is not JSON {";
constexpr std::string_view truncated_body = R"({"truncated":)";
constexpr std::size_t truncated_missing_bytes = 64;

// SO_LINGER 0 then close: the peer gets a TCP RST instead of an orderly FIN.
template <class Stream>
void abort_connection(Stream& stream) {
    boost::system::error_code ignored;
    beast::get_lowest_layer(stream).socket().set_option(asio::socket_base::linger(true, 0), ignored);
    beast::get_lowest_layer(stream).close();
}

}  // namespace

https_server::https_server(asio::io_context& ioc, asio::ssl::context& tls, ibkr_model& model, fault_injector& faults,
                           request_journal& journal, logger log, https_server_options options)
    : ioc_(ioc),
      tls_(tls),
      model_(model),
      faults_(faults),
      journal_(journal),
      log_(std::move(log)),
      options_(options),
      listener_(ioc.get_executor(), listener_options{options_.max_connections, at_connection_cap::refuse}, log_) {}

expected<std::uint16_t> https_server::listen(const listen_address& where) {
    auto endpoint = listener_.listen(where);
    if (!endpoint) return endpoint.error();
    return endpoint->port();
}

void https_server::start() {
    asio::co_spawn(ioc_,
                   listener_.accept([this](asio::ip::tcp::socket socket, connection_registry::membership m) {
                       asio::co_spawn(ioc_, serve(std::move(socket), std::move(m)), propagate_exception);
                   }),
                   propagate_exception);
}

void https_server::stop() {
    stopping_ = true;
    listener_.stop();
}

asio::awaitable<void> https_server::serve(asio::ip::tcp::socket socket, connection_registry::membership membership) {
    tls_stream stream(std::move(socket), tls_);
    asio::steady_timer timer(ioc_);  // delay faults wait on it
    connection_registry::membership registered = std::move(membership);
    registered.on_close([&] {
        beast::get_lowest_layer(stream).close();
        timer.cancel();
    });
    if (stopping_) co_return;

    if (const auto f = faults_.take_handshake()) {
        co_await apply_handshake_fault(stream, *f);
        co_return;
    }
    beast::get_lowest_layer(stream).expires_after(options_.handshake_timeout);
    if (auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple); ec) {
        log_.debug({}, "TLS handshake failed: {}", ec.message());
        co_return;
    }
    beast::get_lowest_layer(stream).expires_never();

    beast::flat_buffer buffer;
    for (;;) {
        const auto began = std::chrono::steady_clock::now();
        auto [ec, req] = co_await read_request(stream, buffer, options_.limits);
        if (ec) {
            if (const auto status = status_for_read_error(ec); status && !stopping_) {
                co_await answer_unreadable(stream, *status, began);
                break;
            }
            co_return;  // the client closed, went quiet for too long, or we are stopping
        }
        const after_response next = co_await respond(stream, timer, req);
        if (next == after_response::closed) co_return;
        if (next == after_response::shut_down || stopping_) break;
    }
    beast::get_lowest_layer(stream).expires_after(shutdown_timeout);
    co_await stream.async_shutdown(use_tuple);
}

asio::awaitable<void> https_server::apply_handshake_fault(tls_stream& stream, const fault& f) {
    const auto began = std::chrono::steady_clock::now();
    request_event e;
    e.path = handshake_path;
    e.fault = to_string(f.action);
    if (f.action == fault_action::reset) {
        abort_connection(stream);
        record(std::move(e), began);
        co_return;
    }
    record(std::move(e), began);
    co_await hold(stream);
}

asio::awaitable<https_server::after_response> https_server::respond(tls_stream& stream, asio::steady_timer& timer,
                                                                    const http_request& req) {
    const auto began = std::chrono::steady_clock::now();
    request_event e;
    e.method = req.method_string();
    e.path = target_path(req.target());
    // Faults act before IBKR's own checks, as a proxy or a broken backend in front of them would.
    const std::optional<fault> f = faults_.take(e.path);
    if (f) e.fault = std::string(to_string(f->action));
    const auto action = f ? std::optional(f->action) : std::nullopt;

    if (action == fault_action::hang || action == fault_action::reset || action == fault_action::truncate) {
        co_await break_connection(stream, *f, std::move(e), began);
        co_return after_response::closed;
    }

    http_response res;
    if (!action || action == fault_action::content_type || action == fault_action::delay) {
        model_reply reply = model_.handle(req, wall_clock::now());
        res = std::move(reply.response);
        e.reason = std::move(reply.reason);
        if (action == fault_action::content_type) res.set(http::field::content_type, "text/html; charset=utf-8");
    } else {
        res = fault_response(*f);
    }
    finish_response(res, req);

    if (action == fault_action::delay) {
        timer.expires_after(f->delay);
        co_await timer.async_wait(use_tuple);
        if (stopping_) {
            record(std::move(e), began);
            co_return after_response::closed;
        }
    }
    const boost::system::error_code ec = co_await write_response(stream, res, options_.limits);
    e.status = res.result_int();
    const bool keep_alive = res.keep_alive();
    record(std::move(e), began);
    if (ec) co_return after_response::closed;
    co_return keep_alive ? after_response::keep_open : after_response::shut_down;
}

asio::awaitable<void> https_server::break_connection(tls_stream& stream, const fault& f, request_event e,
                                                     std::chrono::steady_clock::time_point began) {
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
            beast::get_lowest_layer(stream).expires_after(options_.limits.write_timeout);
            co_await asio::async_write(stream, asio::buffer(raw), use_tuple);
            beast::get_lowest_layer(stream).close();  // no close_notify: the body just stops
            e.status = 200;
            record(std::move(e), began);
            break;
        }
    }
}

asio::awaitable<void> https_server::answer_unreadable(tls_stream& stream, http::status status,
                                                      std::chrono::steady_clock::time_point began) {
    http_response res = json_response(status, boost::json::object{{"error", http::obsolete_reason(status)}});
    res.keep_alive(false);
    res.prepare_payload();
    if (!co_await write_response(stream, res, options_.limits)) co_await drain_unread_request(stream);
    request_event e;
    e.path = "(unreadable)";
    e.status = res.result_int();
    e.reason = "unreadable_request";
    record(std::move(e), began);
}

asio::awaitable<void> https_server::hold(tls_stream& stream) {
    // Read (and drop) whatever arrives, so that a client closing its end ends the hold at once.
    auto& tcp = beast::get_lowest_layer(stream);
    tcp.expires_after(options_.hang_limit);
    std::array<char, 1024> sink{};
    for (;;) {
        auto [ec, n] = co_await tcp.async_read_some(asio::buffer(sink), use_tuple);
        if (ec) break;
    }
    tcp.close();
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

void https_server::record(request_event e, std::chrono::steady_clock::time_point began) {
    const auto now = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - began).count();
    log_.info({}, "{} {} {} {:.1f}ms{}{}{}{}", e.method.empty() ? "-" : e.method, e.path, e.status, ms,
              e.fault.empty() ? "" : " fault=", e.fault, e.reason.empty() ? "" : " reason=", e.reason);
    journal_.record(std::move(e), now);
}

}  // namespace sessiond::sim
