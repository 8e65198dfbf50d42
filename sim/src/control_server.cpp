#include "ibkr_sim/control_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

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
                               std::size_t max_connections)
    : api_(api),
      journal_(journal),
      log_(std::move(log)),
      server_(ioc.get_executor(),
              [this](http_request req, const connection_context& context) { return respond(std::move(req), context); },
              server_options{sim_server_limits(max_connections), nullptr, {},
                             [](http::status status, std::chrono::steady_clock::time_point /*began*/) {
                                 return unreadable_request(status);
                             },
                             {}},
              log_) {}

expected<std::uint16_t> control_server::listen(const listen_address& where) {
    auto endpoint = listen_endpoint(where);
    if (!endpoint) return endpoint.error();
    if (!endpoint->address().is_loopback())
        return make_error("the control API must listen on a loopback address, not " + where.host);
    auto bound = server_.listen(where);
    if (!bound) return bound.error();
    return bound->port();
}

void control_server::start() { server_.start(); }

void control_server::stop() {
    stopping_ = true;
    server_.stop();
}

asio::awaitable<server_reply> control_server::respond(http_request req, const connection_context& context) {
    http_response res;
    if (req.method() == http::verb::get && target_path(req.target()) == await_path) {
        if (auto q = parse_await_query(target_query(req.target())); !q)
            res = control_api::bad_request(q.error().message);
        else
            res = co_await await_calls(*q, context);
    } else {
        res = api_.handle(req, wall_clock::now());
    }
    res.set(http::field::server, "ibkr-sim");
    log_.debug({}, "control {} {} {}", req.method_string(), target_path(req.target()), res.result_int());
    co_return res;
}

asio::awaitable<http_response> control_server::await_calls(const await_query& q, const connection_context& context) {
    const auto deadline = std::chrono::steady_clock::now() + q.timeout;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        const std::uint64_t count = api_.await_count(q);
        if (count >= q.count) co_return control_api::await_response(count, true);
        if (stopping_ || std::chrono::steady_clock::now() >= deadline) co_return control_api::await_response(count, false);
        timer.expires_at(deadline);
        bool woken = false;
        const await_subscription subscription(journal_, [&] {
            if (api_.await_count(q) < q.count) return;
            woken = true;
            timer.cancel();
        });
        auto [ec] = co_await timer.async_wait(asio::bind_cancellation_slot(context.closed, use_tuple));
        // Cancelled but not by the journal: the connection closed, nobody is waiting any more.
        if (ec == asio::error::operation_aborted && !woken) co_return control_api::await_response(count, false);
    }
}

}  // namespace sessiond::sim
