// The pages and what they read, served by the real daemon against ibkr-sim: the embedded files with
// their security headers and ETags, the guide's own status and test fields, the event stream, who
// a token is, and production against development mode for the same failure. (What a browser makes
// of them is tests/browser/.)

#include "integration/daemon_fixture.hpp"
#include "support/raw_socket.hpp"

#include <boost/json.hpp>

#include <list>
#include <regex>

namespace sessiond::testing {
namespace {

namespace json = boost::json;

constexpr std::string_view admin_token = "test-api-token-0123456789abcdef";

daemon_options with_token(daemon_options o = {}) {
    o.environment["SESSIOND_API_TOKEN"] = std::string(admin_token);
    return o;
}

http_request_options bearer(std::string_view token) {
    http_request_options o;
    o.headers.emplace_back("Authorization", "Bearer " + std::string(token));
    o.timeout = std::chrono::seconds(60);
    return o;
}

json::object object_of(const http_result& r) {
    const json::value v = r.json();
    EXPECT_TRUE(v.is_object()) << r.body;
    return v.is_object() ? v.as_object() : json::object{};
}

// The status objects of every complete "status" event in a stream's bytes, in order.
std::vector<json::object> status_events_in(std::string_view bytes) {
    std::vector<json::object> out;
    static constexpr std::string_view marker = "event: status\ndata: ";
    for (auto at = bytes.find(marker); at != std::string_view::npos; at = bytes.find(marker, at + 1)) {
        const auto begin = at + marker.size();
        const auto end = bytes.find("\n\n", begin);
        if (end == std::string_view::npos) break;
        boost::system::error_code ec;
        json::value v = json::parse(bytes.substr(begin, end - begin), ec);
        EXPECT_FALSE(ec) << bytes.substr(begin, end - begin);
        if (!ec && v.is_object()) out.push_back(std::move(v.as_object()));
    }
    return out;
}

class pages : public daemon_fixture {};

TEST_F(pages, the_page_is_served_with_a_strict_policy_and_revalidated_by_its_etag) {
    auto& d = connected_daemon();
    auto api = d.api();
    const auto page = api.get("/");
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200u);
    EXPECT_EQ(page->header("Content-Type"), "text/html; charset=utf-8");
    const std::string csp = page->header("Content-Security-Policy");
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe"), std::string::npos) << "no unsafe-inline, no unsafe-eval: " << csp;
    EXPECT_EQ(page->header("X-Frame-Options"), "DENY");
    EXPECT_EQ(page->header("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(page->header("Referrer-Policy"), "no-referrer");
    EXPECT_EQ(page->header("Cache-Control"), "no-cache");
    // Every script is a file of the daemon's, named relatively (the page works under a path prefix).
    const std::regex script(R"(<script([^>]*)>)");
    std::size_t scripts = 0;
    for (auto it = std::sregex_iterator(page->body.begin(), page->body.end(), script); it != std::sregex_iterator(); ++it) {
        ++scripts;
        const std::string attributes = (*it)[1];
        EXPECT_NE(attributes.find("src=\""), std::string::npos) << "an inline script: " << it->str();
        EXPECT_EQ(attributes.find("src=\"/"), std::string::npos) << "an absolute path: " << it->str();
    }
    EXPECT_GE(scripts, 1u);
    EXPECT_EQ(page->body.find("style=\""), std::string::npos) << "an inline style attribute";
    EXPECT_EQ(page->body.find("<style"), std::string::npos) << "an inline style element";

    const std::string etag = page->header("ETag");
    ASSERT_FALSE(etag.empty());
    http_request_options again;
    again.headers.emplace_back("If-None-Match", etag);
    const auto unchanged = api.get("/", again);
    ASSERT_TRUE(unchanged);
    EXPECT_EQ(unchanged->status, 304u);
    EXPECT_TRUE(unchanged->body.empty());
    EXPECT_EQ(unchanged->header("ETag"), etag);

    for (const auto& [path, type] : {std::pair{"/app.js", "text/javascript; charset=utf-8"},
                                     std::pair{"/app.css", "text/css; charset=utf-8"},
                                     std::pair{"/index.html", "text/html; charset=utf-8"}}) {
        const auto r = api.get(path);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200u) << path;
        EXPECT_EQ(r->header("Content-Type"), type) << path;
        EXPECT_FALSE(r->header("ETag").empty()) << path;
    }
    // The API's answers are still never kept; a path that is neither is a JSON 404.
    const auto status = api.get("/api/ibkr/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(status->header("Cache-Control"), "no-store");
    const auto missing = api.get("/nothing-here.js");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404u);
    EXPECT_EQ(missing->header("Content-Type"), "application/json");
    const auto post = api.post("/", "");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 404u) << "nothing that changes state is served at a page's path";
}

TEST_F(pages, the_status_carries_the_guides_fields_beside_the_daemons_own) {
    auto& d = connected_daemon();
    const auto r = d.api().get("/api/ibkr/status");
    ASSERT_TRUE(r);
    const json::object s = object_of(*r);
    EXPECT_EQ(s.at("configured"), true);
    EXPECT_EQ(s.at("connected"), true);
    EXPECT_EQ(s.at("environment"), "paper");
    EXPECT_EQ(s.at("accountId"), s.at("account_id"));
    EXPECT_EQ(s.at("multiUserMode"), false);
    EXPECT_EQ(s.at("mode"), "production");
    ASSERT_TRUE(s.at("clientId").is_string());
    const std::string client_id(s.at("clientId").as_string());
    EXPECT_TRUE(client_id.ends_with("***")) << client_id;
    EXPECT_EQ(r->body.find("\"" + sim().options().client_id + "\""), std::string::npos)
        << "the whole client id is never shown";
    for (const char* step : {"oauth", "sso", "validate", "init"}) {
        const json::object& diag = s.at("diagnostics").at(step).as_object();
        EXPECT_EQ(diag.at("success"), true) << step;
        EXPECT_EQ(diag.at("status"), 200) << step;
        EXPECT_TRUE(diag.at("message").is_string()) << step;
    }
}

TEST_F(pages, not_configured_and_a_failing_login_read_in_the_guides_fields) {
    start_sim();
    daemon_options o;
    o.environment["IBKR_CLIENT_ID"] = std::nullopt;
    auto& unconfigured = start_daemon(o);
    const auto a = unconfigured.api().get("/api/ibkr/status");
    ASSERT_TRUE(a);
    const json::object s = object_of(*a);
    EXPECT_EQ(s.at("configured"), false);
    EXPECT_EQ(s.at("connected"), false);
    EXPECT_NE(std::string(s.at("message").as_string()).find("IBKR_CLIENT_ID"), std::string::npos) << a->body;
    EXPECT_EQ(s.at("diagnostics").at("oauth").at("status"), 0);
    EXPECT_EQ(s.at("diagnostics").at("oauth").at("success"), false);

    fault(R"({"path":"/oauth2/api/v1/token","action":"status","status":401})");
    auto& failing = start_daemon();
    ASSERT_TRUE(failing.wait_for_log("oauth failed: HTTP 401")) << failing.output();
    const auto b = failing.api().get("/api/ibkr/status");
    ASSERT_TRUE(b);
    const json::object f = object_of(*b);
    EXPECT_EQ(f.at("configured"), true);
    EXPECT_EQ(f.at("connected"), false);
    EXPECT_EQ(f.at("diagnostics").at("oauth").at("status"), 401);
    EXPECT_EQ(f.at("diagnostics").at("oauth").at("success"), false);
    EXPECT_EQ(f.at("diagnostics").at("sso").at("status"), 0) << "never reached";
}

// The same failure (IBKR refuses the OAuth token with its own text) as each mode tells API clients.
TEST_F(pages, production_tells_a_stable_code_and_development_tells_ibkrs_text_and_the_call) {
    start_sim();
    for (const std::string mode : {"production", "development"}) {
        fault(R"({"path":"/oauth2/api/v1/token","action":"status","status":401,"count":-1})");
        daemon_options o = with_token();
        o.environment["SESSIOND_MODE"] = mode;
        o.args = {"run"};  // the mode's own log level
        auto& d = start_daemon(o);
        ASSERT_TRUE(d.wait_for_log("oauth failed: HTTP 401")) << d.output();
        const auto status = d.api().get("/api/ibkr/status");
        ASSERT_TRUE(status);
        EXPECT_EQ(object_of(*status).at("mode"), json::value(mode));

        const auto r = d.api().post("/api/ibkr/test", "", bearer(admin_token));
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 200u) << r->body;
        const json::object t = object_of(*r);
        EXPECT_EQ(t.at("success"), false);
        EXPECT_EQ(t.at("error_code"), "oauth.unauthorized") << r->body;
        const json::object& oauth = t.at("steps").at("oauth").as_object();
        EXPECT_EQ(oauth.at("status"), 401);
        EXPECT_EQ(oauth.at("success"), false);
        const std::string message(t.at("message").as_string());
        EXPECT_EQ(message.find('\n'), std::string::npos);
        const bool development = mode == "development";
        // The simulator's own error text, and the call that failed: only in development.
        EXPECT_EQ(r->body.find("injected fault") != std::string::npos, development) << mode << ": " << r->body;
        EXPECT_EQ(r->body.find("/oauth2/api/v1/token") != std::string::npos, development) << mode << ": " << r->body;
        // Both logs have it all; development logs debug lines without being told.
        EXPECT_TRUE(d.wait_for_log("injected fault"));
        EXPECT_EQ(d.count_in_log("new connection (TCP connect") > 0, development) << mode;
        EXPECT_EQ(d.stop(), 0);
        sim().clear_faults();
    }
}

