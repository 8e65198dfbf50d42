#include "sessiond/gateway/ws_relay.hpp"

#include "sessiond/gateway/ws_topics.hpp"
#include "sessiond/ibkr/requests.hpp"
#include "sessiond/net/websocket_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>
#include <deque>

namespace sessiond {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::as_tuple;
using asio::use_awaitable;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// Refused upgrades in a row after which the clients are told (the session was checked after each).
constexpr int max_refusals = 3;

// IBKR's session, accepted by the upstream; what a client sent in its place is never forwarded.
constexpr std::size_t min_secret_scanned = 8;

bool carries(std::string_view text, const secret& s) {
    return s.size() >= min_secret_scanned && text.find(s.reveal()) != std::string_view::npos;
}

std::shared_ptr<const std::string> shared_text(std::string text) {
    return std::make_shared<const std::string>(std::move(text));
}

std::string upstream_target(const secret& bearer) {
    return "/v1/api/ws?bearer_token=" + boost::urls::encode(bearer.reveal(), boost::urls::unreserved_chars);
}

}  // namespace

// One local client socket. The stream lives in serve()'s frame, which waits for the writer to end.
struct ws_relay::client {
    client(ws_client_id i, websocket::stream<server_stream&>& w, server_stream& s, const asio::any_io_executor& ex)
        : id(i), ws(&w), stream(&s), wake(ex), done(ex), grace(ex) {}
    ws_client_id id;
    websocket::stream<server_stream&>* ws;
    server_stream* stream;  // null once serve() returned
    std::deque<std::shared_ptr<const std::string>> queue;
    std::size_t queued_bytes = 0;
    asio::steady_timer wake;   // the writer waits on it for something to send
    asio::steady_timer done;   // serve() waits on it for the writer to end
    asio::steady_timer grace;  // a cut-off client's write in flight
    std::optional<websocket::close_reason> close_with;
    bool finished = false;     // the reader ended: the writer stops
    bool writer_done = false;
};

// One open (or opening) upstream socket, shared with its writer.
struct ws_relay::upstream {
    upstream(const asio::any_io_executor& ex, std::shared_ptr<asio::ssl::context> tls, base_url endpoint,
             milliseconds idle)
        : socket(ex, std::move(tls), std::move(endpoint), idle), wake(ex) {}
    websocket_client socket;
    std::deque<std::string> queue;
    std::size_t queued_bytes = 0;
    asio::steady_timer wake;  // the writer's: something to send, or time for tic
    bool ended = false;
};

// One IBKR user's clients, subscriptions and upstream.
struct ws_relay::link : std::enable_shared_from_this<ws_relay::link> {
    link(std::string name, const asio::any_io_executor& ex) : username(std::move(name)), timer(ex), linger(ex) {}
    std::string username;
    ws_fanout fanout;
    std::map<ws_client_id, std::shared_ptr<client>> clients;
    std::shared_ptr<upstream> current;  // null while there is none
    bool running = false;               // run_link() is active
    bool authenticated = false;         // IBKR answered sts authenticated on the current upstream
    std::uint64_t generation = 0;       // the SSO generation the current upstream was opened with
    secret bearer;                      // of the current upstream, to keep them out of client frames
    secret tickle_session;
    std::shared_ptr<const std::string> last_sts;
    asio::steady_timer timer;   // run_link()'s waits: the backoff, the session's return
    bool waiting_for_session = false;  // on `timer`: a session change wakes it
    asio::steady_timer linger;  // from the last client's leaving to the upstream's closing
    asio::cancellation_signal stopped;  // ends the wait for IBKR's limits when the daemon stops
};

// One socket counted against the cap, from the upgrade's answer until the connection ends.
struct ws_relay::reservation {
    explicit reservation(ws_relay& r) : relay(r), alive(r.alive_) {}
    ~reservation() {
        if (*alive) --relay.reserved_;
    }
    reservation(const reservation&) = delete;
    reservation& operator=(const reservation&) = delete;
    ws_relay& relay;
    std::shared_ptr<bool> alive;
};

ws_relay::ws_relay(asio::any_io_executor executor, ws_session_source& sessions, logger log, ws_relay_stats& stats)
    : executor_(std::move(executor)), sessions_(sessions), log_(std::move(log)), stats_(stats) {}

ws_relay::~ws_relay() {
    *alive_ = false;
    stop();
}

