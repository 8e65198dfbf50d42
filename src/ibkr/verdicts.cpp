#include "sessiond/ibkr/verdicts.hpp"

#include <algorithm>

namespace sessiond {

std::optional<std::string> environment_mismatch(const sso_validation& v, std::optional<ibkr_environment> expected) {
    if (!v.login_type || !expected || *v.login_type == *expected) return std::nullopt;
    return "IBKR reports a " + std::string(to_string(*v.login_type)) + " login but IBKR_ENV=" +
           std::string(to_string(*expected)) +
           ": refusing to run a session for the wrong environment; fix IBKR_ENV or IBKR_CREDENTIAL, then reload";
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
