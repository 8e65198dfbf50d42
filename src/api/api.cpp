#include "sessiond/api/api.hpp"

#include "sessiond/api/connection_test_wait.hpp"
#include "sessiond/api/responses.hpp"
#include "sessiond/metrics/prometheus_text.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json/serialize.hpp>


#include <algorithm>

namespace sessiond {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

// A constant 200 JSON answer, serialised once (the server picks the version and keep-alive).
std::shared_ptr<const prebuilt_response> prebuilt_json(std::string body) {
    const server_request any_request{http::verb::get, "/", 11};
    return std::make_shared<const prebuilt_response>(
        respond(any_request, http::status::ok, std::move(body), "application/json"));
}

unsigned status_of(const server_reply& reply) {
    if (const auto* res = std::get_if<server_response>(&reply.value)) return res->result_int();
    if (const auto* prebuilt = std::get_if<std::shared_ptr<const prebuilt_response>>(&reply.value))
        return (*prebuilt)->status();
    return 101;  // the connection was taken over (an upgrade)
}

server_response error_response(const server_request& req, http::status status, std::string_view message) {
    server_response res = json_error(status, message, req.version(), req.keep_alive());
    res.set(http::field::cache_control, "no-store");
    return res;
}

server_response method_not_allowed(const server_request& req, std::string_view allow) {
    server_response res = error_response(req, http::status::method_not_allowed,
                                         "method " + std::string(req.method_string()) + " is not allowed here; use " +
                                             std::string(allow));
    res.set(http::field::allow, allow);
    return res;
}

// 401 with the challenge that names the scheme.
server_response unauthorized(const server_request& req, std::string_view message) {
    server_response res = error_response(req, http::status::unauthorized, message);
    res.set(http::field::www_authenticate, "Bearer realm=\"ibkr-sessiond\"");
    return res;
}

bool has_query_flag(std::string_view query, std::string_view flag) { return !query_values(query, flag).empty(); }

}  // namespace

void served_requests::count(std::string_view path, unsigned status) {
    const std::string_view area = users_api_area(path);
    if (!area.empty()) path = area;
    const auto known = std::find(api_paths.begin(), api_paths.end(), path);
    ++counts_[{known != api_paths.end() ? *known : std::string_view("other"), status}];
}

api::api(api_backend& backend, asio::any_io_executor executor, gateway* gw, user_directory* users)
    : backend_(backend),
      executor_(std::move(executor)),
      gateway_(gw),
      routes_{
          {http::verb::get, "/api/ibkr/status", {&api::status}},
          {http::verb::post, "/api/ibkr/test", {nullptr, &api::connection_test}},
          {http::verb::get, "/livez", {&api::liveness}},
          {http::verb::get, "/healthz", {&api::liveness}},
          {http::verb::get, "/readyz", {&api::readiness}},
          {http::verb::get, "/metrics", {&api::metrics}},
          {http::verb::get, "/api/whoami", {&api::whoami}},
          {http::verb::get, "/api/ibkr/events", {nullptr, &api::events}},
      },
      // Answering at all is the proof: this runs on the event loop that does everything else.
      alive_(prebuilt_json(R"({"status":"ok"})")),
      events_(executor_) {
    if (users != nullptr) serve_users(*users);
}

void api::serve_users(user_directory& users) { users_.emplace(users, backend_, executor_); }

asio::awaitable<server_reply> api::handle(server_request request, const connection_context& context) {
    const std::string_view target = request.target();
    const auto q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
    if (gateway_ != nullptr && gateway_->enabled()) {
        const gateway_route route = route_gateway_request(path);
        if (route.action != gateway_action::not_gateway) co_return co_await gateway_->handle(std::move(request), context, route);
    }
    const route_table<endpoint>::match m = routes_.find(request.method(), path);
    std::optional<server_reply> reply;
    if (!users_api_area(path).empty()) {
        if (users_)
            reply.emplace(co_await users_->handle(request, path, query, context));
        else
            reply.emplace(multi_user_off(request));
    } else if (m.target == nullptr) {
        const bool read = request.method() == http::verb::get || request.method() == http::verb::head;
        if (auto page = read && !m.known_path ? pages_.find(request, path) : nullptr)
            reply.emplace(std::move(page));
        else
            reply.emplace(missing(request, m, path));
    }
    else if (m.target->answer != nullptr)
        reply.emplace((this->*(m.target->answer))(request, query));
    else
        reply.emplace(co_await (this->*(m.target->answer_later))(request, context));
    served_.count(path, status_of(*reply));
    co_return std::move(*reply);
}

std::size_t api::body_limit(const server_request& header, const peer_info& peer) const {
    if (users_ && users_->may_send_credentials(header)) return max_credential_request_size;
    if (gateway_ == nullptr || !gateway_->enabled()) return api_body_limit;
    const std::string_view target = header.target();
    const gateway_route route = route_gateway_request(target.substr(0, target.find('?')));
    if (route.action != gateway_action::forward || !gateway_->allowed(header, peer)) return api_body_limit;
    return gateway::max_request_body;
}

server_reply api::missing(const server_request& req, const route_table<endpoint>::match& m, std::string_view path) const {
    if (!m.known_path)
        return error_response(req, http::status::not_found, "no such endpoint: " + std::string(path.substr(0, 100)));
    return method_not_allowed(req, m.allow);
}

server_reply api::status(const server_request& req, std::string_view /*query*/) const {
    if (users_) {
        if (const std::optional<std::string> user = users_->token_user(req)) return users_->own_status(req, *user);
    }
    status_text();
    return status_body_.response;
}

