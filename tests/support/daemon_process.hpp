#pragma once
// The real ibkr-sessiond binary as a child process, configured to talk to an ibkr-sim with
// test-speed timings, its API on a free loopback port. Tests observe it through its log lines (stderr) and the simulator's journal.

#include "support/http_client.hpp"
#include "support/sim_process.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond::testing {

using environment_overrides = std::map<std::string, std::optional<std::string>>;

// A fresh random API token, shaped so that it can only come from the test ("canary-api-token-...").
std::string canary_api_token();

struct daemon_options {
    // Applied over daemon_environment(); nullopt removes a variable.
    environment_overrides environment;
    std::vector<std::string> args{"run", "--log-level", "debug"};
    // The key the daemon signs with; empty means shared_rsa_key().
    std::string private_key_pem;
    // SESSIOND_API_TOKEN, a canary that no output may contain (an environment override wins).
    std::string api_token = canary_api_token();
};

// Everything the daemon needs to reach `sim` as its IBKR, with timings small enough for tests:
// tickle every second, no settle, 2 s HTTP timeout, backoff from 0.2 s capped at 1 s.
environment_overrides daemon_environment(const sim_process& sim, const std::filesystem::path& key_file);

class daemon_process {
public:
    explicit daemon_process(const sim_process& sim, daemon_options options = {});
    ~daemon_process();
    daemon_process(const daemon_process&) = delete;
    daemon_process& operator=(const daemon_process&) = delete;

    // True once the log holds at least `count` lines containing text; false at the timeout.
    bool wait_for_log(std::string_view text, std::size_t count = 1,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // How many log lines contain text right now.
    [[nodiscard]] std::size_t count_in_log(std::string_view text) const;
    // SIGTERM, then the exit code (nullopt if it did not exit within the timeout).
    std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(15));
    // The exit code once the process ended and everything it printed has been read.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    [[nodiscard]] bool running() const { return process_->running(); }
    // Its process id, for what only /proc/<pid> tells (resident memory, descriptor limits).
    [[nodiscard]] pid_t pid() const noexcept { return process_->pid(); }
    void send_signal(int signal) { process_->send_signal(signal); }

    // The port of its API, from the log line "API listening on http://HOST:PORT" (the tests make it
    // listen on 127.0.0.1:0); nullopt when that line did not come within the timeout.
    std::optional<std::uint16_t> api_port(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // A client of its API (throws when api_port() has nothing). Every response it receives is kept
    // in responses(), which the fixture checks for secrets.
    http_client api();
    [[nodiscard]] std::string responses() const;
    // SESSIOND_API_TOKEN as the daemon got it; empty when it has none.
    [[nodiscard]] const std::string& api_token() const noexcept { return api_token_; }

    // Everything it printed, stdout and stderr.
    [[nodiscard]] std::string output() const;
    [[nodiscard]] std::string log() const;
    [[nodiscard]] const std::string& private_key_pem() const noexcept { return key_pem_; }

private:
    temp_dir dir_;
    std::string key_pem_;
    std::unique_ptr<subprocess> process_;
    std::optional<std::uint16_t> api_port_;
    std::mutex api_port_lock_;
    std::string api_token_;
    struct transcript {
        std::mutex lock;
        std::string text;
    };
    std::shared_ptr<transcript> responses_ = std::make_shared<transcript>();
};

// Runs `ibkr-sessiond <args>` to completion (e.g. check-config, test-connection) and returns its
// exit code and output.
struct command_result {
    std::optional<int> exit_code;
    std::string out;
    std::string err;
};
command_result run_sessiond(const environment_overrides& environment, std::vector<std::string> args,
                            std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Where text holds something shaped like a JWT ("eyJ", base64url, then a dot), or npos.
std::size_t find_jwt_shape(std::string_view text);

// Fails the test when text holds any line of the private key, any of the tokens (those the
// simulator issued, the API token), or anything shaped like a signed assertion (JWT) or a PEM block.
void expect_no_secrets(std::string_view text, std::string_view private_key_pem,
                       const std::vector<std::string>& tokens, std::string_view what);

}  // namespace sessiond::testing
