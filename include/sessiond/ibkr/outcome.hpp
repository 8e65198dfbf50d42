#pragma once
// What one IBKR call came to: success with its parsed payload, or a classified failure. The
// classification is what the session machine decides on; it is pure and lives in one place.

#include "sessiond/ibkr/protocol.hpp"
#include "sessiond/ibkr/requests.hpp"
#include "sessiond/ibkr/responses.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sessiond {

enum class failure : std::uint8_t {
    none,
    unauthorized,  // 401: the token or session is not (or no longer) valid
    forbidden,     // 403: a claim was refused (ip, credential)
    rejected,      // any other 4xx (400 "no bridge", 404, 410, 411) or an unexpected 1xx/3xx
    rate_limited,  // 429
    server_error,  // 5xx
    timeout,       // no complete answer before the deadline (resolve, connect, TLS, write, read)
    transport,     // refused, reset, closed early, name not resolved
    tls,           // handshake or certificate verification failed
    bad_response,  // HTTP fine, body unusable: not JSON, wrong Content-Type, missing fields
    not_processed, // tickle answered 200 {"error": ...}: accepted but not processed
    cancelled,     // the daemon is stopping
};

inline constexpr std::array all_failures{failure::unauthorized, failure::forbidden,   failure::rejected,
                                         failure::rate_limited, failure::server_error, failure::timeout,
                                         failure::transport,    failure::tls,          failure::bad_response,
                                         failure::not_processed, failure::cancelled};

std::string_view to_string(failure f) noexcept;

struct step_outcome {
    step which = step::oauth;
    failure kind = failure::none;
    int http_status = 0;
    std::string detail;  // safe for logs and the status page
    std::optional<std::chrono::seconds> retry_after;
    std::chrono::milliseconds duration{0};

    // Payloads, present on success of the matching step.
    std::optional<oauth_token> token;
    std::optional<sso_grant> sso;
    std::optional<sso_validation> validation;
    std::optional<brokerage_status> brokerage;  // init
    std::optional<tickle_report> tickle;
    std::optional<account_list> accounts;

    [[nodiscard]] bool ok() const noexcept { return kind == failure::none; }
};

// Classifies an HTTP response to step s and parses its payload.
step_outcome interpret_response(step s, const http_response& res, std::chrono::system_clock::time_point now);

step_outcome failed_outcome(step s, failure kind, std::string detail, int http_status = 0);
// The transport's failures are a subset of the session's classification.
failure to_failure(transport_error e) noexcept;

// The guide's troubleshooting advice that fits a failure, or empty.
std::string_view troubleshooting_hint(step s, failure kind, int http_status) noexcept;

// A failure as production mode tells an API client: "HTTP 401 (unauthorized); <the guide's hint>",
// or the kind of failure when IBKR did not answer; never IBKR's text or the daemon's internals.
std::string public_failure(step s, failure kind, int http_status);

}  // namespace sessiond