const std::string& api::status_text() const {
    const std::uint64_t generation = backend_.status_generation();
    const std::int64_t second =
        std::chrono::duration_cast<std::chrono::seconds>(wall_clock::now().time_since_epoch()).count();
    if (!status_body_.response || status_body_.second != second || status_body_.generation != generation) {
        status_body_.json = json::serialize(status_json(backend_.status_now()));
        status_body_.response = prebuilt_json(status_body_.json);
        status_body_.generation = generation;
        status_body_.second = second;
    }
    return status_body_.json;
}

asio::awaitable<server_reply> api::events(const server_request& req, const connection_context& /*context*/) {
    if (events_.full())
        co_return error_response(req, http::status::service_unavailable,
                                 "too many event streams are open (at most " + std::to_string(status_events::max_streams) +
                                     "); poll GET /api/ibkr/status instead");
    const auto& admin = backend_.api_token();
    if (users_ && bearer_token(req) && !(admin && bearer_matches(req, *admin))) {
        if (!users_->token_user(req))
            co_return unauthorized(req, "unknown token: send Authorization: Bearer <a user's or the admin's token>");
        // The token is asked again at each event: a user removed, or given a new token, is not streamed to.
        server_request header{req.method(), req.target(), req.version()};
        header.set(http::field::authorization, req[http::field::authorization]);
        co_return events_.stream([this, header = std::move(header)]() -> std::optional<std::string> {
            const std::optional<std::string> user = users_->token_user(header);
            if (!user) return std::nullopt;
            return users_->own_status_text(*user);
        });
    }
    co_return events_.stream([this]() -> std::optional<std::string> { return status_text(); });
}

server_reply api::liveness(const server_request& /*req*/, std::string_view /*query*/) const { return alive_; }

server_reply api::readiness(const server_request& req, std::string_view query) const {
    const bool verbose = has_query_flag(query, "verbose");
    const auto checks = readiness_checks(backend_.status_now());
    const bool ready = is_ready(checks);
    const http::status code = ready ? http::status::ok : http::status::service_unavailable;
    if (verbose) {
        std::string text;
        for (const auto& c : checks) {
            text += (c.ok ? "[+]" : "[-]") + c.name + (c.ok ? " ok" : " failed: " + c.detail) + "\n";
        }
        text += ready ? "readyz check passed\n" : "readyz check failed\n";
        return respond(req, code, std::move(text), "text/plain; charset=utf-8");
    }
    json::array failed;
    for (const auto& c : checks)
        if (!c.ok) failed.push_back(json::object{{"check", c.name}, {"detail", c.detail}});
    return json_response(req, code, json::object{{"ready", ready}, {"failed", std::move(failed)}});
}

server_reply api::metrics(const server_request& req, std::string_view /*query*/) const {
    return respond(req, http::status::ok, backend_.metrics_text(), prometheus_content_type);
}

server_reply api::whoami(const server_request& req, std::string_view /*query*/) const {
    if (users_) {
        if (const std::optional<std::string> user = users_->token_user(req))
            return json_response(req, http::status::ok, json::object{{"role", "user"}, {"id", *user}});
    }
    if (const auto& token = backend_.api_token(); token && bearer_matches(req, *token))
        return json_response(req, http::status::ok, json::object{{"role", "admin"}});
    return unauthorized(req, "missing or unknown token: send Authorization: Bearer <token>");
}

asio::awaitable<server_reply> api::connection_test(const server_request& req, const connection_context& context) {
    if (users_) {
        if (std::optional<std::string> user = users_->token_user(req))
            co_return co_await users_->own_test(req, std::move(*user), context);
    }
    const auto& token = backend_.api_token();
    if (!token) {
        if (users_) users_->record_denied(context, "/api/ibkr/test", 403);
        co_return error_response(req, http::status::forbidden,
                                 "POST /api/ibkr/test is disabled: no API token is configured (set SESSIOND_API_TOKEN "
                                 "or the systemd credential sessiond-api-token)");
    }
    if (!bearer_matches(req, *token)) {
        if (users_) users_->record_denied(context, "/api/ibkr/test", 401);
        co_return unauthorized(req, "missing or wrong API token: send Authorization: Bearer <token>");
    }
    const status_input now = backend_.status_now();
    if (now.stopping) co_return error_response(req, http::status::service_unavailable, "the daemon is stopping");
    if (now.users.empty()) {
        json::object body{{"error", "not configured: fix the settings first (see problems)"}, {"status", 409}};
        json::array problems;
        for (const auto& p : now.config.problems)
            problems.push_back(json::object{{"variable", p.variable}, {"message", p.message}});
        body["problems"] = std::move(problems);
        co_return json_response(req, http::status::conflict, body);
    }

    test_starter start = [this](std::function<void(const connection_test_report&)> done) {
        backend_.run_connection_test(std::move(done));
        return true;
    };
    const awaited_test test =
        co_await await_connection_test(executor_, backend_.test_timeout(), std::move(start), context.closed);
    if (!test.report) {
        co_return error_response(req, http::status::gateway_timeout,
                                 "the connection test is still running; see GET /api/ibkr/status");
    }
    json::object body = to_json(*test.report, backend_.status_now().config.values.service.development);
    body["status"] = overall_status(backend_.status_now());
    co_return json_response(req, http::status::ok, body);
}

}  // namespace sessiond
