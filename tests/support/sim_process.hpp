#pragma once
// ibkr-sim as a child process, configured from a struct, with its control API wrapped in calls that
// fail the test when the simulator does not answer as expected.

#include "support/http_client.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond::testing {

struct sim_options {
    std::string client_id = "sim-client";
    std::string key_id = "main";
    std::string credential = "simuser";
    std::string allowed_ip = "127.0.0.1";
    std::vector<std::string> accounts{"DU1234567"};
    std::string login_type = "paper";
    std::string scope = "sso-sessions.write";
    // Public key PEM the simulator verifies with; empty means shared_rsa_key().public_pem.
    std::string public_key_pem;
    // Seconds; unset leaves the simulator's default.
    std::optional<double> token_lifetime;
    std::optional<double> sso_lifetime;
    std::optional<double> sso_max_life;
    std::optional<double> brokerage_idle_timeout;
    std::optional<double> tickle_min_interval;
    std::optional<double> validate_min_interval;
    std::optional<double> clock_skew;
    std::optional<double> max_assertion_life;
    std::optional<double> penalty_box;
    // --history-delay, --ws-heartbeat, --ws-market-data-interval, --ws-idle-timeout (seconds).
    std::optional<double> history_delay;
    std::optional<double> ws_heartbeat;
    std::optional<double> ws_market_data_interval;
    std::optional<double> ws_idle_timeout;
    std::optional<std::size_t> ws_send_queue;  // bytes
    bool endpoint_limits = true;               // false: --no-endpoint-limits (benchmarks only)
    // IBKR requests per sliding second; unset leaves the simulator's default (10), 0 = no limit.
    std::optional<unsigned> max_requests_per_second;
    bool validate_extends = true;
    bool tickle_extends = false;
    std::optional<std::string> cert_host;  // the certificate names only this host
    std::string log_level = "info";
    std::vector<std::string> extra_args;
    // --users FILE instead of the single-user flags above (client_id ... scope, public_key_pem).
    std::optional<std::string> users_file;
};

class sim_process {
public:
    // Starts the simulator and waits (at most 15 s) for its ready line; a failure fails the test
    // and throws, so the test stops there.
    explicit sim_process(sim_options options = {});
    ~sim_process();
    sim_process(const sim_process&) = delete;
    sim_process& operator=(const sim_process&) = delete;

    [[nodiscard]] std::string base_url() const;  // "https://127.0.0.1:PORT"
    [[nodiscard]] const std::filesystem::path& ca_file() const noexcept { return ca_file_; }
    [[nodiscard]] std::uint16_t https_port() const noexcept { return https_port_; }
    [[nodiscard]] std::uint16_t control_port() const noexcept { return control_port_; }
    [[nodiscard]] const sim_options& options() const noexcept { return options_; }
    [[nodiscard]] const std::filesystem::path& directory() const noexcept { return dir_.path(); }

    // An HTTPS client for the simulator's API, trusting its CA and verifying "localhost".
    [[nodiscard]] std::unique_ptr<http_client> https_client(std::string server_name = "localhost") const;
    // A plain client for the control API.
    [[nodiscard]] std::unique_ptr<http_client> control_client() const;

    // Control API. Each call fails the test (ADD_FAILURE) when the simulator refuses it.
    void fault(const boost::json::value& spec);
    void clear_faults();
    void expire_sessions();
    void drop_brokerage();
    void set_competing(bool on);
    // Maintenance on until switched off, or for `duration` (then off by itself); off cancels a timed one.
    void set_maintenance(bool on, std::optional<std::chrono::milliseconds> duration = std::nullopt);
    // IBKR's daily reset: every SSO session, OAuth token and brokerage session ends now, then
    // maintenance for `maintenance` (none when 0).
    void nightly_reset(std::chrono::milliseconds maintenance = std::chrono::milliseconds(0));
    void reset_stats();
    boost::json::object state();
    boost::json::object events(std::uint64_t since = 0);
    // The bodies that reached POST /v1/api/iserver/account/{id}/orders, oldest first:
    // [{"seq","account","body","status","reason"}].
    boost::json::array order_bodies();
    // The open WebSockets: [{"id","subscriptions":{"authenticated","smd","sor","spl","str"},"queued_bytes"}].
    boost::json::array websockets();
    // Closes every open WebSocket abruptly; returns how many.
    std::uint64_t drop_websockets();
    // Requests made on a username's session by another client (User-Agent) than the one that opened
    // its newest SSO session: two replicas acting for one user at once. {"count","overlaps":[...]}.
    boost::json::object overlaps();
    // Every token the simulator handed out: what the daemon must never print.
    std::vector<std::string> issued_tokens();
    // True once `count` requests to path (with that status, if given) were recorded; false at the timeout.
    bool await_calls(std::string_view path, std::uint64_t count, std::chrono::milliseconds timeout,
                     std::optional<unsigned> status = std::nullopt);

    // SIGTERM and wait for the exit; returns the exit code (or 128 + signal).
    std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    void kill9();
    // Starts a new simulator on the same HTTPS port with the same TLS identity (state starts afresh).
    void restart();
    [[nodiscard]] bool running() const;

    // The simulator's stderr (its request log).
    [[nodiscard]] std::string output() const;

private:
    void start(std::optional<std::uint16_t> https_port);
    boost::json::object control_post(std::string_view target, const boost::json::value* body);
    // A GET to the control API whose answer is a JSON object; fails the test (and returns {}) otherwise.
    boost::json::object control_get(std::string_view target);

    sim_options options_;
    temp_dir dir_;
    std::filesystem::path public_key_file_;
    std::filesystem::path ca_file_;
    std::uint16_t https_port_ = 0;
    std::uint16_t control_port_ = 0;
    std::unique_ptr<subprocess> process_;
    std::string earlier_output_;  // stderr of runs before the last restart()
};

}  // namespace sessiond::testing
