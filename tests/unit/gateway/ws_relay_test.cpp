// The gateway's WebSocket relay over real sockets: local clients on an http_server (plain TCP, as on
// SESSIOND_LISTEN), the upstream a WSS server written here standing in for IBKR (real TLS on
// loopback, a throw-away CA). The relay, the servers and the fake session run on one event loop on
// their own thread; the test's clients are synchronous, and every blocking read gives up after
// `patience`. Nothing waits on a clock: each test waits for what it expects to happen.
#include "sessiond/gateway/ws_relay.hpp"

#include "sessiond/crypto/tls_identity.hpp"
#include "sessiond/server/http_server.hpp"
#include "support/ws_test_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

namespace sessiond {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto patience = 10s;
const std::string bearer_value = "bearer-secret-0123456789";
const std::string tickle_value = "tickle-session-0123456789";
const std::string cookie_value = "cookie-value-0123456789";
const std::string md_subscribe = R"(smd+265598+{"fields":["31","84"]})";
const std::string md_update = R"({"topic":"smd+265598","conid":265598,"31":"101.5"})";

// What the fake IBKR saw; guarded by its mutex, read by the test thread.
struct upgrade_seen {
    std::string target;
    std::string cookie;
    std::string user_agent;
};

// IBKR's /v1/api/ws as the reference describes it: "waiting for session", then sts and system once
// the right {"session":...} arrives. It records every frame and upgrade, and sends what the test asks.
class fake_ibkr {
public:
    fake_ibkr(asio::io_context& io, const tls_identity& identity)
        : io_(io), tls_(*make_server_context(identity)), acceptor_(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
        asio::co_spawn(io_, accept_loop(), asio::detached);
    }

    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

    // ---- on the loop ----
    void broadcast(const std::string& text) {
        for (auto& s : sockets_) send(s, text);
    }
    void drop_all() {
        for (auto& s : sockets_) {
            boost::system::error_code ignored;
            beast::get_lowest_layer(s->ws).close(ignored);
        }
        sockets_.clear();
    }
    void stop() {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        drop_all();
    }
    void refuse_upgrades(bool refuse) { refuse_ = refuse; }

    // ---- from the test thread ----
    template <class Pred>
    bool wait_until(Pred pred) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, patience, [&] { return pred(); });
    }
    // Frames the daemon sent, every socket, in order.
    std::vector<std::string> frames() {
        std::lock_guard lock(mutex_);
        return frames_;
    }
    std::size_t count(const std::string& frame) {
        std::lock_guard lock(mutex_);
        return count_locked(frame);
    }
    std::vector<upgrade_seen> upgrades() {
        std::lock_guard lock(mutex_);
        return upgrades_;
    }
    std::size_t authenticated_sockets() {
        std::lock_guard lock(mutex_);
        return authenticated_;
    }
    // Guarded state the predicates of wait_until() read (the mutex is held there).
    std::size_t count_locked(const std::string& frame) const {
        return static_cast<std::size_t>(std::count(frames_.begin(), frames_.end(), frame));
    }
    std::size_t authenticated_locked() const { return authenticated_; }
    std::size_t upgrades_locked() const { return upgrades_.size(); }

