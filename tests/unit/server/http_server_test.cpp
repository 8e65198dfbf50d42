// The hardened status server over real loopback sockets: a real io_context runs the server on its own
// thread, and blocking raw-socket clients on the test thread send exactly the bytes a test needs (well
// formed or not). Every wait is on an event (a response, the server closing, the loop running dry);
// every blocking read gives up after `patience`, so a server bug fails a test instead of hanging it.

#include "sessiond/server/http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sessiond::testing {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// How long any single wait of a test may take before it counts as a failure (never reached when the
// server works).
constexpr auto patience = 10s;

// Small sizes so that the limits are easy to cross; timeouts long enough never to fire by accident on
// a loaded machine. The tests about timeouts shorten the one they are about.
server_limits small_limits() {
    server_limits l;
    l.max_connections = 4;
    l.header_limit = 1024;
    l.body_limit = 1024;
    l.request_timeout = 30s;
    l.idle_timeout = 30s;
    l.write_timeout = 30s;
    return l;
}

std::string get_request(std::string_view target, std::string_view extra_headers = {}) {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) + "\r\n";
}

// A blocking client speaking raw bytes over a POSIX socket, with SO_RCVTIMEO/SO_SNDTIMEO as a safety net.
class raw_client {
public:
    explicit raw_client(const tcp::endpoint& server) {
        fd_ = ::socket(server.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) {
            error_ = errno;
            return;
        }
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(patience);
        const timeval tv{static_cast<time_t>(secs.count()), 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (::connect(fd_, server.data(), static_cast<socklen_t>(server.size())) != 0) error_ = errno;
    }
    ~raw_client() {
        if (fd_ >= 0) ::close(fd_);
    }
    raw_client(const raw_client&) = delete;
    raw_client& operator=(const raw_client&) = delete;

    [[nodiscard]] bool connected() const { return fd_ >= 0 && error_ == 0; }
    [[nodiscard]] int connect_error() const { return error_; }

    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // The next response; nothing when the connection ends (or the wait runs out) before one is complete.
    // A response to HEAD has no body whatever its Content-Length says.
    std::optional<server_response> read_response(bool head = false) {
        http::response_parser<http::string_body> parser;
        parser.eager(true);
        parser.skip(head);
        parser.body_limit(64 * 1024 * 1024);
        for (;;) {
            if (!pending_.empty()) {
                boost::system::error_code ec;
                const std::size_t n = parser.put(asio::buffer(pending_), ec);
                pending_.erase(0, n);
                if (ec && ec != http::error::need_more) return std::nullopt;
                if (parser.is_done()) return parser.release();
                if (n > 0 && !pending_.empty()) continue;
            }
            if (!receive()) {
                if (!eof_) return std::nullopt;
                if (!parser.got_some()) return std::nullopt;
                boost::system::error_code ec;
                parser.put_eof(ec);
                if (!ec && parser.is_done()) return parser.release();
                return std::nullopt;
            }
        }
    }

    // Everything the server still sends until it closes the connection (a reset counts as closing);
    // nothing when the wait runs out first.
    std::optional<std::string> read_until_closed() {
        while (receive()) {
        }
        if (!eof_) return std::nullopt;
        return std::exchange(pending_, {});
    }

private:
    // Appends what arrives to pending_; false at the end of the stream (eof_ set) or on a failure.
    bool receive() {
        char chunk[4096];
        for (;;) {
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n > 0) {
                pending_.append(chunk, static_cast<std::size_t>(n));
                return true;
            }
            if (n < 0 && errno == EINTR) continue;
            eof_ = n == 0 || errno == ECONNRESET;
            return false;
        }
    }

    int fd_ = -1;
    int error_ = 0;
    bool eof_ = false;
    std::string pending_;
};

std::string body_of(const std::optional<server_response>& res) { return res ? res->body() : "(no response)"; }

// The error JSON the server sends for its own refusals.
void expect_json_error(const std::optional<server_response>& res, http::status status) {
    ASSERT_TRUE(res.has_value());
    EXPECT_EQ(res->result(), status);
    EXPECT_EQ((*res)[http::field::content_type], "application/json");
    const auto json = boost::json::parse(res->body());
    EXPECT_EQ(json.at("status").to_number<unsigned>(), static_cast<unsigned>(status));
    EXPECT_TRUE(json.at("error").is_string());
}

