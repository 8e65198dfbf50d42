#include "http_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <limits>
#include <optional>
#include <sstream>
#include <tuple>

namespace sessiond {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// What a connection reads at a time while waiting for a request, and the room the read buffer has
// beyond the header limit: the buffer never holds more than one header and one such read.
constexpr std::size_t read_chunk = 4096;
// After refusing a request it did not read to the end, the server keeps reading (and dropping) what
// the client still sends, for a while, so that closing does not reset the connection before the client
// has read the refusal ("lingering close").
constexpr std::size_t linger_bytes = 1024 * 1024;
constexpr std::chrono::seconds linger_timeout{2};
constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";
// How long a TLS connection waits for the client's close_notify after sending its own.
constexpr std::chrono::seconds tls_shutdown_timeout{5};

peer_info peer_of(const tcp::socket& socket, bool tls) {
    peer_info p;
    boost::system::error_code ec;
    p.remote = socket.remote_endpoint(ec);
    p.tls = tls;
    return p;
}

std::string endpoint_text(const peer_info& peer) {
    if (peer.remote.port() == 0) return "an unknown peer";
    listen_address a{peer.remote.address().to_string(), peer.remote.port()};
    return to_string(a);
}

server_stream make_stream(tcp::socket socket, asio::ssl::context* tls) {
    if (tls != nullptr) return server_stream(std::move(socket), *tls);
    return server_stream(std::move(socket));
}

std::string_view refusal_message(http::status status) {
    switch (status) {
        case http::status::request_header_fields_too_large: return "request header too large";
        case http::status::payload_too_large: return "request body too large";
        default: return "malformed request";
    }
}

bool expects_continue(const server_request& header) {
    return header.version() == 11 && beast::iequals(header[http::field::expect], "100-continue");
}

class http_connection : public std::enable_shared_from_this<http_connection> {
public:
    http_connection(tcp::socket socket, connection_registry::membership membership,
                    std::shared_ptr<http_server::state> server)
        : server_(std::move(server)),
          peer_(peer_of(socket, server_->options.tls != nullptr)),
          peer_text_(endpoint_text(peer_)),
          stream_(make_stream(std::move(socket), server_->options.tls)),
          buffer_(server_->limits.header_limit + read_chunk),
          deadline_(stream_.get_executor()),
          context_{peer_, closing_.slot()},
          membership_(std::move(membership)) {
        membership_.on_close([this] { close(); });
    }

    // Serves the connection until it ends, keeping the connection object alive meanwhile.
    static asio::awaitable<void> run(std::shared_ptr<http_connection> self) { co_await self->serve(); }

private:
    enum class deadline { handshake, idle, request, write, linger };
    using activity = connection_registry::activity;

    struct read_result {
        std::optional<server_request> request;
        std::optional<http::status> refusal;
    };

    asio::awaitable<void> serve();
    asio::awaitable<bool> handshake();
    asio::awaitable<bool> await_request();
    using request_parser = http::request_parser<http::string_body>;

    asio::awaitable<read_result> read_request(clock::time_point began);
    asio::awaitable<boost::system::error_code> read_header(request_parser& parser);
    asio::awaitable<bool> answer(server_request req, clock::time_point began);
    asio::awaitable<server_reply> call_handler(server_request req, const request_summary& summary);
    asio::awaitable<bool> write(server_response& res, bool header_only);
    asio::awaitable<bool> write(std::string_view bytes);
    bool counted(boost::system::error_code ec);
    asio::awaitable<void> refuse(http::status status, clock::time_point began);
    asio::awaitable<void> linger();
    asio::awaitable<void> end_gracefully();

    // The registry hears of transitions only: idle when a wait for a request begins, reading when a
    // request needs more bytes than have come, responding when it is answered.
    void mark(activity what, clock::time_point since = {});

    void arm(deadline what, clock::time_point at);
    void disarm();
    void schedule(clock::time_point at);
    void on_timer();
    void on_deadline(deadline what);
    void send_request_timeout();
    void log_request(std::string_view method, std::string_view path, unsigned status, clock::time_point began) const;
    void close();

