#include "sessiond/gateway/gateway.hpp"

#include "sessiond/gateway/local_answers.hpp"
#include "sessiond/ibkr/requests.hpp"
#include "sessiond/ibkr/responses.hpp"
#include "sessiond/net/https_client.hpp"
#include "sessiond/session/session_keeper.hpp"
#include "sessiond/session/session_registry.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <deque>

namespace sessiond {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::string random_hex(std::size_t bytes) {
    std::string raw(bytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) raw.assign(bytes, 'x');
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : raw) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

server_response json_answer(const server_request& req, http::status status, const json::object& body) {
    server_response res{status, req.version()};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.body() = json::serialize(body);
    res.prepare_payload();
    return res;
}

server_response error_answer(const server_request& req, http::status status, std::string_view message) {
    return json_answer(req, status, json::object{{"error", message}, {"status", static_cast<unsigned>(status)}});
}

// Whole seconds, rounded up, at least 1: what Retry-After carries.
std::int64_t retry_seconds(std::chrono::nanoseconds d) {
    return std::max<std::int64_t>(1, (std::chrono::duration_cast<milliseconds>(d).count() + 999) / 1000);
}

server_response retry_later(const server_request& req, http::status status, std::chrono::nanoseconds after,
                            std::string_view message) {
    const std::int64_t seconds = retry_seconds(after);
    server_response res = json_answer(req, status,
                                      json::object{{"error", message},
                                                   {"status", static_cast<unsigned>(status)},
                                                   {"retry_after_seconds", seconds}});
    res.set(http::field::retry_after, std::to_string(seconds));
    return res;
}

bool loopback_peer(const asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
    return a.is_loopback();
}

// The cookie a WebSocket client may carry the gateway token in (ibind's WS client sends cookies).
constexpr std::string_view token_cookie = "sessiond_gateway_token";

// The value of the cookie `name`, in any of the request's Cookie headers.
std::optional<std::string_view> cookie_value(const server_request& req, std::string_view name) {
    for (auto it = req.find(http::field::cookie); it != req.end() && it->name() == http::field::cookie; ++it) {
        std::string_view rest = it->value();
        while (!rest.empty()) {
            const auto semi = rest.find(';');
            std::string_view pair = rest.substr(0, semi);
            rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
            while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
            while (!pair.empty() && pair.back() == ' ') pair.remove_suffix(1);
            const auto eq = pair.find('=');
            if (eq != std::string_view::npos && pair.substr(0, eq) == name && eq + 1 < pair.size())
                return pair.substr(eq + 1);
        }
    }
    return std::nullopt;
}

bool cookie_matches(const server_request& req, std::string_view name, const secret& token) {
    const std::string_view expected = token.reveal();
    const auto value = cookie_value(req, name);
    if (expected.empty() || !value || value->size() != expected.size()) return false;
    return CRYPTO_memcmp(value->data(), expected.data(), expected.size()) == 0;
}

}  // namespace

// ---- connections to IBKR ----------------------------------------------------------------------

// A user's connections to IBKR for forwarded calls (the session's own calls keep theirs): each
// carries one exchange at a time and stays open between calls. Shared with the calls in flight, so
// that a reload that replaces it never pulls a connection from under one.
class gateway::connection_pool {
public:
    connection_pool(asio::any_io_executor ex, std::shared_ptr<asio::ssl::context> tls, base_url endpoint)
        : executor_(std::move(ex)), tls_(std::move(tls)), endpoint_(std::move(endpoint)) {}

    [[nodiscard]] bool serves(const std::shared_ptr<asio::ssl::context>& tls, const base_url& endpoint) const {
        return tls_ == tls && endpoint_.host == endpoint.host && endpoint_.port == endpoint.port;
    }
    [[nodiscard]] const base_url& endpoint() const noexcept { return endpoint_; }

