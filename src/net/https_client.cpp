#include "sessiond/net/https_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/ssl.h>

#include <sys/socket.h>

#include <cerrno>

namespace sessiond {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::as_tuple;
using asio::use_awaitable;

https_client::https_client(asio::any_io_executor executor, std::shared_ptr<ssl::context> tls, base_url endpoint,
                           std::size_t body_limit, std::shared_ptr<idle_connections> shared)
    : executor_(std::move(executor)),
      tls_(std::move(tls)),
      body_limit_(body_limit),
      shared_(std::move(shared)),
      dialer_(executor_, std::move(endpoint)) {}

void https_client::close() noexcept {
    open_ = false;
    if (stream_) {
        boost::system::error_code ignored;
        beast::get_lowest_layer(*stream_).socket().close(ignored);
    }
}

void https_client::cancel() {
    dialer_.cancel();
    if (waiting_ != nullptr) waiting_->cancel();
    if (stream_) beast::get_lowest_layer(*stream_).cancel();
    close();
}

transport_failure https_client::failure_of(const boost::system::error_code& ec, std::string_view during) {
    if (!dialer_.cancelled()) {
        if (ec == http::error::body_limit)
            return {transport_error::bad_response, "response body larger than " + std::to_string(body_limit_) + " bytes"};
        if (ec == http::error::header_limit)
            return {transport_error::bad_response,
                    "response header larger than " + std::to_string(max_response_header) + " bytes"};
    }
    return dialer_.failure_of(ec, during, stream_.get());
}

asio::awaitable<boost::system::result<void, transport_failure>> https_client::connect(clock::time_point deadline) {
    const auto began = clock::now();
    last_connect_ = clock::duration(0);
    close();
    stream_ = std::make_unique<tls_stream>(executor_, *tls_);
    buffer_.clear();
    auto dialed = co_await dialer_.dial(*stream_, deadline);
    if (dialed || dialed.error().kind == transport_error::tls) ++connections_opened_;
    if (!dialed) co_return dialed.error();
    last_connect_ = clock::now() - began;
    open_ = true;
    co_return boost::system::result<void, transport_failure>{};
}

bool https_client::reusable() {
    if (!open_ || !stream_ || buffer_.size() > 0 || SSL_pending(stream_->native_handle()) > 0) return false;
    char byte = 0;
    const int fd = beast::get_lowest_layer(*stream_).socket().native_handle();
    const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    // Nothing to read: the connection is alive. 0 is the server's FIN, data is a close_notify or
    // something unasked, an error a reset: none of them carries a request.
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void https_client::take_shared() {
    if (!shared_ || open_) return;
    while (auto connection = shared_->take(tls_, dialer_.endpoint())) {
        stream_ = std::move(connection);
        buffer_.clear();
        open_ = true;
        if (reusable()) return;
        close();
    }
}

void https_client::give_back_shared() {
    if (!shared_ || !open_ || buffer_.size() > 0) return;
    open_ = false;
    buffer_.shrink_to_fit();  // an idle session keeps no buffer either
    shared_->give_back(tls_, dialer_.endpoint(), std::move(stream_));
}

asio::awaitable<boost::system::result<http_response, transport_failure>> https_client::send(
    http_request request, std::chrono::milliseconds timeout) {
    timeout_ = timeout;
    dialer_.begin(timeout);
    const auto deadline = clock::now() + timeout;
    // With shared connections: a place among the exchanges in flight first, held to the end.
    struct place {
        idle_connections* shared = nullptr;
        const std::shared_ptr<asio::ssl::context>* tls = nullptr;
        const base_url* endpoint = nullptr;
        place() = default;
        place(const place&) = delete;
        place& operator=(const place&) = delete;
        ~place() {
            if (shared != nullptr) shared->leave(*tls, *endpoint);
        }
    } held;
    if (shared_) {
        const bool entered = co_await shared_->enter(tls_, dialer_.endpoint(), deadline, &waiting_);
        if (!entered) co_return failure_of(beast::error::timeout, "waiting for one of the daemon's connections to IBKR");
        held.tls = &tls_;  // member by member: a temporary place would leave() as it went
        held.endpoint = &dialer_.endpoint();
        held.shared = shared_.get();
    }
    if (open_ && !reusable()) close();
    take_shared();
    if (!open_) {
        auto connected = co_await connect(deadline);
        if (!connected) {
            close();
            co_return connected.error();
        }
    }
    auto& tcp_layer = beast::get_lowest_layer(*stream_);
    tcp_layer.expires_at(deadline);

    last_sent_ = clock::now();
    auto [wec, written] = co_await http::async_write(*stream_, request, as_tuple(use_awaitable));
    if (wec) {
        close();
        co_return failure_of(wec, "sending the request");
    }

    http::response_parser<http::string_body> parser;
    parser.header_limit(max_response_header);
    parser.body_limit(body_limit_);
    auto [rec, read] = co_await http::async_read(*stream_, buffer_, parser, as_tuple(use_awaitable));
    if (rec) {
        close();
        co_return failure_of(rec, "reading the response");
    }
    tcp_layer.expires_never();
    http_response response = parser.release();
    if (!response.keep_alive()) close();
    give_back_shared();
    co_return response;
}

}  // namespace sessiond
