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
#include <stdexcept>

namespace sessiond::sim {

namespace {

namespace json = boost::json;

constexpr std::string_view mac_address = "98:F2:B3:23:BF:A0";
constexpr std::int64_t user_id = 12345678;
constexpr std::size_t max_oauth_tokens = 1024;
constexpr std::size_t max_ended_bearers = 64;
constexpr std::string_view grant_type = "client_credentials";
constexpr std::string_view assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
constexpr std::string_view token_audience = "/token";

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
    {http::verb::post, "/oauth2/api/v1/token", endpoint::token},
    {http::verb::post, "/gw/api/v1/sso-sessions", endpoint::sso_sessions},
    {http::verb::get, "/v1/api/sso/validate", endpoint::validate},
    {http::verb::post, "/v1/api/iserver/auth/ssodh/init", endpoint::ssodh_init},
    {http::verb::get, "/v1/api/iserver/accounts", endpoint::accounts},
    {http::verb::post, "/v1/api/tickle", endpoint::tickle},
    {http::verb::get, "/v1/api/tickle", endpoint::tickle},
    {http::verb::post, "/v1/api/iserver/auth/status", endpoint::auth_status},
    {http::verb::post, "/v1/api/logout", endpoint::logout},
    {http::verb::get, "/v1/api/ws", endpoint::websocket},
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

ibkr_model::user_state::user_state(const model_config& c)
    : tickle_limit(1, c.tickle_min_interval), validate_limit(1, c.validate_min_interval) {
    if (c.max_requests_per_second > 0) request_limit.emplace(c.max_requests_per_second, request_rate_window);
    if (c.endpoint_limits)
        for (const auto& p : endpoint_pacing_table)
            endpoint_limits.emplace(std::string(p.path), sliding_window_limiter(p.limit, p.window));
}

ibkr_model::ibkr_model(model_config config, rsa_public_key client_key, random_source random)
    : config_(std::move(config)),
      client_key_(std::move(client_key)),
      random_(std::move(random)),
      user_(config_),
      orders_(config_.accounts) {}

model_reply ibkr_model::handle(const http_request& req, wall_time now) {
    std::optional<model_reply> paced = pace(now);
    model_reply r = paced ? std::move(*paced) : serve(req, now);
    // Every order body that reached IBKR is kept as it came, whatever the answer (429s included).
    if (req.method() == http::verb::post)
        if (const auto account = order_placement_account(target_path(req.target())))
            orders_.record_body({0, std::string(*account), req.body(), r.response.result_int(), r.reason});
    // Every 429 the model answers comes from its own limiters (injected faults never reach it). The
    // box's own 429s restart it: a client that keeps calling stays in.
    if (r.response.result() == http::status::too_many_requests && config_.penalty_box.count() > 0)
        penalty_box_ = time_span{now, now + config_.penalty_box};
    return r;
}

std::optional<model_reply> ibkr_model::pace(wall_time now) {
    if (penalty_box_ && penalty_box_->contains(now)) {
        ++counters_.penalty_box_violations;
        return too_many_requests("penalty_box");
    }
    if (user_.request_limit && !user_.request_limit->try_acquire(now)) return too_many_requests("global_rate_limited");
    return std::nullopt;
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
        case endpoint::portfolio_subaccounts: return portfolio_accounts();
        case endpoint::account_orders: return account_orders();
        case endpoint::account_trades: return account_trades();
        case endpoint::pnl_partitioned: return pnl_partitioned(now);
        case endpoint::snapshot: return snapshot(req, now);
        case endpoint::history: return history(req, now);
        case endpoint::place_order: return place_order(req, *order_account, now);
        case endpoint::token:
        case endpoint::sso_sessions:
        case endpoint::websocket: break;
    }
    throw std::logic_error("unrouted IBKR endpoint");
}

// ---- Step 1: OAuth access token (reference section 2) ----

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
    if (field_or_empty(*form, "scope") != config_.scope)
        return problem({400, "wrong_scope", "scope is missing or not a scope granted to this client"});
    if (form->contains("client_id") && field_or_empty(*form, "client_id") != config_.client_id)
        return problem({401, "wrong_client_id", "client_id does not name a registered client"});

    constexpr std::string_view prefix = "assertion";
    constexpr std::string_view what = "client assertion";
    const auto claims = verify_compact_jws(assertion, {config_.key_id, &client_key_, prefix, what});
    if (!claims) return problem(claims.error());
    const std::array<std::pair<std::string_view, std::string_view>, 3> expected_claims{
        {{"iss", config_.client_id}, {"sub", config_.client_id}, {"aud", token_audience}}};
    for (const auto& [name, expected] : expected_claims)
        if (auto r = check_string_claim(*claims, name, expected, prefix, what)) return problem(*r);
    if (auto r = check_time_claims(*claims, {now, config_.clock_skew, config_.max_assertion_life}, prefix, what))
        return problem(*r);