    // A connection free for one exchange, or null when all max_connections_per_user are busy.
    https_client* take() {
        for (auto& c : idle_) {
            if (!c.busy) {
                c.busy = true;
                return c.client.get();
            }
        }
        if (idle_.size() >= max_connections_per_user) return nullptr;
        idle_.push_back({std::make_unique<https_client>(executor_, tls_, endpoint_, max_response_body), true});
        return idle_.back().client.get();
    }
    // Waits (oldest first) until a connection is free, the deadline passes (null) or `cancelled` fires.
    asio::awaitable<https_client*> take(steady::time_point deadline, asio::cancellation_slot cancelled) {
        if (waiters_.empty())
            if (https_client* c = take()) co_return c;
        waiter w{asio::steady_timer(executor_), nullptr};
        w.turn.expires_at(deadline);
        waiters_.push_back(&w);
        (void)co_await w.turn.async_wait(asio::bind_cancellation_slot(cancelled, asio::as_tuple(asio::use_awaitable)));
        std::erase(waiters_, &w);
        co_return w.given;
    }
    // The connection's exchange is over: the oldest waiter gets it, else it waits idle.
    void give_back(https_client* c) {
        if (!waiters_.empty()) {
            waiter* next = waiters_.front();
            waiters_.erase(waiters_.begin());
            next->given = c;
            next->turn.cancel();
            return;
        }
        for (auto& e : idle_)
            if (e.client.get() == c) e.busy = false;
    }
    void close_all() {
        for (auto& e : idle_) e.client->cancel();
    }

private:
    struct entry {
        std::unique_ptr<https_client> client;
        bool busy = false;
    };
    asio::any_io_executor executor_;
    std::shared_ptr<asio::ssl::context> tls_;
    base_url endpoint_;
    std::vector<entry> idle_;
    struct waiter {
        asio::steady_timer turn;
        https_client* given;  // set when woken with a connection
    };
    std::deque<waiter*> waiters_;  // calls waiting for a connection, oldest first
};

struct gateway::user_state {
    std::shared_ptr<connection_pool> pool;
    std::unique_ptr<pacing_queue> queue;
};

// The WebSocket relay's view of the sessions: the gateway's target user's session, and its pacing.
class gateway::ws_sessions final : public ws_session_source {
public:
    explicit ws_sessions(gateway& owner) : owner_(owner) {}

    std::optional<login> login_for(std::string_view username) override {
        session_keeper* session = session_of(username);
        if (session == nullptr) return std::nullopt;
        auto now = session->websocket_login_now();
        if (!now) return std::nullopt;
        return login{std::move(now->bearer), std::move(now->tickle_session), std::move(now->cookies), now->generation,
                     session->tls(), session->config().options.endpoint};
    }
    asio::awaitable<bool> pace_upgrade(std::string username, asio::cancellation_slot cancelled) override {
        session_keeper* session = session_of(username);
        if (session == nullptr) co_return false;
        const auto alive = owner_.alive_;
        pacing_queue::result paced = co_await owner_.user_for(username, *session).queue->acquire(
            "/v1/api/ws", steady::now() + owner_.options_.max_wait, cancelled);
        co_return *alive && std::holds_alternative<pacing_permit>(paced);
    }
    void upgrade_refused(std::string_view username) override {
        if (session_keeper* session = session_of(username)) session->check_now("IBKR refused the WebSocket upgrade");
    }

private:
    session_keeper* session_of(std::string_view username) {
        const auto target = owner_.sessions_.gateway_target_for(username);
        return target ? target->session : nullptr;
    }
    gateway& owner_;
};

