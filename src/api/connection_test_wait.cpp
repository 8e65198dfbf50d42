#include "sessiond/api/connection_test_wait.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>

namespace sessiond {

namespace asio = boost::asio;

asio::awaitable<awaited_test> await_connection_test(asio::any_io_executor executor, std::chrono::milliseconds timeout,
                                                    test_starter start, asio::cancellation_slot closed) {
    // The session calls back on the event loop; the state outlives this coroutine if the client
    // goes away first.
    struct waiting {
        explicit waiting(const asio::any_io_executor& ex) : timer(ex) {}
        asio::steady_timer timer;
        std::optional<connection_test_report> report;
    };
    auto state = std::make_shared<waiting>(executor);
    state->timer.expires_after(timeout);
    auto done = [state](const connection_test_report& r) {
        state->report = r;
        state->timer.cancel();
    };
    awaited_test out;
    out.started = start(std::move(done));
    if (!out.started) co_return out;
    if (!state->report)
        co_await state->timer.async_wait(asio::bind_cancellation_slot(closed, asio::as_tuple(asio::use_awaitable)));
    out.report = std::move(state->report);
    co_return out;
}

}  // namespace sessiond
