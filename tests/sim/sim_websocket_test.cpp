// ibkr-sim's /v1/api/ws and trading endpoints as a real process over real TLS: the upgrade's
// authentication, the session handshake, market data and order pushes, heartbeats, the control API's
// view and drop of sockets, sockets ending with their session, a client that does not read, and the
// history concurrency limit.

#include "ibkr_requests.hpp"
#include "support/http_client.hpp"
#include "support/sim_process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <functional>
#include <future>
#include <thread>
#include <vector>

namespace sessiond::sim {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using namespace std::chrono_literals;
using asio::ip::tcp;
using requests::with_bearer;
using sessiond::testing::http_client;
using sessiond::testing::sim_options;
using sessiond::testing::sim_process;

constexpr std::chrono::seconds read_patience{10};
constexpr std::size_t max_messages_scanned = 500;

// A blocking WebSocket client over TLS that trusts the simulator's CA. Every read gives up after
// read_patience (SO_RCVTIMEO), so a silent server fails the test instead of hanging it.
class ws_client {
public:
    struct settings {
        std::string target;
        std::string cookie;
        int receive_buffer = 0;  // SO_RCVBUF when > 0: a small one makes a non-reading client's backlog short
    };

    ws_client(const sim_process& sim, const settings& s) : tls_(asio::ssl::context::tls_client), ws_(io_, tls_) {
        tls_.load_verify_file(sim.ca_file().string());
        auto& tcp_socket = beast::get_lowest_layer(ws_);
        tcp_socket.open(tcp::v4());
        if (s.receive_buffer > 0) tcp_socket.set_option(asio::socket_base::receive_buffer_size(s.receive_buffer));
        tcp_socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), sim.https_port()));
        timeval patience{read_patience.count(), 0};
        ::setsockopt(tcp_socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
        ws_.next_layer().set_verify_mode(asio::ssl::verify_peer);
        ws_.next_layer().set_verify_callback(asio::ssl::host_name_verification("localhost"));
        ws_.next_layer().handshake(asio::ssl::stream_base::client);
        const std::string cookie = s.cookie;
        ws_.set_option(websocket::stream_base::decorator([cookie](websocket::request_type& req) {
            if (!cookie.empty()) req.set(beast::http::field::cookie, cookie);
        }));
        boost::system::error_code ec;
        ws_.handshake(upgrade_response_, "localhost", s.target, ec);
        open_ = !ec;
    }

    [[nodiscard]] bool open() const { return open_; }
    [[nodiscard]] const websocket::response_type& upgrade_response() const { return upgrade_response_; }

    void send(std::string_view text) {
        ws_.text(true);
        ws_.write(asio::buffer(text));
    }

    // The next message as JSON; nullopt when the socket ended (or stayed silent for read_patience).
    std::optional<json::object> read() {
        beast::flat_buffer buffer;
        boost::system::error_code ec;
        ws_.read(buffer, ec);
        if (ec) {
            ended_with_ = ec;
            return std::nullopt;
        }
        last_text_ = beast::buffers_to_string(buffer.data());
        boost::system::error_code parse_error;
        const json::value v = json::parse(last_text_, parse_error);
        return (!parse_error && v.is_object()) ? v.as_object() : json::object{{"text", last_text_}};
    }

    // Reads until a message satisfies `wanted` (skipping others, heartbeats among them).
    std::optional<json::object> read_until(const std::function<bool(const json::object&)>& wanted) {
        for (std::size_t i = 0; i < max_messages_scanned; ++i) {
            auto m = read();
            if (!m) return std::nullopt;
            if (wanted(*m)) return m;
        }
        return std::nullopt;
    }

    std::optional<json::object> read_topic(std::string_view topic) {
        return read_until([&](const json::object& m) {
            const auto* t = m.if_contains("topic");
            return t != nullptr && t->is_string() && t->get_string() == topic;
        });
    }

    // Reads until the socket ends; true when it did (rather than staying open past the patience).
    bool read_until_closed() {
        while (read()) {
        }
        return ended_with_ != boost::system::error_code(EAGAIN, boost::system::system_category()) &&
               ended_with_ != boost::system::error_code(EWOULDBLOCK, boost::system::system_category());
    }

    [[nodiscard]] const std::string& last_text() const { return last_text_; }

