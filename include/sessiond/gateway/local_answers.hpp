#pragma once
// What the gateway answers itself, in IBKR's shapes, from the daemon's own state: a client that
// tickles every few seconds (ibind's check_health, the MCP server's 30 s tickle) costs IBKR nothing,
// and no client learns a secret of the session.
//
//   /tickle               {"session", "ssoExpires", "collission", "iserver": {"authStatus": {...}}}
//   /iserver/auth/status  {"authenticated", "competing", "connected", "established", "message", "fail", "serverInfo"}
//   /sso/validate         {"RESULT", "EXPIRES", "LOGIN_TYPE"} from the daemon's last validate
//
// The brokerage status is the daemon's, not IBKR's last word alone: a session the daemon does not
// serve clients with (reconnecting, competing, paper/live unconfirmed) is reported not authenticated,
// so that a client waits instead of sending calls the gateway would hold. "session" is the gateway's
// own opaque value: IBKR's tickle session authenticates the WebSocket and stays inside the daemon (a
// client that sends the gateway's value back is given the real one upstream). IBKR's userId, MAC
// and the user's name are left out: the daemon does not keep them, or keeps them secret.
//
// Pure: the snapshot and the time are parameters.

#include "sessiond/session/lifecycle_machine.hpp"

#include <boost/json/object.hpp>

#include <string_view>

namespace sessiond {

// `snapshot` is null when no session runs (not configured, or a reload between two sessions).
// `serving`: the daemon forwards clients' calls now (session_keeper::serves_clients()).
boost::json::object tickle_answer(const session_snapshot* snapshot, bool serving, std::string_view local_session,
                                  wall_time now);
boost::json::object auth_status_answer(const session_snapshot* snapshot, bool serving);
boost::json::object validate_answer(const session_snapshot* snapshot, bool serving, wall_time now);

}  // namespace sessiond
