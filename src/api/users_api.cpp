#include "sessiond/api/users_api.hpp"

#include "sessiond/api/api.hpp"
#include "sessiond/api/connection_test_wait.hpp"
#include "sessiond/api/responses.hpp"
#include "sessiond/core/ascii.hpp"
#include "sessiond/core/time_format.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>

namespace sessiond {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view users_prefix = "/api/users";
constexpr std::string_view audit_path = "/api/audit";
constexpr std::string_view replicas_path = "/api/replicas";
constexpr std::string_view user_id_rule =
    "a user id is 1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.' or '-'";

user_problem bad_parameter(std::string_view name, std::string_view rule) {
    user_problem p = make_problem(400, "invalid query parameter", std::string(name) + ": " + std::string(rule));
    p.fields.push_back({std::string(name), std::string(rule)});
    return p;
}

// The value of `name` in the query; none when absent or empty. Given twice, it is a problem: which
// one was meant cannot be told.
user_result<std::optional<std::string_view>> query_parameter(std::string_view query, std::string_view name) {
    const std::vector<std::string_view> values = query_values(query, name);
    if (values.size() > 1) return bad_parameter(name, "is given more than once");
    if (values.empty() || values.front().empty()) return std::optional<std::string_view>();
    return std::optional<std::string_view>(values.front());
}

template <class Number>
std::optional<Number> whole_number(std::string_view text) {
    Number n{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return n;
}

user_result<std::size_t> page_limit(std::string_view query) {
    auto value = query_parameter(query, "limit");
    if (auto* p = std::get_if<user_problem>(&value)) return std::move(*p);
    const auto& text = std::get<std::optional<std::string_view>>(value);
    if (!text) return default_page_limit;
    const auto limit = whole_number<std::size_t>(*text);
    if (!limit || *limit < 1 || *limit > max_page_limit)
        return bad_parameter("limit", "must be a whole number from 1 to " + std::to_string(max_page_limit));
    return *limit;
}

// A parameter that names a user: absent, or a valid id.
user_result<std::optional<std::string>> user_parameter(std::string_view query, std::string_view name) {
    auto value = query_parameter(query, name);
    if (auto* p = std::get_if<user_problem>(&value)) return std::move(*p);
    const auto& text = std::get<std::optional<std::string_view>>(value);
    if (!text) return std::optional<std::string>();
    if (!valid_user_id(*text)) return bad_parameter(name, std::string("must be a user id: ") + std::string(user_id_rule));
    return std::optional<std::string>(std::string(*text));
}

std::string rfc3339(std::int64_t unix_ms) {
    return iso8601_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(unix_ms)));
}

http::status status_code(unsigned status) { return static_cast<http::status>(status); }

// Renders a directory call's answer: its value through `render`, or its problem.
template <class T, class Render>
server_reply answer(const server_request& req, user_result<T>& result, Render render) {
    if (auto* p = std::get_if<user_problem>(&result)) return problem_response(req, *p);
    return render(std::get<T>(result));
}

server_response no_content(const server_request& req) {
    server_response res = respond(req, http::status::no_content, std::string(), "");
    res.erase(http::field::content_type);
    return res;
}

server_response with_etag(server_response res, const credential_metadata& m) {
    res.set(http::field::etag, m.etag);
    return res;
}

// A 201 names what it created (RFC 9110 section 15.3.2). User ids are [A-Za-z0-9._-]: no escaping.
server_response with_location(server_response res, const std::string& path) {
    if (res.result() == http::status::created) res.set(http::field::location, path);
    return res;
}

}  // namespace

// ---- Pure parts ----

std::string_view users_api_area(std::string_view path) {
    if (path == users_prefix || (path.starts_with(users_prefix) && path.substr(users_prefix.size()).starts_with('/')))
        return users_prefix;
    if (path == audit_path) return audit_path;
    if (path == replicas_path) return replicas_path;
    return {};
}