private:
    struct socket {
        socket(tcp::socket s, asio::ssl::context& tls) : ws(std::move(s), tls), wake(ws.get_executor()) {}
        websocket::stream<asio::ssl::stream<tcp::socket>> ws;
        std::deque<std::string> queue;
        asio::steady_timer wake;
        bool ended = false;
    };

    void send(const std::shared_ptr<socket>& s, std::string text) {
        s->queue.push_back(std::move(text));
        s->wake.cancel();
    }

    template <class F>
    void record(F f) {
        {
            std::lock_guard lock(mutex_);
            f();
        }
        changed_.notify_all();
    }

    asio::awaitable<void> accept_loop() {
        while (true) {
            auto [ec, s] = co_await acceptor_.async_accept(as_tuple(use_awaitable));
            if (ec) co_return;
            asio::co_spawn(io_, serve(std::make_shared<socket>(std::move(s), tls_)), asio::detached);
        }
    }

    asio::awaitable<void> write_loop(std::shared_ptr<socket> s) {
        while (!s->ended) {
            if (s->queue.empty()) {
                s->wake.expires_at(asio::steady_timer::time_point::max());
                co_await s->wake.async_wait(as_tuple(use_awaitable));
                continue;
            }
            const std::string text = std::move(s->queue.front());
            s->queue.pop_front();
            auto [ec, n] = co_await s->ws.async_write(asio::buffer(text), as_tuple(use_awaitable));
            if (ec) break;
        }
    }

    asio::awaitable<void> serve(std::shared_ptr<socket> s) {
        auto [hec] = co_await s->ws.next_layer().async_handshake(asio::ssl::stream_base::server, as_tuple(use_awaitable));
        if (hec) co_return;
        beast::flat_buffer buffer;
        http::request<http::string_body> req;
        auto [rec, rn] = co_await http::async_read(s->ws.next_layer(), buffer, req, as_tuple(use_awaitable));
        if (rec) co_return;
        record([&] {
            upgrades_.push_back({std::string(req.target()), std::string(req[http::field::cookie]),
                                 std::string(req[http::field::user_agent])});
        });
        if (refuse_) {
            http::response<http::string_body> res{http::status::unauthorized, 11};
            res.body() = "{}";
            res.prepare_payload();
            co_await http::async_write(s->ws.next_layer(), res, as_tuple(use_awaitable));
            co_return;
        }
        auto [aec] = co_await s->ws.async_accept(req, as_tuple(use_awaitable));
        if (aec) co_return;
        s->ws.text(true);
        sockets_.push_back(s);
        asio::co_spawn(io_, write_loop(s), asio::detached);
        send(s, R"({"message":"waiting for session"})");
        bool authenticated = false;
        while (true) {
            buffer.clear();
            auto [ec, n] = co_await s->ws.async_read(buffer, as_tuple(use_awaitable));
            if (ec) break;
            const std::string text = beast::buffers_to_string(buffer.data());
            record([&] { frames_.push_back(text); });
            if (text == R"({"session":")" + tickle_value + R"("})" && !authenticated) {
                authenticated = true;
                record([&] { ++authenticated_; });
                send(s, R"({"topic":"sts","args":{"authenticated":true}})");
                send(s, R"({"topic":"system","success":"user1","isPaper":true})");
            }
        }
        s->ended = true;
        s->wake.cancel();
        std::erase(sockets_, s);
        if (authenticated) record([&] { --authenticated_; });
    }

    asio::io_context& io_;
    asio::ssl::context tls_;
    tcp::acceptor acceptor_;
    std::vector<std::shared_ptr<socket>> sockets_;
    bool refuse_ = false;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> frames_;
    std::vector<upgrade_seen> upgrades_;
    std::size_t authenticated_ = 0;
};

// The session as the relay sees it: up with a generation, or down.
class fake_sessions final : public ws_session_source {
public:
    fake_sessions(std::shared_ptr<asio::ssl::context> tls, std::uint16_t port) : tls_(std::move(tls)), port_(port) {}
    std::optional<login> login_for(std::string_view /*username*/) override {
        if (!up) return std::nullopt;
        return login{secret(bearer_value), secret(tickle_value), secret("other=" + cookie_value), generation, tls_,
                     base_url{"https://127.0.0.1:" + std::to_string(port_), "127.0.0.1", port_}};
    }
    asio::awaitable<bool> pace_upgrade(std::string /*username*/, asio::cancellation_slot /*cancelled*/) override {
        ++upgrades_paced;
        co_return true;
    }
    void upgrade_refused(std::string_view /*username*/) override { ++refusals; }

    bool up = true;
    std::uint64_t generation = 1;
    int refusals = 0;
    int upgrades_paced = 0;

private:
    std::shared_ptr<asio::ssl::context> tls_;
    std::uint16_t port_;
};

std::shared_ptr<asio::ssl::context> client_context(const tls_identity& identity) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->add_certificate_authority(asio::buffer(identity.ca_pem));
    ctx->set_verify_mode(asio::ssl::verify_peer);
    return ctx;
}

ws_relay_options test_options() {
    ws_relay_options o;
    o.tic_interval = 1h;  // a test that wants the daemon's tic asks for it
    o.first_backoff = 10ms;
    o.max_backoff = 50ms;
    o.linger = 0ms;
    o.cutoff_grace = 30s;
    return o;
}