TEST_F(pages, a_bad_mode_is_refused_naming_the_variable) {
    start_sim();
    daemon_options o;
    o.environment["SESSIOND_MODE"] = "staging";
    daemon_process d(sim(), o);  // not the fixture's: it exits 78, not 0
    const auto code = d.wait_exit(std::chrono::seconds(20));
    ASSERT_TRUE(code);
    EXPECT_NE(*code, 0);
    EXPECT_NE(d.output().find("SESSIOND_MODE"), std::string::npos) << d.output();
    EXPECT_NE(d.output().find("\"staging\" is not production or development"), std::string::npos) << d.output();
}

TEST_F(pages, whoami_tells_the_admin_from_anyone_else) {
    auto& d = connected_daemon(with_token());
    const auto admin = d.api().get("/api/whoami", bearer(admin_token));
    ASSERT_TRUE(admin);
    EXPECT_EQ(admin->status, 200u);
    EXPECT_EQ(object_of(*admin).at("role"), "admin");
    for (const auto& o : {http_request_options{}, bearer("not-the-token-0123456789abcdef")}) {
        const auto r = d.api().get("/api/whoami", o);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 401u);
        EXPECT_EQ(r->header("WWW-Authenticate"), "Bearer realm=\"ibkr-sessiond\"");
    }
}