std::shared_ptr<void> ws_relay::reserve() {
    if (stopping_ || reserved_ >= options_.max_sockets) {
        ++stats_.refused_full;
        return nullptr;
    }
    ++reserved_;
    return std::make_shared<reservation>(*this);
}

std::shared_ptr<ws_relay::link> ws_relay::link_for(const std::string& username) {
    auto it = links_.find(username);
    if (it == links_.end()) it = links_.emplace(username, std::make_shared<link>(username, executor_)).first;
    return it->second;
}

// ---- clients ------------------------------------------------------------------------------------

asio::awaitable<void> ws_relay::serve(server_stream& stream, server_request request, std::string username) {
    const auto alive = alive_;
    websocket::stream<server_stream&> ws(stream);
    ws.set_option(websocket::stream_base::timeout{options_.open_timeout, options_.idle_timeout, true});
    ws.read_message_max(options_.max_message);
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, user_agent()); }));
    auto [aec] = co_await ws.async_accept(request, as_tuple(use_awaitable));
    if (aec || !*alive) co_return;
    if (stopping_) {
        co_await ws.async_close(websocket::close_code::going_away, as_tuple(use_awaitable));
        co_return;
    }
    ws.text(true);

    const auto me = std::make_shared<client>(next_client_++, ws, stream, executor_);
    const std::shared_ptr<link> held = link_for(username);
    link& user = *held;
    user.clients.emplace(me->id, me);
    ++stats_.open;
    ++stats_.opened;
    log_.info({.session = username}, "gateway: WebSocket client #{} opened ({} open)", me->id, stats_.open);
    user.linger.cancel();  // a lingering upstream stays
    if (!user.running) {
        user.running = true;
        asio::co_spawn(executor_, run_link(held), asio::detached);
    }
    if (user.current && user.last_sts) deliver(*me, user.last_sts);
    asio::co_spawn(executor_, write_client(me), asio::detached);

    beast::flat_buffer buffer;
    std::string why = "closed by the client";
    while (true) {
        auto [ec, n] = co_await ws.async_read(buffer, as_tuple(use_awaitable));
        if (!*alive) co_return;
        if (ec) {
            if (me->close_with) why = std::string(me->close_with->reason.data(), me->close_with->reason.size());
            else if (ec != websocket::error::closed) why = ec.message();
            break;
        }
        if (me->close_with) continue;  // closing: what it still sends is not relayed
        std::string text = beast::buffers_to_string(buffer.data());
        buffer.consume(buffer.size());
        if (ws.got_text()) on_client_frame(*held, *me, std::move(text));
    }
    leave(*held, *me);
    log_.info({.session = username}, "gateway: WebSocket client #{} closed: {} ({} open)", me->id, why, stats_.open);
    me->finished = true;
    me->wake.cancel();
    if (!me->writer_done && !me->close_with) beast_close_socket(stream);  // the reader ended: so does a write in flight
    while (!me->writer_done) {
        me->done.expires_at(steady::time_point::max());
        co_await me->done.async_wait(as_tuple(use_awaitable));
    }
    me->grace.cancel();
    me->stream = nullptr;
}

void ws_relay::leave(link& l, client& c) {
    if (l.clients.erase(c.id) == 0) return;
    --stats_.open;
    for (std::string& frame : l.fanout.remove(c.id))
        if (l.authenticated) send_upstream(l, std::move(frame));
    if (!l.clients.empty()) return;
    l.timer.cancel();  // run_link() waiting for the session or a retry ends
    if (stopping_) return;
    l.linger.expires_after(options_.linger);
    l.linger.async_wait([weak = l.weak_from_this()](const boost::system::error_code& ec) {
        const auto held = weak.lock();
        if (ec || !held || !held->clients.empty() || !held->current) return;
        held->current->ended = true;
        held->current->socket.cancel();
    });
}