private:
    asio::io_context io_;
    asio::ssl::context tls_;
    websocket::stream<asio::ssl::stream<tcp::socket>> ws_;
    websocket::response_type upgrade_response_;
    bool open_ = false;
    std::string last_text_;
    boost::system::error_code ended_with_;
};

// A simulator with a brokerage session ready for trading, and the two WebSocket credentials.
struct trading_session {
    explicit trading_session(sim_options options = {}) : sim(std::move(options)), client(sim.https_client()) {
        bearer = requests::open_sso_session(*client);
        requests::establish_brokerage(*client, bearer);
        session = requests::tickle_session(*client, bearer);
    }

    [[nodiscard]] ws_client::settings websocket() const {
        return {"/v1/api/ws?bearer_token=" + bearer, "api=" + session, 0};
    }

    // Opens a socket and completes IBKR's session handshake.
    std::unique_ptr<ws_client> authenticated_socket(ws_client::settings s) {
        auto ws = std::make_unique<ws_client>(sim, s);
        EXPECT_TRUE(ws->open());
        if (!ws->open()) return ws;
        EXPECT_EQ(ws->read(), (json::object{{"message", "waiting for session"}}));
        ws->send(json::serialize(json::object{{"session", session}}));
        const auto sts = ws->read_topic("sts");
        EXPECT_TRUE(sts.has_value());
        if (sts) {
            EXPECT_EQ(sts->at("args").at("authenticated"), true);
        }
        return ws;
    }

    sim_process sim;
    std::unique_ptr<http_client> client;
    std::string bearer;
    std::string session;
};

// The simulator's defaults with these WebSocket periods (seconds; unset: the defaults).
sim_options websocket_periods(std::optional<double> heartbeat, std::optional<double> market_data) {
    sim_options o;
    o.ws_heartbeat = heartbeat;
    o.ws_market_data_interval = market_data;
    return o;
}

TEST(sim_websocket, refuses_an_upgrade_without_the_session_cookie_with_401_json) {
    trading_session t;
    ws_client ws(t.sim, {"/v1/api/ws?bearer_token=" + t.bearer, "", 0});
    EXPECT_FALSE(ws.open());
    EXPECT_EQ(ws.upgrade_response().result_int(), 401u);
    EXPECT_EQ(json::parse(ws.upgrade_response().body()).at("statusCode"), 401);
    ws_client no_bearer(t.sim, {"/v1/api/ws", "api=" + t.session, 0});
    EXPECT_FALSE(no_bearer.open());
    EXPECT_EQ(no_bearer.upgrade_response().result_int(), 401u);
    const auto state = t.sim.state();
    EXPECT_EQ(state.at("rejections").at("websocket_missing_api_cookie"), 1);
    EXPECT_EQ(state.at("statuses").at("/v1/api/ws 401"), 2);
}

TEST(sim_websocket, authenticates_with_the_session_message_and_names_the_user) {
    trading_session t;
    ws_client ws(t.sim, t.websocket());
    ASSERT_TRUE(ws.open());
    EXPECT_EQ(ws.read(), (json::object{{"message", "waiting for session"}}));
    ws.send(R"({"session":"wrong"})");
    EXPECT_EQ(ws.read_topic("sts")->at("args").at("authenticated"), false);
    ws.send(json::serialize(json::object{{"session", t.session}}));
    EXPECT_EQ(ws.read_topic("sts")->at("args").at("authenticated"), true);
    const auto system = ws.read_until([](const json::object& m) { return m.contains("success"); });
    ASSERT_TRUE(system.has_value());
    EXPECT_EQ(system->at("topic"), "system");
    EXPECT_EQ(system->at("success"), "simuser");
    EXPECT_EQ(system->at("isPaper"), true);
    ws.send("ech+hb");
    EXPECT_TRUE(ws.read_until([&](const json::object&) { return ws.last_text() == "ech+hb"; }).has_value());
    ws.send("xyz+{}");
    EXPECT_NE(ws.read_topic("error")->at("error").as_string().find("xyz"), json::string::npos);
    EXPECT_EQ(t.sim.state().at("statuses").at("/v1/api/ws 101"), 1);
}