users_api_path parse_users_api_path(std::string_view path) {
    if (path == users_prefix) return {users_prefix, {}};
    if (path == audit_path) return {audit_path, {}};
    if (path == replicas_path) return {replicas_path, {}};
    if (users_api_area(path) != users_prefix) return {};
    std::string_view rest = path.substr(users_prefix.size() + 1);
    const auto slash = rest.find('/');
    const std::string_view id = rest.substr(0, slash);
    const std::string_view tail = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (tail.empty()) return {"/api/users/{id}", id};
    if (tail == "/token") return {"/api/users/{id}/token", id};
    if (tail == "/ibkr-credentials") return {"/api/users/{id}/ibkr-credentials", id};
    if (tail == "/ibkr/status") return {"/api/users/{id}/ibkr/status", id};
    if (tail == "/ibkr/test") return {"/api/users/{id}/ibkr/test", id};
    return {};
}

user_result<user_list_query> parse_user_list_query(std::string_view query) {
    user_list_query q;
    auto after = user_parameter(query, "after");
    if (auto* p = std::get_if<user_problem>(&after)) return std::move(*p);
    q.after = std::get<std::optional<std::string>>(after).value_or(std::string());
    auto limit = page_limit(query);
    if (auto* p = std::get_if<user_problem>(&limit)) return std::move(*p);
    q.limit = std::get<std::size_t>(limit);
    return q;
}

user_result<audit_page_request> parse_audit_query(std::string_view query) {
    audit_page_request q;
    auto user = user_parameter(query, "user");
    if (auto* p = std::get_if<user_problem>(&user)) return std::move(*p);
    q.user = std::move(std::get<std::optional<std::string>>(user));
    auto after = query_parameter(query, "after");
    if (auto* p = std::get_if<user_problem>(&after)) return std::move(*p);
    if (const auto& text = std::get<std::optional<std::string_view>>(after)) {
        const auto seq = whole_number<std::int64_t>(*text);
        if (!seq || *seq < 0) return bad_parameter("after", "must be a sequence number, 0 or more");
        q.after = *seq;
    }
    auto limit = page_limit(query);
    if (auto* p = std::get_if<user_problem>(&limit)) return std::move(*p);
    q.limit = std::get<std::size_t>(limit);
    return q;
}

json::object problem_json(const user_problem& p) {
    const std::string_view reason = http::obsolete_reason(status_code(p.status));
    json::object body{{"type", "about:blank"},
                      {"title", p.title.empty() ? reason : std::string_view(p.title)},
                      {"status", p.status},
                      {"detail", p.detail}};
    if (p.status == 422 || !p.fields.empty()) {
        json::array errors;
        for (const auto& f : p.fields) errors.push_back(json::object{{"field", f.field}, {"message", f.message}});
        body["errors"] = std::move(errors);
    }
    return body;
}

server_response problem_response(const server_request& req, const user_problem& p) {
    server_response res =
        respond(req, status_code(p.status), json::serialize(problem_json(p)), "application/problem+json");
    if (p.retry_after) res.set(http::field::retry_after, std::to_string(std::max<std::int64_t>(p.retry_after->count(), 0)));
    return res;
}

json::object metadata_json(const credential_metadata& m) {
    json::value last_validated = nullptr;
    if (m.last_validated_ms) last_validated = rfc3339(*m.last_validated_ms);
    return json::object{{"client_id", m.client_id},
                        {"client_key_id", m.client_key_id},
                        {"username", m.username},
                        {"account_id", m.account_id},
                        {"allowed_ip", m.allowed_ip},
                        {"environment", m.environment},
                        {"scope", m.scope},
                        {"key_fingerprint", m.key_fingerprint},
                        {"created", rfc3339(m.created_ms)},
                        {"updated", rfc3339(m.updated_ms)},
                        {"last_validated", std::move(last_validated)}};
}

json::object audit_entry_json(const audit_entry_view& e) {
    return json::object{{"seq", e.seq},       {"at", rfc3339(e.at_ms)}, {"actor", e.actor},
                        {"source", e.source}, {"action", e.action},     {"target", e.target},
                        {"outcome", e.outcome}, {"details", e.details}, {"key_version", e.key_version}};
}

