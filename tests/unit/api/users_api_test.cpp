// The users API of multi-user mode over HTTP: who may call what, each route's answers, and every
// error as RFC 9457 problem+json, served by the daemon's api against an in-memory user_directory
// (the real one, over the store and the vault, is tested on its own).

#include "sessiond/api/api.hpp"
#include "sessiond/api/users_api.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace sessiond {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view admin_token = "admin-token-0123456789abcdef";
constexpr std::string_view peer_address = "192.0.2.7";

// ---- An in-memory directory: users, tokens and credentials in maps, every call observable ----

class fake_directory final : public user_directory {
public:
    struct user {
        std::string token;
        std::optional<credential_metadata> credential;
    };
    struct denial {
        std::string source;
        std::string actor;
        std::string path;
        unsigned status = 0;
    };

    std::map<std::string, user> users;
    std::vector<denial> denials;
    std::vector<audit_entry_view> audit_log;
    // What the next put_credentials answers instead of storing (a 422, a 412, a 503).
    std::optional<user_problem> put_answer;
    // What the calls were given.
    std::vector<std::string> calls;
    std::string put_body;
    std::optional<std::string> put_if_match;
    std::string list_after;
    std::size_t list_limit = 0;
    std::optional<audit_page_request> audit_request;
    // A test that run_test started and nobody has answered yet.
    std::function<void(const connection_test_report&)> pending_test;
    std::string tested_user;
    int issued = 0;

    void add(const std::string& id, bool with_credential) {
        user& u = users[id];
        u.token = "user-token-of-" + id;
        if (with_credential) u.credential = metadata("\"etag-1\"");
    }

    static credential_metadata metadata(std::string etag) {
        credential_metadata m;
        m.client_id = "TESTCONS";
        m.client_key_id = "main";
        m.username = "trader1";
        m.account_id = "DU1234567";
        m.allowed_ip = "198.51.100.4";
        m.environment = "paper";
        m.scope = "sso";
        m.key_fingerprint = "sha256:00ff";
        m.created_ms = 1'700'000'000'123;
        m.updated_ms = 1'700'000'100'456;
        m.etag = std::move(etag);
        return m;
    }

    std::optional<std::string> user_for_token(std::string_view token) const override {
        for (const auto& [id, u] : users)
            if (u.token == token) return id;
        return std::nullopt;
    }

    asio::awaitable<user_result<user_created>> create_user(const caller& by, std::string id) override {
        calls.push_back("create_user " + by.actor() + " " + id);
        if (users.contains(id)) co_return user_created{false, std::nullopt};
        users[id].token = "issued-" + std::to_string(++issued);
        co_return user_created{true, secret(users[id].token)};
    }

    asio::awaitable<user_result<secret>> replace_token(const caller& by, std::string id) override {
        calls.push_back("replace_token " + by.actor() + " " + id);
        const auto it = users.find(id);
        if (it == users.end()) co_return no_such_user(id);
        it->second.token = "issued-" + std::to_string(++issued);
        co_return secret(it->second.token);
    }

    asio::awaitable<user_result<std::monostate>> delete_user(const caller& by, std::string id) override {
        calls.push_back("delete_user " + by.actor() + " " + id);
        if (users.erase(id) == 0) co_return no_such_user(id);
        co_return std::monostate{};
    }

    asio::awaitable<user_result<user_page>> list_users(const caller& by, std::string after,
                                                       std::size_t limit) override {
        calls.push_back("list_users " + by.actor());
        list_after = after;
        list_limit = limit;
        user_page page;
        for (auto it = users.upper_bound(after); it != users.end(); ++it) {
            if (page.users.size() == limit) {
                page.next = page.users.back().id;
                break;
            }
            page.users.push_back({it->first, it->second.credential ? "connected" : "no credentials"});
        }
        co_return page;
    }

    asio::awaitable<user_result<credential_stored>> put_credentials(const caller& by, std::string id,
                                                                    std::string body,
                                                                    std::optional<std::string> if_match) override {
        calls.push_back("put_credentials " + by.actor() + " " + id);
        put_body = std::move(body);
        put_if_match = std::move(if_match);
        if (put_answer) co_return *put_answer;
        const auto it = users.find(id);
        if (it == users.end()) co_return no_such_user(id);
        auto& stored = it->second.credential;
        if (put_if_match && (!stored || stored->etag != *put_if_match))
            co_return user_problem{412, "precondition failed", "the credential's ETag is not the If-Match", {}, {}};
        const bool created = !stored;
        stored = metadata("\"etag-" + std::to_string(created ? 1 : 2) + "\"");
        co_return credential_stored{created, *stored};
    }

    asio::awaitable<user_result<credential_metadata>> get_credentials(const caller& by, std::string id) override {
        calls.push_back("get_credentials " + by.actor() + " " + id);
        const auto it = users.find(id);
        if (it == users.end()) co_return no_such_user(id);
        if (!it->second.credential) co_return user_problem{404, "no credentials", "no credentials stored", {}, {}};
        co_return *it->second.credential;
    }

