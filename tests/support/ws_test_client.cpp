#include "support/ws_test_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <openssl/ssl.h>

#include <optional>

namespace sessiond::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct ws_test_client::impl {
    asio::io_context io;
    tcp::socket socket{io};
    std::optional<asio::ssl::context> tls;
    std::optional<websocket::stream<tcp::socket&>> plain;
    std::optional<websocket::stream<asio::ssl::stream<tcp::socket&>>> secure;
    // The WebSocket stream, plain or over TLS.
    template <class F>
    decltype(auto) with(F&& f) {
        if (secure) return f(*secure);
        return f(*plain);
    }
    boost::system::error_code ec;
    bool upgraded = false;
    unsigned refused_status = 0;
    std::string retry_after;
    std::string refused_body;
    std::string transcript;

    // Runs the operation started on `io` until it completes or patience runs out (then the socket
    // is closed, which ends it).
    void run() {
        io.restart();
        io.run_for(patience);
        if (!io.stopped()) {
            boost::system::error_code ignored;
            socket.close(ignored);
            io.restart();
            io.run();
            if (!ec) ec = asio::error::timed_out;
        }
    }
};

ws_test_client::ws_test_client(const tcp::endpoint& at, std::vector<std::pair<std::string, std::string>> headers,
                               std::string target, std::optional<tls_client_settings> tls)
    : impl_(std::make_unique<impl>()) {
    impl& me = *impl_;
    me.socket.connect(at, me.ec);
    if (me.ec) return;
    std::string host = "localhost";
    if (tls) {
        me.tls.emplace(asio::ssl::context::tls_client);
        me.tls->load_verify_file(tls->ca_file.string());
        me.tls->set_verify_mode(asio::ssl::verify_peer);
        me.secure.emplace(me.socket, *me.tls);
        host = tls->server_name;
        auto& stream = me.secure->next_layer();
        SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
        stream.set_verify_callback(asio::ssl::host_name_verification(host));
        stream.async_handshake(asio::ssl::stream_base::client, [&me](const boost::system::error_code& e) { me.ec = e; });
        me.run();
        if (me.ec) return;
    } else {
        me.plain.emplace(me.socket);
    }
    websocket::response_type res;
    me.with([&](auto& ws) {
        ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
            for (const auto& [name, value] : headers) req.insert(name, value);
        }));
        ws.read_message_max(64 * 1024 * 1024);
        ws.async_handshake(res, host, target, [&me](const boost::system::error_code& e) { me.ec = e; });
    });
    me.run();
    if (me.ec) {
        me.refused_status = res.result_int();
        me.retry_after = std::string(res[http::field::retry_after]);
        me.refused_body = res.body();
        return;
    }
    me.upgraded = true;
    me.with([](auto& ws) { ws.text(true); });
}

ws_test_client::~ws_test_client() = default;

bool ws_test_client::upgraded() const noexcept { return impl_->upgraded; }
unsigned ws_test_client::refused_status() const noexcept { return impl_->refused_status; }
const std::string& ws_test_client::refused_retry_after() const noexcept { return impl_->retry_after; }
const std::string& ws_test_client::refused_body() const noexcept { return impl_->refused_body; }
const boost::system::error_code& ws_test_client::error() const noexcept { return impl_->ec; }
websocket::close_reason ws_test_client::close_reason() const {
    return impl_->with([](auto& ws) { return ws.reason(); });
}
const std::string& ws_test_client::transcript() const noexcept { return impl_->transcript; }

void ws_test_client::send(std::string_view text) {
    if (!impl_->upgraded || impl_->ec) return;
    impl_->with([&](auto& ws) {
        ws.async_write(asio::buffer(text), [this](const boost::system::error_code& e, std::size_t) {
            if (e) impl_->ec = e;
        });
    });
    impl_->run();
}

std::string ws_test_client::read() {
    if (!impl_->upgraded || impl_->ec) return {};
    beast::flat_buffer buffer;
    impl_->with([&](auto& ws) {
        ws.async_read(buffer, [this](const boost::system::error_code& e, std::size_t) { impl_->ec = e; });
    });
    impl_->run();
    if (impl_->ec) return {};
    std::string text = beast::buffers_to_string(buffer.data());
    impl_->transcript += text;
    impl_->transcript += '\n';
    return text;
}

bool ws_test_client::read_until(std::string_view text, std::vector<std::string>* seen) {
    while (true) {
        std::string m = read();
        if (impl_->ec) return false;
        if (m == text) return true;
        if (seen != nullptr) seen->push_back(std::move(m));
    }
}

std::string ws_test_client::read_until_containing(std::string_view part) {
    while (true) {
        std::string m = read();
        if (impl_->ec) return {};
        if (m.find(part) != std::string::npos) return m;
    }
}

void ws_test_client::close() {
    if (!impl_->upgraded || impl_->ec) return;
    impl_->with([&](auto& ws) {
        ws.async_close(websocket::close_code::normal, [this](const boost::system::error_code& e) { impl_->ec = e; });
    });
    impl_->run();
}

}  // namespace sessiond::testing
