#pragma once
// How the API waits for a connection test (POST /api/ibkr/test, and a user's in multi-user mode):
// the session runs the test and calls back on the event loop; the request waits for that report at
// most the configured time, and no longer than its connection lives. One place for both endpoints.

#include "sessiond/session/connection_test.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <chrono>
#include <functional>
#include <optional>

namespace sessiond {

struct awaited_test {
    bool started = false;                          // false: there was no session to test
    std::optional<connection_test_report> report;  // none once started: not within the time (504)
};

// Hands `done` to the session (it must call it on the event loop) and says whether a test started.
using test_starter = std::function<bool(std::function<void(const connection_test_report&)> done)>;

// Starts the test and waits for its report at most `timeout`; ends early when `closed` fires (the
// connection closed: nobody is left to answer).
boost::asio::awaitable<awaited_test> await_connection_test(boost::asio::any_io_executor executor,
                                                           std::chrono::milliseconds timeout, test_starter start,
                                                           boost::asio::cancellation_slot closed);

}  // namespace sessiond
