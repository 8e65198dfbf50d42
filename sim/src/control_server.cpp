#include "ibkr_sim/control_server.hpp"

#include <boost/asio/co_spawn.hpp>


namespace sessiond::sim {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Wakes one waiter's timer when the journal records an event that completes the wait.
class await_subscription {
public:
    await_subscription(request_journal& journal, request_journal::listener wake)
        : journal_(journal), id_(journal.subscribe(std::move(wake))) {}
    await_subscription(const await_subscription&) = delete;
    await_subscription& operator=(const await_subscription&) = delete;
    ~await_subscription() { journal_.unsubscribe(id_); }

private:
    request_journal& journal_;
    std::uint64_t id_;
};

}  // namespace

control_server::control_server(asio::io_context& ioc, control_api& api, request_journal& journal, logger log,
                               std::size_t max_connections, message_limits limits)
    : ioc_(ioc),
      api_(api),
      journal_(journal),
      log_(std::move(log)),
      limits_(limits),
      listener_(ioc.get_executor(), listener_options{max_connections, at_connection_cap::refuse}, log_) {}

expected<std::uint16_t> control_server::listen(const listen_address& where) {
    auto endpoint = listen_endpoint(where);
    if (!endpoint) return endpoint.error();
    if (!endpoint->address().is_loopback())
        return make_error("the control API must listen on a loopback address, not " + where.host);
    auto bound = listener_.listen(where);
    if (!bound) return bound.error();
    return bound->port();
}

void control_server::start() {
    asio::co_spawn(ioc_,
                   listener_.accept([this](asio::ip::tcp::socket socket, connection_registry::membership m) {
                       asio::co_spawn(ioc_, serve(std::move(socket), std::move(m)), propagate_exception);
                   }),
                   propagate_exception);
}

void control_server::stop() {
    stopping_ = true;
    listener_.stop();
}

asio::awaitable<void> control_server::serve(asio::ip::tcp::socket socket, connection_registry::membership membership) {
    beast::tcp_stream stream(std::move(socket));
    asio::steady_timer timer(ioc_);  // /control/await waits on it
    connection_registry::membership registered = std::move(membership);
    registered.on_close([&] {
        stream.close();
        timer.cancel();
    });
    beast::flat_buffer buffer;
    while (!stopping_) {
        auto [ec, req] = co_await read_request(stream, buffer, limits_);
        if (ec) {
            if (const auto status = status_for_read_error(ec); status && !stopping_) {
                http_response res = control_api::bad_request(http::obsolete_reason(*status));
                res.result(*status);
                res.keep_alive(false);
                res.prepare_payload();
                if (!co_await write_response(stream, res, limits_)) co_await drain_unread_request(stream);
            }
            break;
        }
        http_response res;
        if (target_path(req.target()) == await_path) {
            if (req.method() != http::verb::get) {
                res = control_api::bad_request("use GET");
                res.result(http::status::method_not_allowed);
            } else if (auto q = parse_await_query(target_query(req.target())); !q) {
                res = control_api::bad_request(q.error().message);
            } else {
                res = co_await await_calls(*q, timer);
                if (stopping_) break;
            }
        } else {
            res = api_.handle(req, wall_clock::now());
        }
        finish_response(res, req);
        log_.debug({}, "control {} {} {}", req.method_string(), target_path(req.target()), res.result_int());
        if (auto write_ec = co_await write_response(stream, res, limits_); write_ec || !res.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

asio::awaitable<http_response> control_server::await_calls(const await_query& q, asio::steady_timer& timer) {
    const auto deadline = std::chrono::steady_clock::now() + q.timeout;
    for (;;) {
        const std::uint64_t count = api_.await_count(q);
        if (count >= q.count) co_return control_api::await_response(count, true);
        if (stopping_ || std::chrono::steady_clock::now() >= deadline) co_return control_api::await_response(count, false);
        timer.expires_at(deadline);
        const await_subscription woken(journal_, [&] {
            if (api_.await_count(q) >= q.count) timer.cancel();
        });
        co_await timer.async_wait(use_tuple);
    }
}

}  // namespace sessiond::sim
