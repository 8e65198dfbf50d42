#include "support/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/ssl.h>

#include <exception>

namespace sessiond::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_response_body = 8 * 1024 * 1024;

std::string describe(std::string_view step, const boost::system::error_code& ec) {
    if (ec == beast::error::timeout) return std::string(step) + ": timed out";
    return std::string(step) + ": " + ec.message();
}

bool is_ip_literal(const std::string& host) {
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

}  // namespace

std::string http_result::header(std::string_view name) const {
    for (const auto& [key, value] : headers)
        if (beast::iequals(key, name)) return value;
    return {};
}

bool http_result::has_header(std::string_view name) const {
    for (const auto& [key, value] : headers)
        if (beast::iequals(key, name)) return true;
    return false;
}

boost::json::value http_result::json() const {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(body, ec);
    return ec ? boost::json::value() : v;
}

struct http_client::impl {
    std::string host;
    std::uint16_t port;
    std::optional<tls_client_settings> tls;
    bool keep_alive = false;
    std::size_t connections = 0;
    std::function<void(const http_result&)> on_response;

    asio::io_context ioc{1};
    std::optional<asio::ssl::context> ssl_ctx;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;

    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
    bool connected() { return (plain || secure) && lowest().socket().is_open(); }

    void disconnect() {
        if (plain || secure) {
            boost::system::error_code ignored;
            lowest().socket().close(ignored);
        }
        plain.reset();
        secure.reset();
        buffer.clear();
    }

    asio::awaitable<expected<void>> connect(std::chrono::steady_clock::time_point deadline) {
        disconnect();
        tcp::resolver resolver(ioc);
        auto [rec, endpoints] = co_await resolver.async_resolve(host, std::to_string(port), use_tuple);
        if (rec) co_return make_error(describe("resolve " + host, rec));
        beast::tcp_stream stream(ioc);
        stream.expires_at(deadline);
        auto [cec, ep] = co_await stream.async_connect(endpoints, use_tuple);
        if (cec) co_return make_error(describe("connect", cec));
        ++connections;
        if (!tls) {
            plain.emplace(std::move(stream));
            co_return expected<void>{};
        }
        if (!ssl_ctx) {
            ssl_ctx.emplace(asio::ssl::context::tls_client);
            boost::system::error_code ec;
            ssl_ctx->load_verify_file(tls->ca_file.string(), ec);
            if (ec) co_return make_error("load CA file " + tls->ca_file.string() + ": " + ec.message());
            ssl_ctx->set_verify_mode(asio::ssl::verify_peer);
        }
        secure.emplace(std::move(stream), *ssl_ctx);
        secure->set_verify_callback(asio::ssl::host_name_verification(tls->server_name));
        if (!is_ip_literal(tls->server_name))
            SSL_set_tlsext_host_name(secure->native_handle(), tls->server_name.c_str());
        beast::get_lowest_layer(*secure).expires_at(deadline);
        auto [hec] = co_await secure->async_handshake(asio::ssl::stream_base::client, use_tuple);
        if (hec) {
            disconnect();
            co_return make_error(describe("TLS handshake", hec));
        }
        co_return expected<void>{};
    }

    template <class Stream>
    asio::awaitable<expected<http_result>> exchange(Stream& stream, http::request<http::string_body>& req,
                                                    std::chrono::steady_clock::time_point deadline) {
        beast::get_lowest_layer(stream).expires_at(deadline);
        auto [wec, written] = co_await http::async_write(stream, req, use_tuple);
        if (wec) co_return make_error(describe("write", wec));
        http::response_parser<http::string_body> parser;
        parser.body_limit(max_response_body);
        auto [rec, read] = co_await http::async_read(stream, buffer, parser, use_tuple);
        if (rec) co_return make_error(describe("read", rec));
        auto res = parser.release();
        http_result out;
        out.status = res.result_int();
        for (const auto& field : res) out.headers.emplace_back(field.name_string(), field.value());
        out.body = std::move(res.body());
        if (!res.keep_alive()) disconnect();
        co_return out;
    }

    asio::awaitable<expected<http_result>> run(http::request<http::string_body> req, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        if (!keep_alive || !connected()) {
            auto connected_now = co_await connect(deadline);
            if (!connected_now) co_return connected_now.error();
        }
        // Two statements, not ?: : GCC 12 destroys a co_await result inside a conditional expression twice.
        expected<http_result> result = make_error("not sent");
        if (secure)
            result = co_await exchange(*secure, req, deadline);
        else
            result = co_await exchange(*plain, req, deadline);
        if (!result || !keep_alive) disconnect();
        co_return result;
    }
};

http_client::http_client(std::string host, std::uint16_t port) : impl_(std::make_unique<impl>()) {
    impl_->host = std::move(host);
    impl_->port = port;
}

http_client::http_client(std::string host, std::uint16_t port, tls_client_settings tls) : http_client(std::move(host), port) {
    impl_->tls = std::move(tls);
}

http_client::~http_client() = default;
http_client::http_client(http_client&&) noexcept = default;
http_client& http_client::operator=(http_client&&) noexcept = default;

void http_client::keep_alive(bool on) { impl_->keep_alive = on; }

void http_client::on_response(std::function<void(const http_result&)> hook) { impl_->on_response = std::move(hook); }

std::size_t http_client::connections_opened() const noexcept { return impl_->connections; }

expected<http_result> http_client::request(http::verb method, std::string_view target, std::string body,
                                           const http_request_options& options) {
    http::request<http::string_body> req{method, target, 11};
    const std::string authority = impl_->tls ? impl_->tls->server_name : impl_->host;
    req.set(http::field::host, authority + ":" + std::to_string(impl_->port));
    req.set(http::field::user_agent, "sessiond-tests");
    req.set(http::field::accept, "*/*");
    if (options.content_type) req.set(http::field::content_type, *options.content_type);
    for (const auto& [name, value] : options.headers) req.set(name, value);
    req.keep_alive(impl_->keep_alive);
    if (options.content_length) {
        req.body() = std::move(body);
        req.prepare_payload();
        // prepare_payload leaves GET without a body alone; POST always says how long it is.
        if (method == http::verb::post && !req.has_content_length()) req.content_length(req.body().size());
    }

    std::optional<expected<http_result>> outcome;
    std::exception_ptr failure;
    impl_->ioc.restart();
    asio::co_spawn(impl_->ioc, impl_->run(std::move(req), options.timeout),
                   [&](std::exception_ptr e, expected<http_result> r) {
                       failure = e;
                       if (!e) outcome.emplace(std::move(r));
                   });
    impl_->ioc.run();
    if (failure) std::rethrow_exception(failure);
    if (*outcome && impl_->on_response) impl_->on_response(**outcome);
    return std::move(*outcome);
}

expected<http_result> http_client::get(std::string_view target, const http_request_options& options) {
    return request(http::verb::get, target, {}, options);
}

expected<http_result> http_client::post(std::string_view target, std::string body, const http_request_options& options) {
    return request(http::verb::post, target, std::move(body), options);
}

expected<http_result> http_client::post_json(std::string_view target, const boost::json::value& body,
                                             const http_request_options& options) {
    http_request_options with_type = options;
    if (!with_type.content_type) with_type.content_type = "application/json";
    return request(http::verb::post, target, boost::json::serialize(body), with_type);
}

}  // namespace sessiond::testing