    std::shared_ptr<http_server::state> server_;
    peer_info peer_;
    std::string peer_text_;  // for log lines
    server_stream stream_;
    beast::flat_buffer buffer_;
    asio::steady_timer deadline_;
    asio::cancellation_signal closing_;  // the handlers' connection_context::closed
    connection_context context_;
    activity activity_ = activity::idle;
    clock::time_point request_began_{};
    bool taken_over_ = false;
    std::uint64_t deadline_generation_ = 0;
    deadline deadline_what_ = deadline::idle;
    clock::time_point deadline_at_ = clock::time_point::max();  // of the operation in progress; max: none
    clock::time_point timer_at_{};                              // when the pending wait ends
    bool timer_pending_ = false;
    bool closed_ = false;
    connection_registry::membership membership_;  // last: leaves the registry before what its closer touches
};

asio::awaitable<void> http_connection::serve() {
    if (server_->stopping) close();  // stopped between the accept and now
    if (!closed_ && stream_.is_tls() && !co_await handshake()) {
        close();
        co_return;
    }
    while (!closed_) {
        if (!co_await await_request()) break;
        const auto began = clock::now();
        read_result r = co_await read_request(began);
        if (r.refusal) {
            co_await refuse(*r.refusal, began);
            break;
        }
        if (!r.request) break;
        if (!co_await answer(std::move(*r.request), began)) break;
    }
    if (!closed_ && !taken_over_) co_await end_gracefully();
    close();
}

asio::awaitable<bool> http_connection::handshake() {
    if (const handshake_hook& hook = server_->options.before_handshake; hook && !co_await hook(stream_)) co_return false;
    if (closed_) co_return false;
    arm(deadline::handshake, clock::now() + server_->limits.handshake_timeout);
    auto [ec] = co_await stream_.tls()->async_handshake(asio::ssl::stream_base::server, use_tuple);
    disarm();
    if (ec && !closed_) server_->log.debug({}, "TLS handshake with {} failed: {}", peer_text_, ec.message());
    co_return !ec && !closed_;
}

// TLS: close_notify, and the client's, for a while; TCP: FIN, the client's FIN being its own affair.
asio::awaitable<void> http_connection::end_gracefully() {
    if (auto* tls = stream_.tls()) {
        arm(deadline::linger, clock::now() + tls_shutdown_timeout);
        co_await tls->async_shutdown(use_tuple);
        disarm();
        co_return;
    }
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void http_connection::mark(activity what, clock::time_point since) {
    if (what == activity_ && what != activity::idle) return;
    activity_ = what;
    switch (what) {
        case activity::idle: membership_.idle(since); break;
        case activity::reading: membership_.reading(since); break;
        case activity::responding: membership_.responding(); break;
        case activity::closing: membership_.closing(); break;
    }
}

// Waits for the first byte of the next request, unless it is already here (pipelining).
asio::awaitable<bool> http_connection::await_request() {
    if (buffer_.size() > 0) co_return true;
    // An idle connection keeps at most one read's worth: what a big header grew is given back, but
    // the usual 4 KiB stays, instead of being freed and allocated again for every keep-alive request.
    if (buffer_.capacity() > read_chunk) buffer_.shrink_to_fit();
    const auto now = clock::now();
    mark(activity::idle, now);
    arm(deadline::idle, now + server_->limits.idle_timeout);
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(read_chunk), use_tuple);
    disarm();
    if (ec || closed_) co_return false;
    buffer_.commit(n);
    co_return true;
}

asio::awaitable<http_connection::read_result> http_connection::read_request(clock::time_point began) {
    const server_limits& limits = server_->limits;
    request_began_ = began;
    arm(deadline::request, began + limits.request_timeout);
    request_parser parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limits.header_limit, std::numeric_limits<std::uint32_t>::max())));
    // With a hook, each request's limit is chosen once its header is known.
    const body_limit_hook& limit_of = server_->options.body_limit;
    if (limit_of) parser.body_limit(boost::none);
    else parser.body_limit(limits.body_limit);
    boost::system::error_code ec = co_await read_header(parser);
    if (!ec && limit_of) {
        const std::size_t limit = limit_of(parser.get(), peer_);
        if (parser.content_length() && *parser.content_length() > limit) ec = http::error::body_limit;
        else parser.body_limit(limit);
    }
    std::size_t n = 0;
    if (!ec && !parser.is_done()) mark(activity::reading, began);
    if (!ec && !parser.is_done() && expects_continue(parser.get()))
        std::tie(ec, n) = co_await asio::async_write(stream_, asio::buffer(continue_response), use_tuple);
    if (!ec && !parser.is_done()) std::tie(ec, n) = co_await http::async_read(stream_, buffer_, parser, use_tuple);
    disarm();
    read_result out;
    if (closed_) co_return out;
    if (ec)
        out.refusal = status_for_read_error(ec);
    else
        out.request = parser.release();
    co_return out;
}

