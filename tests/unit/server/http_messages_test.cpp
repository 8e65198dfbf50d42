// The status server's message rules, without I/O: error bodies, the status a request that could not be
// read earns, how a handler's response is made ready for the wire, and what of a target may be logged.

#include "sessiond/server/http_messages.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/system/errc.hpp>

#include <gtest/gtest.h>

#include <string>

namespace sessiond {
namespace {

namespace http = boost::beast::http;

server_request request(http::verb method, unsigned version, std::string_view connection = {}) {
    server_request req{method, "/status?token=secret", version};
    if (!connection.empty()) req.set(http::field::connection, connection);
    return req;
}

server_response ok_response(std::string body) {
    server_response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain");
    res.body() = std::move(body);
    return res;
}

std::string header(const server_response& res, http::field name) { return std::string(res[name]); }

// --- json_error ---

TEST(http_messages, json_error_carries_message_and_status_as_json) {
    const server_response res = json_error(http::status::not_found, "no such endpoint");
    EXPECT_EQ(res.result(), http::status::not_found);
    EXPECT_EQ(header(res, http::field::content_type), "application/json");
    const auto body = boost::json::parse(res.body());
    EXPECT_EQ(body, (boost::json::value{{"error", "no such endpoint"}, {"status", 404}}));
    EXPECT_EQ(header(res, http::field::content_length), std::to_string(res.body().size()));
}

TEST(http_messages, json_error_escapes_the_message) {
    const server_response res = json_error(http::status::bad_request, "a \"quoted\"\nline");
    EXPECT_EQ(boost::json::parse(res.body()).at("error"), "a \"quoted\"\nline");
}

TEST(http_messages, json_error_closes_by_default_and_keeps_alive_on_request) {
    const server_response closing = json_error(http::status::bad_request, "x");
    EXPECT_EQ(closing.version(), 11u);
    EXPECT_FALSE(closing.keep_alive());

    const server_response kept = json_error(http::status::unauthorized, "x", 11, true);
    EXPECT_TRUE(kept.keep_alive());

    const server_response old = json_error(http::status::forbidden, "x", 10, true);
    EXPECT_EQ(old.version(), 10u);
    EXPECT_TRUE(old.keep_alive());
}

// --- status_for_read_error ---

TEST(http_messages, header_over_the_limit_earns_431) {
    EXPECT_EQ(status_for_read_error(http::error::header_limit), http::status::request_header_fields_too_large);
    // The read buffer holds one header: overflowing it means the header was too large.
    EXPECT_EQ(status_for_read_error(http::error::buffer_overflow), http::status::request_header_fields_too_large);
}

TEST(http_messages, body_over_the_limit_earns_413) {
    EXPECT_EQ(status_for_read_error(http::error::body_limit), http::status::payload_too_large);
}

TEST(http_messages, malformed_requests_earn_400) {
    for (const auto e : {http::error::bad_line_ending, http::error::bad_method, http::error::bad_target,
                         http::error::bad_version, http::error::bad_field, http::error::bad_value,
                         http::error::bad_content_length, http::error::bad_transfer_encoding, http::error::bad_chunk,
                         http::error::bad_chunk_extension, http::error::bad_obs_fold,
                         http::error::multiple_content_length, http::error::unexpected_body}) {
        EXPECT_EQ(status_for_read_error(e), http::status::bad_request) << http::make_error_code(e).message();
    }
}

TEST(http_messages, a_connection_that_simply_ended_earns_nothing) {
    for (const auto e : {http::error::end_of_stream, http::error::partial_message, http::error::need_more,
                         http::error::need_buffer, http::error::stale_parser}) {
        EXPECT_EQ(status_for_read_error(e), std::nullopt) << http::make_error_code(e).message();
    }
}

TEST(http_messages, socket_errors_earn_nothing) {
    EXPECT_EQ(status_for_read_error(boost::asio::error::operation_aborted), std::nullopt);
    EXPECT_EQ(status_for_read_error(boost::asio::error::eof), std::nullopt);
    EXPECT_EQ(status_for_read_error(boost::asio::error::connection_reset), std::nullopt);
    EXPECT_EQ(status_for_read_error(boost::asio::error::timed_out), std::nullopt);
    EXPECT_EQ(status_for_read_error(make_error_code(boost::system::errc::invalid_argument)), std::nullopt);
    // Same numeric value as http::error::bad_method, other category.
    const boost::system::error_code same_value(static_cast<int>(http::error::bad_method),
                                               boost::system::system_category());
    EXPECT_EQ(status_for_read_error(same_value), std::nullopt);
    EXPECT_EQ(status_for_read_error(boost::system::error_code{}), std::nullopt);
}

// --- summarize ---

TEST(http_messages, summarize_keeps_method_loggable_path_version_and_keep_alive) {
    const request_summary s = summarize(request(http::verb::get, 11));
    EXPECT_EQ(s.method, "GET");
    EXPECT_EQ(s.path, "/status");
    EXPECT_EQ(s.version, 11u);
    EXPECT_TRUE(s.keep_alive);
    EXPECT_FALSE(s.head);
}

TEST(http_messages, summarize_reads_keep_alive_by_http_version) {
    EXPECT_FALSE(summarize(request(http::verb::get, 11, "close")).keep_alive);
    EXPECT_FALSE(summarize(request(http::verb::get, 10)).keep_alive);
    EXPECT_TRUE(summarize(request(http::verb::get, 10, "keep-alive")).keep_alive);
    EXPECT_EQ(summarize(request(http::verb::get, 10)).version, 10u);
}

TEST(http_messages, summarize_marks_head_and_keeps_unknown_methods_as_sent) {
    EXPECT_TRUE(summarize(request(http::verb::head, 11)).head);

    server_request custom{http::verb::unknown, "/", 11};
    custom.method_string("PURGE");
    const request_summary s = summarize(custom);
    EXPECT_EQ(s.method, "PURGE");
    EXPECT_FALSE(s.head);
}

// --- finish_response ---

TEST(http_messages, http11_keeps_the_connection_by_default) {
    server_response res = ok_response("hello");
    EXPECT_TRUE(finish_response(res, summarize(request(http::verb::get, 11)), true));
    EXPECT_TRUE(res.keep_alive());
    EXPECT_EQ(res.version(), 11u);
    EXPECT_EQ(header(res, http::field::content_length), "5");
    EXPECT_EQ(res.count(http::field::connection), 0u);
}

TEST(http_messages, request_asking_close_closes) {
    server_response res = ok_response("hello");
    EXPECT_FALSE(finish_response(res, summarize(request(http::verb::get, 11, "close")), true));
    EXPECT_FALSE(res.keep_alive());
    EXPECT_EQ(header(res, http::field::connection), "close");
}

TEST(http_messages, handler_saying_close_closes) {
    server_response res = ok_response("bye");
    res.keep_alive(false);
    EXPECT_FALSE(finish_response(res, summarize(request(http::verb::get, 11)), true));
    EXPECT_FALSE(res.keep_alive());
    EXPECT_EQ(header(res, http::field::connection), "close");
}

TEST(http_messages, http10_closes_unless_keep_alive_was_asked) {
    server_response closing = ok_response("hello");
    EXPECT_FALSE(finish_response(closing, summarize(request(http::verb::get, 10)), true));
    EXPECT_EQ(closing.version(), 10u);
    EXPECT_FALSE(closing.keep_alive());

    server_response kept = ok_response("hello");
    EXPECT_TRUE(finish_response(kept, summarize(request(http::verb::get, 10, "keep-alive")), true));
    EXPECT_EQ(kept.version(), 10u);
    EXPECT_TRUE(kept.keep_alive());
    EXPECT_EQ(header(kept, http::field::connection), "keep-alive");
    EXPECT_EQ(header(kept, http::field::content_length), "5");
}

TEST(http_messages, a_stopping_server_closes_whatever_was_asked) {
    server_response res = ok_response("hello");
    EXPECT_FALSE(finish_response(res, summarize(request(http::verb::get, 11)), false));
    EXPECT_FALSE(res.keep_alive());

    server_response old = ok_response("hello");
    EXPECT_FALSE(finish_response(old, summarize(request(http::verb::get, 10, "keep-alive")), false));
    EXPECT_FALSE(old.keep_alive());
}

TEST(http_messages, the_response_takes_the_requests_version) {
    server_response res{http::status::ok, 10};
    res.body() = "x";
    finish_response(res, summarize(request(http::verb::get, 11)), true);
    EXPECT_EQ(res.version(), 11u);
}

TEST(http_messages, content_length_is_that_of_the_body_whatever_the_handler_set) {
    server_response res = ok_response("twelve bytes");
    res.set(http::field::content_length, "999");
    finish_response(res, summarize(request(http::verb::get, 11)), true);
    EXPECT_EQ(header(res, http::field::content_length), "12");

    server_response empty = ok_response("");
    finish_response(empty, summarize(request(http::verb::get, 11)), true);
    EXPECT_EQ(header(empty, http::field::content_length), "0");
    EXPECT_EQ(empty.count(http::field::transfer_encoding), 0u);
}

TEST(http_messages, head_keeps_the_content_length_of_the_full_body) {
    server_response res = ok_response("a body of 19 bytes.");
    finish_response(res, summarize(request(http::verb::head, 11)), true);
    EXPECT_EQ(header(res, http::field::content_length), "19");
    EXPECT_EQ(res.body(), "a body of 19 bytes.");  // the caller sends the header only
}

TEST(http_messages, no_body_and_no_content_length_for_204_304_and_1xx) {
    for (const auto status : {http::status::no_content, http::status::not_modified, http::status::continue_}) {
        server_response res{status, 11};
        res.body() = "must not be sent";
        res.set(http::field::content_length, "16");
        EXPECT_TRUE(finish_response(res, summarize(request(http::verb::get, 11)), true)) << res.result_int();
        EXPECT_TRUE(res.body().empty()) << res.result_int();
        // RFC 9110 8.6: no Content-Length in a 1xx or 204; in a 304 it would have to be the 200's.
        EXPECT_EQ(res.count(http::field::content_length), 0u) << res.result_int();
        EXPECT_EQ(res.count(http::field::transfer_encoding), 0u) << res.result_int();
    }
}

// --- path_for_log ---

TEST(http_messages, path_for_log_drops_query_and_fragment) {
    EXPECT_EQ(path_for_log("/status?token=secret"), "/status");
    EXPECT_EQ(path_for_log("/status#token=secret"), "/status");
    EXPECT_EQ(path_for_log("/a#b?c"), "/a");
    EXPECT_EQ(path_for_log("/a?b#c"), "/a");
    EXPECT_EQ(path_for_log("?only=query"), "");
    EXPECT_EQ(path_for_log(""), "");
}

TEST(http_messages, path_for_log_keeps_printable_ascii) {
    EXPECT_EQ(path_for_log("/v1/api/status"), "/v1/api/status");
    EXPECT_EQ(path_for_log("*"), "*");
    EXPECT_EQ(path_for_log("/a%20b~!$&'()*+,;=:@"), "/a%20b~!$&'()*+,;=:@");
}

TEST(http_messages, path_for_log_escapes_blanks_controls_and_non_ascii) {
    EXPECT_EQ(path_for_log("/with space"), "/with%20space");
    EXPECT_EQ(path_for_log("/a\r\nfake log line"), "/a%0D%0Afake%20log%20line");
    EXPECT_EQ(path_for_log(std::string_view("/nul\0", 5)), "/nul%00");
    EXPECT_EQ(path_for_log("/\t\x1b\x7f"), "/%09%1B%7F");
    EXPECT_EQ(path_for_log("/caf\xc3\xa9"), "/caf%C3%A9");
    EXPECT_EQ(path_for_log("/\xff"), "/%FF");
}

TEST(http_messages, path_for_log_caps_at_200_characters) {
    const std::string exact(200, 'a');
    EXPECT_EQ(path_for_log(exact), exact);
    EXPECT_EQ(path_for_log(exact + "b"), exact + "...");
    EXPECT_EQ(path_for_log(std::string(5000, 'a')), exact + "...");
    // The query is dropped before the cap applies.
    EXPECT_EQ(path_for_log(exact + "?" + std::string(100, 'q')), exact);
}

TEST(http_messages, path_for_log_never_cuts_an_escape_in_half) {
    const std::string logged = path_for_log("/" + std::string(300, ' '));
    ASSERT_GE(logged.size(), 3u);
    EXPECT_EQ(logged.substr(logged.size() - 3), "...");
    const std::string kept = logged.substr(1, logged.size() - 4);
    ASSERT_EQ(kept.size() % 3, 0u);
    for (std::size_t i = 0; i < kept.size(); i += 3) EXPECT_EQ(kept.substr(i, 3), "%20") << i;
    EXPECT_EQ(logged.size() - 3, 199u);  // "/" and 66 escapes: a 67th would pass 200
}

// --- query parameters ---

TEST(http_messages, query_values_are_every_value_of_a_name_as_sent) {
    using values = std::vector<std::string_view>;
    EXPECT_EQ(query_values("a=1&b=2&a=3", "a"), (values{"1", "3"}));
    EXPECT_EQ(query_values("verbose", "verbose"), (values{""}));
    EXPECT_EQ(query_values("verbose=&x", "verbose"), (values{""}));
    EXPECT_EQ(query_values("verbosely=1&x=verbose", "verbose"), values{});
    EXPECT_EQ(query_values("a=%20&&a", "a"), (values{"%20", ""}));
    EXPECT_EQ(query_values("", "a"), values{});
}

// --- bearer tokens ---

server_request with_authorization(std::string_view value) {
    server_request req{http::verb::get, "/", 11};
    req.set(http::field::authorization, value);
    return req;
}

TEST(http_messages, bearer_token_is_read_in_any_scheme_case_with_blanks_trimmed) {
    EXPECT_EQ(bearer_token(with_authorization("Bearer abc")), "abc");
    EXPECT_EQ(bearer_token(with_authorization("bearer   abc  ")), "abc");
    EXPECT_EQ(bearer_token(with_authorization("BEARER abc")), "abc");
    EXPECT_FALSE(bearer_token(with_authorization("Basic YWxhZGRpbjpvcGVuc2VzYW1l")));
    EXPECT_FALSE(bearer_token(with_authorization("Bearer    ")));
    EXPECT_FALSE(bearer_token(server_request{http::verb::get, "/", 11}));
}

TEST(http_messages, bearer_matches_only_the_exact_token) {
    const secret token(std::string("the-token"));
    EXPECT_TRUE(bearer_matches(with_authorization("Bearer the-token"), token));
    EXPECT_FALSE(bearer_matches(with_authorization("Bearer the-toke"), token));
    EXPECT_FALSE(bearer_matches(with_authorization("Bearer the-token2"), token));
    EXPECT_FALSE(bearer_matches(with_authorization("Bearer "), secret()));
}

}  // namespace
}  // namespace sessiond