server_response multi_user_off(const server_request& req) {
    return problem_response(req, make_problem(404, "multi-user mode is off",
                                         "the users API and the audit log exist in multi-user mode only; this "
                                         "daemon runs in single-user mode (ENABLE_MULTI_USER=false)"));
}

// ---- The component ----

users_api::users_api(user_directory& directory, const api_backend& backend, asio::any_io_executor executor)
    : directory_(directory),
      backend_(backend),
      executor_(std::move(executor)),
      routes_{
          {http::verb::get, "/api/users", {&users_api::list_users, true}},
          {http::verb::put, "/api/users/{id}", {&users_api::create_user, true}},
          {http::verb::delete_, "/api/users/{id}", {&users_api::delete_user, true}},
          {http::verb::post, "/api/users/{id}/token", {&users_api::replace_token, true}},
          {http::verb::put, "/api/users/{id}/ibkr-credentials", {&users_api::put_credentials, false}},
          {http::verb::get, "/api/users/{id}/ibkr-credentials", {&users_api::get_credentials, false}},
          {http::verb::delete_, "/api/users/{id}/ibkr-credentials", {&users_api::delete_credentials, false}},
          {http::verb::get, "/api/users/{id}/ibkr/status", {&users_api::session_status, false}},
          {http::verb::post, "/api/users/{id}/ibkr/test", {&users_api::connection_test, false}},
          {http::verb::get, "/api/audit", {&users_api::audit, true}},
          {http::verb::get, "/api/replicas", {&users_api::replicas, true}},
      } {}

std::optional<caller> users_api::identify(const server_request& req) const {
    const std::optional<std::string_view> token = bearer_token(req);
    if (!token) return std::nullopt;
    caller by;
    if (const auto& admin = backend_.api_token(); admin && bearer_matches(req, *admin)) return by;
    std::optional<std::string> user = directory_.user_for_token(*token);
    if (!user) return std::nullopt;
    by.who = caller::kind::user;
    by.user_id = std::move(*user);
    return by;
}

std::optional<std::string> users_api::token_user(const server_request& req) const {
    std::optional<caller> by = identify(req);
    if (!by || by->who != caller::kind::user) return std::nullopt;
    return std::move(by->user_id);
}

bool users_api::may_send_credentials(const server_request& header) const {
    if (header.method() != http::verb::put) return false;
    const std::string_view target = header.target();
    const users_api_path where = parse_users_api_path(target.substr(0, target.find('?')));
    if (where.route != "/api/users/{id}/ibkr-credentials" || !valid_user_id(where.id)) return false;
    const std::optional<caller> by = identify(header);
    return by && (by->who == caller::kind::admin || by->user_id == where.id);
}

void users_api::record_denied(const connection_context& context, std::string_view path, unsigned status) {
    directory_.record_denied(context.peer.remote.address().to_string(), "anonymous", path_for_log(path), status);
}

server_response users_api::deny(const server_request& req, const connection_context& context,
                                const std::optional<caller>& by, std::string_view path, const user_problem& p) {
    directory_.record_denied(context.peer.remote.address().to_string(), by ? by->actor() : std::string("anonymous"),
                             path_for_log(path), p.status);
    server_response res = problem_response(req, p);
    if (p.status == 401) res.set(http::field::www_authenticate, "Bearer realm=\"ibkr-sessiond\"");
    return res;
}