// http::async_read_header, except that the parser is never handed more lines than a header may have.
// Beast keeps each field as soon as it has parsed it, about 80 bytes besides its text, even while the
// header is incomplete: 4 KiB of empty fields ("a:") that never end held 85 KiB per connection until
// the request timeout, 43 MiB at the connection cap.
asio::awaitable<boost::system::error_code> http_connection::read_header(request_parser& parser) {
    const std::size_t max_lines = server_->limits.header_fields + 2;  // the start line and the empty line
    std::size_t lines = 0;  // of this header, handed to the parser
    std::size_t given = 0;  // bytes at the front of the buffer handed to the parser and not consumed yet
    for (;;) {
        const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
        while (given < data.size() && lines < max_lines)
            if (data[given++] == '\n') ++lines;
        if (given > 0) {
            boost::system::error_code ec;
            const std::size_t used = parser.put(asio::buffer(data.data(), given), ec);
            buffer_.consume(used);
            given -= used;
            if (parser.is_header_done()) co_return boost::system::error_code{};
            if (ec && ec != http::error::need_more) co_return ec;
        }
        if (lines == max_lines) co_return http::error::header_limit;  // more fields than allowed
        const std::size_t room = buffer_.max_size() - buffer_.size();
        if (room == 0) co_return http::error::buffer_overflow;
        mark(activity::reading, request_began_);
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(std::min(room, read_chunk)), use_tuple);
        if (ec == asio::error::eof)
            co_return parser.got_some() ? http::error::partial_message : http::error::end_of_stream;
        if (ec) co_return ec;
        buffer_.commit(n);
    }
}

asio::awaitable<bool> http_connection::answer(server_request req, clock::time_point began) {
    const request_summary summary = summarize(req);
    mark(activity::responding);
    server_reply reply = co_await call_handler(std::move(req), summary);
    if (closed_) co_return false;  // stopped while the handler ran: nobody to answer
    if (auto* takeover = std::get_if<connection_takeover>(&reply.value)) {
        log_request(summary.method, summary.path, 0, began);
        taken_over_ = true;
        disarm();
        co_await (*takeover)(stream_, buffer_);
        co_return false;
    }
    bool keep_alive = false;
    bool written = false;
    unsigned status = 0;
    if (auto* prebuilt = std::get_if<std::shared_ptr<const prebuilt_response>>(&reply.value)) {
        status = (*prebuilt)->status();
        written = co_await write((*prebuilt)->wire(summary, !server_->stopping, keep_alive));
    } else {
        auto& res = std::get<server_response>(reply.value);
        status = res.result_int();
        keep_alive = finish_response(res, summary, !server_->stopping);
        written = co_await write(res, summary.head);
    }
    log_request(summary.method, summary.path, status, began);
    co_return written && keep_alive;
}

asio::awaitable<server_reply> http_connection::call_handler(server_request req, const request_summary& summary) {
    std::string failure;
    try {
        server_reply reply = co_await server_->handler(std::move(req), context_);
        closing_.slot().clear();  // what the handler bound it to may be gone
        co_return reply;
    } catch (const std::exception& e) {
        failure = e.what();
    } catch (...) {
        failure = "an exception not derived from std::exception";
    }
    closing_.slot().clear();
    ++server_->counts.handler_errors;
    server_->log.error({}, "request handler failed for {} {}: {}", summary.method, summary.path, failure);
    // Keep-alive as the request asked: the connection carries on after a 500 (json_error closes by default).
    co_return json_error(http::status::internal_server_error, "internal error", summary.version, summary.keep_alive);
}

asio::awaitable<bool> http_connection::write(server_response& res, bool header_only) {
    arm(deadline::write, clock::now() + server_->limits.write_timeout);
    http::response_serializer<http::string_body> serializer{res};
    boost::system::error_code ec;
    if (header_only) {
        auto [e, n] = co_await http::async_write_header(stream_, serializer, use_tuple);
        ec = e;
    } else {
        auto [e, n] = co_await http::async_write(stream_, serializer, use_tuple);
        ec = e;
    }
    co_return counted(ec);
}

asio::awaitable<bool> http_connection::write(std::string_view bytes) {
    arm(deadline::write, clock::now() + server_->limits.write_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(bytes), use_tuple);
    co_return counted(ec);
}

// The end of a write: true when the response went out whole (and counted).
bool http_connection::counted(boost::system::error_code ec) {
    disarm();
    if (ec || closed_) return false;
    ++server_->counts.responses;
    return true;
}

asio::awaitable<void> http_connection::refuse(http::status status, clock::time_point began) {
    if (status == http::status::bad_request)
        ++server_->counts.malformed;
    else
        ++server_->counts.too_large;
    mark(activity::closing);  // a client that sent this is the first to make room for another
    const refusal_hook& refusal = server_->options.refusal;
    server_response res = refusal ? refusal(status, began) : json_error(status, refusal_message(status));
    res.keep_alive(false);
    res.prepare_payload();
    const bool written = co_await write(res, false);
    log_request("-", "(unreadable)", res.result_int(), began);
    if (written) co_await linger();
}

