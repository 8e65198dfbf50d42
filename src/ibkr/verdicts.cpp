#include "sessiond/ibkr/verdicts.hpp"

#include <algorithm>

namespace sessiond {

namespace {

// `evidence` names where IBKR said it, when that is not validate's LOGIN_TYPE.
std::optional<std::string> wrong_environment(std::optional<ibkr_environment> reported, std::optional<ibkr_environment> expected,
                                    std::string_view evidence) {
    if (!reported || !expected || *reported == *expected) return std::nullopt;
    return "IBKR reports a " + std::string(to_string(*reported)) + " login but IBKR_ENV=" +
           std::string(to_string(*expected)) + std::string(evidence) +
           ": refusing to run a session for the wrong environment; fix IBKR_ENV or IBKR_CREDENTIAL, then reload";
}

}  // namespace

std::optional<std::string> environment_mismatch(const sso_validation& v, std::optional<ibkr_environment> expected) {
    return wrong_environment(v.login_type, expected, "");
}

std::optional<std::string> environment_mismatch(const account_list& list, std::optional<ibkr_environment> expected) {
    if (!list.login_type) return std::nullopt;
    return wrong_environment(list.login_type, expected,
                    *list.login_type == ibkr_environment::paper ? " (/iserver/accounts isPaper=true)"
                                                                : " (/iserver/accounts isPaper=false)");
}

std::optional<std::string> account_missing(const account_list& list, std::string_view account_id) {
    if (list.accounts.empty()) return std::nullopt;
    if (std::find(list.accounts.begin(), list.accounts.end(), account_id) != list.accounts.end()) return std::nullopt;
    std::string listed;
    for (const auto& a : list.accounts) {
        if (listed.size() > 200) {
            listed += ", ...";
            break;
        }
        listed += listed.empty() ? a : ", " + a;
    }
    return "IBKR_ACCOUNT_ID " + std::string(account_id) + " is not among the accounts of this login (" + listed +
           "): refusing to keep a session for another account";
}

}  // namespace sessiond
