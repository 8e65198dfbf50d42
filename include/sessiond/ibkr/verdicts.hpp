#pragma once
// The two answers from IBKR that no retry can fix: a login for the wrong environment (validate's
// LOGIN_TYPE or /iserver/accounts' isPaper), and an account list without the configured account.
// Pure; shared by the session machine and the connection test.

#include "sessiond/ibkr/profile.hpp"
#include "sessiond/ibkr/responses.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace sessiond {

// Why this validated login must not be used, or nothing. Without LOGIN_TYPE there is nothing to
// contradict IBKR_ENV, so the login is accepted (the caller logs that it could not verify).
std::optional<std::string> environment_mismatch(const sso_validation& v, std::optional<ibkr_environment> expected);
// The same verdict from /iserver/accounts' isPaper. Without isPaper there is nothing to contradict.
std::optional<std::string> environment_mismatch(const account_list& list, std::optional<ibkr_environment> expected);

// Why this login cannot serve the account, or nothing. An empty list is not a verdict: IBKR lists
// nothing while a brokerage session is still coming up, so that is retried.
std::optional<std::string> account_missing(const account_list& list, std::string_view account_id);

}  // namespace sessiond