asio::awaitable<void> http_connection::linger() {
    if (!stream_.is_tls()) {  // under TLS the close_notify comes after, in end_gracefully()
        boost::system::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    arm(deadline::linger, clock::now() + linger_timeout);
    buffer_.clear();
    for (std::size_t drained = 0; drained < linger_bytes && !closed_;) {
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(read_chunk), use_tuple);
        if (ec) break;
        drained += n;  // never committed: dropped
    }
    disarm();
}

// The deadline of the operation in progress: expiry closes the connection. A timer rather than the
// socket's own timeouts, so that a request timeout can still say 408 on the open socket.
//
// One coarse timer per connection: arming and disarming only record the deadline. The timer is
// rescheduled only when the new deadline is earlier than the one it waits for; when it fires early
// (the operation it was set for is long done), it re-arms for whatever deadline is current. A
// keep-alive client sending request after request thus touches the timer about once per request
// timeout, not three times per request.
void http_connection::arm(deadline what, clock::time_point at) {
    deadline_what_ = what;
    deadline_at_ = at;
    if (!timer_pending_ || at < timer_at_) schedule(at);
}

void http_connection::disarm() { deadline_at_ = clock::time_point::max(); }

void http_connection::schedule(clock::time_point at) {
    timer_pending_ = true;
    timer_at_ = at;
    deadline_.expires_at(at);
    deadline_.async_wait([weak = weak_from_this(), generation = ++deadline_generation_](boost::system::error_code ec) {
        if (ec) return;
        // A wait replaced by an earlier one, whose expiry was already queued, is not the current one.
        if (auto self = weak.lock(); self && self->deadline_generation_ == generation) self->on_timer();
    });
}

void http_connection::on_timer() {
    timer_pending_ = false;
    if (closed_ || deadline_at_ == clock::time_point::max()) return;
    if (clock::now() >= deadline_at_) return on_deadline(deadline_what_);
    schedule(deadline_at_);
}

void http_connection::on_deadline(deadline what) {
    if (closed_) return;
    std::string_view why;
    switch (what) {
        case deadline::handshake: break;
        case deadline::idle: ++server_->counts.idle_closed; break;
        case deadline::request:
            ++server_->counts.timed_out;
            why = "request not complete within";
            send_request_timeout();
            break;
        case deadline::write:
            ++server_->counts.timed_out;
            why = "response not written within";
            break;
        case deadline::linger: break;
    }
    if (!why.empty()) {
        const auto limit = what == deadline::request ? server_->limits.request_timeout : server_->limits.write_timeout;
        if (const auto verdict = server_->timeout_warnings.check(why, clock::now()); verdict.emit)
            server_->log.warn({}, "closed the connection from {}: {} {} ms{}", peer_text_, why, limit.count(),
                              suppressed_suffix(verdict.suppressed));
    }
    close();
}

// 408, but only if the socket takes it at once: a client that sends slowly may read slowly too, and
// nothing may wait on it. Not under TLS, where no write is synchronous.
void http_connection::send_request_timeout() {
    if (stream_.is_tls()) return;
    server_response res = json_error(http::status::request_timeout, "request not complete in time");
    std::ostringstream wire;
    wire << res;
    const std::string bytes = wire.str();
    boost::system::error_code ec;
    tcp::socket& socket = stream_.socket();
    socket.non_blocking(true, ec);
    if (ec) return;
    const std::size_t n = socket.write_some(asio::buffer(bytes), ec);
    if (!ec && n == bytes.size()) ++server_->counts.responses;
}

void http_connection::log_request(std::string_view method, std::string_view path, unsigned status,
                               clock::time_point began) const {
    const double ms = std::chrono::duration<double, std::milli>(clock::now() - began).count();
    server_->log.debug({}, "{} {} {} {:.1f} ms", method, path, status, ms);
}

// Also the closer the registry runs (eviction, stop): it only cancels I/O, the coroutine then ends.
void http_connection::close() {
    if (closed_) return;
    closed_ = true;
    disarm();
    deadline_.cancel();  // nothing may keep a stopping server's loop turning
    boost::system::error_code ignored;
    stream_.socket().close(ignored);
    closing_.emit(asio::cancellation_type::terminal);  // a handler's waits end with the connection
}

}  // namespace

void start_http_connection(tcp::socket socket, connection_registry::membership membership,
                        std::shared_ptr<http_server::state> server) {
    auto executor = socket.get_executor();
    auto session = std::make_shared<http_connection>(std::move(socket), std::move(membership), std::move(server));
    asio::co_spawn(executor, http_connection::run(std::move(session)), propagate_exception);
}

}  // namespace sessiond