// An http_server on a real io_context running on its own thread. Its handler answers
// "<METHOD> <target>[ <body>]" as text/plain, and:
//   /throw     throws;
//   /close     answers with "Connection: close";
//   /wait      waits until release() (or the end of the test);
//   /wait-cancellable  the same, but the wait ends when the connection closes;
//   /peer      answers "<address> tls=<0|1>" of the peer it was given;
//   /prebuilt  answers prebuilt bytes: 200 {"status":"ok"};
//   /takeover  takes the connection over, writes "raw <unread bytes>" and returns;
//   /websocket takes the connection over for a WebSocket that echoes one message and closes.
class running_server {
public:
    explicit running_server(server_limits limits = small_limits(), listen_address where = {"127.0.0.1", 0})
        : gate_(io_),
          server_(io_.get_executor(),
                  [this](server_request req, const connection_context& c) { return handle(std::move(req), c); },
                  limits, logger{}) {
        gate_.expires_at(asio::steady_timer::time_point::max());
        auto bound = server_.listen(where);
        if (!bound) {
            listen_error_ = bound.error().message;
            return;
        }
        endpoint_ = *bound;
        server_.start();
        loop_ = std::thread([this] {
            try {
                io_.run();
            } catch (const std::exception& e) {
                loop_failure_ = e.what();
            }
            ran_dry_.set_value();
        });
    }

    ~running_server() {
        if (loop_.joinable()) {
            asio::post(io_, [this] {
                released_ = true;
                gate_.cancel();
                server_.stop();
            });
            if (ran_dry_future_.wait_for(patience) != std::future_status::ready) {
                ADD_FAILURE() << "the event loop did not run dry after stop()";
                io_.stop();
            }
            loop_.join();
        }
        if (!loop_failure_.empty()) ADD_FAILURE() << "the event loop failed: " << loop_failure_;
    }

    running_server(const running_server&) = delete;
    running_server& operator=(const running_server&) = delete;

    [[nodiscard]] bool listening() const { return listen_error_.empty(); }
    [[nodiscard]] const std::string& listen_error() const { return listen_error_; }
    [[nodiscard]] const tcp::endpoint& endpoint() const { return endpoint_; }

    server_stats stats() {
        return on_loop([this] { return server_.stats(); });
    }

    void stop() {
        on_loop([this] { server_.stop(); });
    }

    // True when io_context::run() has returned.
    bool wait_until_dry() {
        if (ran_dry_future_.wait_for(patience) != std::future_status::ready) return false;
        loop_.join();
        return true;
    }

    bool stop_and_wait() {
        stop();
        return wait_until_dry();
    }

    // Waits until n requests to /wait are inside the handler.
    bool wait_for_waiting(int n) {
        std::unique_lock lock(mutex_);
        return waiting_changed_.wait_for(lock, patience, [&] { return waiting_ >= n; });
    }

    void release() {
        on_loop([this] {
            released_ = true;
            gate_.cancel();
        });
    }

private:
    // Runs f on the event loop's thread, where every member of the server must be called.
    template <class F>
    auto on_loop(F f) -> decltype(f()) {
        auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
        auto result = task->get_future();
        asio::post(io_, [task] { (*task)(); });
        if (result.wait_for(patience) != std::future_status::ready)
            throw std::runtime_error("the event loop did not run a posted function");
        return result.get();
    }

    asio::awaitable<server_reply> handle(server_request req, const connection_context& context) {
        const std::string target(req.target());
        if (target == "/throw") throw std::runtime_error("the handler failed on purpose");
        if (target == "/prebuilt") co_return prebuilt_;
        if (target == "/takeover") {
            connection_takeover takeover = [](server_stream& stream, boost::beast::flat_buffer& unread) {
                return write_raw(stream, "raw " + boost::beast::buffers_to_string(unread.data()));
            };
            co_return takeover;
        }
        if (target == "/websocket") {
            connection_takeover takeover = [req](server_stream& stream, boost::beast::flat_buffer& /*unread*/) {
                return echo_once(stream, req);
            };
            co_return takeover;
        }
        if (target == "/wait" || target == "/wait-cancellable") {
            {
                std::lock_guard lock(mutex_);
                ++waiting_;
            }
            waiting_changed_.notify_all();
            if (!released_ && target == "/wait") co_await gate_.async_wait(asio::as_tuple(asio::use_awaitable));
            if (!released_ && target == "/wait-cancellable")
                co_await gate_.async_wait(asio::bind_cancellation_slot(context.closed, asio::as_tuple(asio::use_awaitable)));
        }
        if (target == "/peer") {
            server_response res{http::status::ok, 11};
            res.body() = context.peer.remote.address().to_string() + " tls=" + (context.peer.tls ? "1" : "0");
            co_return res;
        }
        server_response res{http::status::ok, 11};
        res.set(http::field::content_type, "text/plain");
        res.body() = std::string(req.method_string()) + " " + target;
        if (!req.body().empty()) res.body() += " " + req.body();
        if (target == "/close") res.keep_alive(false);
        co_return res;
    }