TEST(sim_websocket, streams_market_data_and_pushes_orders_placed_over_rest) {
    trading_session t(websocket_periods(std::nullopt, 0.05));
    auto ws = t.authenticated_socket(t.websocket());
    ASSERT_TRUE(ws->open());
    ws->send(R"(smd+265598+{"fields":["31","84","86"]})");
    for (int tick = 0; tick < 2; ++tick) {  // the answer at once, then a tick
        const auto md = ws->read_topic("smd+265598");
        ASSERT_TRUE(md.has_value());
        EXPECT_EQ(md->at("conid"), 265598);
        EXPECT_TRUE(md->at("31").is_string());
        EXPECT_TRUE(md->contains("84") && md->contains("86"));
    }
    ws->send("sor+{}");
    const auto none = ws->read_topic("sor");
    ASSERT_TRUE(none.has_value());
    EXPECT_TRUE(none->at("args").as_array().empty());

    const std::string order =
        R"({"orders":[{"conid":265598,"orderType":"LMT","price":99.5,"side":"BUY","quantity":2,"tif":"DAY"}]})";
    auto placed = t.client->post("/v1/api/iserver/account/DU1234567/orders", order, with_bearer(t.bearer, "application/json"));
    ASSERT_TRUE(placed.has_value()) << placed.error().message;
    ASSERT_EQ(placed->status, 200u) << placed->body;
    const auto pushed = ws->read_topic("sor");
    ASSERT_TRUE(pushed.has_value());
    ASSERT_EQ(pushed->at("args").as_array().size(), 1u);
    EXPECT_EQ(pushed->at("args").as_array()[0].at("conid"), 265598);

    const auto sockets = t.sim.websockets();
    ASSERT_EQ(sockets.size(), 1u);
    const auto& subscriptions = sockets[0].at("subscriptions");
    EXPECT_EQ(subscriptions.at("smd").at("265598"), (json::array{"31", "84", "86"}));
    EXPECT_EQ(subscriptions.at("sor"), true);
    const auto bodies = t.sim.order_bodies();
    ASSERT_EQ(bodies.size(), 1u);
    EXPECT_EQ(bodies[0].at("body").as_string(), order);
    EXPECT_EQ(bodies[0].at("status"), 200);

    ws->send("umd+265598+{}");
    ws->send("uor+{}");
    ws->send("ech+hb");  // once echoed, both unsubscribes have been handled
    ASSERT_TRUE(ws->read_until([&](const json::object&) { return ws->last_text() == "ech+hb"; }).has_value());
    const auto after = t.sim.websockets();
    EXPECT_TRUE(after[0].at("subscriptions").at("smd").as_object().empty());
    EXPECT_EQ(after[0].at("subscriptions").at("sor"), false);
}

TEST(sim_websocket, sends_system_heartbeats) {
    trading_session t(websocket_periods(0.05, std::nullopt));
    ws_client ws(t.sim, t.websocket());
    ASSERT_TRUE(ws.open());
    for (int i = 0; i < 2; ++i) {
        const auto hb = ws.read_until([](const json::object& m) { return m.contains("hb"); });
        ASSERT_TRUE(hb.has_value());
        EXPECT_EQ(hb->at("topic"), "system");
        EXPECT_GT(hb->at("hb").as_int64(), 1'600'000'000'000);
    }
}

TEST(sim_websocket, control_drop_closes_every_socket) {
    trading_session t;
    auto first = t.authenticated_socket(t.websocket());
    auto second = t.authenticated_socket(t.websocket());
    ASSERT_TRUE(first->open() && second->open());
    EXPECT_EQ(t.sim.drop_websockets(), 2u);
    EXPECT_TRUE(first->read_until_closed());
    EXPECT_TRUE(second->read_until_closed());
    EXPECT_EQ(t.sim.state().at("websockets").at("dropped"), 2);
}

// Opens an authenticated socket, ends its session with `end_session` and expects the socket to end too.
void expect_the_socket_to_end_with_its_session(const std::function<void(trading_session&)>& end_session) {
    trading_session t;
    auto ws = t.authenticated_socket(t.websocket());
    ASSERT_TRUE(ws->open());
    end_session(t);
    EXPECT_TRUE(ws->read_until_closed());
    EXPECT_EQ(t.sim.state().at("websockets").at("session_ended"), 1);
}

