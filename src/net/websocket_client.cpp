#include "sessiond/net/websocket_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace sessiond {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

// The Host header: the port only when it is not https' own, an IPv6 literal in brackets.
std::string host_header(const base_url& endpoint) {
    std::string host = endpoint.host.find(':') != std::string::npos ? "[" + endpoint.host + "]" : endpoint.host;
    if (endpoint.port != 443) host += ":" + std::to_string(endpoint.port);
    return host;
}

}  // namespace

websocket_client::websocket_client(asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls,
                                   base_url endpoint, std::chrono::milliseconds idle_timeout)
    : executor_(std::move(executor)),
      tls_(std::move(tls)),
      idle_timeout_(idle_timeout),
      dialer_(executor_, std::move(endpoint)) {}

asio::awaitable<boost::system::result<void, transport_failure>> websocket_client::open(upgrade request,
                                                                                       std::chrono::milliseconds timeout) {
    cancel();
    dialer_.begin(timeout);
    upgrade_status_ = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    stream_.emplace(executor_, *tls_);
    auto dialed = co_await dialer_.dial(stream_->next_layer(), deadline);
    if (!dialed) {
        cancel();
        co_return dialed.error();
    }
    // The TCP layer's deadline still covers the upgrade; the WebSocket's own timeouts take over after it.
    stream_->set_option(websocket::stream_base::timeout{timeout, websocket::stream_base::none(), false});
    stream_->set_option(websocket::stream_base::decorator(
        [cookie = std::move(request.cookie), agent = std::move(request.user_agent)](websocket::request_type& req) {
            req.set(http::field::user_agent, agent);
            if (!cookie.empty()) req.set(http::field::cookie, cookie.reveal());
        }));
    stream_->read_message_max(max_message);
    websocket::response_type response;
    auto [ec] = co_await stream_->async_handshake(response, host_header(dialer_.endpoint()), request.target,
                                                  as_tuple(use_awaitable));
    wipe(request.target);
    if (ec) {
        const tls_tcp_stream* layer = &stream_->next_layer();
        transport_failure failure = dialer_.failure_of(ec, "WebSocket upgrade", layer);
        if (ec == websocket::error::upgrade_declined && !dialer_.cancelled()) {
            upgrade_status_ = response.result_int();
            failure = {transport_error::bad_response,
                       "the WebSocket upgrade was refused with HTTP " + std::to_string(upgrade_status_)};
        }
        cancel();
        co_return failure;
    }
    beast::get_lowest_layer(*stream_).expires_never();
    stream_->set_option(websocket::stream_base::timeout{idle_timeout_, idle_timeout_, true});
    co_return boost::system::result<void, transport_failure>{};
}

asio::awaitable<boost::system::error_code> websocket_client::read(beast::flat_buffer& buffer) {
    buffer.clear();
    if (!stream_) co_return asio::error::not_connected;
    auto [ec, n] = co_await stream_->async_read(buffer, as_tuple(use_awaitable));
    co_return ec;
}

asio::awaitable<boost::system::error_code> websocket_client::write(std::string_view text) {
    if (!stream_) co_return asio::error::not_connected;
    stream_->text(true);
    auto [ec, n] = co_await stream_->async_write(asio::buffer(text), as_tuple(use_awaitable));
    co_return ec;
}

asio::awaitable<void> websocket_client::close(websocket::close_code code) {
    if (stream_ && stream_->is_open()) co_await stream_->async_close(code, as_tuple(use_awaitable));
    cancel();
}

void websocket_client::cancel() {
    dialer_.cancel();
    if (stream_) {
        boost::system::error_code ignored;
        beast::get_lowest_layer(*stream_).socket().close(ignored);
    }
}

}  // namespace sessiond