TEST_F(pages, the_event_stream_sends_the_status_at_once_and_again_when_ibkr_ends_the_session) {
    auto& d = connected_daemon();
    const auto port = d.api_port();
    ASSERT_TRUE(port);
    raw_connection stream(*port);
    stream.send("GET /api/ibkr/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    ASSERT_TRUE(stream.read_until([](std::string_view r) { return !status_events_in(r).empty(); }, 10s))
        << stream.received();
    EXPECT_EQ(first_status(stream.received()), 200u);
    EXPECT_NE(stream.received().find("Content-Type: text/event-stream"), std::string::npos);
    EXPECT_NE(stream.received().find("Cache-Control: no-store"), std::string::npos);
    EXPECT_EQ(status_events_in(stream.received()).front().at("status"), "connected");

    // IBKR ends the session: an event says so without anyone asking.
    fault(R"({"path":"/v1/api/tickle","action":"status","status":401,"count":1})");
    sim().expire_sessions();
    const auto not_connected = [](std::string_view r) {
        const auto events = status_events_in(r);
        return !events.empty() && events.back().at("status") != "connected";
    };
    ASSERT_TRUE(stream.read_until(not_connected, 10s)) << stream.received();
    // ... and another when it is back.
    const auto connected_again = [](std::string_view r) {
        const auto events = status_events_in(r);
        return !events.empty() && events.back().at("status") == "connected";
    };
    ASSERT_TRUE(stream.read_until(connected_again, 20s)) << stream.received();
    EXPECT_FALSE(stream.closed_by_server());
}

TEST_F(pages, event_streams_are_bounded_and_end_when_the_daemon_stops) {
    auto& d = connected_daemon();
    const auto port = d.api_port();
    ASSERT_TRUE(port);
    std::list<raw_connection> streams;
    const auto has_event = [](std::string_view r) { return !status_events_in(r).empty(); };
    for (std::size_t i = 0; i < 64; ++i) {
        streams.emplace_back(*port);
        streams.back().send("GET /api/ibkr/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        ASSERT_TRUE(streams.back().read_until(has_event, 10s)) << "stream " << i << ": " << streams.back().received();
    }
    const raw_reply refused = raw_exchange(*port, "GET /api/ibkr/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(first_status(refused.bytes), 503u) << refused.bytes;
    EXPECT_NE(refused.bytes.find("at most 64"), std::string::npos) << refused.bytes;

    // SIGTERM: every stream is told "stopping", then closed.
    ASSERT_EQ(d.stop(), 0);
    for (auto& s : streams) {
        s.read_until([](std::string_view) { return false; }, 10s);  // until the daemon closes it
        ASSERT_TRUE(s.closed_by_server()) << s.received();
        const auto events = status_events_in(s.received());
        ASSERT_FALSE(events.empty());
        EXPECT_EQ(events.back().at("daemon").at("stopping"), true) << s.received();
    }
}

}  // namespace
}  // namespace sessiond::testing
