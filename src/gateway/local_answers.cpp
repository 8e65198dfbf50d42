#include "sessiond/gateway/local_answers.hpp"

#include <algorithm>

namespace sessiond {

namespace json = boost::json;

namespace {

std::int64_t ms_left(const std::optional<wall_time>& until, wall_time now) {
    if (!until) return 0;
    return std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(*until - now).count());
}

std::string_view message_of(const session_snapshot* s, bool serving) {
    if (s == nullptr) return "no session: the daemon is not configured, or between two sessions";
    if (serving) return "";
    if (!s->reason.empty()) return s->reason;
    return to_string(s->state);
}

json::object server_info() { return {{"serverName", "ibkr-sessiond"}, {"serverVersion", "ibkr-sessiond/" SESSIOND_VERSION}}; }

}  // namespace

json::object auth_status_answer(const session_snapshot* s, bool serving) {
    const bool competing = s != nullptr && (s->state == lifecycle::competing || s->brokerage.competing);
    const bool connected = s != nullptr && s->brokerage_reported && s->brokerage.connected;
    return {{"authenticated", serving},
            {"competing", competing},
            {"connected", serving || connected},
            {"established", serving},
            {"message", message_of(s, serving)},
            {"fail", ""},
            {"serverInfo", server_info()}};
}

json::object tickle_answer(const session_snapshot* s, bool serving, std::string_view local_session, wall_time now) {
    json::object auth = auth_status_answer(s, serving);
    json::object out{{"session", local_session},
                     {"ssoExpires", s == nullptr ? 0 : ms_left(s->sso_expires_at, now)},
                     {"collission", s != nullptr && s->brokerage.competing},
                     {"iserver", json::object{{"authStatus", std::move(auth)}}}};
    return out;
}

json::object validate_answer(const session_snapshot* s, bool serving, wall_time now) {
    json::object out{{"RESULT", serving}, {"EXPIRES", s == nullptr ? 0 : ms_left(s->sso_expires_at, now)}};
    if (s != nullptr && s->login_type) out["LOGIN_TYPE"] = *s->login_type == ibkr_environment::live ? 1 : 2;
    return out;
}

}  // namespace sessiond