struct gateway::session_waiter {
    explicit session_waiter(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    bool woken = false;  // by a change of the sessions (not by the client going away)
};

// ---- the gateway --------------------------------------------------------------------------------

gateway::gateway(asio::any_io_executor executor, session_registry& sessions, logger log)
    : executor_(std::move(executor)),
      sessions_(sessions),
      log_(std::move(log)),
      local_session_(random_hex(16)),
      ws_sessions_(std::make_unique<ws_sessions>(*this)),
      relay_(executor_, *ws_sessions_, log_, stats_.websocket) {}

gateway::~gateway() {
    *alive_ = false;
    stop();
}

void gateway::configure(const settings& config) {
    options_ = config.gateway;
    http_timeout_ = std::chrono::duration_cast<milliseconds>(config.options.http_timeout);
    rate_limit_penalty_ = std::chrono::duration_cast<milliseconds>(config.options.rate_limit_penalty);
}

void gateway::set_listeners(std::string http_url, std::string https_url) {
    http_url_ = std::move(http_url);
    https_url_ = std::move(https_url);
}

json::object gateway::status_json() const {
    const auto url = [](const std::string& base) -> json::value {
        if (base.empty()) return nullptr;
        return json::string(base + "/v1/api/");
    };
    return {{"enabled", options_.enabled},
            {"http", options_.enabled ? url(http_url_) : json::value(nullptr)},
            {"https", options_.enabled ? url(https_url_) : json::value(nullptr)},
            {"clients", resolve_user_    ? "bearing their user's API token"
                        : options_.token ? "bearing the gateway token"
                                         : "loopback only"},
            {"max_wait_seconds", static_cast<double>(options_.max_wait.count()) / 1000.0},
            {"waiting", waiting()},
            {"forwarded", stats_.forwarded},
            {"answered_locally", json::object{{"rate_limited", stats_.local_429}, {"not_connected", stats_.local_503}}},
            {"upstream_failures", stats_.upstream_failures},
            {"ibkr_refused", json::object{{"unauthorized", stats_.ibkr_401}, {"rate_limited", stats_.ibkr_429}}},
            {"websockets", json::object{{"open", stats_.websocket.open},
                                        {"max", relay_.options().max_sockets},
                                        {"frames_to_clients", stats_.websocket.frames_to_clients},
                                        {"frames_to_ibkr", stats_.websocket.frames_to_ibkr},
                                        {"upstream_reconnects", stats_.websocket.upstream_reconnects},
                                        {"clients_cut_off", stats_.websocket.clients_cut_off},
                                        {"clients_closed_upstream_lost", stats_.websocket.clients_failed},
                                        {"refused_at_cap", stats_.websocket.refused_full}}}};
}

std::size_t gateway::waiting() const noexcept {
    std::size_t n = session_waiters_.size();
    for (const auto& [name, u] : users_) n += u->queue ? u->queue->waiting() : 0;
    return n;
}

void gateway::on_sessions_changed() {
    relay_.on_sessions_changed();
    for (session_waiter* w : session_waiters_) {
        w->woken = true;
        w->timer.cancel();
    }
}

void gateway::stop() {
    stopping_ = true;
    relay_.stop();
    on_sessions_changed();
    for (auto& [name, u] : users_) {
        if (u->pool) u->pool->close_all();
    }
}

std::optional<std::string> gateway::client_of(const server_request& req, const peer_info& peer,
                                              gateway_action action) const {
    if (resolve_user_) {
        std::optional<std::string_view> token = bearer_token(req);
        if (!token && action == gateway_action::websocket) token = cookie_value(req, token_cookie);
        if (!token) return std::nullopt;
        return resolve_user_(*token);
    }
    const bool admitted =
        options_.token ? bearer_matches(req, *options_.token) ||
                             (action == gateway_action::websocket && cookie_matches(req, token_cookie, *options_.token))
                       : loopback_peer(peer.remote.address());
    if (!admitted) return std::nullopt;
    return std::string();
}

server_response gateway::answer(const server_request& /*req*/, std::string_view endpoint_class, server_response res) {
    ++stats_.answers[{endpoint_class, res.result_int()}];
    return res;
}

asio::awaitable<server_reply> gateway::handle(server_request req, const connection_context& context, gateway_route route) {
    std::optional<std::string> username = client_of(req, context.peer, route.action);
    if (!username) {
        server_response res = error_answer(
            req, http::status::unauthorized,
            resolve_user_ ? "the gateway needs Authorization: Bearer <your API token>, of a user with IBKR credentials"
            : options_.token ? "the gateway needs Authorization: Bearer <gateway token>"
                             : "the gateway serves loopback clients only");
        if (options_.token || resolve_user_)
            res.set(http::field::www_authenticate, "Bearer realm=\"ibkr-sessiond gateway\"");
        log_.info({.http_status = 401}, "gateway: refused {} {}: not authorised", std::string(req.method_string()),
                  path_for_log(req.target()));
        co_return answer(req, route.endpoint_class, std::move(res));
    }
    switch (route.action) {
        case gateway_action::refuse:
            log_.warn({.http_status = 403}, "gateway: refused {} {}: {}", std::string(req.method_string()),
                      path_for_log(req.target()), route.reason);
            co_return answer(req, route.endpoint_class, error_answer(req, http::status::forbidden, route.reason));
        case gateway_action::malformed:
            log_.info({.http_status = 400}, "gateway: refused {} {}: {}", std::string(req.method_string()),
                      path_for_log(req.target()), route.reason);
            co_return answer(req, route.endpoint_class, error_answer(req, http::status::bad_request, route.reason));
        case gateway_action::tickle:
        case gateway_action::auth_status:
        case gateway_action::validate:
            co_return local_answer(req, route.action, *username);
        case gateway_action::websocket:
            co_return co_await open_websocket(std::move(req), context, route, std::move(*username));
        case gateway_action::forward:
            co_return co_await forward(std::move(req), context, route, std::move(*username));
        case gateway_action::not_gateway:
            break;
    }
    co_return error_answer(req, http::status::not_found, "not a gateway path");
}

server_reply gateway::local_answer(const server_request& req, gateway_action action, std::string_view username) {
    const auto target = sessions_.gateway_target_for(username);
    const session_keeper* session = target ? target->session : nullptr;
    const session_snapshot* snap = session != nullptr ? &session->snapshot() : nullptr;
    const bool serving = session != nullptr && session->serves_clients();
    const wall_time now = wall_clock::now();
    json::object body;
    std::string_view cls = "tickle";
    switch (action) {
        case gateway_action::auth_status:
            body = auth_status_answer(snap, serving);
            cls = "auth_status";
            break;
        case gateway_action::validate:
            body = validate_answer(snap, serving, now);
            cls = "validate";
            break;
        default:
            body = tickle_answer(snap, serving, local_session_, now);
            break;
    }
    return answer(req, cls, json_answer(req, http::status::ok, body));
}

asio::awaitable<session_keeper*> gateway::session_in_time(steady::time_point deadline, const connection_context& context,
                                                          std::string username) {
    const auto alive = alive_;
    while (true) {
        if (!*alive || stopping_) co_return nullptr;
        const auto target = sessions_.gateway_target_for(username);
        if (!target) co_return nullptr;
        if (target->session != nullptr && target->session->serves_clients()) co_return target->session;
        if (steady::now() >= deadline) co_return nullptr;
        session_waiter w(executor_);
        w.timer.expires_at(deadline);
        session_waiters_.push_back(&w);
        auto [ec] = co_await w.timer.async_wait(asio::bind_cancellation_slot(context.closed, asio::as_tuple(asio::use_awaitable)));
        if (!*alive) co_return nullptr;
        std::erase(session_waiters_, &w);
        if (ec && !w.woken) co_return nullptr;  // the client went away
    }
}

gateway::user_state& gateway::user_for(std::string_view username, session_keeper& session) {
    auto it = users_.find(username);
    if (it == users_.end()) it = users_.emplace(std::string(username), nullptr).first;
    auto& slot = it->second;
    if (!slot) slot = std::make_unique<user_state>();
    if (!slot->queue || slot->queue->pacer() != session.pacer())
        slot->queue = std::make_unique<pacing_queue>(executor_, session.pacer());
    const base_url& endpoint = session.config().options.endpoint;
    if (!slot->pool || !slot->pool->serves(session.tls(), endpoint))
        slot->pool = std::make_shared<connection_pool>(executor_, session.tls(), endpoint);
    return *slot;
}

std::optional<server_response> gateway::elsewhere(const server_request& req, std::string_view username) {
    if (!held_elsewhere_ || !held_elsewhere_(username)) return std::nullopt;
    ++stats_.local_503;
    server_response res = retry_later(req, http::status::service_unavailable, std::chrono::seconds(1),
                                      "replica " + replica_id_ +
                                          " does not hold this user's IBKR session: another replica of the database "
                                          "does; send the request to the next replica (nothing was sent to IBKR)");
    res.set("X-Sessiond-Replica", replica_id_);
    return res;
}

server_response gateway::session_unavailable(const server_request& req, std::string_view what,
                                             std::string_view username) {
    ++stats_.local_503;
    const auto target = sessions_.gateway_target_for(username);
    std::string why = "the IBKR session is not connected";
    std::chrono::nanoseconds after = std::chrono::seconds(5);
    if (stopping_) why = "the daemon is stopping";
    else if (target && target->session != nullptr) {
        const session_snapshot& s = target->session->snapshot();
        why += " (" + std::string(to_string(s.state)) + (s.reason.empty() ? "" : ": " + s.reason) + ")";
        if (s.next_call_at) after = std::max<std::chrono::nanoseconds>(after, *s.next_call_at - wall_clock::now());
    }
    log_.info({.http_status = 503}, "gateway: {}: {} within {} ms", what, why, options_.max_wait.count());
    return retry_later(req, http::status::service_unavailable, after, why);
}

asio::awaitable<server_reply> gateway::open_websocket(server_request req, const connection_context& context,
                                                      const gateway_route& route, std::string username) {
    const auto alive = alive_;
    const std::string_view cls = route.endpoint_class;
    if (!boost::beast::websocket::is_upgrade(req)) {
        server_response res = error_answer(req, http::status::upgrade_required,
                                           "/v1/api/ws is IBKR's WebSocket: send a WebSocket upgrade");
        res.set(http::field::upgrade, "websocket");
        co_return answer(req, cls, std::move(res));
    }
    if (auto other = elsewhere(req, username)) co_return answer(req, cls, std::move(*other));
    if (!sessions_.gateway_target_for(username)) {
        ++stats_.local_503;
        co_return answer(req, cls,
                         retry_later(req, http::status::service_unavailable, std::chrono::seconds(30),
                                     "the daemon is not configured: no IBKR session to open the WebSocket with"));
    }
    std::shared_ptr<void> held = relay_.reserve();
    if (!held) {
        ++stats_.local_503;
        // A flood of upgrades must not become a flood of log lines: the first, then every thousandth.
        if (const auto n = stats_.websocket.refused_full; n == 1 || n % 1000 == 0)
            log_.warn({.http_status = 503}, "gateway: WebSocket refused: {} open, the cap ({} refused so far)",
                      relay_.options().max_sockets, n);
        co_return answer(req, cls,
                         retry_later(req, http::status::service_unavailable, std::chrono::seconds(5),
                                     "too many gateway WebSockets are open (" +
                                         std::to_string(relay_.options().max_sockets) + ")"));
    }
    session_keeper* session = co_await session_in_time(steady::now() + options_.max_wait, context, username);
    if (!*alive) co_return error_answer(req, http::status::service_unavailable, "the daemon is stopping");
    const auto target = sessions_.gateway_target_for(username);
    if (session == nullptr || !target) co_return answer(req, cls, session_unavailable(req, "WebSocket not opened", username));
    ++stats_.answers[{cls, 101u}];
    connection_takeover relay = [this, held, req = std::move(req), username = std::string(target->username)](
                                    server_stream& stream, boost::beast::flat_buffer& /*unread*/) {
        return relay_.serve(stream, req, username);
    };
    co_return relay;
}

asio::awaitable<server_reply> gateway::forward(server_request req, const connection_context& context,
                                               const gateway_route& route, std::string username) {
    const auto alive = alive_;
    const steady::time_point began = steady::now();
    const steady::time_point deadline = began + options_.max_wait;
    const std::string method(req.method_string());
    const std::string path_logged = path_for_log(req.target());
    const std::string_view cls = route.endpoint_class;

    if (auto other = elsewhere(req, username)) co_return answer(req, cls, std::move(*other));
    if (!sessions_.gateway_target_for(username)) {
        ++stats_.local_503;
        co_return answer(req, cls,
                         retry_later(req, http::status::service_unavailable, std::chrono::seconds(30),
                                     "the daemon is not configured: no IBKR session to send this call with (see GET "
                                     "/api/ibkr/status)"));
    }
    session_keeper* session = co_await session_in_time(deadline, context, username);
    if (!*alive) co_return error_answer(req, http::status::service_unavailable, "the daemon is stopping");
    if (session == nullptr) co_return answer(req, cls, session_unavailable(req, method + " " + path_logged + " not sent", username));

    user_state& user = user_for(sessions_.gateway_target_for(username)->username, *session);
    const std::string upstream_path(req.target().substr(0, req.target().find('?')));
    pacing_queue::result paced = co_await user.queue->acquire(upstream_path, deadline, context.closed);
    if (!*alive) co_return error_answer(req, http::status::service_unavailable, "the daemon is stopping");
    if (std::holds_alternative<pacing_cancelled>(paced)) {
        co_return answer(req, cls, error_answer(req, http::status::service_unavailable, "the client went away"));
    }
    if (const auto* refusal = std::get_if<pacing_refusal>(&paced)) {
        ++stats_.local_429;
        const auto after = refusal->retry_at - wall_clock::now();
        const std::string why = refusal->penalty
                                    ? "IBKR answered 429 for this username: every call waits out the penalty"
                                    : "IBKR's limits for this endpoint do not allow the call within the gateway's wait";
        log_.warn({.http_status = 429}, "gateway: {} {} answered 429 locally, not sent: {} (retry in {} s)", method,
                  path_logged, why, retry_seconds(after));
        co_return answer(req, cls, retry_later(req, http::status::too_many_requests, after, why));
    }
    pacing_permit permit = std::move(std::get<pacing_permit>(paced));

    // The session may have ended while the call waited its turn: look again.
    const auto target = sessions_.gateway_target_for(username);
    session = target ? target->session : nullptr;
    if (session == nullptr || !session->serves_clients()) {
        ++stats_.local_503;
        co_return answer(req, cls, retry_later(req, http::status::service_unavailable, std::chrono::seconds(5),
                                               "the IBKR session was lost while the call waited; not sent"));
    }
    const std::shared_ptr<connection_pool> pool = user.pool;
    https_client* connection = co_await pool->take(deadline, context.closed);
    if (!*alive) co_return error_answer(req, http::status::service_unavailable, "the daemon is stopping");
    if (connection == nullptr) {
        ++stats_.local_503;
        co_return answer(req, cls, retry_later(req, http::status::service_unavailable, std::chrono::seconds(1),
                                               "every connection to IBKR of this user stayed busy; not sent"));
    }
    const auto content_type = req[http::field::content_type];
    const auto accept = req[http::field::accept];
    http_request upstream = forwarded_request(pool->endpoint(), req.method(), req.target(), std::move(req.body()),
                                              content_type, accept);
    session->authorize(upstream);
    const steady::time_point sent = steady::now();
    const double waited = std::chrono::duration<double>(sent - began).count();
    stats_.queue_wait.observe(waited);
    ++stats_.forwarded;
    auto response = co_await connection->send(std::move(upstream), http_timeout_);
    if (!*alive) co_return error_answer(req, http::status::service_unavailable, "the daemon is stopping");
    pool->give_back(connection);
    stats_.upstream_latency.observe(std::chrono::duration<double>(steady::now() - sent).count());
    if (!response) {
        ++stats_.upstream_failures;
        const bool timed_out = response.error().kind == transport_error::timeout;
        log_.warn({.http_status = timed_out ? 504 : 502}, "gateway: {} {} to IBKR failed: {}{}", method, path_logged,
                  response.error().detail,
                  req.method() == http::verb::get ? "" : " (not retried: it may have reached IBKR)");
        co_return answer(req, cls,
                         error_answer(req, timed_out ? http::status::gateway_timeout : http::status::bad_gateway,
                                      "IBKR did not answer: " + response.error().detail +
                                          (req.method() == http::verb::get
                                               ? ""
                                               : "; the call was sent at most once and is not retried: it may have "
                                                 "reached IBKR")));
    }
    http_response& ibkr = *response;
    const auto now_target = sessions_.gateway_target_for(username);
    session_keeper* current = now_target ? now_target->session : nullptr;
    if (current != nullptr) current->keep_cookies(ibkr);
    const unsigned status = ibkr.result_int();
    if (status == 401) {
        ++stats_.ibkr_401;
        if (current != nullptr) current->check_now("a gateway call got 401 from IBKR");
    } else if (status == 429) {
        ++stats_.ibkr_429;
        // IBKR's Retry-After when it sends one (seconds or a date: the session's own parser), else the penalty.
        milliseconds penalty = rate_limit_penalty_;
        penalty_scope scope = penalty_scope::address;  // IBKR's penalty box, unless it names its own end
        if (const auto it = ibkr.find(http::field::retry_after); it != ibkr.end())
            if (const auto after = parse_retry_after(it->value(), wall_clock::now())) {
                penalty = *after;
                scope = penalty_scope::username;
            }
        user.queue->pacer()->penalise(wall_clock::now() + penalty, scope);
        user.queue->poke();
        log_.error({.http_status = 429}, "gateway: IBKR answered 429 to {} {}: no call for this username for {} s",
                   method, path_logged, penalty.count() / 1000);
    }
    server_response out{ibkr.result(), req.version()};
    if (const auto type = ibkr.find(http::field::content_type); type != ibkr.end())
        out.set(http::field::content_type, type->value());
    out.keep_alive(req.keep_alive());
    out.body() = std::move(ibkr.body());
    out.prepare_payload();
    // Paced: held 50 ms or more by the session, IBKR's limits or a busy connection.
    const auto level = status >= 400 || waited >= 0.05 ? spdlog::level::info : spdlog::level::debug;
    if (log_.enabled(level))
        log_.log(level, {.http_status = static_cast<int>(status)},
                 fmt::format("gateway: {} {} -> {} ({} bytes, waited {} ms)", method, path_logged, status,
                             out.body().size(), static_cast<long long>(waited * 1000)));
    co_return answer(req, cls, std::move(out));
}

}  // namespace sessiond
