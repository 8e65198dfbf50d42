#pragma once
// The value types a setting can have, each with its parser: pure functions, no I/O, no environment.
//
// Error messages describe what is wrong without quoting the input (the input may be a secret put in
// the wrong variable): the caller decides whether the value may be shown and prefixes it. Messages of
// parse_seconds, parse_bool and check_ip_literal read as a predicate ("is not a boolean ..."); those
// of parse_base_url are complete ("must start with https:// ...").

#include "sessiond/core/ascii.hpp"
#include "sessiond/core/error.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sessiond {

using seconds_f = std::chrono::duration<double>;

// IBKR_BASE_URL split into what the HTTPS client needs. Only "https://host[:port]" with an empty or
// "/" path is accepted: the daemon appends /oauth2, /gw and /v1/api itself.
struct base_url {
    std::string text;   // as configured, normalised without a trailing '/'
    std::string host;   // host name or IP literal (IPv6 without brackets)
    std::uint16_t port = 443;
};

// Where a server listens: "HOST:PORT" or "[IPv6]:PORT"; port 0 picks a free one.
struct listen_address {
    std::string host;  // an IP literal or "localhost" (= 127.0.0.1); IPv6 without brackets
    std::uint16_t port = 0;
};

// "127.0.0.1:4257", "[::1]:0", "localhost:8080". The error does not quote the input.
expected<listen_address> parse_listen_address(std::string_view text);
// "127.0.0.1:4257" / "[::1]:4257".
std::string to_string(const listen_address& a);
// Loopback addresses only (127.0.0.0/8, ::1, localhost): nothing off this machine can connect.
bool is_loopback(const listen_address& a);

// Plain decimal seconds: "60", "0.5", "1.25". No sign, exponent, unit, blanks, inf or nan.
expected<seconds_f> parse_seconds(std::string_view text);

// A local time of day, "HH:MM" or "HH:MM:SS" with two digits each, 00:00 to 23:59:59.
expected<std::chrono::seconds> parse_time_of_day(std::string_view text);

// true/false, yes/no, on/off, 1/0, in any case.
expected<bool> parse_bool(std::string_view text);

// An IPv4 ("203.0.113.7") or IPv6 ("2001:db8::7") literal, without brackets, port or zone.
expected<void> check_ip_literal(std::string_view text);

// "https://host[:port][/]": host required, port 1-65535, nothing after the authority.
expected<base_url> parse_base_url(std::string_view text);

// A number of seconds as an operator writes it: 2 not 2.000000, 0.5, 86400.
std::string format_seconds(double seconds);

}  // namespace sessiond