// The relay behind an http_server, the fake IBKR and the fake session, on one loop thread.
class relay_fixture {
public:
    explicit relay_fixture(ws_relay_options options = test_options())
        : identity_(*generate_tls_identity(std::nullopt)),
          ibkr_(io_, identity_),
          sessions_(client_context(identity_), ibkr_.port()),
          relay_(io_.get_executor(), sessions_, logger{}, stats_),
          server_(io_.get_executor(),
                  [this](server_request req, const connection_context&) -> asio::awaitable<server_reply> {
                      connection_takeover t = [this, req](server_stream& s, beast::flat_buffer&) {
                          return relay_.serve(s, req, "user1");
                      };
                      co_return t;
                  },
                  server_limits{}, logger{}) {
        relay_.configure(options);
        endpoint_ = *server_.listen({"127.0.0.1", 0});
        server_.start();
        loop_ = std::thread([this] { io_.run(); });
    }
    ~relay_fixture() {
        on_loop([this] {
            relay_.stop();
            server_.stop();
            ibkr_.stop();
            return 0;
        });
        if (std::async(std::launch::async, [this] { loop_.join(); }).wait_for(patience) != std::future_status::ready) {
            ADD_FAILURE() << "the event loop did not run dry";
            io_.stop();
        }
    }

    template <class F>
    auto on_loop(F f) -> decltype(f()) {
        auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
        auto result = task->get_future();
        asio::post(io_, [task] { (*task)(); });
        if (result.wait_for(patience) != std::future_status::ready) throw std::runtime_error("the loop did not run it");
        return result.get();
    }

    ws_relay_stats stats() {
        return on_loop([this] { return stats_; });
    }

    [[nodiscard]] const tcp::endpoint& endpoint() const { return endpoint_; }
    fake_ibkr& ibkr() { return ibkr_; }
    fake_sessions& sessions() { return sessions_; }
    ws_relay& relay() { return relay_; }

private:
    asio::io_context io_;
    tls_identity identity_;
    fake_ibkr ibkr_;
    fake_sessions sessions_;
    ws_relay_stats stats_;
    ws_relay relay_;
    http_server server_;
    tcp::endpoint endpoint_;
    std::thread loop_;
};

// A CP-Gateway-style client that sends its own api cookie, as ibind's does.
class ws_client : public testing::ws_test_client {
public:
    explicit ws_client(const tcp::endpoint& at) : ws_test_client(at, {{"Cookie", "api=the-clients-own-session"}}) {}
};

const std::string sts_true = R"({"topic":"sts","args":{"authenticated":true}})";

// A client whose subscription IBKR has seen.
void subscribe_and_wait(relay_fixture& f, ws_client& c, const std::string& frame, std::size_t times = 1) {
    c.send(frame);
    ASSERT_TRUE(f.ibkr().wait_until([&] { return f.ibkr().count_locked(frame) >= times; })) << frame;
}

// IBKR sends a market data update; it reaches the client.
void expect_update_reaches(relay_fixture& f, ws_client& c) {
    f.on_loop([&] {
        f.ibkr().broadcast(md_update);
        return 0;
    });
    EXPECT_TRUE(c.read_until(md_update));
}

TEST(ws_relay, the_upstream_is_opened_with_the_sessions_bearer_and_cookies_and_authenticated_by_the_daemon) {
    relay_fixture f;
    ws_client c(f.endpoint());
    ASSERT_TRUE(c.read_until(sts_true));
    const auto upgrades = f.ibkr().upgrades();
    ASSERT_EQ(upgrades.size(), 1u);
    EXPECT_EQ(upgrades[0].target, "/v1/api/ws?bearer_token=" + bearer_value);
    EXPECT_EQ(upgrades[0].cookie, "api=" + tickle_value + "; other=" + cookie_value);
    EXPECT_TRUE(upgrades[0].user_agent.starts_with("ibkr-sessiond/"));
    EXPECT_EQ(f.ibkr().frames().front(), R"({"session":")" + tickle_value + R"("})");
    EXPECT_EQ(f.on_loop([&] { return f.sessions().upgrades_paced; }), 1) << "the upgrade drew from IBKR's limits";
}

TEST(ws_relay, a_subscription_reaches_ibkr_and_its_updates_reach_the_client) {
    relay_fixture f;
    ws_client c(f.endpoint());
    subscribe_and_wait(f, c, md_subscribe);
    expect_update_reaches(f, c);
    EXPECT_GE(f.stats().frames_to_clients, 1u);
}

