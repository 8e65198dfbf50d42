#pragma once
// The users API of multi-user mode, served against a user_directory (which does the work: the store,
// the vault, IBKR and the sessions are behind it):
//
//   PUT    /api/users/{id}                   admin           201 {id, token} (the token shown once), 200 {id}
//   DELETE /api/users/{id}                   admin           204
//   POST   /api/users/{id}/token             admin           200 {id, token}
//   GET    /api/users?after=&limit=          admin           {users: [{id, state}], next?}
//   PUT    /api/users/{id}/ibkr-credentials  admin or {id}   201/200 metadata, ETag; If-Match passed on
//   GET    /api/users/{id}/ibkr-credentials  admin or {id}   metadata, ETag
//   DELETE /api/users/{id}/ibkr-credentials  admin or {id}   204
//   GET    /api/users/{id}/ibkr/status       admin or {id}   the status JSON of that user's session
//   POST   /api/users/{id}/ibkr/test         admin or {id}   the connection test of that user's session
//   GET    /api/audit?user=&after=&limit=    admin           {entries: [...], next_after?}
// With a user's token, GET /api/ibkr/status and POST /api/ibkr/test are that user's own (api.cpp asks).
//
// Authorization: Bearer <token>, the admin's (SESSIOND_API_TOKEN) or a user's. A user naming another
// user's id gets exactly the 404 of an id that names nobody, so ids cannot be probed. Every 401, 403
// and 404 of another user's id is reported to the directory (record_denied), without the token.
// Errors are RFC 9457 application/problem+json; every answer carries Cache-Control: no-store.

#include "sessiond/server/http_handler.hpp"
#include "sessiond/server/route_table.hpp"
#include "sessiond/users/user_directory.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sessiond {

class api_backend;

// ---- Pure parts: paths, queries, JSON ----

// The part of the users API a path belongs to, as served requests are counted: "/api/users" (the path
// or anything under it), "/api/audit", or empty for any other path.
std::string_view users_api_area(std::string_view path);

// Which route of the users API a path names: `route` is the table's literal ("/api/users/{id}/token")
// and `id` the {id} segment as sent, not yet checked; `route` is empty for a path of no route.
struct users_api_path {
    std::string_view route;
    std::string_view id;
    [[nodiscard]] bool names_user() const noexcept { return route.starts_with("/api/users/"); }
};
users_api_path parse_users_api_path(std::string_view path);

inline constexpr std::size_t default_page_limit = 100;
inline constexpr std::size_t max_page_limit = 1000;

struct user_list_query {
    std::string after;  // list ids after this one; empty: from the first
    std::size_t limit = default_page_limit;
};
// GET /api/users?after=&limit=: a bad value is a 400 problem naming its parameter.
user_result<user_list_query> parse_user_list_query(std::string_view query);
// GET /api/audit?user=&after=&limit=: likewise.
user_result<audit_page_request> parse_audit_query(std::string_view query);

// {"type":"about:blank","title","status","detail"}, plus "errors": [{field, message}] for a 422 (and
// whenever the problem names fields).
boost::json::object problem_json(const user_problem& problem);
// The problem as application/problem+json, with Retry-After (seconds) when it says when to retry.
server_response problem_response(const server_request& req, const user_problem& problem);

// A credential's metadata as GET .../ibkr-credentials shows it (instants in RFC 3339, UTC, ms).
boost::json::object metadata_json(const credential_metadata& metadata);
boost::json::object audit_entry_json(const audit_entry_view& entry);

// The answer to /api/users... and /api/audit in single-user mode.
server_response multi_user_off(const server_request& req);

// ---- The component ----

class users_api {
public:
    // `backend` gives the admin token, the connection test's timeout and whether the daemon stops.
    users_api(user_directory& directory, const api_backend& backend, boost::asio::any_io_executor executor);

    // A request whose path users_api_area() places in the users API.
    boost::asio::awaitable<server_reply> handle(const server_request& req, std::string_view path,
                                                std::string_view query, const connection_context& context);

    // The user whose token the request carries; none for the admin's token, no token or an unknown
    // one. What makes GET /api/ibkr/status and POST /api/ibkr/test the caller's own.
    [[nodiscard]] std::optional<std::string> token_user(const server_request& req) const;
    [[nodiscard]] server_reply own_status(const server_request& req, const std::string& user) const;
    // The user's status JSON for the event stream; before their credentials are stored, the guide's
    // "not configured" with what to do.
    [[nodiscard]] std::string own_status_text(const std::string& user) const;
    boost::asio::awaitable<server_reply> own_test(const server_request& req, std::string user,
                                                  const connection_context& context);

    // Whether the request (its header) may carry a credential body of max_credential_request_size:
    // only PUT /api/users/{id}/ibkr-credentials, from the admin or that user. Anyone else is held to
    // the API's 16 KiB before they are refused.
    [[nodiscard]] bool may_send_credentials(const server_request& header) const;

    // Reports a request the daemon's other endpoints denied (401, 403) in multi-user mode.
    void record_denied(const connection_context& context, std::string_view path, unsigned status);

private:
    struct users_request {
        const server_request& http;
        const caller& by;
        std::string id;  // checked by valid_user_id(); empty for the routes without {id}
        std::string_view query;
        const connection_context& context;
    };
    struct endpoint {
        boost::asio::awaitable<server_reply> (users_api::*answer)(const users_request& r) = nullptr;
        bool admin_only = true;
    };

    // The caller the bearer token names (without its source); none for no token or an unknown one.
    [[nodiscard]] std::optional<caller> identify(const server_request& req) const;
    server_response deny(const server_request& req, const connection_context& context, const std::optional<caller>& by,
                         std::string_view path, const user_problem& problem);

    boost::asio::awaitable<server_reply> create_user(const users_request& r);
    boost::asio::awaitable<server_reply> replace_token(const users_request& r);
    boost::asio::awaitable<server_reply> delete_user(const users_request& r);
    boost::asio::awaitable<server_reply> list_users(const users_request& r);
    boost::asio::awaitable<server_reply> put_credentials(const users_request& r);
    boost::asio::awaitable<server_reply> get_credentials(const users_request& r);
    boost::asio::awaitable<server_reply> delete_credentials(const users_request& r);
    boost::asio::awaitable<server_reply> session_status(const users_request& r);
    boost::asio::awaitable<server_reply> connection_test(const users_request& r);
    boost::asio::awaitable<server_reply> audit(const users_request& r);
    boost::asio::awaitable<server_reply> replicas(const users_request& r);

    user_directory& directory_;
    const api_backend& backend_;
    boost::asio::any_io_executor executor_;
    const route_table<endpoint> routes_;
};

}  // namespace sessiond