    static asio::awaitable<void> echo_once(server_stream& stream, server_request upgrade) {
        constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
        boost::beast::websocket::stream<server_stream&> ws(stream);
        auto [ec] = co_await ws.async_accept(upgrade, use_tuple);
        if (ec) co_return;
        boost::beast::flat_buffer message;
        auto [rec, n] = co_await ws.async_read(message, use_tuple);
        if (rec) co_return;
        ws.text(ws.got_text());
        auto [wec, written] = co_await ws.async_write(message.data(), use_tuple);
        if (wec) co_return;
        co_await ws.async_close(boost::beast::websocket::close_code::normal, use_tuple);
    }

    static asio::awaitable<void> write_raw(server_stream& stream, std::string bytes) {
        co_await asio::async_write(stream, asio::buffer(bytes), asio::as_tuple(asio::use_awaitable));
    }

    asio::io_context io_;  // first: destroyed last
    asio::steady_timer gate_;
    const std::shared_ptr<const prebuilt_response> prebuilt_ = [] {
        server_response res{http::status::ok, 11};
        res.set(http::field::content_type, "application/json");
        res.body() = R"({"status":"ok"})";
        return std::make_shared<const prebuilt_response>(std::move(res));
    }();
    bool released_ = false;  // the loop's
    http_server server_;
    tcp::endpoint endpoint_;
    std::string listen_error_;
    std::string loop_failure_;
    std::promise<void> ran_dry_;
    std::future<void> ran_dry_future_ = ran_dry_.get_future();
    std::thread loop_;

    std::mutex mutex_;
    std::condition_variable waiting_changed_;
    int waiting_ = 0;
};

// --- listening ---

TEST(http_server, listen_on_port_0_returns_the_port_the_system_picked) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    EXPECT_NE(server.endpoint().port(), 0);
    EXPECT_EQ(server.endpoint().address(), asio::ip::make_address("127.0.0.1"));
}

TEST(http_server, listen_refuses_a_host_that_is_not_an_ip_literal) {
    running_server server(small_limits(), {"status.example", 0});
    EXPECT_FALSE(server.listening());
}

TEST(http_server, serves_over_ipv6_loopback) {
    running_server server(small_limits(), {"::1", 0});
    if (!server.listening()) GTEST_SKIP() << "cannot listen on ::1: " << server.listen_error();
    EXPECT_TRUE(server.endpoint().address().is_v6());
    EXPECT_NE(server.endpoint().port(), 0);

    raw_client client(server.endpoint());
    ASSERT_TRUE(client.connected()) << client.connect_error();
    ASSERT_TRUE(client.send(get_request("/v6")));
    const auto res = client.read_response();
    ASSERT_TRUE(res.has_value());
    EXPECT_EQ(res->result(), http::status::ok);
    EXPECT_EQ(res->body(), "GET /v6");
}

// --- requests and responses ---

TEST(http_server, get_is_answered_by_the_handler) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/hello?x=1")));
    const auto res = client.read_response();
    ASSERT_TRUE(res.has_value());
    EXPECT_EQ(res->result(), http::status::ok);
    EXPECT_EQ(res->version(), 11u);
    EXPECT_EQ(res->body(), "GET /hello?x=1");
    EXPECT_EQ((*res)[http::field::content_type], "text/plain");
    EXPECT_EQ((*res)[http::field::content_length], "14");
    EXPECT_TRUE(res->keep_alive());
    EXPECT_EQ(res->count(http::field::server), 0u);
    const server_stats s = server.stats();
    EXPECT_EQ(s.accepted, 1u);
    EXPECT_EQ(s.malformed, 0u);
    EXPECT_EQ(s.handler_errors, 0u);
}

TEST(http_server, a_request_body_within_the_limit_reaches_the_handler) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    const std::string body(1024, 'b');  // exactly the limit
    ASSERT_TRUE(client.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 1024\r\n\r\n" + body));
    EXPECT_EQ(body_of(client.read_response()), "POST /upload " + body);
}

TEST(http_server, a_chunked_request_body_reaches_the_handler) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send("POST /c HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
    EXPECT_EQ(body_of(client.read_response()), "POST /c hello world");
}

TEST(http_server, any_method_reaches_the_handler) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send("DELETE /x HTTP/1.1\r\nHost: test\r\n\r\nPURGE /y HTTP/1.1\r\nHost: test\r\n\r\n"));
    EXPECT_EQ(body_of(client.read_response()), "DELETE /x");
    EXPECT_EQ(body_of(client.read_response()), "PURGE /y");
}