    std::erase_if(oauth_tokens_, [&](const auto& t) { return now >= t.second; });
    if (oauth_tokens_.size() >= max_oauth_tokens)
        oauth_tokens_.erase(std::min_element(oauth_tokens_.begin(), oauth_tokens_.end(),
                                             [](const auto& a, const auto& b) { return a.second < b.second; }));
    std::string token = random_token();
    oauth_tokens_.emplace(token, now + config_.token_lifetime);
    ++counters_.tokens_issued;
    return reply(json_response(
        http::status::ok,
        json::object{{"access_token", token},
                     {"token_type", "Bearer"},
                     {"scope", config_.scope},
                     {"expires_in", std::chrono::duration_cast<std::chrono::seconds>(config_.token_lifetime).count()}}));
}

// ---- Step 2: SSO session (reference section 3) ----

std::optional<rejection> ibkr_model::authorize_oauth_token(const http_request& req, wall_time now) {
    const auto token = bearer_token(req);
    if (!token) return rejection{401, "missing_oauth_token", "Authorization: Bearer <OAuth access token> is required"};
    const auto it = oauth_tokens_.find(*token);
    if (it == oauth_tokens_.end()) {
        if (user_.sso && user_.sso->bearer == *token)
            return rejection{401, "sso_bearer_not_oauth_token",
                             "the bearer is an SSO session token; sso-sessions needs the OAuth access token"};
        return rejection{401, "unknown_oauth_token", "the OAuth access token is not valid"};
    }
    if (now >= it->second) return rejection{401, "oauth_token_expired", "the OAuth access token has expired"};
    return std::nullopt;
}

model_reply ibkr_model::create_sso_session(const http_request& req, wall_time now) {
    if (auto r = authorize_oauth_token(req, now)) return problem(*r);
    if (media_type(req[http::field::content_type]) != "application/jwt" || looks_like_json(req.body()))
        return problem({400, "sso_payload_not_signed_jwt", "Invalid payload for security policy: SIGNED_JWT"});

    constexpr std::string_view prefix = "sso_jwt";
    constexpr std::string_view what = "SSO request JWT";
    const auto claims = verify_compact_jws(req.body(), {config_.key_id, &client_key_, prefix, what});
    if (!claims) return problem(claims.error());
    if (auto r = check_string_claim(*claims, "iss", config_.client_id, prefix, what)) return problem(*r);
    if (auto r = check_time_claims(*claims, {now, config_.clock_skew, std::nullopt}, prefix, what)) return problem(*r);

    // credential and ip are the two properties IBKR's CreateSessionRequest schema requires.
    const auto* credential = claims->if_contains("credential");
    const auto* ip = claims->if_contains("ip");
    if (credential == nullptr || !credential->is_string())
        return problem({400, "sso_jwt_missing_credential", "claim credential (string) is required"});
    if (ip == nullptr || !ip->is_string())
        return problem({400, "sso_jwt_missing_ip", "claim ip (string) is required"});
    if (credential->get_string() != config_.credential)
        return problem({403, "credential_rejected", "credential rejected"});
    if (ip->get_string() != config_.allowed_ip)
        return problem({403, "ip_not_allowed", "ip " + std::string(ip->get_string()) +
                                                   " is not the address this request came from / not whitelisted"});

    // Only the latest SSO session of a user is valid: the previous bearer and its brokerage end here.
    if (user_.sso) end_sso_session(user_, "sso_superseded");
    sso_session sso{random_token(), now, now + std::min(config_.sso_lifetime, config_.sso_max_life), random_hex(16)};
    std::string bearer = sso.bearer;
    user_.sso = std::move(sso);
    user_.brokerage = {};
    ++counters_.sso_sessions_created;
    return reply(json_response(http::status::ok,
                               json::object{{"access_token", bearer}, {"active", true}, {"token_type", "Bearer"}}));
}

// ---- /v1/api (reference section 4) ----

checked<ibkr_model::user_state*> ibkr_model::authorize_sso_bearer(std::optional<std::string_view> token,
                                                                  wall_time now) {
    if (!token) return rejection{401, "missing_bearer", {}};
    if (user_.sso && user_.sso->bearer == *token) {
        if (now < user_.sso->expires) return &user_;
        end_sso_session(user_, "sso_expired");
        return rejection{401, "sso_expired", {}};
    }
    const auto ended = std::find_if(ended_bearers_.begin(), ended_bearers_.end(),
                                    [&](const auto& e) { return e.first == *token; });
    if (ended != ended_bearers_.end()) return rejection{401, ended->second, {}};
    // A frequent client bug, worth its own reason: the step 1 token sent where the SSO bearer belongs.
    if (oauth_tokens_.contains(*token)) return rejection{401, "oauth_token_not_sso_bearer", {}};
    return rejection{401, "unknown_bearer", {}};
}

