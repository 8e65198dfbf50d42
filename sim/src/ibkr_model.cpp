#include "ibkr_sim/ibkr_model.hpp"

#include "ibkr_sim/jws_verifier.hpp"

#include "sessiond/crypto/base64url.hpp"
#include "sessiond/server/route_table.hpp"

#include "ibkr_sim/market_data.hpp"

#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <set>
#include <stdexcept>

namespace sessiond::sim {

namespace {

namespace json = boost::json;

constexpr std::string_view mac_address = "98:F2:B3:23:BF:A0";
constexpr std::int64_t user_id = 12345678;
// At least these many live OAuth tokens, recently ended bearers and handed-out tokens are kept; with
// many users, more (see the constructor), so that no user's live token is pushed out by others'.
constexpr std::size_t max_oauth_tokens = 1024;
constexpr std::size_t max_ended_bearers = 64;
constexpr std::string_view grant_type = "client_credentials";
constexpr std::string_view assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
constexpr std::string_view token_audience = "/token";
constexpr std::string_view token_path = "/oauth2/api/v1/token";
constexpr std::string_view sso_sessions_path = "/gw/api/v1/sso-sessions";
constexpr std::string_view websocket_path = "/v1/api/ws";
// Where the simulator's clients really are: what an unattributed request's address stands for.
constexpr std::string_view loopback_ip = "127.0.0.1";

enum class endpoint {
    token,
    sso_sessions,
    validate,
    ssodh_init,
    accounts,
    tickle,
    auth_status,
    logout,
    websocket,
    portfolio_accounts,
    portfolio_subaccounts,
    account_orders,
    account_trades,
    pnl_partitioned,
    snapshot,
    history,
    place_order,  // POST /v1/api/iserver/account/{accountId}/orders: matched by order_placement_account()
};

// Tickle is POST in IBKR's spec, but IBKR's own samples and pacing table use GET and it works: both.
const route_table<endpoint> routes{
    {http::verb::post, token_path, endpoint::token},
    {http::verb::post, sso_sessions_path, endpoint::sso_sessions},
    {http::verb::get, "/v1/api/sso/validate", endpoint::validate},
    {http::verb::post, "/v1/api/iserver/auth/ssodh/init", endpoint::ssodh_init},
    {http::verb::get, "/v1/api/iserver/accounts", endpoint::accounts},
    {http::verb::post, "/v1/api/tickle", endpoint::tickle},
    {http::verb::get, "/v1/api/tickle", endpoint::tickle},
    {http::verb::post, "/v1/api/iserver/auth/status", endpoint::auth_status},
    {http::verb::post, "/v1/api/logout", endpoint::logout},
    {http::verb::get, websocket_path, endpoint::websocket},
    {http::verb::get, "/v1/api/portfolio/accounts", endpoint::portfolio_accounts},
    {http::verb::get, "/v1/api/portfolio/subaccounts", endpoint::portfolio_subaccounts},
    {http::verb::get, "/v1/api/iserver/account/orders", endpoint::account_orders},
    {http::verb::get, "/v1/api/iserver/account/trades", endpoint::account_trades},
    {http::verb::get, "/v1/api/iserver/account/pnl/partitioned", endpoint::pnl_partitioned},
    {http::verb::get, "/v1/api/iserver/marketdata/snapshot", endpoint::snapshot},
    {http::verb::get, "/v1/api/iserver/marketdata/history", endpoint::history},
};

// IBKR's per-endpoint pacing (gateway reference section 4), on top of the request rate. History's
// "5 concurrent" is not a window: see max_concurrent_history.
struct endpoint_pacing {
    std::string_view path;
    std::size_t limit;
    sim_duration window;
    std::string_view reason;  // of its 429
};
constexpr std::array<endpoint_pacing, 6> endpoint_pacing_table{{
    {"/v1/api/iserver/marketdata/snapshot", 10, std::chrono::seconds(1), "snapshot_rate_limited"},
    {"/v1/api/iserver/account/orders", 1, std::chrono::seconds(5), "orders_rate_limited"},
    {"/v1/api/iserver/account/trades", 1, std::chrono::seconds(5), "trades_rate_limited"},
    {"/v1/api/iserver/account/pnl/partitioned", 1, std::chrono::seconds(5), "pnl_rate_limited"},
    {"/v1/api/portfolio/accounts", 1, std::chrono::seconds(5), "portfolio_accounts_rate_limited"},
    {"/v1/api/portfolio/subaccounts", 1, std::chrono::seconds(5), "subaccounts_rate_limited"},
}};

bool is_iserver(endpoint e) {
    return e == endpoint::account_orders || e == endpoint::account_trades || e == endpoint::pnl_partitioned ||
           e == endpoint::snapshot || e == endpoint::history || e == endpoint::place_order;
}

model_reply reply(http_response res) { return model_reply{std::move(res), {}}; }

model_reply refuse(http_response res, std::string reason) { return model_reply{std::move(res), std::move(reason)}; }

// {"error":..,"statusCode":..}: how the /v1/api gateway words its errors.
model_reply gateway_error(http::status status, std::string_view message, std::string reason) {
    return refuse(json_response(status, json::object{{"error", message}, {"statusCode", static_cast<unsigned>(status)}}),
                  std::move(reason));
}

model_reply problem(const rejection& r) {
    return refuse(problem_response(static_cast<http::status>(r.status), r.detail), r.reason);
}

model_reply invalid_sso_bearer(const rejection& r) {
    return gateway_error(http::status::unauthorized, "Invalid or expired access token", r.reason);
}

constexpr std::chrono::seconds request_rate_window{1};

// Every limiter answers the same 429, without Retry-After (IBKR documents none); the reason tells them apart.
model_reply too_many_requests(std::string reason = "rate_limited") {
    return refuse(json_response(http::status::too_many_requests, json::object{{"error", "Too Many Requests"}}),
                  std::move(reason));
}

checked<std::map<std::string, std::string>> parse_form(std::string_view body) {
    auto pairs = parse_url_encoded(body);
    if (!pairs) return rejection{400, "malformed_form", "the body is not application/x-www-form-urlencoded"};
    std::map<std::string, std::string> fields;
    for (auto& [key, value] : *pairs)
        if (!fields.emplace(key, std::move(value)).second)
            return rejection{400, "duplicate_parameter", "parameter " + key + " appears more than once"};
    return fields;
}

std::string_view field_or_empty(const std::map<std::string, std::string>& fields, std::string_view name) {
    const auto it = fields.find(std::string(name));
    return it == fields.end() ? std::string_view{} : std::string_view(it->second);
}

bool looks_like_json(std::string_view body) {
    const auto first = body.find_first_not_of(" \t\r\n");
    return first != std::string_view::npos && (body[first] == '{' || body[first] == '[');
}

// The iss claim of a compact JWS, unverified: which client an assertion claims to come from, so that
// its key can be chosen (the signature is checked with that key afterwards).
std::optional<std::string> claimed_issuer(std::string_view jws) {
    const auto first = jws.find('.');
    const auto second = jws.find('.', first == std::string_view::npos ? first : first + 1);
    if (first == std::string_view::npos || second == std::string_view::npos) return std::nullopt;
    const auto payload = base64url_decode(jws.substr(first + 1, second - first - 1));
    if (!payload) return std::nullopt;
    boost::system::error_code ec;
    const json::value claims = json::parse(*payload, ec);
    if (ec || !claims.is_object()) return std::nullopt;
    const auto* iss = claims.as_object().if_contains("iss");
    if (iss == nullptr || !iss->is_string()) return std::nullopt;
    return std::string(iss->get_string());
}

// ?bearer_token= of a WebSocket upgrade, as IBKR's OAuth 2.0 WebSocket samples authenticate.
std::optional<std::string> websocket_bearer(const http_request& req) {
    const auto params = parse_query(target_query(req.target()));
    if (!params) return std::nullopt;
    const auto it = params->find("bearer_token");
    if (it == params->end()) return std::nullopt;
    return it->second;
}

// The bearer a request authenticates with: Authorization, else (on the WebSocket path only, as IBKR
// reads it there) ?bearer_token=.
std::optional<std::string> request_bearer(const http_request& req) {
    if (const auto header = bearer_token(req)) return std::string(*header);
    if (target_path(req.target()) == websocket_path) return websocket_bearer(req);
    return std::nullopt;
}

// What tells the replicas apart; a request without the header is agent "" like any other.
std::string_view user_agent(const http_request& req) { return req[http::field::user_agent]; }

std::int64_t ms_between(wall_time from, wall_time to) {
    return std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count());
}

}  // namespace