TEST(http_server, pipelined_requests_are_answered_in_order) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/first") + get_request("/second") + get_request("/third")));
    EXPECT_EQ(body_of(client.read_response()), "GET /first");
    EXPECT_EQ(body_of(client.read_response()), "GET /second");
    EXPECT_EQ(body_of(client.read_response()), "GET /third");
    EXPECT_EQ(server.stats().accepted, 1u);
}

TEST(http_server, pipelining_stops_at_a_request_that_closes) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/first") + get_request("/last", "Connection: close\r\n") +
                            get_request("/never")));
    EXPECT_EQ(body_of(client.read_response()), "GET /first");
    const auto last = client.read_response();
    EXPECT_EQ(body_of(last), "GET /last");
    ASSERT_TRUE(last.has_value());
    EXPECT_FALSE(last->keep_alive());
    EXPECT_EQ(client.read_until_closed(), "");
}

TEST(http_server, keep_alive_reuses_the_connection) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(client.send(get_request("/n" + std::to_string(i))));
        const auto res = client.read_response();
        EXPECT_EQ(body_of(res), "GET /n" + std::to_string(i));
        ASSERT_TRUE(res.has_value());
        EXPECT_TRUE(res->keep_alive());
    }
    EXPECT_EQ(server.stats().accepted, 1u);
}

TEST(http_server, http10_without_keep_alive_closes_after_the_response) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send("GET /old HTTP/1.0\r\n\r\n"));
    const auto res = client.read_response();
    EXPECT_EQ(body_of(res), "GET /old");
    ASSERT_TRUE(res.has_value());
    EXPECT_EQ(res->version(), 10u);
    EXPECT_FALSE(res->keep_alive());
    EXPECT_EQ(client.read_until_closed(), "");
    EXPECT_EQ(server.stats().responses, 1u);
}

TEST(http_server, http10_with_keep_alive_keeps_the_connection) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    for (int i = 0; i < 2; ++i) {
        ASSERT_TRUE(client.send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        const auto res = client.read_response();
        EXPECT_EQ(body_of(res), "GET /old");
        ASSERT_TRUE(res.has_value());
        EXPECT_EQ(res->version(), 10u);
        EXPECT_TRUE(res->keep_alive());
    }
    EXPECT_EQ(server.stats().accepted, 1u);
}

TEST(http_server, connection_close_from_the_client_closes_after_the_response) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/bye", "Connection: close\r\n")));
    EXPECT_EQ(body_of(client.read_response()), "GET /bye");
    EXPECT_EQ(client.read_until_closed(), "");
}

TEST(http_server, connection_close_from_the_handler_closes_after_the_response) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/close")));
    const auto res = client.read_response();
    EXPECT_EQ(body_of(res), "GET /close");
    ASSERT_TRUE(res.has_value());
    EXPECT_FALSE(res->keep_alive());
    EXPECT_EQ(client.read_until_closed(), "");
}

TEST(http_server, head_gets_the_headers_of_get_without_the_body) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send("HEAD /resource HTTP/1.1\r\nHost: test\r\n\r\n"));
    const auto res = client.read_response(/*head=*/true);
    ASSERT_TRUE(res.has_value());
    EXPECT_EQ(res->result(), http::status::ok);
    // The handler answered "HEAD /resource": 14 bytes that are not sent.
    EXPECT_EQ((*res)[http::field::content_length], "14");
    EXPECT_EQ((*res)[http::field::content_type], "text/plain");
    EXPECT_TRUE(res->keep_alive());
    // Had any body byte been sent, it would stand in front of the next response.
    ASSERT_TRUE(client.send(get_request("/after", "Connection: close\r\n")));
    EXPECT_EQ(body_of(client.read_response()), "GET /after");
    EXPECT_EQ(client.read_until_closed(), "");
}

TEST(http_server, expect_100_continue_gets_100_continue_then_the_response) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    const auto interim = client.read_response();
    ASSERT_TRUE(interim.has_value());
    EXPECT_EQ(interim->result(), http::status::continue_);
    EXPECT_TRUE(interim->body().empty());
    // The body only goes out after the 100, as a client that waits for it would do.
    ASSERT_TRUE(client.send("hello"));
    const auto res = client.read_response();
    EXPECT_EQ(body_of(res), "POST /upload hello");
    ASSERT_TRUE(res.has_value());
    EXPECT_EQ(res->result(), http::status::ok);
}

