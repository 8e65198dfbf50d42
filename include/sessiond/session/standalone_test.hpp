#pragma once
// `ibkr-sessiond test-connection` when no daemon keeps the username: one run of the daemon's own
// session driver, with the daemon's pacing store, then its logout. The login flow, its pacing and
// its report are the ones a daemon's POST /api/ibkr/test has; a login or call IBKR's limits do not
// allow now (the persisted login budget, the validate pace, a 429 penalty) is reported as not run,
// never waited for: a one-shot that sat silent for minutes would look hung.
//
// The caller holds the username's host lock (host/username_lock.hpp) while this runs.

#include "sessiond/config/settings.hpp"
#include "sessiond/log/log.hpp"
#include "sessiond/session/connection_test.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <functional>
#include <memory>

namespace sessiond {

// Starts the test on `executor`; `done` gets the report, with a "logout" line when a session was
// opened, once the session has ended.
void run_standalone_test(boost::asio::any_io_executor executor, const settings& config,
                         std::shared_ptr<boost::asio::ssl::context> tls, logger log,
                         std::function<void(connection_test_report)> done);

}  // namespace sessiond
