#pragma once
// Parsers for every IBKR response body the session reads. Pure, total on any input: a body that
// does not have what the step needs is an error naming the missing field, never an exception.
// Field names follow the OpenAPI spec (protocol reference sections 2.3, 3.3 and 4).

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/ibkr/profile.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

struct oauth_token {
    secret access_token;
    std::chrono::seconds expires_in{0};  // 0 when IBKR did not say
};

struct sso_grant {
    secret access_token;  // the bearer for every /v1/api call
    bool active = true;
};

struct sso_validation {
    bool result = false;                            // RESULT
    std::optional<ibkr_environment> login_type;     // LOGIN_TYPE / loginType: 1 live, 2 paper
    std::optional<std::chrono::milliseconds> expires;  // EXPIRES: time left on the SSO session
};

// iserver.authStatus (tickle) and the ssodh/init and auth/status responses.
struct brokerage_status {
    bool authenticated = false;
    bool connected = false;
    bool competing = false;
    // Not in every answer (a tickle's authStatus leaves it out): unknown then.
    std::optional<bool> established;
    std::string message;
    std::string fail;
    std::string server_name;
    std::string server_version;

    // IBIND's health predicate: usable for trading.
    [[nodiscard]] bool healthy() const noexcept { return authenticated && connected && !competing; }
};

struct tickle_report {
    // Absent when the reply carries no iserver.authStatus; the session then treats the brokerage
    // session as not authenticated (the safe reading) and initialises it again.
    std::optional<brokerage_status> brokerage;
    std::optional<std::chrono::milliseconds> sso_expires;  // ssoExpires
    std::string not_processed;                             // {"error": ...} with HTTP 200
    // "session": what authenticates the brokerage session's WebSocket (cookie api=...); empty when absent.
    secret session;
};

struct account_list {
    std::vector<std::string> accounts;
    std::string selected;
    // isPaper: paper (true) or live (false); absent when IBKR leaves it out or sends no boolean.
    std::optional<ibkr_environment> login_type;
};

expected<oauth_token> parse_oauth_token(std::string_view body);
expected<sso_grant> parse_sso_grant(std::string_view body);
expected<sso_validation> parse_sso_validation(std::string_view body);
expected<brokerage_status> parse_brokerage_status(std::string_view body);
expected<tickle_report> parse_tickle(std::string_view body);
expected<account_list> parse_accounts(std::string_view body);

// A one-line, bounded, redacted description of an error body: the Problem Details title/detail,
// the {"error": ...} text, or the start of the body when it is neither.
std::string describe_error_body(std::string_view body);

// Text from IBKR made fit for a log line or the status page: redacted, printable, bounded.
std::string printable_remote_text(std::string_view raw);

// Retry-After: delta-seconds or an HTTP-date (RFC 9110 10.2.3). Bounded to a day.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

}  // namespace sessiond