TEST(http_server, a_handler_that_throws_gets_500_and_the_connection_carries_on) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/throw")));
    const auto failed = client.read_response();
    expect_json_error(failed, http::status::internal_server_error);
    ASSERT_TRUE(failed.has_value());
    EXPECT_TRUE(failed->keep_alive());
    EXPECT_EQ(failed->body().find("on purpose"), std::string::npos);  // the exception text stays in the log

    ASSERT_TRUE(client.send(get_request("/next")));
    EXPECT_EQ(body_of(client.read_response()), "GET /next");
    const server_stats s = server.stats();
    EXPECT_EQ(s.handler_errors, 1u);
    EXPECT_EQ(s.accepted, 1u);
}

TEST(http_server, a_handler_that_throws_for_an_http10_request_closes) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send("GET /throw HTTP/1.0\r\n\r\n"));
    const auto failed = client.read_response();
    expect_json_error(failed, http::status::internal_server_error);
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->version(), 10u);
    EXPECT_EQ(client.read_until_closed(), "");
}

// --- requests the server refuses ---

TEST(http_server, malformed_request_line_gets_400_and_the_connection_closes) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send("THIS IS NOT HTTP\r\n\r\n"));
    const auto res = client.read_response();
    expect_json_error(res, http::status::bad_request);
    ASSERT_TRUE(res.has_value());
    EXPECT_FALSE(res->keep_alive());
    EXPECT_EQ(client.read_until_closed(), "");
    const server_stats s = server.stats();
    EXPECT_EQ(s.malformed, 1u);
    EXPECT_EQ(s.too_large, 0u);
    EXPECT_EQ(s.responses, 1u);
}

TEST(http_server, malformed_header_field_gets_400) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nHost: test\r\nno colon here\r\n\r\n"));
    expect_json_error(client.read_response(), http::status::bad_request);
    EXPECT_EQ(client.read_until_closed(), "");
    EXPECT_EQ(server.stats().malformed, 1u);
}

TEST(http_server, after_a_malformed_request_other_clients_are_served) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client before(server.endpoint());
    ASSERT_TRUE(before.send(get_request("/before")));
    EXPECT_EQ(body_of(before.read_response()), "GET /before");

    raw_client bad(server.endpoint());
    ASSERT_TRUE(bad.send("\x16\x03\x01\x02\x00garbage\r\n\r\n"));  // e.g. TLS spoken to a plain HTTP port
    expect_json_error(bad.read_response(), http::status::bad_request);
    EXPECT_EQ(bad.read_until_closed(), "");

    ASSERT_TRUE(before.send(get_request("/same-connection")));
    EXPECT_EQ(body_of(before.read_response()), "GET /same-connection");
    raw_client after(server.endpoint());
    ASSERT_TRUE(after.send(get_request("/new-connection")));
    EXPECT_EQ(body_of(after.read_response()), "GET /new-connection");
    EXPECT_EQ(server.stats().malformed, 1u);
}

TEST(http_server, a_request_after_a_malformed_one_in_the_same_send_is_not_answered) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send("BROKEN\r\n\r\n" + get_request("/smuggled")));
    expect_json_error(client.read_response(), http::status::bad_request);
    EXPECT_EQ(client.read_until_closed(), "");
}

TEST(http_server, header_over_the_limit_gets_431) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/", "X-Big: " + std::string(4096, 'h') + "\r\n")));
    const auto res = client.read_response();
    expect_json_error(res, http::status::request_header_fields_too_large);
    EXPECT_EQ(client.read_until_closed(), "");
    const server_stats s = server.stats();
    EXPECT_EQ(s.too_large, 1u);
    EXPECT_EQ(s.malformed, 0u);
}

TEST(http_server, header_far_over_the_limit_gets_431) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    // More than the read buffer holds, in many header lines.
    std::string headers;
    for (int i = 0; i < 400; ++i) headers += "X-Field-" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
    ASSERT_TRUE(client.send(get_request("/", headers)));
    expect_json_error(client.read_response(), http::status::request_header_fields_too_large);
    EXPECT_EQ(client.read_until_closed(), "");
    EXPECT_EQ(server.stats().too_large, 1u);
}

