#pragma once
// `ibkr-sessiond test-connection` beside a running daemon for the same IBKR username: it asks the
// daemon (POST /api/ibkr/test with SESSIOND_API_TOKEN) and prints the daemon's report, instead of
// logging in itself: its own login would end the daemon's SSO session, and its validate would come
// within IBKR's one-per-minute limit of the daemon's (429, then IBKR's penalty box for both).

#include "sessiond/config/settings.hpp"
#include "sessiond/host/username_lock.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace sessiond {

// What the CLI prints and exits with.
struct delegated_test {
    int exit_code = 0;
    std::string output;
};

// The daemon's API address: what the lock holder said, else SESSIOND_LISTEN (on loopback when it
// listens on every address); empty when neither names one (port 0).
std::string daemon_api_address(const lock_holder& holder, const service_options& service);

// Pure: the CLI's verdict on the daemon's answer to POST /api/ibkr/test (HTTP status and body).
// 200: the daemon's report in format_test_report's form, exit 0 when it passed, 1 when not.
// Anything else: why no verdict came, exit_tempfail.
delegated_test interpret_daemon_answer(const lock_holder& holder, std::string_view api, unsigned http_status,
                                       std::string_view body);

// Asks the daemon and waits for its verdict (up to `timeout`: its test can take two minutes).
// Never logs in to IBKR, whatever happens.
delegated_test ask_daemon_to_test(const lock_holder& holder, const settings& config,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(150));

}  // namespace sessiond