TEST(ws_relay, two_clients_share_one_subscription_and_one_leaving_does_not_end_the_others) {
    relay_fixture f;
    ws_client a(f.endpoint());
    ws_client b(f.endpoint());
    subscribe_and_wait(f, a, md_subscribe);
    b.send(md_subscribe);
    b.send("umd+265598+{}");  // b only: a keeps it
    a.send("ech+hb");         // once this comes back, the relay has handled b's frames too
    ASSERT_TRUE(a.read_until("ech+hb"));
    b.send("ech+hb");
    ASSERT_TRUE(b.read_until("ech+hb"));
    f.on_loop([&] {
        f.ibkr().broadcast(md_update);
        f.ibkr().broadcast(R"({"topic":"system","hb":1})");
        return 0;
    });
    EXPECT_TRUE(a.read_until(md_update));
    std::vector<std::string> b_saw;
    EXPECT_TRUE(b.read_until(R"({"topic":"system","hb":1})", &b_saw));
    EXPECT_EQ(std::count(b_saw.begin(), b_saw.end(), md_update), 0) << "b unsubscribed";
    EXPECT_EQ(f.ibkr().count(md_subscribe), 1u) << "the second subscribe joined the first";
    EXPECT_EQ(f.ibkr().count("umd+265598+{}"), 0u);
    a.close();
    ASSERT_TRUE(f.ibkr().wait_until([&] { return f.ibkr().count_locked("umd+265598+{}") == 1; }))
        << "the last holder left: IBKR is told";
}

TEST(ws_relay, tic_ech_and_the_clients_session_are_answered_here_never_forwarded) {
    relay_fixture f;
    ws_client c(f.endpoint());
    ASSERT_TRUE(c.read_until(sts_true));
    c.send("tic");
    c.send(R"({"session":"the-clients-own-session"})");
    c.send("ech+hb");
    std::vector<std::string> seen;
    ASSERT_TRUE(c.read_until("ech+hb", &seen));
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back(), sts_true) << "the client's session message is told how the daemon's went";
    subscribe_and_wait(f, c, "sor+{}");  // after the frames above: they would have arrived before it
    for (const std::string& frame : f.ibkr().frames()) {
        EXPECT_NE(frame, "tic");
        EXPECT_EQ(frame.find("the-clients-own-session"), std::string::npos);
        EXPECT_NE(frame, "ech+hb");
    }
}

TEST(ws_relay, the_daemon_sends_ibkr_its_own_tic) {
    auto options = test_options();
    options.tic_interval = 20ms;
    relay_fixture f(options);
    ws_client c(f.endpoint());
    EXPECT_TRUE(f.ibkr().wait_until([&] { return f.ibkr().count_locked("tic") >= 2; }));
}

TEST(ws_relay, an_upstream_drop_reopens_it_and_resends_every_subscription_while_clients_stay) {
    relay_fixture f;
    ws_client c(f.endpoint());
    subscribe_and_wait(f, c, md_subscribe);
    subscribe_and_wait(f, c, "sor+{}");
    f.on_loop([&] {
        f.ibkr().drop_all();
        return 0;
    });
    ASSERT_TRUE(f.ibkr().wait_until([&] {
        return f.ibkr().upgrades_locked() == 2 && f.ibkr().count_locked(md_subscribe) == 2 &&
               f.ibkr().count_locked("sor+{}") == 2;
    }));
    expect_update_reaches(f, c);
    EXPECT_EQ(f.stats().upstream_reconnects, 1u);
}

TEST(ws_relay, a_new_login_reopens_the_upstream_with_the_new_session) {
    relay_fixture f;
    ws_client c(f.endpoint());
    subscribe_and_wait(f, c, md_subscribe);
    f.on_loop([&] {
        f.sessions().generation = 2;
        f.relay().on_sessions_changed();
        return 0;
    });
    ASSERT_TRUE(f.ibkr().wait_until(
        [&] { return f.ibkr().upgrades_locked() == 2 && f.ibkr().count_locked(md_subscribe) == 2; }));
    expect_update_reaches(f, c);
}

TEST(ws_relay, clients_are_closed_with_a_reason_when_the_session_does_not_come_back) {
    auto options = test_options();
    options.reconnect_bound = 50ms;
    relay_fixture f(options);
    ws_client c(f.endpoint());
    ASSERT_TRUE(c.read_until(sts_true));
    f.on_loop([&] {
        f.sessions().up = false;
        f.relay().on_sessions_changed();
        return 0;
    });
    EXPECT_FALSE(c.read_until("never"));
    EXPECT_EQ(c.error(), websocket::error::closed);
    EXPECT_EQ(c.close_reason().code, websocket::close_code::try_again_later);
    EXPECT_EQ(c.close_reason().reason, "the IBKR session is not available");
    EXPECT_EQ(f.stats().clients_failed, 1u);
}