// Within the byte limit, but each field costs about 80 bytes once parsed: the count has a limit too.
TEST(http_server, more_header_fields_than_the_limit_get_431) {
    server_limits limits = small_limits();
    limits.header_fields = 10;
    running_server server(limits);
    ASSERT_TRUE(server.listening()) << server.listen_error();
    auto fields = [](int n) {
        std::string f;
        for (int i = 0; i < n; ++i) f += "a:\r\n";
        return f;
    };
    raw_client within(server.endpoint());
    ASSERT_TRUE(within.send(get_request("/ten", fields(9))));  // and Host
    EXPECT_EQ(body_of(within.read_response()), "GET /ten");

    // A body announced and never sent: refused at once, not held until the request timeout.
    raw_client over(server.endpoint());
    ASSERT_TRUE(over.send("POST /eleven HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n" + fields(9) + "\r\n"));
    expect_json_error(over.read_response(), http::status::request_header_fields_too_large);
    EXPECT_EQ(over.read_until_closed(), "");

    // A header that never ends is refused when its field after the last allowed one arrives, not held
    // (with every field parsed so far) until the request timeout.
    raw_client endless(server.endpoint());
    ASSERT_TRUE(endless.send("GET /endless HTTP/1.1\r\nHost: test\r\n" + fields(10)));
    expect_json_error(endless.read_response(), http::status::request_header_fields_too_large);
    EXPECT_EQ(endless.read_until_closed(), "");
    EXPECT_EQ(server.stats().too_large, 2u);
}

TEST(http_server, body_over_the_limit_gets_413) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 4096\r\n\r\n" +
                            std::string(4096, 'b')));
    expect_json_error(client.read_response(), http::status::payload_too_large);
    EXPECT_EQ(client.read_until_closed(), "");
    const server_stats s = server.stats();
    EXPECT_EQ(s.too_large, 1u);
    EXPECT_EQ(s.malformed, 0u);
}

TEST(http_server, body_over_the_limit_is_refused_before_it_is_sent) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"));
    // No "100 Continue": the refusal comes first.
    expect_json_error(client.read_response(), http::status::payload_too_large);
    EXPECT_EQ(client.read_until_closed(), "");
}

TEST(http_server, chunked_body_over_the_limit_gets_413) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    std::string chunks;
    for (int i = 0; i < 4; ++i) chunks += "200\r\n" + std::string(512, 'c') + "\r\n";
    ASSERT_TRUE(client.send("POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks +
                            "0\r\n\r\n"));
    expect_json_error(client.read_response(), http::status::payload_too_large);
    EXPECT_EQ(client.read_until_closed(), "");
    EXPECT_EQ(server.stats().too_large, 1u);
}

// --- timeouts ---

TEST(http_server, a_slow_loris_is_closed_after_request_timeout_while_others_are_served) {
    server_limits limits = small_limits();
    limits.request_timeout = 300ms;
    running_server server(limits);
    ASSERT_TRUE(server.listening()) << server.listen_error();

    raw_client loris(server.endpoint());
    ASSERT_TRUE(loris.send("GET /slow HTTP/1.1\r\nHost: test\r\nX-Half"));

    raw_client other(server.endpoint());
    ASSERT_TRUE(other.send(get_request("/fast")));
    EXPECT_EQ(body_of(other.read_response()), "GET /fast");

    // 408 when the socket takes it at once, which an idle loopback socket does.
    expect_json_error(loris.read_response(), http::status::request_timeout);
    EXPECT_EQ(loris.read_until_closed(), "");
    const server_stats s = server.stats();
    EXPECT_EQ(s.timed_out, 1u);
    EXPECT_EQ(s.idle_closed, 0u);

    ASSERT_TRUE(other.send(get_request("/still")));
    EXPECT_EQ(body_of(other.read_response()), "GET /still");
}

TEST(http_server, a_body_that_never_completes_is_closed_after_request_timeout) {
    server_limits limits = small_limits();
    limits.request_timeout = 300ms;
    running_server server(limits);
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nonly part"));
    expect_json_error(client.read_response(), http::status::request_timeout);
    EXPECT_EQ(client.read_until_closed(), "");
    EXPECT_EQ(server.stats().timed_out, 1u);
}

TEST(http_server, an_idle_keep_alive_connection_is_closed_after_idle_timeout) {
    server_limits limits = small_limits();
    limits.idle_timeout = 300ms;
    running_server server(limits);
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/once")));
    EXPECT_EQ(body_of(client.read_response()), "GET /once");
    EXPECT_EQ(client.read_until_closed(), "");  // no 408: there was no request to answer
    const server_stats s = server.stats();
    EXPECT_EQ(s.idle_closed, 1u);
    EXPECT_EQ(s.timed_out, 0u);
}

TEST(http_server, a_connection_that_never_sends_is_closed_after_idle_timeout) {
    server_limits limits = small_limits();
    limits.idle_timeout = 300ms;
    running_server server(limits);
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.connected());
    EXPECT_EQ(client.read_until_closed(), "");
    EXPECT_EQ(server.stats().idle_closed, 1u);
}

// --- the connection cap ---