void ws_relay::on_client_frame(link& l, client& c, std::string text) {
    const ws_client_frame frame = classify_client_frame(text);
    log_.debug({.session = l.username}, "gateway: WebSocket client #{} sent {} bytes", c.id, text.size());
    switch (frame.kind) {
        case ws_client_frame::heartbeat:
            return;  // the daemon sends IBKR its own
        case ws_client_frame::echo:
            deliver(c, shared_text(std::move(text)));
            return;
        case ws_client_frame::session:
            // The daemon authenticated the upstream itself; the client is told how that went.
            if (l.current && l.last_sts) deliver(c, l.last_sts);
            return;
        case ws_client_frame::subscribe:
        case ws_client_frame::unsubscribe: {
            const ws_fanout::decision d = frame.kind == ws_client_frame::subscribe
                                              ? l.fanout.subscribe(c.id, frame.key, std::move(text))
                                              : l.fanout.unsubscribe(c.id, frame.key, std::move(text));
            if (d.refused) {
                deliver(c, shared_text(R"({"topic":"error","error":"the gateway holds no more subscriptions for this socket or user"})"));
                return;
            }
            if (d.upstream && l.authenticated) send_upstream(l, std::move(*d.upstream));
            return;
        }
        case ws_client_frame::other:
            if (l.authenticated) send_upstream(l, std::move(text));
            return;
    }
}

void ws_relay::deliver(client& c, const std::shared_ptr<const std::string>& message) {
    if (c.close_with || c.finished) return;
    const bool over_bytes = !c.queue.empty() && c.queued_bytes + message->size() > options_.client_queue_bytes;
    if (over_bytes || c.queue.size() >= options_.client_queue_frames) {
        ++stats_.clients_cut_off;
        log_.info({}, "gateway: WebSocket client #{} cut off: too slow ({} messages, {} bytes unsent)", c.id,
                  c.queue.size(), c.queued_bytes);
        close_client(c, websocket::close_code::policy_error, "too slow");
        return;
    }
    c.queued_bytes += message->size();
    c.queue.push_back(message);
    c.wake.cancel();
}

void ws_relay::close_client(client& c, websocket::close_code code, std::string_view reason) {
    if (c.close_with || c.finished) return;
    c.close_with = websocket::close_reason(code, reason);
    c.queue.clear();
    c.queued_bytes = 0;
    c.wake.cancel();
    // A write stuck on a client that does not read cannot make way for the close frame: the
    // connection is closed when it has not ended within the grace.
    c.grace.expires_after(options_.cutoff_grace);
    c.grace.async_wait([&c, keep = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
        if (ec || keep.expired() || c.stream == nullptr || c.writer_done) return;
        beast_close_socket(*c.stream);
    });
}

asio::awaitable<void> ws_relay::write_client(std::shared_ptr<client> c) {
    const auto alive = alive_;
    while (!c->finished) {
        if (c->close_with) {
            co_await c->ws->async_close(*c->close_with, as_tuple(use_awaitable));
            break;
        }
        if (c->queue.empty()) {
            c->wake.expires_at(steady::time_point::max());
            co_await c->wake.async_wait(as_tuple(use_awaitable));
            continue;
        }
        const std::shared_ptr<const std::string> message = std::move(c->queue.front());
        c->queue.pop_front();
        c->queued_bytes -= message->size();
        auto [ec, n] = co_await c->ws->async_write(asio::buffer(*message), as_tuple(use_awaitable));
        if (ec) break;
        if (*alive) ++stats_.frames_to_clients;
    }
    c->writer_done = true;
    c->done.cancel();
}

// ---- the upstream -------------------------------------------------------------------------------

void ws_relay::send_upstream(link& l, std::string frame) {
    upstream* u = l.current.get();
    if (u == nullptr || u->ended) return;
    if (!u->queue.empty() && u->queued_bytes + frame.size() > options_.upstream_queue_bytes) {
        // IBKR is not reading: this socket is of no use; the reconnect sends every subscription.
        log_.warn({.session = l.username}, "gateway: IBKR's WebSocket is not reading; reopening it");
        u->ended = true;
        u->socket.cancel();
        return;
    }
    u->queued_bytes += frame.size();
    u->queue.push_back(std::move(frame));
    u->wake.cancel();
}

asio::awaitable<void> ws_relay::write_upstream(std::shared_ptr<upstream> u) {
    const auto alive = alive_;
    auto next_tic = steady::now() + options_.tic_interval;
    while (!u->ended) {
        if (u->queue.empty()) {
            u->wake.expires_at(next_tic);
            auto [ec] = co_await u->wake.async_wait(as_tuple(use_awaitable));
            if (!ec && !u->ended) {
                u->queue.emplace_back("tic");
                u->queued_bytes += 3;
            }
            continue;
        }
        std::string frame = std::move(u->queue.front());
        u->queue.pop_front();
        u->queued_bytes -= frame.size();
        const boost::system::error_code ec = co_await u->socket.write(frame);
        wipe(frame);  // the session message is a secret
        if (ec) {
            u->ended = true;
            u->socket.cancel();
            break;
        }
        next_tic = steady::now() + options_.tic_interval;
        if (*alive) ++stats_.frames_to_ibkr;
    }
    u->queue.clear();
}

