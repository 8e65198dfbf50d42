#include "sessiond/ibkr/claims.hpp"

#include <algorithm>

namespace sessiond {

namespace {
std::int64_t epoch(sys_seconds t) { return t.time_since_epoch().count(); }
}  // namespace

boost::json::object client_assertion_claims(std::string_view client_id, sys_seconds now) {
    return {{"iss", client_id},
            {"sub", client_id},
            {"aud", "/token"},
            {"iat", epoch(now - assertion_backdate)},
            {"exp", epoch(now + assertion_lifetime)}};
}

boost::json::object sso_session_claims(std::string_view client_id, std::string_view credential, std::string_view ip,
                                       sys_seconds now) {
    return {{"ip", ip},
            {"credential", credential},
            {"iss", client_id},
            {"iat", epoch(now)},
            {"exp", epoch(now + sso_request_lifetime)}};
}

login_send_plan plan_login_send(bool token_request, std::chrono::system_clock::time_point signed_at,
                                std::chrono::system_clock::time_point turn) {
    login_send_plan plan{std::nullopt, std::max(turn, signed_at)};
    if (token_request && plan.send_at - signed_at >= assertion_lifetime / 2)
        plan.sign_again_at = plan.send_at - resign_lead;
    return plan;
}

}  // namespace sessiond