TEST(sim_websocket, sockets_end_when_their_session_expires) {
    expect_the_socket_to_end_with_its_session([](trading_session& t) { t.sim.expire_sessions(); });
}

TEST(sim_websocket, sockets_end_with_a_logout) {
    expect_the_socket_to_end_with_its_session([](trading_session& t) {
        auto logout = t.client->post("/v1/api/logout", "", with_bearer(t.bearer));
        ASSERT_TRUE(logout.has_value());
        EXPECT_EQ(logout->status, 200u);
    });
}

TEST(sim_websocket, a_client_that_does_not_read_is_cut_off_and_others_carry_on) {
    auto options = websocket_periods(std::nullopt, 0.01);
    options.ws_send_queue = 32768;
    trading_session t(options);
    auto settings = t.websocket();
    settings.receive_buffer = 4096;
    auto slow = t.authenticated_socket(settings);
    auto reader = t.authenticated_socket(t.websocket());
    ASSERT_TRUE(slow->open() && reader->open());
    for (int conid = 1; conid <= 100; ++conid) slow->send("smd+" + std::to_string(conid) + R"(+{"fields":["31","84","86","55","7295"]})");
    // 100 updates (about 14 KiB) fit the queue; the slow client reads none, so its backlog grows past it.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    bool cut_off = false;
    while (!cut_off && std::chrono::steady_clock::now() < deadline) {
        ASSERT_TRUE(reader->read().has_value());  // paced by the reader's own traffic, not by sleeping
        reader->send("ech+hb");
        cut_off = t.sim.state().at("websockets").at("cut_off") == 1;
    }
    EXPECT_TRUE(cut_off);
    EXPECT_TRUE(slow->read_until_closed());
    reader->send("ech+hb");
    EXPECT_TRUE(reader->read_until([&](const json::object&) { return reader->last_text() == "ech+hb"; }).has_value());
}

TEST(sim_websocket, exits_0_on_sigterm_with_an_open_socket) {
    trading_session t(websocket_periods(0.05, 0.05));
    auto ws = t.authenticated_socket(t.websocket());
    ASSERT_TRUE(ws->open());
    ws->send(R"(smd+1+{"fields":["31"]})");
    ASSERT_TRUE(ws->read_topic("smd+1").has_value());
    EXPECT_EQ(t.sim.stop(), 0);
    EXPECT_TRUE(ws->read_until_closed());
}

TEST(sim_websocket, history_admits_5_concurrent_requests_when_it_answers_late) {
    sim_options options;
    options.history_delay = 5;
    options.max_requests_per_second = 0;
    trading_session t(options);
    const std::string target = "/v1/api/iserver/marketdata/history?conid=265598&period=1d&bar=1h";
    std::vector<std::future<unsigned>> answers;
    for (int i = 0; i < 6; ++i)
        answers.push_back(std::async(std::launch::async, [&] {
            auto res = t.sim.https_client()->get(target, with_bearer(t.bearer));
            return res ? res->status : 0u;
        }));
    std::vector<unsigned> statuses;
    for (auto& a : answers) statuses.push_back(a.get());
    EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200u), 5);
    EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 429u), 1);
    const auto state = t.sim.state();
    EXPECT_EQ(state.at("history_max_in_flight"), 5);
    EXPECT_EQ(state.at("history_in_flight"), 0);
    EXPECT_EQ(state.at("rejections").at("history_concurrency_limited"), 1);
}

TEST(sim_websocket, trading_endpoints_count_requests_and_429s_per_path) {
    trading_session t;
    const std::string path = "/v1/api/iserver/account/orders";
    EXPECT_EQ(t.client->get(path, with_bearer(t.bearer))->status, 200u);
    EXPECT_EQ(t.client->get(path, with_bearer(t.bearer))->status, 429u);
    const auto state = t.sim.state();
    EXPECT_EQ(state.at("calls").at(path), 2);
    EXPECT_EQ(state.at("statuses").at(path + " 429"), 1);
    EXPECT_EQ(state.at("rejections").at("orders_rate_limited"), 1);
}

}  // namespace
}  // namespace sessiond::sim