void ws_relay::on_upstream_message(link& l, std::string text) {
    if (carries(text, l.bearer) || carries(text, l.tickle_session)) {
        ++stats_.secrets_dropped;
        log_.warn({.session = l.username}, "gateway: a message from IBKR's WebSocket carried a secret of the session; not relayed");
        return;
    }
    const ws_upstream_route route = route_upstream_message(text);
    switch (route.kind) {
        case ws_upstream_route::waiting_for_session:
            return;  // the session message went out when the socket opened
        case ws_upstream_route::refused:
        case ws_upstream_route::authenticated: {
            // IBKR's sts reports the brokerage session: while it is not authenticated, subscriptions
            // wait; when it is (again), every one is sent.
            const bool now_authenticated = route.kind == ws_upstream_route::authenticated;
            const bool first = now_authenticated && !l.authenticated;
            if (l.authenticated && !now_authenticated)
                log_.info({.session = l.username}, "gateway: IBKR's WebSocket says the brokerage session is not authenticated");
            l.authenticated = now_authenticated;
            l.last_sts = shared_text(std::move(text));
            for (auto& [id, c] : l.clients) deliver(*c, l.last_sts);
            if (first) {
                const std::vector<std::string> frames = l.fanout.subscribe_frames();
                if (!frames.empty())
                    log_.info({.session = l.username}, "gateway: IBKR's WebSocket authenticated; sending {} subscriptions",
                              frames.size());
                for (const std::string& f : frames) send_upstream(l, f);
            }
            return;
        }
        case ws_upstream_route::subscribers: {
            const std::vector<ws_client_id> to = l.fanout.subscribers(route.key);
            if (to.empty()) return;
            const auto message = shared_text(std::move(text));
            for (const ws_client_id id : to)
                if (const auto it = l.clients.find(id); it != l.clients.end()) deliver(*it->second, message);
            return;
        }
        case ws_upstream_route::everyone: {
            const auto message = shared_text(std::move(text));
            // deliver() may cut a client off, never removes it: iterating is safe.
            for (auto& [id, c] : l.clients) deliver(*c, message);
            return;
        }
    }
}

// One upstream socket, from its open to its end: reads and routes IBKR's messages.
asio::awaitable<void> ws_relay::run_upstream(std::shared_ptr<link> l, std::shared_ptr<upstream> u) {
    const auto alive = alive_;
    beast::flat_buffer buffer;
    while (true) {
        const boost::system::error_code ec = co_await u->socket.read(buffer);
        if (!*alive || ec || u->ended) break;
        on_upstream_message(*l, beast::buffers_to_string(buffer.data()));
    }
    u->ended = true;
    u->wake.cancel();
    u->socket.cancel();
}

asio::awaitable<void> ws_relay::wait(link& l, steady::time_point until, bool for_session) {
    l.timer.expires_at(until);
    l.waiting_for_session = for_session;
    co_await l.timer.async_wait(as_tuple(use_awaitable));
    l.waiting_for_session = false;
}