TEST(http_server, at_the_cap_an_idle_connection_makes_room_for_a_new_one) {
    running_server server;  // max_connections 4
    ASSERT_TRUE(server.listening()) << server.listen_error();
    std::vector<std::unique_ptr<raw_client>> idle;
    for (int i = 0; i < 4; ++i) {
        idle.push_back(std::make_unique<raw_client>(server.endpoint()));
        ASSERT_TRUE(idle.back()->send(get_request("/idle" + std::to_string(i))));
        EXPECT_EQ(body_of(idle.back()->read_response()), "GET /idle" + std::to_string(i));
    }

    raw_client probe(server.endpoint());
    ASSERT_TRUE(probe.send(get_request("/probe")));
    EXPECT_EQ(body_of(probe.read_response()), "GET /probe");

    // The one idle the longest went.
    EXPECT_EQ(idle.front()->read_until_closed(), "");
    const server_stats s = server.stats();
    EXPECT_EQ(s.evicted, 1u);
    EXPECT_EQ(s.refused, 0u);
    EXPECT_EQ(s.accepted, 5u);
    EXPECT_LE(s.open, 4u);

    // The others are still served.
    ASSERT_TRUE(idle.back()->send(get_request("/again")));
    EXPECT_EQ(body_of(idle.back()->read_response()), "GET /again");
}

TEST(http_server, at_the_cap_a_slow_request_makes_room_when_nothing_is_idle) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    std::vector<std::unique_ptr<raw_client>> waiting;
    for (int i = 0; i < 3; ++i) {
        waiting.push_back(std::make_unique<raw_client>(server.endpoint()));
        ASSERT_TRUE(waiting.back()->send(get_request("/wait")));
    }
    ASSERT_TRUE(server.wait_for_waiting(3));
    raw_client slow(server.endpoint());
    ASSERT_TRUE(slow.send("GET /slow HTTP/1.1\r\nHost: te"));
    // Accepted before the probe: the only connection not responding when the probe comes.
    raw_client probe(server.endpoint());
    ASSERT_TRUE(probe.send(get_request("/probe")));
    EXPECT_EQ(body_of(probe.read_response()), "GET /probe");
    EXPECT_EQ(slow.read_until_closed(), "");
    EXPECT_EQ(server.stats().evicted, 1u);

    server.release();
    for (auto& c : waiting) EXPECT_EQ(body_of(c->read_response()), "GET /wait");
}

// Slow-loris clients that reconnect as soon as they are evicted used to close every probe: accepted a
// moment ago and its request not read yet, the probe was "idle", and idle went before "reading".
TEST(http_server, at_the_cap_a_connection_yet_to_send_outlasts_slow_requests_that_began_earlier) {
    running_server server;  // max_connections 4
    ASSERT_TRUE(server.listening()) << server.listen_error();
    // Four slow requests; the 100 Continue says that the server has read each header and waits for
    // the body, which never comes.
    std::vector<std::unique_ptr<raw_client>> lorises;
    for (int i = 0; i < 4; ++i) {
        lorises.push_back(std::make_unique<raw_client>(server.endpoint()));
        ASSERT_TRUE(lorises.back()->send(
            "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"));
        const auto interim = lorises.back()->read_response();
        ASSERT_TRUE(interim.has_value());
        ASSERT_EQ(interim->result(), http::status::continue_);
    }
    // The probe connects and has not sent yet: the slow request that began first makes room for it.
    raw_client probe(server.endpoint());
    ASSERT_TRUE(probe.connected());
    EXPECT_EQ(lorises[0]->read_until_closed(), "");
    // The evicted loris comes back before the probe's request is read: the next slow request goes,
    // not the probe.
    raw_client back(server.endpoint());
    ASSERT_TRUE(back.connected());
    EXPECT_EQ(lorises[1]->read_until_closed(), "");
    ASSERT_TRUE(probe.send(get_request("/probe")));
    EXPECT_EQ(body_of(probe.read_response()), "GET /probe");
    EXPECT_EQ(server.stats().evicted, 2u);
}

TEST(http_server, at_the_cap_with_every_connection_responding_a_new_one_is_refused) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    std::vector<std::unique_ptr<raw_client>> waiting;
    for (int i = 0; i < 4; ++i) {
        waiting.push_back(std::make_unique<raw_client>(server.endpoint()));
        ASSERT_TRUE(waiting.back()->send(get_request("/wait")));
    }
    ASSERT_TRUE(server.wait_for_waiting(4));

    raw_client extra(server.endpoint());
    (void)extra.send(get_request("/extra"));  // may already fail: the server closes it at once
    EXPECT_FALSE(extra.read_response().has_value());
    const server_stats s = server.stats();
    EXPECT_EQ(s.refused, 1u);
    EXPECT_EQ(s.evicted, 0u);

    // Nobody who was responding lost their answer.
    server.release();
    for (auto& c : waiting) EXPECT_EQ(body_of(c->read_response()), "GET /wait");
}