asio::awaitable<server_reply> users_api::handle(const server_request& req, std::string_view path,
                                                std::string_view query, const connection_context& context) {
    const users_api_path where = parse_users_api_path(path);
    const route_table<endpoint>::match m = routes_.find(req.method(), where.route);
    if (m.target == nullptr && !m.known_path)
        co_return problem_response(req, make_problem(404, "no such endpoint", "no such endpoint: " + path_for_log(path)));
    if (m.target == nullptr) {
        server_response res = problem_response(
            req, make_problem(405, "method not allowed",
                         "method " + std::string(req.method_string()) + " is not allowed here; use " + std::string(m.allow)));
        res.set(http::field::allow, m.allow);
        co_return res;
    }
    const endpoint& e = *m.target;
    std::optional<caller> by = identify(req);
    if (by) by->source = context.peer.remote.address().to_string();
    if (e.admin_only && !backend_.api_token()) {
        co_return deny(req, context, by, path,
                       make_problem(403, "admin token not configured",
                               "this endpoint needs the admin token, and none is configured (set SESSIOND_API_TOKEN "
                               "or the systemd credential sessiond-api-token)"));
    }
    if (!by) {
        co_return deny(req, context, by, path,
                       make_problem(401, "unauthorized", "missing or unknown API token: send Authorization: Bearer <token>"));
    }
    if (e.admin_only && by->who == caller::kind::user)
        co_return deny(req, context, by, path, make_problem(403, "forbidden", "this endpoint needs the admin token"));
    if (where.names_user()) {
        if (!valid_user_id(where.id)) co_return problem_response(req, make_problem(400, "invalid user id", std::string(user_id_rule)));
        if (by->who == caller::kind::user && by->user_id != where.id)
            co_return deny(req, context, by, path, no_such_user(where.id));
    }
    const users_request r{req, *by, std::string(where.id), query, context};
    co_return co_await (this->*(e.answer))(r);
}

asio::awaitable<server_reply> users_api::create_user(const users_request& r) {
    auto result = co_await directory_.create_user(r.by, r.id);
    co_return answer(r.http, result, [&](const user_created& created) {
        json::object body{{"id", r.id}};
        if (created.created && created.token) body["token"] = created.token->reveal();
        return with_location(json_response(r.http, created.created ? http::status::created : http::status::ok, body),
                             std::string(users_prefix) + "/" + r.id);
    });
}

asio::awaitable<server_reply> users_api::replace_token(const users_request& r) {
    auto result = co_await directory_.replace_token(r.by, r.id);
    co_return answer(r.http, result, [&](const secret& token) {
        return json_response(r.http, http::status::ok, json::object{{"id", r.id}, {"token", token.reveal()}});
    });
}

asio::awaitable<server_reply> users_api::delete_user(const users_request& r) {
    auto result = co_await directory_.delete_user(r.by, r.id);
    co_return answer(r.http, result, [&](std::monostate) { return no_content(r.http); });
}

asio::awaitable<server_reply> users_api::list_users(const users_request& r) {
    auto query = parse_user_list_query(r.query);
    if (auto* p = std::get_if<user_problem>(&query)) co_return problem_response(r.http, *p);
    auto& q = std::get<user_list_query>(query);
    auto result = co_await directory_.list_users(r.by, std::move(q.after), q.limit);
    co_return answer(r.http, result, [&](const user_page& page) {
        json::array users;
        for (const auto& u : page.users) users.push_back(json::object{{"id", u.id}, {"state", u.state}});
        json::object body{{"users", std::move(users)}};
        if (page.next) body["next"] = *page.next;
        return json_response(r.http, http::status::ok, body);
    });
}

asio::awaitable<server_reply> users_api::put_credentials(const users_request& r) {
    const auto type = r.http.find(http::field::content_type);
    if (type == r.http.end() || !equals_ignoring_case(media_type(type->value()), "application/json")) {
        co_return problem_response(r.http, make_problem(415, "unsupported media type",
                                                   "send the credentials as Content-Type: application/json"));
    }
    std::optional<std::string> if_match;
    if (const auto it = r.http.find(http::field::if_match); it != r.http.end()) if_match.emplace(it->value());
    auto result = co_await directory_.put_credentials(r.by, r.id, r.http.body(), std::move(if_match));
    co_return answer(r.http, result, [&](const credential_stored& stored) {
        return with_location(with_etag(json_response(r.http, stored.created ? http::status::created : http::status::ok,
                                                     metadata_json(stored.metadata)),
                                       stored.metadata),
                             std::string(users_prefix) + "/" + r.id + "/ibkr-credentials");
    });
}

asio::awaitable<server_reply> users_api::get_credentials(const users_request& r) {
    auto result = co_await directory_.get_credentials(r.by, r.id);
    co_return answer(r.http, result, [&](const credential_metadata& m) {
        return with_etag(json_response(r.http, http::status::ok, metadata_json(m)), m);
    });
}