asio::awaitable<void> ws_relay::run_link(std::shared_ptr<link> l) {
    const auto alive = alive_;
    steady::time_point down_since = steady::now();
    milliseconds backoff = options_.first_backoff;
    int refusals = 0;
    bool was_open = false;
    bool session_gone = false;
    std::string last_failure;
    while (*alive && !stopping_ && !l->clients.empty()) {
        auto login = sessions_.login_for(l->username);
        const bool past_bound = steady::now() - down_since >= options_.reconnect_bound;
        session_gone = !login;
        if (past_bound || refusals >= max_refusals) break;
        if (!login) {
            co_await wait(*l, down_since + options_.reconnect_bound, true);
            continue;
        }

        const bool paced = co_await sessions_.pace_upgrade(l->username, l->stopped.slot());
        if (!*alive) co_return;
        if (!paced) {
            last_failure = "IBKR's limits did not allow the upgrade in time";
            co_await wait(*l, steady::now() + backoff, false);
            backoff = std::min(backoff * 2, options_.max_backoff);
            continue;
        }
        if (stopping_ || l->clients.empty()) continue;
        auto u = std::make_shared<upstream>(executor_, login->tls, login->endpoint, options_.idle_timeout);
        l->current = u;
        std::string cookie = "api=" + std::string(login->tickle_session.reveal());
        if (!login->cookies.empty()) cookie += "; " + std::string(login->cookies.reveal());
        websocket_client::upgrade request{upstream_target(login->bearer), secret(cookie), std::string(user_agent())};
        wipe(cookie);
        auto opened = co_await u->socket.open(std::move(request), options_.open_timeout);
        if (!*alive) co_return;
        if (!opened || u->ended || stopping_ || l->clients.empty()) {
            l->current.reset();
            u->socket.cancel();
            if (opened) continue;  // nobody needs it any more
            last_failure = opened.error().detail;
            if (u->socket.upgrade_status() != 0) {
                ++refusals;
                sessions_.upgrade_refused(l->username);  // IBKR may have ended the SSO session
            }
            log_.warn({.session = l->username}, "gateway: IBKR's WebSocket could not be opened: {}; again in {} ms",
                      last_failure, backoff.count());
            co_await wait(*l, steady::now() + backoff, false);
            backoff = std::min(backoff * 2, options_.max_backoff);
            continue;
        }
        ++stats_.upstream_opens;
        if (was_open) ++stats_.upstream_reconnects;
        log_.info({.session = l->username}, "gateway: IBKR's WebSocket {} for {} client(s)",
                  was_open ? "reopened" : "opened", l->clients.size());
        was_open = true;
        refusals = 0;
        backoff = options_.first_backoff;
        l->generation = login->generation;
        l->bearer = login->bearer;
        l->tickle_session = login->tickle_session;
        l->authenticated = false;
        send_upstream(*l, session_message(login->tickle_session.reveal()));
        asio::co_spawn(executor_, write_upstream(u), asio::detached);
        co_await run_upstream(l, u);
        if (!*alive) co_return;
        l->current.reset();
        l->authenticated = false;
        l->last_sts.reset();
        down_since = steady::now();
        if (!l->clients.empty() && !stopping_)
            log_.info({.session = l->username}, "gateway: IBKR's WebSocket closed; reopening it for {} client(s)",
                      l->clients.size());
    }
    if (!*alive) co_return;
    l->running = false;
    l->bearer.clear();
    l->tickle_session.clear();
    if (!l->clients.empty() && !stopping_) {
        // The clients leave as their sockets close; their subscriptions go with them.
        const auto code = session_gone ? websocket::close_code::try_again_later : websocket::close_code::internal_error;
        const std::string_view reason =
            session_gone ? "the IBKR session is not available" : "IBKR's WebSocket could not be reopened";
        log_.warn({.session = l->username}, "gateway: closing {} WebSocket client(s): {}{}", l->clients.size(), reason,
                  last_failure.empty() ? "" : " (" + last_failure + ")");
        stats_.clients_failed += l->clients.size();
        for (auto& [id, c] : l->clients) close_client(*c, code, reason);
    }
    if (l->clients.empty())
        if (const auto it = links_.find(l->username); it != links_.end() && it->second == l) links_.erase(it);
}

void ws_relay::on_sessions_changed() {
    for (auto& [name, l] : links_) {
        if (l->waiting_for_session) l->timer.cancel();
        if (!l->current || l->current->ended) continue;
        const auto login = sessions_.login_for(name);
        if (login && login->generation == l->generation) continue;
        log_.info({.session = name}, "gateway: the IBKR session {}; reopening IBKR's WebSocket",
                  login ? "logged in again" : "stopped serving clients");
        l->current->ended = true;
        l->current->socket.cancel();
    }
}

void ws_relay::stop() {
    stopping_ = true;
    for (auto& [name, l] : links_) {
        l->timer.cancel();
        l->linger.cancel();
        l->stopped.emit(asio::cancellation_type::all);
        if (l->current) {
            l->current->ended = true;
            l->current->socket.cancel();
        }
        for (auto& [id, c] : l->clients) close_client(*c, websocket::close_code::going_away, "the daemon is stopping");
    }
}

}  // namespace sessiond