std::string openssl_random_bytes(std::size_t n) {
    std::string bytes(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("the OpenSSL random generator failed");
    return bytes;
}

ibkr_model::user_state::user_state(const model_config& c, const user_config& u, std::size_t client_index)
    : client(client_index),
      tickle_limit(1, c.tickle_min_interval),
      validate_limit(1, c.validate_min_interval),
      orders(u.accounts) {
    if (c.max_requests_per_second > 0) request_limit.emplace(c.max_requests_per_second, request_rate_window);
    if (c.endpoint_limits) {
        endpoint_limits.reserve(endpoint_pacing_table.size());
        for (const auto& p : endpoint_pacing_table) endpoint_limits.emplace_back(p.limit, p.window);
    }
}

expected<ibkr_model> ibkr_model::create(model_config config, random_source random) {
    if (config.users.empty()) return make_error("no user configured");
    std::vector<client_state> clients;
    std::map<std::string_view, std::size_t> client_of;
    std::set<std::string_view> usernames;
    std::set<std::string_view> accounts;
    for (std::size_t i = 0; i < config.users.size(); ++i) {
        const user_config& u = config.users[i];
        if (!usernames.insert(u.username).second) return make_error("username " + u.username + " is configured twice");
        for (const auto& a : u.accounts)
            if (!accounts.insert(a).second) return make_error("account " + a + " is configured twice");
        const auto [known, added] = client_of.emplace(u.client_id, clients.size());
        if (added) {
            auto key = rsa_public_key::from_pem(u.public_key_pem);
            if (!key) return make_error("client " + u.client_id + " public key: " + key.error().message);
            clients.push_back({u.client_id, u.key_id, std::move(*key), u.scope, {}, u.allowed_ip, std::nullopt});
        } else {
            client_state& c = clients[known->second];
            const user_config& first = config.users[c.users.front()];
            if (u.key_id != first.key_id || u.public_key_pem != first.public_key_pem || u.scope != first.scope)
                return make_error("the users of client " + u.client_id + " disagree on its key id, key or scope");
            if (c.ip != u.allowed_ip) c.ip = loopback_ip;
        }
        clients[known->second].users.push_back(i);
    }
    return ibkr_model(std::move(config), std::move(clients), std::move(random));
}

ibkr_model::ibkr_model(model_config config, std::vector<client_state> clients, random_source random)
    : config_(std::move(config)),
      random_(std::move(random)),
      clients_(std::move(clients)),
      // Each user's session holds its own token, two while it changes hands (the old holder's
      // still live): a bound of the clients alone pushed live tokens out at 10,000 users.
      oauth_token_limit_(std::max(max_oauth_tokens, 2 * (clients_.size() + config_.users.size()))),
      ended_bearer_limit_(std::max(max_ended_bearers, config_.users.size())),
      issued_token_limit_(std::max(max_issued_tokens, 2 * (clients_.size() + config_.users.size()))) {
    for (std::size_t c = 0; c < clients_.size(); ++c) {
        client_index_.emplace(clients_[c].id, c);
        if (clients_[c].users.size() > 1 && config_.max_requests_per_second > 0)
            clients_[c].request_limit.emplace(config_.max_requests_per_second, request_rate_window);
    }
    users_.reserve(config_.users.size());
    for (const user_config& u : config_.users) {
        users_.emplace_back(config_, u, client_index_.find(u.client_id)->second);
        user_index_.emplace(u.username, users_.size() - 1);
    }
    anonymous_ip_ = config_.users.front().allowed_ip;
    for (const user_config& u : config_.users)
        if (u.allowed_ip != anonymous_ip_) anonymous_ip_ = loopback_ip;
    if (users_.size() > 1 && config_.max_requests_per_second > 0)
        anonymous_limit_.emplace(config_.max_requests_per_second, request_rate_window);
}

model_reply ibkr_model::handle(const http_request& req, wall_time now) {
    // Before pacing: a request that IBKR turns away (429, 503, 401) was still made for the user.
    note_request(req, now);
    const pacing_subject who = subject_of(req);
    std::optional<model_reply> paced = pace(who, now);
    model_reply r = paced ? std::move(*paced) : serve(req, now);
    // Every order body that reached IBKR is kept as it came, whatever the answer (429s included).
    if (req.method() == http::verb::post)
        if (const auto account = order_placement_account(target_path(req.target())))
            order_bodies_.record({0, std::string(*account), req.body(), r.response.result_int(), r.reason});
    // Every 429 the model answers comes from its own limiters (injected faults never reach it). It
    // boxes the address the request came from; the box's own 429s restart it: a client that keeps
    // calling stays in.
    if (r.response.result() == http::status::too_many_requests && config_.penalty_box.count() > 0)
        close_penalty_box(*who.ip, now);
    return r;
}

ibkr_model::pacing_subject ibkr_model::subject_of_user(std::size_t user) {
    user_state& u = users_[user];
    return {u.request_limit ? &*u.request_limit : nullptr, &config_.users[user].allowed_ip};
}

ibkr_model::pacing_subject ibkr_model::subject_of_client(std::size_t client) {
    client_state& c = clients_[client];
    // One app, one username: IBKR cannot tell the client's requests from the user's.
    if (c.users.size() == 1) return subject_of_user(c.users.front());
    return {c.request_limit ? &*c.request_limit : nullptr, &c.ip};
}

ibkr_model::pacing_subject ibkr_model::subject_of(const http_request& req) {
    const std::string_view path = target_path(req.target());
    if (const auto bearer = request_bearer(req)) {
        if (const auto user = user_of_bearer(*bearer)) return subject_of_user(*user);
        if (const auto it = oauth_tokens_.find(*bearer); it != oauth_tokens_.end())
            return subject_of_client(it->second.client);
    }
    if (path == token_path && req.method() == http::verb::post)
        if (const auto client = token_client(req.body())) return subject_of_client(*client);
    if (users_.size() == 1) return subject_of_user(0);
    return {anonymous_limit_ ? &*anonymous_limit_ : nullptr, &anonymous_ip_};
}

std::optional<std::size_t> ibkr_model::user_of_bearer(std::string_view bearer) const {
    if (const auto it = sso_bearers_.find(bearer); it != sso_bearers_.end()) return it->second;
    const auto ended = std::find_if(ended_bearers_.begin(), ended_bearers_.end(),
                                    [&](const ended_bearer& e) { return e.bearer == bearer; });
    if (ended != ended_bearers_.end()) return ended->user;
    return std::nullopt;
}

std::optional<std::size_t> ibkr_model::user_of_session_cookie(std::string_view session_token) const {
    // A scan of every user: only requests whose bearer names nobody get here, and session tokens
    // are looked up nowhere else, so an index would cost more upkeep than it saves.
    for (std::size_t u = 0; u < users_.size(); ++u)
        if (users_[u].sso && users_[u].sso->session_token == session_token) return u;
    const auto ended = std::find_if(ended_bearers_.begin(), ended_bearers_.end(),
                                    [&](const ended_bearer& e) { return e.session_token == session_token; });
    if (ended != ended_bearers_.end()) return ended->user;
    return std::nullopt;
}

std::optional<std::size_t> ibkr_model::user_acted_for(const http_request& req) const {
    const std::string_view path = target_path(req.target());
    // Logins act for nobody: they are how a replica takes a username over (the SSO session's holder
    // is set when it is created). Their bearer is the client's OAuth token anyway.
    if (path == token_path || path == sso_sessions_path) return std::nullopt;
    if (const auto bearer = request_bearer(req))
        if (const auto user = user_of_bearer(*bearer)) return user;
    if (const auto cookie = cookie_value(req, "api"); cookie && !cookie->empty()) return user_of_session_cookie(*cookie);
    return std::nullopt;
}

void ibkr_model::note_request(const http_request& req, wall_time now) {
    if (const auto user = user_acted_for(req))
        overlaps_.acted(config_.users[*user].username, user_agent(req), target_path(req.target()), now);
}

std::optional<model_reply> ibkr_model::pace(const pacing_subject& who, wall_time now) {
    if (const auto box = penalty_boxes_.find(*who.ip); box != penalty_boxes_.end() && box->second.contains(now)) {
        ++counters_.penalty_box_violations;
        return too_many_requests("penalty_box");
    }
    if (who.window != nullptr && !who.window->try_acquire(now)) return too_many_requests("global_rate_limited");
    return std::nullopt;
}

void ibkr_model::close_penalty_box(const std::string& ip, wall_time now) {
    std::erase_if(penalty_boxes_, [&](const auto& box) { return !box.second.contains(now); });
    penalty_boxes_.insert_or_assign(ip, time_span{now, now + config_.penalty_box});
}

model_reply ibkr_model::serve(const http_request& req, wall_time now) {
    // IBKR's front end insists on Content-Length on every POST, even an empty one.
    if (req.method() == http::verb::post && !req.has_content_length() && !req.chunked())
        return gateway_error(http::status::length_required, "Length Required", "length_required");

    const std::string_view path = target_path(req.target());
    // The one path with a parameter, the account: matched apart from the table of exact paths.
    const auto order_account = order_placement_account(path);
    const auto route = routes.find(req.method(), path);
    if (!route.known_path && !order_account) return gateway_error(http::status::not_found, "Not Found", "not_found");
    if (order_account ? req.method() != http::verb::post : route.target == nullptr) {
        auto refused = gateway_error(http::status::method_not_allowed, "Method Not Allowed", "method_not_allowed");
        refused.response.set(http::field::allow, order_account ? "POST" : route.allow);
        return refused;
    }
    const endpoint which = order_account ? endpoint::place_order : *route.target;
    if (maintenance(now))
        return refuse(json_response(http::status::service_unavailable, json::object{{"error", "Service Unavailable"}}),
                      "maintenance");

    if (which == endpoint::token) return create_token(req, now);
    if (which == endpoint::sso_sessions) return create_sso_session(req, now);
    if (which == endpoint::websocket) return accept_websocket(req, now);

    auto user = authorize_sso_bearer(bearer_token(req), now);
    if (!user) return invalid_sso_bearer(user.error());
    user_state& u = **user;
    settle_idle_brokerage(u, now);
    u.brokerage.last_activity = now;  // any /v1/api request is brokerage activity
    if (auto limited = pace_endpoint(u, path, now)) return std::move(*limited);
    if (is_iserver(which))
        if (auto refused = require_brokerage(u)) return std::move(*refused);

    switch (which) {
        case endpoint::validate: return validate(u, now);
        case endpoint::ssodh_init: return init_brokerage(req, u, now);
        case endpoint::accounts: return list_accounts(u);
        case endpoint::tickle: return tickle(u, now);
        case endpoint::auth_status: return auth_status(u, now);
        case endpoint::logout: return logout(u);
        case endpoint::portfolio_accounts:
        case endpoint::portfolio_subaccounts: return portfolio_accounts(u);
        case endpoint::account_orders: return account_orders(u);
        case endpoint::account_trades: return account_trades(u);
        case endpoint::pnl_partitioned: return pnl_partitioned(u, now);
        case endpoint::snapshot: return snapshot(req, now);
        case endpoint::history: return history(req, u, now);
        case endpoint::place_order: return place_order(req, u, *order_account, now);
        case endpoint::token:
        case endpoint::sso_sessions:
        case endpoint::websocket: break;
    }
    throw std::logic_error("unrouted IBKR endpoint");
}

// ---- Step 1: OAuth access token (reference section 2) ----

std::optional<std::size_t> ibkr_model::token_client(std::string_view body) const {
    const auto form = parse_form(body);
    if (!form) return clients_.size() == 1 ? std::optional<std::size_t>(0) : std::nullopt;
    if (const auto it = client_index_.find(field_or_empty(*form, "client_id")); it != client_index_.end())
        return it->second;
    if (const auto issuer = claimed_issuer(field_or_empty(*form, "client_assertion")))
        if (const auto it = client_index_.find(*issuer); it != client_index_.end()) return it->second;
    if (clients_.size() == 1) return 0;
    return std::nullopt;
}

model_reply ibkr_model::create_token(const http_request& req, wall_time now) {
    if (media_type(req[http::field::content_type]) != "application/x-www-form-urlencoded")
        return problem({400, "token_wrong_content_type", "Content-Type must be application/x-www-form-urlencoded"});
    const auto form = parse_form(req.body());
    if (!form) return problem(form.error());
    if (field_or_empty(*form, "grant_type") != grant_type)
        return problem({400, "wrong_grant_type", "grant_type must be client_credentials"});
    if (field_or_empty(*form, "client_assertion_type") != assertion_type)
        return problem({400, "wrong_assertion_type", "client_assertion_type must be " + std::string(assertion_type)});
    const std::string_view assertion = field_or_empty(*form, "client_assertion");
    if (assertion.empty()) return problem({400, "missing_assertion", "client_assertion is missing"});
    // The assertion's key is the key of the client it names; one naming no client cannot be checked.
    const auto which = token_client(req.body());
    if (!which) {
        if (form->contains("client_id"))
            return problem({401, "wrong_client_id", "client_id does not name a registered client"});
        return problem({401, "assertion_wrong_iss", "client assertion iss does not name a registered client"});
    }
    const client_state& client = clients_[*which];
    if (field_or_empty(*form, "scope") != client.scope)
        return problem({400, "wrong_scope", "scope is missing or not a scope granted to this client"});
    if (form->contains("client_id") && field_or_empty(*form, "client_id") != client.id)
        return problem({401, "wrong_client_id", "client_id does not name a registered client"});

    constexpr std::string_view prefix = "assertion";
    constexpr std::string_view what = "client assertion";
    const auto claims = verify_compact_jws(assertion, {client.key_id, &client.key, prefix, what});
    if (!claims) return problem(claims.error());
    const std::array<std::pair<std::string_view, std::string_view>, 3> expected_claims{
        {{"iss", client.id}, {"sub", client.id}, {"aud", token_audience}}};
    for (const auto& [name, expected] : expected_claims)
        if (auto r = check_string_claim(*claims, name, expected, prefix, what)) return problem(*r);
    if (auto r = check_time_claims(*claims, {now, config_.clock_skew, config_.max_assertion_life}, prefix, what))
        return problem(*r);

    std::erase_if(oauth_tokens_, [&](const auto& t) { return now >= t.second.expires; });
    if (oauth_tokens_.size() >= oauth_token_limit_)
        oauth_tokens_.erase(std::min_element(oauth_tokens_.begin(), oauth_tokens_.end(), [](const auto& a, const auto& b) {
            return a.second.expires < b.second.expires;
        }));
    std::string token = random_token();
    oauth_tokens_.emplace(token, oauth_token{now + config_.token_lifetime, *which});
    ++counters_.tokens_issued;
    return reply(json_response(
        http::status::ok,
        json::object{{"access_token", token},
                     {"token_type", "Bearer"},
                     {"scope", client.scope},
                     {"expires_in", std::chrono::duration_cast<std::chrono::seconds>(config_.token_lifetime).count()}}));
}

// ---- Step 2: SSO session (reference section 3) ----

checked<std::size_t> ibkr_model::authorize_oauth_token(const http_request& req, wall_time now) {
    const auto token = bearer_token(req);
    if (!token) return rejection{401, "missing_oauth_token", "Authorization: Bearer <OAuth access token> is required"};
    const auto it = oauth_tokens_.find(*token);
    if (it == oauth_tokens_.end()) {
        if (sso_bearers_.contains(*token))
            return rejection{401, "sso_bearer_not_oauth_token",
                             "the bearer is an SSO session token; sso-sessions needs the OAuth access token"};
        return rejection{401, "unknown_oauth_token", "the OAuth access token is not valid"};
    }
    if (now >= it->second.expires) return rejection{401, "oauth_token_expired", "the OAuth access token has expired"};
    return checked<std::size_t>(boost::system::in_place_value, it->second.client);
}

model_reply ibkr_model::create_sso_session(const http_request& req, wall_time now) {
    const auto client_index = authorize_oauth_token(req, now);
    if (!client_index) return problem(client_index.error());
    if (media_type(req[http::field::content_type]) != "application/jwt" || looks_like_json(req.body()))
        return problem({400, "sso_payload_not_signed_jwt", "Invalid payload for security policy: SIGNED_JWT"});

    // The JWT is the client's that got the OAuth token: its key, its id as iss, one of its usernames.
    const client_state& client = clients_[*client_index];
    constexpr std::string_view prefix = "sso_jwt";
    constexpr std::string_view what = "SSO request JWT";
    const auto claims = verify_compact_jws(req.body(), {client.key_id, &client.key, prefix, what});
    if (!claims) return problem(claims.error());
    if (auto r = check_string_claim(*claims, "iss", client.id, prefix, what)) return problem(*r);
    if (auto r = check_time_claims(*claims, {now, config_.clock_skew, std::nullopt}, prefix, what)) return problem(*r);

    // credential and ip are the two properties IBKR's CreateSessionRequest schema requires.
    const auto* credential = claims->if_contains("credential");
    const auto* ip = claims->if_contains("ip");
    if (credential == nullptr || !credential->is_string())
        return problem({400, "sso_jwt_missing_credential", "claim credential (string) is required"});
    if (ip == nullptr || !ip->is_string())
        return problem({400, "sso_jwt_missing_ip", "claim ip (string) is required"});
    const auto named = user_index_.find(std::string_view(credential->get_string()));
    if (named == user_index_.end() || users_[named->second].client != *client_index)
        return problem({403, "credential_rejected", "credential rejected"});
    user_state& user = users_[named->second];
    if (ip->get_string() != config_of(user).allowed_ip)
        return problem({403, "ip_not_allowed", "ip " + std::string(ip->get_string()) +
                                                   " is not the address this request came from / not whitelisted"});

    // Only the latest SSO session of a user is valid: the previous bearer and its brokerage end here.
    if (user.sso) end_sso_session(user, "sso_superseded");
    sso_session sso{random_token(), now, now + std::min(config_.sso_lifetime, config_.sso_max_life), random_hex(16)};
    std::string bearer = sso.bearer;
    sso_bearers_.emplace(bearer, named->second);
    user.sso = std::move(sso);
    // The login that yields the SSO bearer is the takeover: its agent holds the user from now on.
    overlaps_.session_opened(config_of(user).username, user_agent(req));
    user.brokerage = {};
    count(user, &user_counters::sso_sessions_created);
    return reply(json_response(http::status::ok,
                               json::object{{"access_token", bearer}, {"active", true}, {"token_type", "Bearer"}}));
}

// ---- /v1/api (reference section 4) ----

checked<ibkr_model::user_state*> ibkr_model::authorize_sso_bearer(std::optional<std::string_view> token,
                                                                  wall_time now) {
    if (!token) return rejection{401, "missing_bearer", {}};
    if (const auto it = sso_bearers_.find(*token); it != sso_bearers_.end()) {
        user_state& user = users_[it->second];
        if (now < user.sso->expires) return &user;
        end_sso_session(user, "sso_expired");
        return rejection{401, "sso_expired", {}};
    }
    const auto ended = std::find_if(ended_bearers_.begin(), ended_bearers_.end(),
                                    [&](const ended_bearer& e) { return e.bearer == *token; });
    if (ended != ended_bearers_.end()) return rejection{401, ended->why, {}};
    // A frequent client bug, worth its own reason: the step 1 token sent where the SSO bearer belongs.
    if (oauth_tokens_.contains(*token)) return rejection{401, "oauth_token_not_sso_bearer", {}};
    return rejection{401, "unknown_bearer", {}};
}

void ibkr_model::end_sso_session(user_state& user, std::string_view why) {
    if (!user.sso) return;
    sso_bearers_.erase(user.sso->bearer);
    ended_bearers_.push_back(
        {std::move(user.sso->bearer), std::string(why), index_of(user), std::move(user.sso->session_token)});
    if (ended_bearers_.size() > ended_bearer_limit_) ended_bearers_.pop_front();
    user.sso.reset();
    user.brokerage = {};
}

void ibkr_model::count(user_state& user, std::uint64_t user_counters::*which, std::uint64_t n) noexcept {
    user.counters.*which += n;
    counters_.*which += n;
}

std::size_t ibkr_model::index_of(const user_state& user) const noexcept {
    return static_cast<std::size_t>(&user - users_.data());
}

const user_config& ibkr_model::config_of(const user_state& user) const noexcept {
    return config_.users[index_of(user)];
}

void ibkr_model::extend_sso_session(sso_session& sso, wall_time now) const {
    const wall_time limit = sso.created + config_.sso_max_life;
    sso.expires = std::max(sso.expires, std::min(now + config_.sso_lifetime, limit));
}

void ibkr_model::settle_idle_brokerage(user_state& user, wall_time now) const {
    auto& b = user.brokerage;
    if (b.authenticated && now - b.last_activity >= config_.brokerage_idle_timeout) {
        b.authenticated = false;
        b.established = false;
    }
}

brokerage_status ibkr_model::status_of(const user_state& user, wall_time now) const {
    if (!user.sso || now >= user.sso->expires) return {};
    if (user.competing) return {.authenticated = false, .competing = true, .connected = true, .established = false};
    const auto& b = user.brokerage;
    if (!b.initialised) return {};
    const bool authenticated = b.authenticated && now - b.last_activity < config_.brokerage_idle_timeout;
    return {.authenticated = authenticated, .competing = false, .connected = true,
            .established = authenticated && b.established};
}

json::object ibkr_model::server_info_json() const {
    return {{"serverName", config_.server_name}, {"serverVersion", config_.server_version}};
}

json::object ibkr_model::auth_status_json(const brokerage_status& s) const {
    return {{"authenticated", s.authenticated},
            {"competing", s.competing},
            {"connected", s.connected},
            {"established", s.established},
            {"message", ""},
            {"fail", s.competing ? "competing session" : ""},
            {"MAC", mac_address},
            {"serverInfo", server_info_json()}};
}

model_reply ibkr_model::validate(user_state& user, wall_time now) {
    if (!user.validate_limit.try_acquire(now)) return too_many_requests();
    if (config_.validate_extends) extend_sso_session(*user.sso, now);
    count(user, &user_counters::validates);
    const user_config& who = config_of(user);
    const int login = who.login == login_type::live ? 1 : 2;
    return reply(json_response(
        http::status::ok,
        json::object{{"RESULT", true},
                     {"EXPIRES", ms_between(now, user.sso->expires)},
                     {"USER_ID", user_id},
                     {"USER_NAME", who.username},
                     {"CREDENTIAL", who.username},
                     {"AUTH_TIME", epoch_ms(user.sso->created)},
                     {"IS_FREE_TRIAL", false},
                     {"IS_MASTER", false},
                     {"LANDING_APP", "PORTAL"},
                     {"LOGIN_TYPE", login},
                     {"loginType", login},
                     {"PAPER_USER_NAME", who.username},
                     {"QUALIFIED_FOR_MOBILE_AUTH", nullptr},
                     {"SF_ENABLED", false},
                     {"lastAccessed", epoch_ms(now)},
                     {"region", "NJ"},
                     {"IP", who.allowed_ip},
                     {"features", json::object{{"env", "PROD"},
                                               {"wlms", true},
                                               {"realtime", true},
                                               {"bond", true},
                                               {"optionChains", true},
                                               {"calendar", true},
                                               {"newMf", true}}}}));
}

model_reply ibkr_model::init_brokerage(const http_request& req, user_state& user, wall_time now) {
    auto malformed = [](std::string_view why) {
        return refuse(json_response(http::status::bad_request, json::object{{"error", why}}), "init_malformed_body");
    };
    if (media_type(req[http::field::content_type]) != "application/json")
        return malformed("Content-Type must be application/json");
    boost::system::error_code ec;
    const json::value body = json::parse(req.body(), ec);
    if (ec || !body.is_object()) return malformed("body must be a JSON object {\"publish\":bool,\"compete\":bool}");
    const auto* publish = body.as_object().if_contains("publish");
    const auto* compete = body.as_object().if_contains("compete");
    if ((publish != nullptr && !publish->is_bool()) || (compete != nullptr && !compete->is_bool()))
        return malformed("publish and compete must be booleans");
    if (publish == nullptr || !publish->get_bool())
        return refuse(json_response(http::status::internal_server_error, json::object{{"error", "publish must be true"}}),
                      "publish_not_true");
    const bool take_over = compete != nullptr && compete->get_bool();

    if (user.competing && !take_over) {
        auto status = auth_status_json(status_of(user, now));
        return refuse(json_response(http::status::ok, status), "competing_session");
    }
    user.competing = false;  // compete=true disconnects the other platform's brokerage session
    user.brokerage = {.initialised = true, .authenticated = true, .established = false, .last_activity = now,
                      .session_id = random_hex(16)};
    count(user, &user_counters::inits);
    return reply(json_response(http::status::ok, auth_status_json(status_of(user, now))));
}

model_reply ibkr_model::list_accounts(user_state& user) {
    if (!user.brokerage.authenticated || user.competing)
        return gateway_error(http::status::bad_request, "Bad Request: no bridge", "no_bridge");
    user.brokerage.established = true;
    count(user, &user_counters::accounts);
    const user_config& who = config_of(user);
    json::array accounts;
    json::object props;
    json::object aliases;
    for (const auto& id : who.accounts) {
        accounts.emplace_back(id);
        props[id] = json::object{{"hasChildAccounts", false}, {"supportsCashQty", true}, {"supportsFractions", true}};
        aliases[id] = id;
    }
    return reply(json_response(http::status::ok,
                               json::object{{"accounts", std::move(accounts)},
                                            {"acctProps", std::move(props)},
                                            {"aliases", std::move(aliases)},
                                            {"allowFeatures", json::object{}},
                                            {"chartPeriods", json::object{}},
                                            {"groups", json::array{}},
                                            {"profiles", json::array{}},
                                            {"selectedAccount", who.accounts.front()},
                                            {"serverInfo", server_info_json()},
                                            {"sessionId", user.brokerage.session_id},
                                            {"isPaper", who.login == login_type::paper}}));
}

model_reply ibkr_model::tickle(user_state& user, wall_time now) {
    if (!user.tickle_limit.try_acquire(now)) return too_many_requests();
    if (config_.tickle_extends) extend_sso_session(*user.sso, now);
    count(user, &user_counters::tickles);
    const brokerage_status s = status_of(user, now);
    json::object auth_status{{"authenticated", s.authenticated},
                             {"competing", s.competing},
                             {"connected", s.connected},
                             {"message", ""},
                             {"MAC", mac_address},
                             {"serverInfo", server_info_json()}};
    return reply(json_response(http::status::ok,
                               json::object{{"session", user.sso->session_token},
                                            {"ssoExpires", ms_between(now, user.sso->expires)},
                                            {"collission", false},
                                            {"userId", user_id},
                                            {"hmds", json::object{{"error", "no bridge"}}},
                                            {"iserver", json::object{{"authStatus", std::move(auth_status)}}}}));
}

model_reply ibkr_model::auth_status(const user_state& user, wall_time now) const {
    return reply(json_response(http::status::ok, auth_status_json(status_of(user, now))));
}

model_reply ibkr_model::logout(user_state& user) {
    end_sso_session(user, "sso_logged_out");
    count(user, &user_counters::logouts);
    return reply(json_response(http::status::ok, json::object{{"status", true}}));
}

// ---- trading endpoints (gateway reference sections 2 and 4) ----

std::optional<model_reply> ibkr_model::pace_endpoint(user_state& user, std::string_view path, wall_time now) {
    if (user.endpoint_limits.empty()) return std::nullopt;  // --no-endpoint-limits
    const auto* pacing = std::find_if(endpoint_pacing_table.begin(), endpoint_pacing_table.end(),
                                      [&](const endpoint_pacing& p) { return p.path == path; });
    if (pacing == endpoint_pacing_table.end()) return std::nullopt;
    if (user.endpoint_limits[static_cast<std::size_t>(pacing - endpoint_pacing_table.begin())].try_acquire(now))
        return std::nullopt;
    return too_many_requests(std::string(pacing->reason));
}

std::optional<model_reply> ibkr_model::require_brokerage(const user_state& user) const {
    if (!user.brokerage.authenticated || user.competing)
        return gateway_error(http::status::bad_request, "Bad Request: no bridge", "no_bridge");
    if (!user.brokerage.established)
        return gateway_error(http::status::internal_server_error, "Please query /accounts first", "accounts_not_queried");
    return std::nullopt;
}

model_reply ibkr_model::accept_websocket(const http_request& req, wall_time now) {
    if (!boost::beast::websocket::is_upgrade(req))
        return gateway_error(http::status::bad_request, "Bad Request: WebSocket upgrade required", "websocket_not_upgrade");
    // As IBKR's OAuth 2.0 WebSocket samples authenticate: ?bearer_token=<SSO bearer>, cookie api=<tickle session>.
    const auto token = websocket_bearer(req);
    auto user = authorize_sso_bearer(token ? std::optional<std::string_view>(*token) : std::nullopt, now);
    if (!user) return invalid_sso_bearer(user.error());
    user_state& u = **user;
    const auto api = cookie_value(req, "api");
    if (!api) return gateway_error(http::status::unauthorized, "Unauthorized", "websocket_missing_api_cookie");
    if (*api != u.sso->session_token)
        return gateway_error(http::status::unauthorized, "Unauthorized", "websocket_wrong_api_cookie");
    settle_idle_brokerage(u, now);
    u.brokerage.last_activity = now;
    count(u, &user_counters::websockets_accepted);
    model_reply r = reply(http_response{http::status::switching_protocols, 11});
    r.websocket = websocket_grant{u.sso->bearer, u.sso->session_token, index_of(u)};
    return r;
}

model_reply ibkr_model::portfolio_accounts(const user_state& user) const {
    const user_config& who = config_of(user);
    json::array accounts;
    for (const auto& id : who.accounts)
        accounts.push_back(json::object{{"id", id},
                                        {"accountId", id},
                                        {"accountVan", id},
                                        {"accountTitle", "Simulated account " + id},
                                        {"displayName", id},
                                        {"accountAlias", nullptr},
                                        {"accountStatus", 1'700'000'000'000},
                                        {"currency", "USD"},
                                        {"type", who.login == login_type::paper ? "DEMO" : "INDIVIDUAL"},
                                        {"tradingType", "PMRGN"},
                                        {"businessType", "IB_PROP"},
                                        {"ibEntity", "IBLLC-US"},
                                        {"faclient", false},
                                        {"clearingStatus", "O"},
                                        {"covestor", false},
                                        {"noClientTrading", false},
                                        {"trackVirtualFXPortfolio", true},
                                        {"parent", json::object{{"mmc", json::array{}},
                                                                {"accountId", ""},
                                                                {"isMParent", false},
                                                                {"isMChild", false},
                                                                {"isMultiplex", false}}},
                                        {"desc", id}});
    return reply(json_response(http::status::ok, accounts));
}

model_reply ibkr_model::account_orders(const user_state& user) const {
    return reply(json_response(http::status::ok, user.orders.orders_json()));
}

model_reply ibkr_model::account_trades(const user_state& user) const {
    return reply(json_response(http::status::ok, user.orders.trades_json()));
}

model_reply ibkr_model::pnl_partitioned(const user_state& user, wall_time now) const {
    return reply(json_response(http::status::ok, json::object{{"upnl", user.orders.pnl_json(now)}}));
}

model_reply ibkr_model::snapshot(const http_request& req, wall_time now) const {
    const auto params = parse_query(target_query(req.target()));
    if (!params) return gateway_error(http::status::bad_request, params.error().message, "snapshot_bad_query");
    auto param = [&](std::string_view name) {
        const auto it = params->find(name);
        return it == params->end() ? std::string_view{} : std::string_view(it->second);
    };
    const auto conids = parse_conids(param("conids"));
    if (!conids) return gateway_error(http::status::bad_request, conids.error().message, "snapshot_bad_query");
    const auto fields = parse_fields(param("fields"));
    if (!fields) return gateway_error(http::status::bad_request, fields.error().message, "snapshot_bad_query");
    json::array out;
    for (const auto conid : *conids) out.push_back(market_data_fields(conid, *fields, now));
    return reply(json_response(http::status::ok, out));
}

model_reply ibkr_model::history(const http_request& req, user_state& user, wall_time now) {
    const auto request = parse_history_request(target_query(req.target()));
    if (!request) return gateway_error(http::status::bad_request, request.error().message, "history_bad_query");
    if (config_.endpoint_limits && user.history_in_flight >= max_concurrent_history)
        return too_many_requests("history_concurrency_limited");
    ++user.history_in_flight;
    ++history_in_flight_;
    history_max_in_flight_ = std::max(history_max_in_flight_, history_in_flight_);
    model_reply r = reply(json_response(http::status::ok, history_json(*request, now)));
    r.history_slot = index_of(user);
    return r;
}

void ibkr_model::release_history_slot(std::size_t user) noexcept {
    if (user < users_.size() && users_[user].history_in_flight > 0) --users_[user].history_in_flight;
    if (history_in_flight_ > 0) --history_in_flight_;
}

model_reply ibkr_model::place_order(const http_request& req, user_state& user, std::string_view account,
                                    wall_time now) {
    // Another user's account gets the answer of an account that does not exist: IBKR does not tell
    // a user which accounts others have. Only the reason (log, /control/state) tells them apart.
    if (!user.orders.knows_account(account)) {
        const bool someone_elses = std::any_of(users_.begin(), users_.end(), [&](const user_state& other) {
            return &other != &user && other.orders.knows_account(account);
        });
        return gateway_error(http::status::bad_request, "Account " + std::string(account) + " not found",
                             someone_elses ? "account_not_owned" : "unknown_account");
    }
    auto orders = user.orders.parse(account, req.body());
    if (!orders)
        return refuse(json_response(http::status::bad_request, json::object{{"error", orders.error().message}}),
                      "order_rejected");
    count(user, &user_counters::orders_placed, orders->size());
    model_reply r = reply(json_response(http::status::ok, user.orders.place(std::move(*orders), now, next_order_id_)));
    r.orders_changed = index_of(user);
    return r;
}

// ---- control ----

void ibkr_model::reset_counters() noexcept {
    counters_ = {};
    for (auto& u : users_) u.counters = {};
    order_bodies_.clear();
    history_max_in_flight_ = history_in_flight_;
}

template <class F>
void ibkr_model::for_users(std::optional<std::string_view> username, F&& f) {
    if (!username) {
        for (auto& u : users_) f(u);
    } else if (const auto it = user_index_.find(*username); it != user_index_.end()) {
        f(users_[it->second]);
    }
}

std::optional<std::size_t> ibkr_model::find_user(std::string_view username) const {
    const auto it = user_index_.find(username);
    if (it == user_index_.end()) return std::nullopt;
    return it->second;
}

bool ibkr_model::sso_bearer_active(std::string_view bearer, wall_time now) const {
    const auto it = sso_bearers_.find(bearer);
    return it != sso_bearers_.end() && sso_active(it->second, now);
}

bool ibkr_model::sso_active(std::size_t user, wall_time now) const {
    const auto& sso = users_.at(user).sso;
    return sso && now < sso->expires;
}

void ibkr_model::expire_sessions(std::optional<std::string_view> username) {
    // Expiry at the epoch: the next use meets the same path as a naturally expired token.
    if (!username)
        for (auto& [token, t] : oauth_tokens_) t.expires = wall_time{};
    for_users(username, [](user_state& u) {
        if (u.sso) u.sso->expires = wall_time{};
    });
}

void ibkr_model::drop_brokerage(std::optional<std::string_view> username) {
    for_users(username, [](user_state& u) {
        u.brokerage.authenticated = false;
        u.brokerage.established = false;
    });
}

void ibkr_model::set_competing(bool on, std::optional<std::string_view> username) {
    for_users(username, [on](user_state& u) {
        u.competing = on;
        if (on) {
            u.brokerage.authenticated = false;
            u.brokerage.established = false;
        }
    });
}

bool ibkr_model::competing() const noexcept {
    return std::any_of(users_.begin(), users_.end(), [](const user_state& u) { return u.competing; });
}

void ibkr_model::set_maintenance(bool on) {
    maintenance_ = on;
    maintenance_span_.reset();
}

void ibkr_model::start_maintenance(wall_time now, sim_duration duration) {
    maintenance_ = true;
    maintenance_span_ = time_span{now, now + duration};
}

void ibkr_model::nightly_reset(wall_time now, sim_duration maintenance) {
    expire_sessions();
    for (auto& u : users_) u.competing = false;  // the other platform's brokerage session ends with ours
    if (maintenance.count() > 0) start_maintenance(now, maintenance);
}

bool ibkr_model::maintenance(wall_time now) const noexcept {
    return maintenance_ && (!maintenance_span_ || maintenance_span_->contains(now));
}

std::optional<sim_duration> ibkr_model::maintenance_left(wall_time now) const noexcept {
    if (!maintenance(now) || !maintenance_span_) return std::nullopt;
    return std::chrono::ceil<sim_duration>(maintenance_span_->until - now);
}

std::optional<sim_duration> ibkr_model::penalty_box_left(wall_time now) const noexcept {
    std::optional<sim_duration> longest;
    for (const auto& [ip, box] : penalty_boxes_)
        if (box.contains(now)) longest = std::max(longest.value_or(sim_duration{}), std::chrono::ceil<sim_duration>(box.until - now));
    return longest;
}

std::optional<sim_duration> ibkr_model::penalty_box_left(wall_time now, std::string_view ip) const noexcept {
    const auto box = penalty_boxes_.find(ip);
    if (box == penalty_boxes_.end() || !box->second.contains(now)) return std::nullopt;
    return std::chrono::ceil<sim_duration>(box->second.until - now);
}

std::size_t ibkr_model::active_sso_sessions(wall_time now) const {
    return static_cast<std::size_t>(std::count_if(users_.begin(), users_.end(), [&](const user_state& u) {
        return u.sso && now < u.sso->expires;
    }));
}

brokerage_status ibkr_model::brokerage(wall_time now) const {
    brokerage_status any;
    for (const auto& u : users_) {
        const brokerage_status s = status_of(u, now);
        any.authenticated = any.authenticated || s.authenticated;
        any.competing = any.competing || s.competing;
        any.connected = any.connected || s.connected;
        any.established = any.established || s.established;
    }
    return any;
}

brokerage_status ibkr_model::brokerage(std::size_t user, wall_time now) const { return status_of(users_.at(user), now); }

std::string ibkr_model::random_token() {
    std::string token = base64url_encode(random_(32));
    issued_tokens_.push_back(token);
    if (issued_tokens_.size() > issued_token_limit_) issued_tokens_.pop_front();
    return token;
}

std::string ibkr_model::random_hex(std::size_t bytes) {
    static constexpr std::string_view digits = "0123456789abcdef";
    std::string hex;
    for (const char c : random_(bytes)) {
        const auto b = static_cast<unsigned char>(c);
        hex += digits[b >> 4];
        hex += digits[b & 0x0f];
    }
    return hex;
}

}  // namespace sessiond::sim