asio::awaitable<server_reply> users_api::delete_credentials(const users_request& r) {
    auto result = co_await directory_.delete_credentials(r.by, r.id);
    co_return answer(r.http, result, [&](std::monostate) { return no_content(r.http); });
}

asio::awaitable<server_reply> users_api::session_status(const users_request& r) { co_return own_status(r.http, r.id); }

asio::awaitable<server_reply> users_api::connection_test(const users_request& r) {
    co_return co_await own_test(r.http, r.id, r.context);
}

asio::awaitable<server_reply> users_api::audit(const users_request& r) {
    auto query = parse_audit_query(r.query);
    if (auto* p = std::get_if<user_problem>(&query)) co_return problem_response(r.http, *p);
    const std::size_t limit = std::get<audit_page_request>(query).limit;
    auto result = co_await directory_.audit_page(r.by, std::move(std::get<audit_page_request>(query)));
    co_return answer(r.http, result, [&](const std::vector<audit_entry_view>& entries) {
        json::array out;
        for (const auto& e : entries) out.push_back(audit_entry_json(e));
        json::object body{{"entries", std::move(out)}};
        if (!entries.empty() && entries.size() >= limit) body["next_after"] = entries.back().seq;
        return json_response(r.http, http::status::ok, body);
    });
}

asio::awaitable<server_reply> users_api::replicas(const users_request& r) {
    auto result = co_await directory_.replicas(r.by);
    co_return answer(r.http, result, [&](const json::object& body) { return json_response(r.http, http::status::ok, body); });
}

server_reply users_api::own_status(const server_request& req, const std::string& user) const {
    auto result = directory_.user_status(user);
    return answer(req, result, [&](const json::object& status) { return json_response(req, http::status::ok, status); });
}

std::string users_api::own_status_text(const std::string& user) const {
    auto result = directory_.user_status(user);
    if (auto* status = std::get_if<json::object>(&result)) return json::serialize(*status);
    const user_problem& p = std::get<user_problem>(result);
    return json::serialize(json::object{
        {"status", "not_configured"},
        {"configured", false},
        {"connected", false},
        {"multiUserMode", true},
        {"mode", backend_.status_now().config.values.service.development ? "development" : "production"},
        {"message", p.detail},
        {"problems", json::array{json::object{{"variable", "IBKR credentials"},
                                              {"message", "not stored yet: enter them in the form (PUT /api/users/" +
                                                              user + "/ibkr-credentials)"}}}}});
}

asio::awaitable<server_reply> users_api::own_test(const server_request& req, std::string user,
                                                  const connection_context& context) {
    // A user deleted a moment ago has no session either: theirs is the 404 of an unknown user.
    if (auto status = directory_.user_status(user); std::holds_alternative<user_problem>(status))
        co_return problem_response(req, std::get<user_problem>(status));
    if (backend_.status_now().stopping)
        co_return problem_response(req, make_problem(503, "stopping", "the daemon is stopping"));
    test_starter start = [this, &user](std::function<void(const connection_test_report&)> done) {
        return directory_.run_test(user, std::move(done));
    };
    const awaited_test test = co_await await_connection_test(executor_, backend_.test_timeout(), std::move(start),
                                                             context.closed);
    if (!test.started) {
        co_return problem_response(req, make_problem(409, "no session",
                                                "the user has no IBKR session: store their credentials first (PUT "
                                                "/api/users/" + user + "/ibkr-credentials)"));
    }
    if (!test.report) {
        co_return problem_response(req, make_problem(504, "test still running",
                                                "the connection test is still running; see GET /api/users/" + user +
                                                    "/ibkr/status"));
    }
    json::object body = to_json(*test.report, backend_.status_now().config.values.service.development);
    if (auto status = directory_.user_status(user); const auto* now = std::get_if<json::object>(&status))
        if (const auto it = now->find("status"); it != now->end()) body["status"] = it->value();
    co_return json_response(req, http::status::ok, body);
}

}  // namespace sessiond