    asio::awaitable<user_result<std::monostate>> delete_credentials(const caller& by, std::string id) override {
        calls.push_back("delete_credentials " + by.actor() + " " + id);
        const auto it = users.find(id);
        if (it == users.end()) co_return no_such_user(id);
        it->second.credential.reset();
        co_return std::monostate{};
    }

    user_result<json::object> user_status(std::string_view id) const override {
        const auto it = users.find(std::string(id));
        if (it == users.end()) return no_such_user(id);
        return json::object{{"user", id}, {"status", it->second.credential ? "connected" : "not_configured"}};
    }

    bool run_test(const std::string& id, std::function<void(const connection_test_report&)> done) override {
        const auto it = users.find(id);
        if (it == users.end() || !it->second.credential) return false;
        tested_user = id;
        pending_test = std::move(done);
        return true;
    }

    asio::awaitable<user_result<std::vector<audit_entry_view>>> audit_page(const caller& by,
                                                                          audit_page_request request) override {
        calls.push_back("audit_page " + by.actor());
        std::vector<audit_entry_view> page;
        for (const auto& e : audit_log)
            if (e.seq > request.after && page.size() < request.limit) page.push_back(e);
        audit_request = std::move(request);
        co_return page;
    }

    void record_denied(std::string source, std::string actor, std::string path, unsigned status) override {
        denials.push_back({std::move(source), std::move(actor), std::move(path), status});
    }

    bool store_reachable() const override { return true; }
    asio::awaitable<user_result<json::object>> replicas(const caller& /*by*/) override {
        co_return json::object{{"this_replica", "a"}};
    }
};

// ---- The daemon's side: the admin token, the single-user session ----

class fake_backend final : public api_backend {
public:
    config_report config;
    std::optional<secret> token = secret(admin_token);
    bool stopping = false;
    int admin_tests = 0;

    status_input status_now() const override {
        return single_user_status(config, nullptr, stopping, wall_time{}, wall_time{});
    }
    std::uint64_t status_generation() const override { return 1; }
    void run_connection_test(std::function<void(const connection_test_report&)> done) override {
        ++admin_tests;
        done(connection_test_report{});
    }
    std::string metrics_text() const override { return {}; }
    const std::optional<secret>& api_token() const override { return token; }
    std::chrono::milliseconds test_timeout() const override { return 60s; }
};

connection_test_report passed_report() {
    connection_test_report r;
    r.steps.push_back({"oauth", test_step_report::result_t::passed, 200, 12ms, "", "", ""});
    return r;
}

// What a test reads of an answer: a prebuilt one is read from its wire bytes.
struct answer {
    unsigned status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;

