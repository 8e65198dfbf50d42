#pragma once
// The text of IBKR's /v1/api/ws protocol as the gateway's WebSocket reads it (ibkr-gateway
// reference, section 3): what a client's frame asks for, and which clients an upstream message is for.
//
// Client frames:
//   subscribe     s<xx>+<arg>+<params> or s<xx>+{}:  smd+265598+{"fields":["31"]}, sor+{}, spl+{}, str+{..}
//   unsubscribe   u<xx>+<arg>+{} or u<xx>:           umd+265598+{}, uor+{}, upl+{}, utr
//   heartbeat     tic (IBKR must see one a minute: the daemon sends its own)
//   echo          ech+<anything> (answered with the same text)
//   session       {"session":"..."} (the daemon sends IBKR's own)
//   other         anything else: forwarded upstream as it came
//
// A subscription's key is its family and argument: smd+265598 and umd+265598 both key "md:265598",
// sor/uor key "or:". Families: md (market data), mh (history), or (orders), pl (P&L), tr (trades),
// bd (book data), sd (account summary), ld (ledger). umh takes IBKR's server id, not the conid it
// subscribed with: the gateway cannot tell which history it ends, so it is forwarded as "other".
//
// Upstream messages carry a "topic": "smd+265598" goes to the md:265598 subscribers, "sor" to the
// or: subscribers, the unsolicited topics (system, sts, ntf, blt, act, error) and unknown ones to
// every client. {"message":"waiting for session"} asks the daemon for the session message.
//
// Pure: no I/O.

#include <optional>
#include <string>
#include <string_view>

namespace sessiond {

struct ws_client_frame {
    enum kind_t { subscribe, unsubscribe, heartbeat, echo, session, other };
    kind_t kind = other;
    std::string key;  // subscribe and unsubscribe: the subscription's key
};

[[nodiscard]] ws_client_frame classify_client_frame(std::string_view text);

// The frame that ends the subscription `key` (what the daemon sends IBKR when its last client leaves).
[[nodiscard]] std::string unsubscribe_frame(std::string_view key);

struct ws_upstream_route {
    enum kind_t {
        everyone,             // unsolicited, or a topic the gateway does not know
        subscribers,          // the clients subscribed to `key`
        waiting_for_session,  // IBKR asks for {"session":...}: for the daemon, no client
        authenticated,        // sts with authenticated true: to everyone, and subscriptions may be sent
        refused,              // sts with authenticated false (no brokerage session): to everyone
    };
    kind_t kind = everyone;
    std::string key;
};

[[nodiscard]] ws_upstream_route route_upstream_message(std::string_view text);

// The message IBKR's WebSocket is opened with: {"session":"<tickle session>"}.
[[nodiscard]] std::string session_message(std::string_view tickle_session);

}  // namespace sessiond
