#pragma once
// What the users API of multi-user mode (api/users_api.hpp) asks of the daemon: the users, their API
// tokens, their IBKR credentials, their sessions and the audit log. The API parses and authorises
// requests and renders answers; everything behind these calls (the store, the vault, IBKR, the
// sessions) is the implementation's (users/user_service.hpp). Split so that the HTTP rules are
// tested against a plain in-memory directory, and the storage rules without HTTP.
//
// Who may call what is decided by the API before it calls here, with the caller it passes:
// the admin manages users; a user reaches only their own resources. Every call records its audit
// entry itself (in the transaction of its change); the API reports denied requests through
// record_denied().

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/session/connection_test.hpp"
#include "sessiond/users/credential_request.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sessiond {

// A user id: 1 to 64 of [A-Za-z0-9._-], not starting with '.' or '-' (it appears in URL paths,
// audit entries and log lines as it is). The API refuses any other with 400 before calling here.
bool valid_user_id(std::string_view id);

// Who made a request, as the API established it from the bearer token.
struct caller {
    enum class kind { admin, user };
    kind who = kind::admin;
    std::string user_id;  // for kind::user
    std::string source;   // the peer's address, for the audit log
    // The audit log's actor: "admin" or the user id.
    [[nodiscard]] std::string actor() const { return who == kind::admin ? std::string("admin") : user_id; }
};

// Why a call did not do what was asked. The API renders it as RFC 9457 problem+json with `status`.
struct user_problem {
    unsigned status = 500;  // 404 no such user/credential, 412 If-Match failed, 422 invalid, 503 try later
    std::string title;      // short, constant per kind: "no such user", "invalid credentials", ...
    std::string detail;     // what exactly, never a secret
    std::vector<credential_field_problem> fields;      // 422: each problem under its field
    std::optional<std::chrono::seconds> retry_after;  // 503: when to try again
};

template <class T>
using user_result = std::variant<T, user_problem>;

// The 404 for a user id that names no user. The API answers another user's id with exactly this, so
// the directory must answer an unknown id with it too: then ids cannot be probed.
user_problem no_such_user(std::string_view id);
// A problem without fields or Retry-After: the one way every side makes one.
user_problem make_problem(unsigned status, std::string title, std::string detail);

struct user_created {
    bool created = false;         // false: the user existed already (200, no token shown)
    std::optional<secret> token;  // only when created: shown once
};

struct user_summary {
    std::string id;
    std::string state;  // one line: "connected", "no credentials", "authenticating (attempt 3)", ...
};

struct user_page {
    std::vector<user_summary> users;  // ordered by id
    std::optional<std::string> next;  // the id to pass as `after` for the next page; none: last page
};

// What GET .../ibkr-credentials shows: never the key, never a token.
struct credential_metadata {
    std::string client_id;
    std::string client_key_id;
    std::string username;
    std::string account_id;
    std::string allowed_ip;
    std::string environment;  // "paper" or "live"
    std::string scope;
    std::string key_fingerprint;  // "sha256:" + hex of SHA-256 over the public key's DER (SubjectPublicKeyInfo)
    std::int64_t created_ms = 0;
    std::int64_t updated_ms = 0;
    std::optional<std::int64_t> last_validated_ms;
    std::string etag;  // the ETag header's value, quoted: "\"...\""
};

struct credential_stored {
    bool created = false;  // 201 when created, 200 when replaced
    credential_metadata metadata;
};

struct audit_page_request {
    std::optional<std::string> user;  // only entries whose actor or target is this user
    std::int64_t after = 0;           // entries with seq > after
    std::size_t limit = 100;
};

struct audit_entry_view {
    std::int64_t seq = 0;
    std::int64_t at_ms = 0;
    std::string actor;
    std::string source;
    std::string action;
    std::string target;
    std::string outcome;
    boost::json::object details;
    std::int64_t key_version = 0;
};

class user_directory {
public:
    virtual ~user_directory() = default;

    // The user whose API token this is, from memory (no database call): what every request with a
    // user token and every gateway call in multi-user mode asks. None for an unknown token.
    [[nodiscard]] virtual std::optional<std::string> user_for_token(std::string_view token) const = 0;

    // Users (admin only).
    virtual boost::asio::awaitable<user_result<user_created>> create_user(const caller& by, std::string id) = 0;
    virtual boost::asio::awaitable<user_result<secret>> replace_token(const caller& by, std::string id) = 0;
    // Logs the user's session out, deletes the user, their credential and token.
    virtual boost::asio::awaitable<user_result<std::monostate>> delete_user(const caller& by, std::string id) = 0;
    virtual boost::asio::awaitable<user_result<user_page>> list_users(const caller& by, std::string after,
                                                                      std::size_t limit) = 0;

    // Credentials (admin or that user). `if_match`: the ETag the stored credential must have (412
    // otherwise, and 412 when there is none to match).
    virtual boost::asio::awaitable<user_result<credential_stored>> put_credentials(
        const caller& by, std::string id, std::string body, std::optional<std::string> if_match) = 0;
    virtual boost::asio::awaitable<user_result<credential_metadata>> get_credentials(const caller& by,
                                                                                     std::string id) = 0;
    virtual boost::asio::awaitable<user_result<std::monostate>> delete_credentials(const caller& by,
                                                                                   std::string id) = 0;

    // Sessions (admin or that user). The status is the JSON of GET /api/ibkr/status for that user.
    virtual user_result<boost::json::object> user_status(std::string_view id) const = 0;
    // The guide's Test Connection on that user's session; done runs on the event loop. False when the
    // user has no session (no credentials).
    virtual bool run_test(const std::string& id, std::function<void(const connection_test_report&)> done) = 0;

    // The audit log (admin only).
    virtual boost::asio::awaitable<user_result<std::vector<audit_entry_view>>> audit_page(
        const caller& by, audit_page_request request) = 0;

    // A denied request (401, 403, or 404 for another user's resource): one audit entry. Fire and
    // forget: the answer does not wait for the database.
    virtual void record_denied(std::string source, std::string actor, std::string path, unsigned status) = 0;

    // Whether the store answers: what /readyz reports in multi-user mode.
    [[nodiscard]] virtual bool store_reachable() const = 0;

    // GET /api/replicas (the admin's): the replicas the database knows, their heartbeats and how many
    // users each holds, and every user's lease. 404 for the only daemon of its database.
    virtual boost::asio::awaitable<user_result<boost::json::object>> replicas(const caller& by) = 0;
};

}  // namespace sessiond