    [[nodiscard]] json::object json() const { return boost::json::parse(body).as_object(); }
    [[nodiscard]] std::string header(const std::string& name) const {
        const auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

answer read(const server_reply& reply) {
    answer a;
    if (const auto* res = std::get_if<server_response>(&reply.value)) {
        a.status = res->result_int();
        for (const auto& f : *res) {
            std::string name(f.name_string());
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            a.headers[name] = std::string(f.value());
        }
        a.body = res->body();
        return a;
    }
    const auto& prebuilt = std::get<std::shared_ptr<const prebuilt_response>>(reply.value);
    a.status = prebuilt->status();
    bool keep_alive = false;
    const std::string_view wire = prebuilt->wire(request_summary{"GET", "/", 11, true, false}, true, keep_alive);
    a.body = std::string(wire.substr(wire.find("\r\n\r\n") + 4));
    return a;
}

class users_api_test : public ::testing::Test {
protected:
    users_api_test() {
        peer.remote = asio::ip::tcp::endpoint(asio::ip::make_address(peer_address), 40'000);
        directory.add("alice", true);
        directory.add("bob", true);
        directory.add("carol", false);
    }

    static server_request request(http::verb method, std::string target, std::string_view token = admin_token) {
        server_request req{method, target, 11};
        if (!token.empty()) req.set(http::field::authorization, "Bearer " + std::string(token));
        return req;
    }
    static server_request credentials_put(const std::string& id, std::string body,
                                          std::string_view token = admin_token) {
        server_request req = request(http::verb::put, "/api/users/" + id + "/ibkr-credentials", token);
        req.set(http::field::content_type, "application/json");
        req.body() = std::move(body);
        req.prepare_payload();
        return req;
    }

    // Starts the request; the answer lands in `out` once the io_context has run far enough.
    void start(api& a, server_request req, std::optional<server_reply>& out) {
        auto serve = [&a, &out, this, req = std::move(req)]() mutable -> asio::awaitable<void> {
            out.emplace(co_await a.handle(std::move(req), connection_context{peer, closed.slot()}));
        };
        asio::co_spawn(io, std::move(serve), asio::detached);
    }

    answer serve_with(api& a, server_request req) {
        std::optional<server_reply> out;
        start(a, std::move(req), out);
        io.run();
        io.restart();
        if (!out) {
            ADD_FAILURE() << "no answer";
            return {};
        }
        answer got = read(*out);
        EXPECT_EQ(got.header("cache-control"), std::holds_alternative<server_response>(out->value) ? "no-store" : "")
            << "every users API answer is no-store";
        return got;
    }
    answer serve(server_request req) { return serve_with(multi_user, std::move(req)); }

    // A problem+json answer with this status (and its body, for more checks).
    static json::object expect_problem(const answer& a, unsigned status) {
        EXPECT_EQ(a.status, status) << a.body;
        EXPECT_EQ(a.header("content-type"), "application/problem+json");
        json::object p = a.json();
        EXPECT_EQ(p.at("type"), "about:blank");
        EXPECT_EQ(p.at("status").as_int64(), status);
        EXPECT_TRUE(p.at("title").is_string());
        EXPECT_TRUE(p.at("detail").is_string());
        return p;
    }

    asio::io_context io;
    asio::cancellation_signal closed;
    peer_info peer;
    fake_backend backend;
    fake_directory directory;
    api multi_user{backend, io.get_executor(), nullptr, &directory};
    api single_user{backend, io.get_executor()};
};

// ---- Users ----

TEST_F(users_api_test, admin_creates_a_user_and_sees_the_token_once) {
    const answer created = serve(request(http::verb::put, "/api/users/dave"));
    EXPECT_EQ(created.status, 201u) << created.body;
    EXPECT_EQ(created.header("content-type"), "application/json");
    EXPECT_EQ(created.json(), (json::object{{"id", "dave"}, {"token", "issued-1"}}));

    const answer again = serve(request(http::verb::put, "/api/users/dave"));
    EXPECT_EQ(again.status, 200u);
    EXPECT_EQ(again.json(), (json::object{{"id", "dave"}}));
    EXPECT_EQ(directory.calls.back(), "create_user admin dave");
}

TEST_F(users_api_test, admin_replaces_a_token_and_the_old_one_stops_working) {
    const answer replaced = serve(request(http::verb::post, "/api/users/alice/token"));
    EXPECT_EQ(replaced.status, 200u) << replaced.body;
    EXPECT_EQ(replaced.json(), (json::object{{"id", "alice"}, {"token", "issued-1"}}));
    EXPECT_EQ(serve(request(http::verb::get, "/api/users/alice/ibkr-credentials", "user-token-of-alice")).status, 401u);
    EXPECT_EQ(serve(request(http::verb::get, "/api/users/alice/ibkr-credentials", "issued-1")).status, 200u);
}

TEST_F(users_api_test, admin_deletes_a_user_with_204_and_no_body) {
    const answer deleted = serve(request(http::verb::delete_, "/api/users/alice"));
    EXPECT_EQ(deleted.status, 204u);
    EXPECT_TRUE(deleted.body.empty());
    EXPECT_FALSE(deleted.headers.contains("content-type"));
    EXPECT_FALSE(directory.users.contains("alice"));
    expect_problem(serve(request(http::verb::delete_, "/api/users/alice")), 404);
}

TEST_F(users_api_test, admin_lists_users_by_page_with_next_only_when_there_is_more) {
    const answer first = serve(request(http::verb::get, "/api/users?limit=2"));
    EXPECT_EQ(first.status, 200u) << first.body;
    EXPECT_EQ(first.json(), (json::object{{"users", json::array{json::object{{"id", "alice"}, {"state", "connected"}},
                                                                json::object{{"id", "bob"}, {"state", "connected"}}}},
                                          {"next", "bob"}}));
    EXPECT_EQ(directory.list_limit, 2u);

    const answer last = serve(request(http::verb::get, "/api/users?after=bob&limit=2"));
    EXPECT_EQ(directory.list_after, "bob");
    EXPECT_EQ(last.json(), (json::object{{"users", json::array{json::object{{"id", "carol"}, {"state", "no credentials"}}}}}));

    serve(request(http::verb::get, "/api/users"));
    EXPECT_EQ(directory.list_limit, 100u) << "the default limit";
    EXPECT_EQ(directory.list_after, "");
    serve(request(http::verb::get, "/api/users?limit=1000"));
    EXPECT_EQ(directory.list_limit, 1000u);
}

TEST_F(users_api_test, a_bad_limit_or_after_is_a_400_naming_the_parameter) {
    for (const char* query : {"limit=0", "limit=1001", "limit=ten", "limit=-1", "limit=5x", "limit=1&limit=2"}) {
        SCOPED_TRACE(query);
        const json::object p = expect_problem(serve(request(http::verb::get, std::string("/api/users?") + query)), 400);
        EXPECT_NE(p.at("detail").as_string().find("limit"), json::string::npos) << p;
        EXPECT_EQ(p.at("errors").as_array()[0].at("field"), "limit");
    }
    const json::object p = expect_problem(serve(request(http::verb::get, "/api/users?after=-x")), 400);
    EXPECT_EQ(p.at("errors").as_array()[0].at("field"), "after");
    EXPECT_TRUE(directory.calls.empty()) << "refused before the directory is asked";
}

// ---- Credentials ----

TEST_F(users_api_test, a_credential_put_passes_body_and_if_match_and_answers_metadata_with_an_etag) {
    const answer created = serve(credentials_put("carol", R"({"client_id":"TESTCONS"})"));
    EXPECT_EQ(created.status, 201u) << created.body;
    EXPECT_EQ(directory.put_body, R"({"client_id":"TESTCONS"})");
    EXPECT_FALSE(directory.put_if_match);
    EXPECT_EQ(created.header("etag"), "\"etag-1\"");
    const json::object m = created.json();
    EXPECT_EQ(m.at("client_id"), "TESTCONS");
    EXPECT_EQ(m.at("created"), "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(m.at("updated"), "2023-11-14T22:15:00.456Z");
    EXPECT_TRUE(m.at("last_validated").is_null());

    server_request conditional = credentials_put("carol", "{}");
    conditional.set(http::field::if_match, "\"etag-1\"");
    const answer replaced = serve(std::move(conditional));
    EXPECT_EQ(replaced.status, 200u) << replaced.body;
    EXPECT_EQ(directory.put_if_match, "\"etag-1\"");
    EXPECT_EQ(replaced.header("etag"), "\"etag-2\"");
}

TEST_F(users_api_test, a_failed_if_match_is_the_directorys_412) {
    server_request conditional = credentials_put("alice", "{}");
    conditional.set(http::field::if_match, "\"stale\"");
    const json::object p = expect_problem(serve(std::move(conditional)), 412);
    EXPECT_EQ(p.at("title"), "precondition failed");
    EXPECT_FALSE(p.contains("errors"));
}

TEST_F(users_api_test, a_credential_put_needs_a_json_content_type) {
    server_request plain = credentials_put("alice", "{}");
    plain.set(http::field::content_type, "text/plain");
    expect_problem(serve(std::move(plain)), 415);
    server_request none = credentials_put("alice", "{}");
    none.erase(http::field::content_type);
    expect_problem(serve(std::move(none)), 415);
    EXPECT_TRUE(directory.calls.empty());

    server_request with_charset = credentials_put("alice", "{}");
    with_charset.set(http::field::content_type, "Application/JSON; charset=utf-8");
    EXPECT_EQ(serve(std::move(with_charset)).status, 200u);
}

TEST_F(users_api_test, invalid_credentials_are_a_422_with_each_problem_under_its_field) {
    directory.put_answer = user_problem{422, "invalid credentials", "2 fields are invalid",
                                        {{"private_key", "is not a PEM key"}, {"allowed_ip", "is not an IP address"}},
                                        std::nullopt};
    const json::object p = expect_problem(serve(credentials_put("alice", R"({"private_key":"x"})")), 422);
    EXPECT_EQ(p.at("title"), "invalid credentials");
    EXPECT_EQ(p.at("detail"), "2 fields are invalid");
    EXPECT_EQ(p.at("errors"), (json::array{json::object{{"field", "private_key"}, {"message", "is not a PEM key"}},
                                           json::object{{"field", "allowed_ip"}, {"message", "is not an IP address"}}}));
}

TEST_F(users_api_test, ibkr_unreachable_is_a_503_with_retry_after) {
    directory.put_answer = user_problem{503, "IBKR unavailable", "IBKR answered 429", {}, std::chrono::seconds(42)};
    const answer a = serve(credentials_put("alice", "{}"));
    expect_problem(a, 503);
    EXPECT_EQ(a.header("retry-after"), "42");
    directory.put_answer->retry_after.reset();
    EXPECT_EQ(serve(credentials_put("alice", "{}")).header("retry-after"), "");
}

TEST_F(users_api_test, a_credential_get_shows_metadata_and_etag_but_never_a_key) {
    directory.users["alice"].credential->last_validated_ms = 1'700'000'200'000;
    const answer a = serve(request(http::verb::get, "/api/users/alice/ibkr-credentials"));
    EXPECT_EQ(a.status, 200u) << a.body;
    EXPECT_EQ(a.header("etag"), "\"etag-1\"");
    std::set<std::string> keys;
    for (const auto& kv : a.json()) keys.insert(std::string(kv.key()));
    EXPECT_EQ(keys, (std::set<std::string>{"client_id", "client_key_id", "username", "account_id", "allowed_ip",
                                           "environment", "scope", "key_fingerprint", "created", "updated",
                                           "last_validated"}));
    EXPECT_EQ(a.json().at("last_validated"), "2023-11-14T22:16:40.000Z");
    EXPECT_EQ(a.json().at("key_fingerprint"), "sha256:00ff");
}

TEST_F(users_api_test, a_credential_delete_answers_204) {
    EXPECT_EQ(serve(request(http::verb::delete_, "/api/users/alice/ibkr-credentials")).status, 204u);
    EXPECT_FALSE(directory.users["alice"].credential);
    EXPECT_EQ(directory.calls.back(), "delete_credentials admin alice");
}

TEST_F(users_api_test, a_user_manages_their_own_credentials) {
    EXPECT_EQ(serve(credentials_put("carol", "{}", "user-token-of-carol")).status, 201u);
    EXPECT_EQ(directory.calls.back(), "put_credentials carol carol");
    EXPECT_EQ(serve(request(http::verb::get, "/api/users/carol/ibkr-credentials", "user-token-of-carol")).status, 200u);
    EXPECT_EQ(serve(request(http::verb::delete_, "/api/users/carol/ibkr-credentials", "user-token-of-carol")).status,
              204u);
    EXPECT_TRUE(directory.denials.empty());
}

// ---- Who may call what ----

TEST_F(users_api_test, no_token_or_an_unknown_one_is_a_401_recorded_without_the_token) {
    const std::string unknown = "not-a-token-5f3a9c";
    for (const std::string& token : {std::string(), unknown}) {
        SCOPED_TRACE(token);
        const answer a = serve(request(http::verb::get, "/api/users/alice/ibkr-credentials", token));
        expect_problem(a, 401);
        EXPECT_EQ(a.header("www-authenticate"), "Bearer realm=\"ibkr-sessiond\"");
        EXPECT_EQ(a.body.find(unknown), std::string::npos);
    }
    ASSERT_EQ(directory.denials.size(), 2u);
    for (const auto& d : directory.denials) {
        EXPECT_EQ(d.source, peer_address);
        EXPECT_EQ(d.actor, "anonymous");
        EXPECT_EQ(d.path, "/api/users/alice/ibkr-credentials");
        EXPECT_EQ(d.status, 401u);
        for (const std::string* field : {&d.source, &d.actor, &d.path})
            EXPECT_EQ(field->find(unknown), std::string::npos) << *field;
    }
    EXPECT_TRUE(directory.calls.empty());
}

TEST_F(users_api_test, a_user_on_an_admin_route_is_a_403_recorded_under_their_id) {
    const std::vector<std::pair<http::verb, std::string>> admin_routes{
        {http::verb::put, "/api/users/alice"},       {http::verb::delete_, "/api/users/alice"},
        {http::verb::post, "/api/users/alice/token"}, {http::verb::get, "/api/users"},
        {http::verb::get, "/api/audit"}};
    for (const auto& [method, target] : admin_routes) {
        SCOPED_TRACE(target);
        expect_problem(serve(request(method, target, "user-token-of-alice")), 403);
        ASSERT_FALSE(directory.denials.empty());
        EXPECT_EQ(directory.denials.back().actor, "alice");
        EXPECT_EQ(directory.denials.back().status, 403u);
        EXPECT_EQ(directory.denials.back().path, target);
    }
    EXPECT_EQ(directory.denials.size(), admin_routes.size());
    EXPECT_TRUE(directory.calls.empty());
}

TEST_F(users_api_test, another_users_id_answers_exactly_like_an_id_that_names_nobody) {
    const std::string target = "/api/users/bob/ibkr-credentials";
    const answer while_bob_exists = serve(request(http::verb::get, target, "user-token-of-alice"));
    expect_problem(while_bob_exists, 404);
    ASSERT_EQ(directory.denials.size(), 1u);
    EXPECT_EQ(directory.denials[0].actor, "alice");
    EXPECT_EQ(directory.denials[0].status, 404u);
    EXPECT_EQ(directory.denials[0].path, target);

    serve(request(http::verb::delete_, "/api/users/bob"));
    const answer from_the_directory = serve(request(http::verb::get, target));  // the admin: bob is gone
    const answer once_bob_is_gone = serve(request(http::verb::get, target, "user-token-of-alice"));
    EXPECT_EQ(while_bob_exists.body, from_the_directory.body);
    EXPECT_EQ(while_bob_exists.headers, from_the_directory.headers);
    EXPECT_EQ(while_bob_exists.body, once_bob_is_gone.body);
    expect_problem(serve(request(http::verb::get, "/api/users/bob/ibkr/status", "user-token-of-alice")), 404);
    expect_problem(serve(request(http::verb::post, "/api/users/bob/ibkr/test", "user-token-of-alice")), 404);
    EXPECT_EQ(directory.calls, (std::vector<std::string>{"delete_user admin bob", "get_credentials admin bob"}))
        << "another user's id never reaches the directory";
}

TEST_F(users_api_test, an_invalid_id_is_a_400_naming_the_rule) {
    for (const std::string& id : std::vector<std::string>{"-leading-dash", ".hidden", "with%20space", "caf%C3%A9",
                                                           std::string(65, 'a'), ""}) {
        SCOPED_TRACE(id);
        const json::object p = expect_problem(serve(request(http::verb::put, "/api/users/" + id)), 400);
        EXPECT_NE(p.at("detail").as_string().find("1 to 64"), json::string::npos) << p;
    }
    EXPECT_EQ(serve(request(http::verb::put, "/api/users/" + std::string(64, 'a'))).status, 201u);
}

TEST_F(users_api_test, unknown_routes_are_404_and_wrong_methods_405_with_allow) {
    expect_problem(serve(request(http::verb::get, "/api/users/alice/nothing")), 404);
    expect_problem(serve(request(http::verb::get, "/api/users/alice/ibkr")), 404);
    const answer wrong = serve(request(http::verb::get, "/api/users/alice"));
    expect_problem(wrong, 405);
    EXPECT_EQ(wrong.header("allow"), "PUT, DELETE");
    EXPECT_EQ(serve(request(http::verb::post, "/api/audit")).header("allow"), "GET");
}

TEST_F(users_api_test, without_an_admin_token_admin_routes_say_how_to_set_one_and_users_still_work) {
    backend.token.reset();
    const json::object p = expect_problem(serve(request(http::verb::put, "/api/users/dave")), 403);
    EXPECT_NE(p.at("detail").as_string().find("SESSIOND_API_TOKEN"), json::string::npos) << p;
    EXPECT_EQ(serve(request(http::verb::get, "/api/users/alice/ibkr-credentials", "user-token-of-alice")).status, 200u);
    expect_problem(serve(request(http::verb::get, "/api/users/alice/ibkr-credentials", admin_token)), 401);
}

// ---- Status and test per user ----

TEST_F(users_api_test, a_users_status_is_the_directorys_and_a_user_token_makes_api_ibkr_status_theirs) {
    const answer per_user = serve(request(http::verb::get, "/api/users/carol/ibkr/status"));
    EXPECT_EQ(per_user.status, 200u);
    EXPECT_EQ(per_user.json(), (json::object{{"user", "carol"}, {"status", "not_configured"}}));

    const answer mine = serve(request(http::verb::get, "/api/ibkr/status", "user-token-of-alice"));
    EXPECT_EQ(mine.status, 200u);
    EXPECT_EQ(mine.json(), (json::object{{"user", "alice"}, {"status", "connected"}}));

    const answer as_admin = serve(request(http::verb::get, "/api/ibkr/status"));
    EXPECT_EQ(as_admin.status, 200u);
    EXPECT_FALSE(as_admin.json().contains("user"));
    EXPECT_TRUE(as_admin.json().contains("daemon")) << "the admin keeps the single-user status";
}

TEST_F(users_api_test, a_users_test_waits_for_their_sessions_report) {
    std::optional<server_reply> out;
    start(multi_user, request(http::verb::post, "/api/ibkr/test", "user-token-of-alice"), out);
    io.poll();
    ASSERT_FALSE(out) << "waits for the session";
    ASSERT_TRUE(directory.pending_test);
    EXPECT_EQ(directory.tested_user, "alice");
    directory.pending_test(passed_report());
    io.run();
    ASSERT_TRUE(out);
    const answer a = read(*out);
    EXPECT_EQ(a.status, 200u) << a.body;
    EXPECT_EQ(a.json().at("status"), "connected");
    EXPECT_EQ(a.json().at("step_results").as_array().size(), 1u);
    EXPECT_EQ(backend.admin_tests, 0);
}

TEST_F(users_api_test, a_test_whose_connection_closes_answers_504_naming_the_users_status) {
    std::optional<server_reply> out;
    start(multi_user, request(http::verb::post, "/api/users/bob/ibkr/test"), out);
    io.poll();
    ASSERT_FALSE(out);
    closed.emit(asio::cancellation_type::terminal);
    io.run();
    ASSERT_TRUE(out);
    const json::object p = expect_problem(read(*out), 504);
    EXPECT_NE(p.at("detail").as_string().find("/api/users/bob/ibkr/status"), json::string::npos) << p;
}

TEST_F(users_api_test, a_test_without_credentials_is_a_409_and_of_nobody_a_404) {
    expect_problem(serve(request(http::verb::post, "/api/ibkr/test", "user-token-of-carol")), 409);
    expect_problem(serve(request(http::verb::post, "/api/users/nobody/ibkr/test")), 404);
    backend.stopping = true;
    expect_problem(serve(request(http::verb::post, "/api/users/alice/ibkr/test")), 503);
}

TEST_F(users_api_test, the_admin_test_keeps_todays_answers_and_its_denials_are_recorded) {
    const answer a = serve(request(http::verb::post, "/api/ibkr/test"));
    EXPECT_EQ(a.status, 409u) << "not configured, as in single-user mode: " << a.body;
    EXPECT_EQ(a.header("content-type"), "application/json");
    const answer wrong = serve(request(http::verb::post, "/api/ibkr/test", "wrong-token"));
    EXPECT_EQ(wrong.status, 401u);
    EXPECT_EQ(wrong.json().at("status"), 401) << "today's error body, not problem+json";
    ASSERT_EQ(directory.denials.size(), 1u);
    EXPECT_EQ(directory.denials[0].path, "/api/ibkr/test");
    EXPECT_EQ(directory.denials[0].actor, "anonymous");
}

// ---- Audit ----

TEST_F(users_api_test, the_audit_log_pages_with_next_after_only_when_the_page_is_full) {
    for (std::int64_t seq = 1; seq <= 3; ++seq) {
        audit_entry_view e;
        e.seq = seq;
        e.at_ms = 1'700'000'000'000 + seq;
        e.actor = "admin";
        e.source = "192.0.2.1";
        e.action = "credential.create";
        e.target = "alice";
        e.outcome = "ok";
        e.details = json::object{{"key_fingerprint", "sha256:00ff"}};
        e.key_version = 2;
        directory.audit_log.push_back(e);
    }
    const answer full = serve(request(http::verb::get, "/api/audit?user=alice&after=0&limit=2"));
    EXPECT_EQ(full.status, 200u) << full.body;
    ASSERT_TRUE(directory.audit_request);
    EXPECT_EQ(directory.audit_request->user, "alice");
    EXPECT_EQ(directory.audit_request->after, 0);
    EXPECT_EQ(directory.audit_request->limit, 2u);
    const json::object page = full.json();
    EXPECT_EQ(page.at("next_after"), 2);
    ASSERT_EQ(page.at("entries").as_array().size(), 2u);
    EXPECT_EQ(page.at("entries").as_array()[0],
              (json::object{{"seq", 1}, {"at", "2023-11-14T22:13:20.001Z"}, {"actor", "admin"},
                            {"source", "192.0.2.1"}, {"action", "credential.create"}, {"target", "alice"},
                            {"outcome", "ok"}, {"details", json::object{{"key_fingerprint", "sha256:00ff"}}},
                            {"key_version", 2}}));

    const answer rest = serve(request(http::verb::get, "/api/audit?after=2&limit=2"));
    EXPECT_EQ(rest.json().at("entries").as_array().size(), 1u);
    EXPECT_FALSE(rest.json().contains("next_after"));
    EXPECT_FALSE(directory.audit_request->user);

    serve(request(http::verb::get, "/api/audit"));
    EXPECT_EQ(directory.audit_request->limit, 100u);
    EXPECT_EQ(directory.audit_request->after, 0);
}

TEST_F(users_api_test, bad_audit_parameters_are_400s_naming_them) {
    for (const auto& [query, field] : std::vector<std::pair<std::string, std::string>>{
             {"after=-1", "after"}, {"after=x", "after"}, {"user=no%20one", "user"}, {"limit=0", "limit"}}) {
        SCOPED_TRACE(query);
        const json::object p = expect_problem(serve(request(http::verb::get, "/api/audit?" + query)), 400);
        EXPECT_EQ(p.at("errors").as_array()[0].at("field"), json::value(field));
    }
    EXPECT_TRUE(directory.calls.empty());
}

// ---- Limits, counting, single-user mode ----

TEST_F(users_api_test, only_a_credential_put_by_the_admin_or_its_user_may_send_a_large_body) {
    const peer_info any;
    const auto limit_of = [&](const api& a, http::verb method, const std::string& target, std::string_view token) {
        return a.body_limit(request(method, target, token), any);
    };
    const std::string credentials = "/api/users/alice/ibkr-credentials";
    EXPECT_EQ(limit_of(multi_user, http::verb::put, credentials, admin_token), max_credential_request_size);
    EXPECT_EQ(limit_of(multi_user, http::verb::put, credentials, "user-token-of-alice"), max_credential_request_size);
    EXPECT_EQ(limit_of(multi_user, http::verb::put, credentials, "user-token-of-bob"), api::api_body_limit);
    EXPECT_EQ(limit_of(multi_user, http::verb::put, credentials, ""), api::api_body_limit);
    EXPECT_EQ(limit_of(multi_user, http::verb::put, credentials, "unknown"), api::api_body_limit);
    EXPECT_EQ(limit_of(multi_user, http::verb::get, credentials, admin_token), api::api_body_limit);
    EXPECT_EQ(limit_of(multi_user, http::verb::put, "/api/users/alice", admin_token), api::api_body_limit);
    EXPECT_EQ(limit_of(multi_user, http::verb::post, "/api/ibkr/test", admin_token), api::api_body_limit);
    EXPECT_EQ(limit_of(single_user, http::verb::put, credentials, admin_token), api::api_body_limit);
}

TEST_F(users_api_test, served_requests_count_the_users_api_in_two_buckets) {
    serve(request(http::verb::get, "/api/users/alice/ibkr-credentials"));
    serve(request(http::verb::get, "/api/users/bob/ibkr-credentials"));
    serve(request(http::verb::get, "/api/audit"));
    serve(request(http::verb::get, "/api/usersX"));
    const served_counts& counts = multi_user.served().counts();
    EXPECT_EQ(counts, (served_counts{{{"/api/users", 200}, 2}, {{"/api/audit", 200}, 1}, {{"other", 404}, 1}}));
}

TEST_F(users_api_test, single_user_mode_answers_the_users_api_with_404_saying_multi_user_mode_is_off) {
    for (const char* target : {"/api/users", "/api/users/alice/ibkr-credentials", "/api/audit"}) {
        SCOPED_TRACE(target);
        const json::object p = expect_problem(serve_with(single_user, request(http::verb::get, target)), 404);
        EXPECT_NE(p.at("detail").as_string().find("ENABLE_MULTI_USER=false"), json::string::npos) << p;
    }
    EXPECT_TRUE(directory.calls.empty());
    EXPECT_TRUE(directory.denials.empty());
    const answer status = serve_with(single_user, request(http::verb::get, "/api/ibkr/status", "user-token-of-alice"));
    EXPECT_TRUE(status.json().contains("daemon")) << "a user token means nothing in single-user mode";
}

// ---- Pure parts ----

TEST(users_api_paths, name_a_route_and_the_id_as_sent) {
    const auto route = [](std::string_view path) { return std::string(parse_users_api_path(path).route); };
    EXPECT_EQ(route("/api/users"), "/api/users");
    EXPECT_EQ(route("/api/audit"), "/api/audit");
    EXPECT_EQ(route("/api/users/a"), "/api/users/{id}");
    EXPECT_EQ(route("/api/users/a/token"), "/api/users/{id}/token");
    EXPECT_EQ(route("/api/users/a/ibkr-credentials"), "/api/users/{id}/ibkr-credentials");
    EXPECT_EQ(route("/api/users/a/ibkr/status"), "/api/users/{id}/ibkr/status");
    EXPECT_EQ(route("/api/users/a/ibkr/test"), "/api/users/{id}/ibkr/test");
    EXPECT_EQ(route("/api/users/a/ibkr/test/"), "");
    EXPECT_EQ(route("/api/users/a/"), "");
    EXPECT_EQ(route("/api/usersa"), "");
    EXPECT_EQ(route("/api/audit/1"), "");
    EXPECT_EQ(parse_users_api_path("/api/users/al%2Fice/token").id, "al%2Fice");
    EXPECT_TRUE(parse_users_api_path("/api/users/a/token").names_user());
    EXPECT_FALSE(parse_users_api_path("/api/users").names_user());
    EXPECT_FALSE(parse_users_api_path("/api/audit").names_user());
    EXPECT_EQ(users_api_area("/api/users/x/y/z"), "/api/users");
    EXPECT_EQ(users_api_area("/api/audit"), "/api/audit");
    EXPECT_EQ(users_api_area("/api/userss"), "");
    EXPECT_EQ(users_api_area("/api/ibkr/status"), "");
}

TEST(users_api_problems, render_as_rfc_9457_with_errors_for_422_and_the_reason_when_untitled) {
    EXPECT_EQ(problem_json(user_problem{409, "", "busy", {}, {}}),
              (json::object{{"type", "about:blank"}, {"title", "Conflict"}, {"status", 409}, {"detail", "busy"}}));
    EXPECT_EQ(problem_json(user_problem{422, "invalid", "none", {}, {}}).at("errors"), json::array());
    const server_request req{http::verb::get, "/", 11};
    const server_response res = problem_response(req, user_problem{503, "later", "IBKR busy", {}, 7s});
    EXPECT_EQ(res[http::field::retry_after], "7");
    EXPECT_EQ(res[http::field::content_type], "application/problem+json");
    EXPECT_EQ(res[http::field::cache_control], "no-store");
}

TEST(users_api_queries, parse_defaults_and_bounds) {
    const auto users = parse_user_list_query("");
    ASSERT_TRUE(std::holds_alternative<user_list_query>(users));
    EXPECT_EQ(std::get<user_list_query>(users).limit, 100u);
    EXPECT_EQ(std::get<user_list_query>(users).after, "");
    const auto page = parse_user_list_query("other=1&limit=1&after=bob");
    ASSERT_TRUE(std::holds_alternative<user_list_query>(page));
    EXPECT_EQ(std::get<user_list_query>(page).limit, 1u);
    EXPECT_EQ(std::get<user_list_query>(page).after, "bob");
    const auto audit = parse_audit_query("after=9223372036854775807&user=");
    ASSERT_TRUE(std::holds_alternative<audit_page_request>(audit));
    EXPECT_EQ(std::get<audit_page_request>(audit).after, INT64_MAX);
    EXPECT_FALSE(std::get<audit_page_request>(audit).user) << "empty means absent";
    EXPECT_TRUE(std::holds_alternative<user_problem>(parse_audit_query("after=9223372036854775808")));
}

}  // namespace
}  // namespace sessiond