// --- what a handler gets and may answer ---

TEST(http_server, the_handler_is_given_the_peer_address_and_no_tls) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/peer")));
    EXPECT_EQ(body_of(client.read_response()), "127.0.0.1 tls=0");
}

TEST(http_server, prebuilt_bytes_answer_each_version_keep_alive_and_head) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/prebuilt") + get_request("/prebuilt")));
    for (int i = 0; i < 2; ++i) {
        const auto res = client.read_response();
        ASSERT_TRUE(res.has_value());
        EXPECT_EQ(res->body(), R"({"status":"ok"})");
        EXPECT_EQ(res->version(), 11u);
        EXPECT_TRUE(res->keep_alive());
    }
    ASSERT_TRUE(client.send("HEAD /prebuilt HTTP/1.1\r\nHost: test\r\n\r\n"));
    const auto head = client.read_response(/*head=*/true);
    ASSERT_TRUE(head.has_value());
    EXPECT_EQ((*head)[http::field::content_length], "15");
    ASSERT_TRUE(client.send("GET /prebuilt HTTP/1.0\r\n\r\n"));
    const auto old = client.read_response();
    ASSERT_TRUE(old.has_value());
    EXPECT_EQ(old->version(), 10u);
    EXPECT_FALSE(old->keep_alive());
    EXPECT_EQ(client.read_until_closed(), "");  // HEAD sent no body: nothing stood in front of the 1.0 answer
    EXPECT_EQ(server.stats().responses, 4u);
}

TEST(http_server, a_takeover_gets_the_stream_and_the_bytes_sent_after_the_request) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/takeover") + "after"));
    EXPECT_EQ(client.read_until_closed(), "raw after");
}

TEST(http_server, a_takeover_can_accept_a_websocket_on_the_connection) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    asio::io_context client_io;
    tcp::socket socket(client_io);
    socket.connect(server.endpoint());
    boost::beast::websocket::stream<tcp::socket&> ws(socket);
    ws.handshake("test", "/websocket");
    ws.text(true);
    ws.write(asio::buffer(std::string_view("hello")));
    boost::beast::flat_buffer echo;
    ws.read(echo);
    EXPECT_EQ(boost::beast::buffers_to_string(echo.data()), "hello");
    boost::system::error_code ec;
    ws.read(echo, ec);  // the server closes the WebSocket
    EXPECT_EQ(ec, boost::beast::websocket::error::closed);
}

TEST(http_server, closing_the_connection_cancels_a_handler_wait_bound_to_it) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/wait-cancellable")));
    ASSERT_TRUE(server.wait_for_waiting(1));
    ASSERT_TRUE(server.stop_and_wait());  // without release(): the wait ended with the connection
    EXPECT_EQ(client.read_until_closed(), "");
}

// --- stop ---

TEST(http_server, stop_closes_listener_and_connections_and_the_loop_runs_dry) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client idle(server.endpoint());
    ASSERT_TRUE(idle.send(get_request("/idle")));
    EXPECT_EQ(body_of(idle.read_response()), "GET /idle");
    raw_client reading(server.endpoint());
    ASSERT_TRUE(reading.send("GET /half HTTP/1.1\r\n"));
    raw_client fresh(server.endpoint());
    ASSERT_TRUE(fresh.connected());

    ASSERT_TRUE(server.stop_and_wait());  // io_context::run() returned

    EXPECT_EQ(idle.read_until_closed(), "");
    EXPECT_EQ(reading.read_until_closed(), "");
    EXPECT_EQ(fresh.read_until_closed(), "");
    raw_client late(server.endpoint());
    EXPECT_FALSE(late.connected());
    EXPECT_EQ(late.connect_error(), ECONNREFUSED);
}

TEST(http_server, stop_lets_a_running_handler_finish_and_drops_its_response) {
    running_server server;
    ASSERT_TRUE(server.listening()) << server.listen_error();
    raw_client client(server.endpoint());
    ASSERT_TRUE(client.send(get_request("/wait")));
    ASSERT_TRUE(server.wait_for_waiting(1));

    server.stop();
    EXPECT_EQ(client.read_until_closed(), "");  // closed at once, without a response
    server.release();  // the handler ends its wait, as the daemon's handlers do when it stops
    EXPECT_TRUE(server.wait_until_dry());
}

}  // namespace
}  // namespace sessiond::testing