TEST(ws_relay, clients_are_closed_when_ibkr_keeps_refusing_the_upgrade) {
    relay_fixture f;
    f.on_loop([&] {
        f.ibkr().refuse_upgrades(true);
        return 0;
    });
    ws_client c(f.endpoint());
    EXPECT_FALSE(c.read_until("never"));
    EXPECT_EQ(c.close_reason().code, websocket::close_code::internal_error);
    EXPECT_EQ(f.on_loop([&] { return f.sessions().refusals; }), 3) << "the session checked itself after each";
}

TEST(ws_relay, a_client_that_does_not_read_is_cut_off_alone) {
    auto options = test_options();
    options.client_queue_bytes = 256 * 1024;
    relay_fixture f(options);
    ws_client slow(f.endpoint());
    ws_client reader(f.endpoint());
    ASSERT_TRUE(slow.read_until(sts_true));
    ASSERT_TRUE(reader.read_until(R"({"topic":"system","success":"user1","isPaper":true})"));
    // Batches the reader takes in before the next comes, until the slow client's socket buffers and
    // queue are full: it alone falls behind.
    const std::string big = R"({"topic":"ntf","args":")" + std::string(64 * 1024, 'x') + R"("})";
    int batches = 0;
    while (f.stats().clients_cut_off == 0 && batches < 1600) {
        ++batches;
        const std::string last = R"({"topic":"ntf","args":")" + std::to_string(batches) + R"("})";
        f.on_loop([&] {
            f.ibkr().broadcast(big);
            f.ibkr().broadcast(last);
            return 0;
        });
        std::vector<std::string> seen;
        ASSERT_TRUE(reader.read_until(last, &seen)) << reader.error().message();
        ASSERT_EQ(seen.size(), 1u);
        ASSERT_TRUE(seen.front() == big);
    }
    EXPECT_EQ(f.stats().clients_cut_off, 1u);
    EXPECT_FALSE(slow.read_until("never"));
    EXPECT_EQ(slow.error(), websocket::error::closed);
    EXPECT_EQ(slow.close_reason().code, websocket::close_code::policy_error);
    EXPECT_EQ(slow.close_reason().reason, "too slow");
    reader.send("ech+hb");
    EXPECT_TRUE(reader.read_until("ech+hb")) << "the reader is still served";
}

TEST(ws_relay, a_message_carrying_a_secret_of_the_session_never_reaches_a_client) {
    relay_fixture f;
    ws_client c(f.endpoint());
    ASSERT_TRUE(c.read_until(sts_true));
    f.on_loop([&] {
        f.ibkr().broadcast(R"({"topic":"ntf","args":")" + tickle_value + R"("})");
        f.ibkr().broadcast(R"({"topic":"ntf","args":")" + bearer_value + R"("})");
        f.ibkr().broadcast(R"({"topic":"ntf","args":"clean"})");
        return 0;
    });
    std::vector<std::string> seen;
    ASSERT_TRUE(c.read_until(R"({"topic":"ntf","args":"clean"})", &seen));
    for (const std::string& m : seen) {
        EXPECT_EQ(m.find(tickle_value), std::string::npos);
        EXPECT_EQ(m.find(bearer_value), std::string::npos);
    }
    EXPECT_EQ(f.stats().secrets_dropped, 2u);
}

TEST(ws_relay, the_socket_cap_refuses_reservations_beyond_it) {
    relay_fixture f;
    auto options = test_options();
    options.max_sockets = 2;
    f.on_loop([&] {
        f.relay().configure(options);
        return 0;
    });
    const bool ok = f.on_loop([&] {
        auto a = f.relay().reserve();
        auto b = f.relay().reserve();
        const bool full = f.relay().reserve() == nullptr;
        a.reset();
        const bool room_again = f.relay().reserve() != nullptr;
        return a == nullptr && b != nullptr && full && room_again;
    });
    EXPECT_TRUE(ok);
    EXPECT_EQ(f.stats().refused_full, 1u);
}

TEST(ws_relay, the_upstream_closes_after_its_last_client_left) {
    relay_fixture f;
    {
        ws_client c(f.endpoint());
        ASSERT_TRUE(c.read_until(sts_true));
        c.close();
    }
    EXPECT_TRUE(f.ibkr().wait_until([&] { return f.ibkr().authenticated_locked() == 0; }));
}

}  // namespace
}  // namespace sessiond
