#pragma once
// The daemon's HTTP API (the guide's "API Endpoints" plus probes and metrics):
//
//   GET  /api/ibkr/status   the status JSON (status_view.hpp), from memory: never calls IBKR
//   POST /api/ibkr/test     the guide's Test Connection; needs Authorization: Bearer <API token>
//   GET  /livez, /healthz   200 while the event loop turns (independent of IBKR)
//   GET  /readyz[?verbose]  200 only when the brokerage session is authenticated and not competing
//   GET  /metrics           Prometheus text format 0.0.4
//   GET  /api/ibkr/events   the status as server-sent events (status_events.hpp)
//   GET  /api/whoami        who the bearer token is: {"role":"admin"} or {"role":"user","id":...}
//   GET  /, /app.js, ...    the web pages (pages.hpp)
//   /api/users..., /api/audit  multi-user mode's users API (users_api.hpp); 404 in single-user mode
//
// Unknown paths get 404, wrong methods 405 (with Allow), all errors as JSON.

#include "sessiond/api/metrics_view.hpp"
#include "sessiond/api/pages.hpp"
#include "sessiond/api/status_events.hpp"
#include "sessiond/api/status_view.hpp"
#include "sessiond/api/users_api.hpp"
#include "sessiond/core/secret.hpp"
#include "sessiond/gateway/gateway.hpp"
#include "sessiond/server/http_server.hpp"
#include "sessiond/server/route_table.hpp"
#include "sessiond/session/connection_test.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sessiond {

// What the API serves from; the running service implements it.
class api_backend {
public:
    virtual ~api_backend() = default;
    // A view valid for the duration of the call.
    [[nodiscard]] virtual status_input status_now() const = 0;
    // Changes whenever anything status_now() reports may have changed, except the clock.
    [[nodiscard]] virtual std::uint64_t status_generation() const = 0;
    // Starts (or joins) a connection test on the session; done is called on the event loop.
    // Only called when status_now().users is not empty and the daemon is not stopping.
    virtual void run_connection_test(std::function<void(const connection_test_report&)> done) = 0;
    [[nodiscard]] virtual std::string metrics_text() const = 0;
    [[nodiscard]] virtual const std::optional<secret>& api_token() const = 0;
    // How long POST /api/ibkr/test waits for the session before answering 504.
    [[nodiscard]] virtual std::chrono::milliseconds test_timeout() const = 0;
};

// Requests served, by path (the API's own paths, the users API's two areas for every path in them
// (users_api_area), or "other") and status code: bounded cardinality.
class served_requests {
public:
    void count(std::string_view path, unsigned status);
    [[nodiscard]] const served_counts& counts() const noexcept { return counts_; }

private:
    served_counts counts_;
};

inline constexpr std::array<std::string_view, 10> api_paths{
    "/api/ibkr/status", "/api/ibkr/test", "/api/ibkr/events", "/livez",      "/healthz",
    "/readyz",          "/metrics",       "/api/users",       "/api/audit", "/api/whoami"};

class api {
public:
    // `gw` serves /v1/api/... (and refuses IBKR's login paths) while it is enabled; null: no gateway.
    // `users` serves the users API of multi-user mode; null: single-user mode.
    api(api_backend& backend, boost::asio::any_io_executor executor, gateway* gw = nullptr,
        user_directory* users = nullptr);

    // Multi-user mode, known once the daemon has opened its database (before the API listens).
    void serve_users(user_directory& users);
    // The status changed: the event streams send it. stop_events(): they send the last status and
    // end (the daemon is stopping); `then` runs when they have, or after status_events::stop_bound.
    void status_changed() { events_.changed(); }
    void stop_events(std::function<void()> then) { events_.stop(std::move(then)); }

    boost::asio::awaitable<server_reply> handle(server_request request, const connection_context& context);
    // The body limit of a request (the server's hook): the gateway's for the calls it forwards from the
    // clients it serves, max_credential_request_size for a credential PUT by the admin or its user, the
    // API's 16 KiB otherwise (a client the gateway or the users API refuses cannot make the daemon hold
    // a large body).
    [[nodiscard]] std::size_t body_limit(const server_request& header, const peer_info& peer) const;
    static constexpr std::size_t api_body_limit = 16 * 1024;
    [[nodiscard]] const served_requests& served() const noexcept { return served_; }

private:
    // An endpoint answers at once, or (POST /api/ibkr/test) after waiting for the session.
    struct endpoint {
        server_reply (api::*answer)(const server_request& request, std::string_view query) const = nullptr;
        boost::asio::awaitable<server_reply> (api::*answer_later)(const server_request& request,
                                                                  const connection_context& context) = nullptr;
    };

    server_reply missing(const server_request& request, const route_table<endpoint>::match& m,
                         std::string_view path) const;
    boost::asio::awaitable<server_reply> connection_test(const server_request& request, const connection_context& context);
    server_reply status(const server_request& request, std::string_view query) const;
    server_reply readiness(const server_request& request, std::string_view query) const;
    server_reply liveness(const server_request& request, std::string_view query) const;
    server_reply metrics(const server_request& request, std::string_view query) const;
    server_reply whoami(const server_request& request, std::string_view query) const;
    boost::asio::awaitable<server_reply> events(const server_request& request, const connection_context& context);
    // The status JSON of GET /api/ibkr/status without a user's token (cached: status_body_).
    const std::string& status_text() const;

    api_backend& backend_;
    boost::asio::any_io_executor executor_;
    gateway* gateway_;
    std::optional<users_api> users_;
    served_requests served_;
    const route_table<endpoint> routes_;
    const pages pages_;
    // GET /livez and /healthz: the same bytes every time.
    const std::shared_ptr<const prebuilt_response> alive_;
    // GET /api/ibkr/status, serialised once per change of state and at most once a second for the
    // fields the clock moves (uptime, seconds left): a probe every few milliseconds writes the same bytes.
    struct status_body {
        std::uint64_t generation = 0;
        std::int64_t second = -1;
        std::string json;
        std::shared_ptr<const prebuilt_response> response;
    };
    mutable status_body status_body_;
    status_events events_;
};

}  // namespace sessiond
