#pragma once
// Everything ibkr-sim can be told on its command line, and the parser that names the flag at fault.
//
// Explicit flags win over the daemon's env file (--env-file), whatever their order on the line.

#include "sessiond/core/values.hpp"
#include "sessiond/core/error.hpp"

#include <spdlog/common.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond::sim {

using sim_duration = std::chrono::milliseconds;

enum class login_type { paper, live };

// One IBKR username as IBKR knows it: the registered OAuth client (client_id, key id, public key,
// granted scope) it logs in through, the address it logs in from, its accounts and its environment.
// Several users may share a client (one OAuth app, several usernames); they then agree on the
// client's key id, key and scope.
struct user_config {
    std::string client_id = "sim-client";
    std::string key_id = "main";
    std::string public_key_pem;  // SubjectPublicKeyInfo PEM of the client's RSA key
    std::string username = "simuser";  // what the SSO JWT's credential claim names
    std::string allowed_ip = "127.0.0.1";
    std::vector<std::string> accounts{"DU1234567"};
    login_type login = login_type::paper;
    std::string scope = "sso-sessions.write";
};

// What the IBKR side knows about its clients and users, and how it paces them.
struct model_config {
    // At least one; the single-user flags (or --env-file) make exactly one, --users any number.
    std::vector<user_config> users{user_config{}};

    sim_duration token_lifetime{std::chrono::seconds(86400)};
    sim_duration sso_lifetime{std::chrono::seconds(600)};
    sim_duration sso_max_life{std::chrono::seconds(86400)};
    bool validate_extends = true;
    bool tickle_extends = false;
    sim_duration brokerage_idle_timeout{std::chrono::seconds(300)};
    sim_duration tickle_min_interval{std::chrono::seconds(1)};
    sim_duration validate_min_interval{std::chrono::seconds(60)};
    // Requests to the IBKR endpoints accepted in any sliding second, all endpoints together; 0 = no limit.
    std::size_t max_requests_per_second = 10;
    // After any 429 of the simulator's own limiters, every IBKR request gets 429 this long; 0 = off.
    sim_duration penalty_box{};
    // IBKR's per-endpoint limits (snapshot 10/s, orders/trades/pnl/portfolio 1 per 5 s, history 5
    // concurrent); off only for benchmarks (--no-endpoint-limits).
    bool endpoint_limits = true;
    sim_duration clock_skew{std::chrono::seconds(30)};
    sim_duration max_assertion_life{std::chrono::seconds(300)};

    std::string server_name = "ibkr-sim";
    std::string server_version = "Build 10.30.1 (ibkr-sim)";
};

using sessiond::listen_address;

struct server_config {
    listen_address https{"127.0.0.1", 0};
    listen_address control{"127.0.0.1", 0};
    std::optional<std::string> ca_out;
    std::optional<std::string> cert_host;
    std::optional<std::string> tls_cert;
    std::optional<std::string> tls_key;
    std::optional<std::string> tls_dir;
    std::size_t max_connections = 256;
    // /iserver/marketdata/history answers this late, so that concurrent requests exist (0 = at once).
    sim_duration history_delay{};
    // WebSocket: system heartbeat period, market data (smd) update period, the most bytes queued for a
    // client before it is cut off, and how long without any frame from the client before it is closed.
    sim_duration ws_heartbeat{std::chrono::seconds(10)};
    sim_duration ws_market_data_interval{std::chrono::seconds(1)};
    std::size_t ws_send_queue = 1024 * 1024;
    sim_duration ws_idle_timeout{std::chrono::seconds(90)};
    spdlog::level::level_enum log_level = spdlog::level::info;
};

struct sim_config {
    model_config model;
    server_config server;
};

struct command_line {
    sim_config config;
    bool help = false;
};

// args excludes argv[0]. Reads --env-file, --client-public-key and key files named in the env file,
// or --users and the key files it names.
expected<command_line> parse_command_line(std::span<const std::string_view> args);

// The --users file: {"users":[{"client_id","key_id","public_key_file" or "public_key","username",
// "accounts":[..],"environment":"paper"|"live","allowed_ip"[,"scope"]}, ...]}. Errors name the
// entry and the field ("users[3].username: ...").
expected<std::vector<user_config>> load_users_file(const std::string& path);
// The same from the file's text (key files are still read from disk).
expected<std::vector<user_config>> parse_users(std::string_view json_text);
inline constexpr std::size_t max_users = 100'000;

std::string usage_text();

// "HOST:PORT" or "[v6]:PORT"; the host must be an IP literal or "localhost".

// Seconds with an optional fraction ("0.5"), not negative.
expected<sim_duration> parse_seconds(std::string_view text);

}  // namespace sessiond::sim