void ibkr_model::end_sso_session(user_state& user, std::string_view why) {
    if (!user.sso) return;
    ended_bearers_.emplace_back(std::move(user.sso->bearer), std::string(why));
    if (ended_bearers_.size() > max_ended_bearers) ended_bearers_.pop_front();
    user.sso.reset();
    user.brokerage = {};
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
    if (competing_) return {.authenticated = false, .competing = true, .connected = true, .established = false};
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
    ++counters_.validates;
    const int login = config_.login == login_type::live ? 1 : 2;
    return reply(json_response(
        http::status::ok,
        json::object{{"RESULT", true},
                     {"EXPIRES", ms_between(now, user.sso->expires)},
                     {"USER_ID", user_id},
                     {"USER_NAME", config_.credential},
                     {"CREDENTIAL", config_.credential},
                     {"AUTH_TIME", epoch_ms(user.sso->created)},
                     {"IS_FREE_TRIAL", false},
                     {"IS_MASTER", false},
                     {"LANDING_APP", "PORTAL"},
                     {"LOGIN_TYPE", login},
                     {"loginType", login},
                     {"PAPER_USER_NAME", config_.credential},
                     {"QUALIFIED_FOR_MOBILE_AUTH", nullptr},
                     {"SF_ENABLED", false},
                     {"lastAccessed", epoch_ms(now)},
                     {"region", "NJ"},
                     {"IP", config_.allowed_ip},
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

    if (competing_ && !take_over) {
        auto status = auth_status_json(status_of(user, now));
        return refuse(json_response(http::status::ok, status), "competing_session");
    }
    competing_ = false;  // compete=true disconnects the other platform's brokerage session
    user.brokerage = {.initialised = true, .authenticated = true, .established = false, .last_activity = now,
                      .session_id = random_hex(16)};
    ++counters_.inits;
    return reply(json_response(http::status::ok, auth_status_json(status_of(user, now))));
}

model_reply ibkr_model::list_accounts(user_state& user) {
    if (!user.brokerage.authenticated || competing_)
        return gateway_error(http::status::bad_request, "Bad Request: no bridge", "no_bridge");
    user.brokerage.established = true;
    ++counters_.accounts;
    json::array accounts;
    json::object props;
    json::object aliases;
    for (const auto& id : config_.accounts) {
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
                                            {"selectedAccount", config_.accounts.front()},
                                            {"serverInfo", server_info_json()},
                                            {"sessionId", user.brokerage.session_id},
                                            {"isPaper", config_.login == login_type::paper}}));
}

model_reply ibkr_model::tickle(user_state& user, wall_time now) {
    if (!user.tickle_limit.try_acquire(now)) return too_many_requests();
    if (config_.tickle_extends) extend_sso_session(*user.sso, now);
    ++counters_.tickles;
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
    ++counters_.logouts;
    return reply(json_response(http::status::ok, json::object{{"status", true}}));
}

// ---- trading endpoints (gateway reference sections 2 and 4) ----

std::optional<model_reply> ibkr_model::pace_endpoint(user_state& user, std::string_view path, wall_time now) {
    const auto limit = user.endpoint_limits.find(path);
    if (limit == user.endpoint_limits.end() || limit->second.try_acquire(now)) return std::nullopt;
    const auto* pacing = std::find_if(endpoint_pacing_table.begin(), endpoint_pacing_table.end(),
                                      [&](const endpoint_pacing& p) { return p.path == path; });
    return too_many_requests(std::string(pacing->reason));
}

std::optional<model_reply> ibkr_model::require_brokerage(const user_state& user) const {
    if (!user.brokerage.authenticated || competing_)
        return gateway_error(http::status::bad_request, "Bad Request: no bridge", "no_bridge");
    if (!user.brokerage.established)
        return gateway_error(http::status::internal_server_error, "Please query /accounts first", "accounts_not_queried");
    return std::nullopt;
}

model_reply ibkr_model::accept_websocket(const http_request& req, wall_time now) {
    if (!boost::beast::websocket::is_upgrade(req))
        return gateway_error(http::status::bad_request, "Bad Request: WebSocket upgrade required", "websocket_not_upgrade");
    // As IBKR's OAuth 2.0 WebSocket samples authenticate: ?bearer_token=<SSO bearer>, cookie api=<tickle session>.
    const auto params = parse_query(target_query(req.target()));
    std::optional<std::string_view> token;
    if (params)
        if (const auto it = params->find("bearer_token"); it != params->end()) token = it->second;
    auto user = authorize_sso_bearer(token, now);
    if (!user) return invalid_sso_bearer(user.error());
    user_state& u = **user;
    const auto api = cookie_value(req, "api");
    if (!api) return gateway_error(http::status::unauthorized, "Unauthorized", "websocket_missing_api_cookie");
    if (*api != u.sso->session_token)
        return gateway_error(http::status::unauthorized, "Unauthorized", "websocket_wrong_api_cookie");
    settle_idle_brokerage(u, now);
    u.brokerage.last_activity = now;
    ++counters_.websockets_accepted;
    model_reply r = reply(http_response{http::status::switching_protocols, 11});
    r.websocket = websocket_grant{u.sso->bearer, u.sso->session_token};
    return r;
}

model_reply ibkr_model::portfolio_accounts() const {
    json::array accounts;
    for (const auto& id : config_.accounts)
        accounts.push_back(json::object{{"id", id},
                                        {"accountId", id},
                                        {"accountVan", id},
                                        {"accountTitle", "Simulated account " + id},
                                        {"displayName", id},
                                        {"accountAlias", nullptr},
                                        {"accountStatus", 1'700'000'000'000},
                                        {"currency", "USD"},
                                        {"type", config_.login == login_type::paper ? "DEMO" : "INDIVIDUAL"},
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

model_reply ibkr_model::account_orders() const { return reply(json_response(http::status::ok, orders_.orders_json())); }

model_reply ibkr_model::account_trades() const { return reply(json_response(http::status::ok, orders_.trades_json())); }

model_reply ibkr_model::pnl_partitioned(wall_time now) const {
    return reply(json_response(http::status::ok, json::object{{"upnl", orders_.pnl_json(now)}}));
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

model_reply ibkr_model::history(const http_request& req, wall_time now) {
    const auto request = parse_history_request(target_query(req.target()));
    if (!request) return gateway_error(http::status::bad_request, request.error().message, "history_bad_query");
    if (config_.endpoint_limits && history_in_flight_ >= max_concurrent_history)
        return too_many_requests("history_concurrency_limited");
    ++history_in_flight_;
    history_max_in_flight_ = std::max(history_max_in_flight_, history_in_flight_);
    model_reply r = reply(json_response(http::status::ok, history_json(*request, now)));
    r.holds_history_slot = true;
    return r;
}

void ibkr_model::release_history_slot() noexcept {
    if (history_in_flight_ > 0) --history_in_flight_;
}

model_reply ibkr_model::place_order(const http_request& req, std::string_view account, wall_time now) {
    if (!orders_.knows_account(account))
        return gateway_error(http::status::bad_request, "Account " + std::string(account) + " not found",
                             "unknown_account");
    auto orders = orders_.parse(account, req.body());
    if (!orders)
        return refuse(json_response(http::status::bad_request, json::object{{"error", orders.error().message}}),
                      "order_rejected");
    counters_.orders_placed += orders->size();
    model_reply r = reply(json_response(http::status::ok, orders_.place(std::move(*orders), now)));
    r.orders_changed = true;
    return r;
}

// ---- control ----

void ibkr_model::reset_counters() noexcept {
    counters_ = {};
    orders_.clear_received();
    history_max_in_flight_ = history_in_flight_;
}

bool ibkr_model::sso_bearer_active(std::string_view bearer, wall_time now) const {
    return user_.sso && user_.sso->bearer == bearer && now < user_.sso->expires;
}

void ibkr_model::expire_sessions() {
    // Expiry at the epoch: the next use meets the same path as a naturally expired token.
    for (auto& [token, expires] : oauth_tokens_) expires = wall_time{};
    if (user_.sso) user_.sso->expires = wall_time{};
}

void ibkr_model::drop_brokerage() {
    user_.brokerage.authenticated = false;
    user_.brokerage.established = false;
}

void ibkr_model::set_competing(bool on) {
    competing_ = on;
    if (on) drop_brokerage();
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
    competing_ = false;  // the other platform's brokerage session ends with ours
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
    if (!penalty_box_ || !penalty_box_->contains(now)) return std::nullopt;
    return std::chrono::ceil<sim_duration>(penalty_box_->until - now);
}

std::size_t ibkr_model::active_sso_sessions(wall_time now) const {
    return user_.sso && now < user_.sso->expires ? 1 : 0;
}

brokerage_status ibkr_model::brokerage(wall_time now) const { return status_of(user_, now); }

std::string ibkr_model::random_token() {
    std::string token = base64url_encode(random_(32));
    issued_tokens_.push_back(token);
    if (issued_tokens_.size() > max_issued_tokens) issued_tokens_.pop_front();
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
