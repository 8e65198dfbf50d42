#pragma once
// The status server's request handling without sockets: the input is what a client sends on one
// connection. It is read as http_connection reads it (a request_parser<string_body> with the server's
// header and body limits, http::read_header then http::read through a buffer of header limit + 4096
// bytes) from a stream that hands the bytes over in uneven pieces. A request that cannot be read earns
// status_for_read_error's answer; each request that can is summarised, answered (the status picked by
// the length of its target, so that 1xx, 204 and 304 come up), made ready by finish_response, written
// and parsed back as a client would. Keep-alive requests are served in turn, as the server does.
//
// Checked: no exception; path_for_log is printable, bounded and free of the query; the refusal is
// 400, 413 or 431, and 431/413 exactly for the header and body limits; finish_response keeps the
// connection only when both sides may, and its response parses back with the same status, body and
// keep-alive; a prebuilt_response of the same answer writes the same bytes.

#include "check.hpp"

#include "sessiond/server/http_messages.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <sstream>
#include <string>
#include <string_view>

namespace sessiond::fuzz {

// A SyncReadStream over the input: pieces of 4096, 1, 100 and 7 bytes in turn, then end of stream.
class piecewise_stream {
public:
    explicit piecewise_stream(std::string_view bytes) : bytes_(bytes) {}

    template <class MutableBufferSequence>
    std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
        constexpr std::array<std::size_t, 4> pieces{4096, 1, 100, 7};
        if (bytes_.empty()) {
            ec = boost::asio::error::eof;
            return 0;
        }
        ec = {};
        const std::size_t piece = std::min(pieces[reads_++ % pieces.size()], bytes_.size());
        const std::size_t n = boost::asio::buffer_copy(buffers, boost::asio::buffer(bytes_.data(), piece));
        bytes_.remove_prefix(n);
        return n;
    }

    template <class MutableBufferSequence>
    std::size_t read_some(const MutableBufferSequence& buffers) {
        boost::system::error_code ec;
        const std::size_t n = read_some(buffers, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }

private:
    std::string_view bytes_;
    std::size_t reads_ = 0;
};

inline std::string check_path_for_log(std::string_view target) {
    const std::string path = path_for_log(target);
    if (auto bad = check_one_line("path_for_log", path, 203); !bad.empty()) return bad;
    if (path.find_first_of("?# ") != std::string::npos) return "path_for_log kept a query, fragment or blank";
    return {};
}

// Writes the response and reads it back as a client of a request with that method would.
inline std::string check_round_trip(const server_response& res, const request_summary& summary) {
    std::ostringstream wire;
    wire << res;
    const std::string bytes = wire.str();
    boost::beast::http::response_parser<boost::beast::http::string_body> parser;
    parser.body_limit(1024 * 1024);
    parser.eager(true);
    if (summary.head) parser.skip(true);
    boost::system::error_code ec;
    std::size_t used = parser.put(boost::asio::buffer(bytes), ec);
    if (ec == boost::beast::http::error::need_more) ec = {};
    if (!ec && !parser.is_done()) parser.put_eof(ec);
    if (ec) return "the finished response does not parse back: " + ec.message();
    if (!summary.head && used != bytes.size()) return "the finished response has bytes after its end";
    const server_response& back = parser.get();
    if (back.result() != res.result()) return "the finished response parses back with another status";
    if (!summary.head && back.body() != res.body()) return "the finished response parses back with another body";
    if (back.keep_alive() != res.keep_alive()) return "the finished response parses back with another keep-alive";
    return {};
}

// A prebuilt_response of the same answer must put the same bytes on the wire as finish_response does.
inline std::string check_prebuilt(const server_response& unfinished, const server_response& finished,
                                  const request_summary& summary, bool may_keep_alive, bool keep) {
    const prebuilt_response prebuilt(unfinished);
    bool prebuilt_keep = false;
    const std::string_view bytes = prebuilt.wire(summary, may_keep_alive, prebuilt_keep);
    if (prebuilt_keep != keep) return "prebuilt_response and finish_response disagree on keep-alive";
    std::ostringstream wire;
    wire << finished;
    std::string expected = wire.str();
    if (summary.head) expected.resize(std::min(expected.size(), expected.find("\r\n\r\n") + 4));
    if (bytes != expected) return "prebuilt_response's bytes differ from the finished response's";
    return {};
}

inline std::string answer(const server_request& req, bool may_keep_alive, bool& keep) {
    namespace http = boost::beast::http;
    const request_summary summary = summarize(req);
    if (summary.method.empty()) return "summary without method";
    if (summary.version != 10 && summary.version != 11) return "summary version is not 10 or 11";
    if (summary.head != (req.method() == http::verb::head)) return "summary head disagrees with the method";
    if (auto bad = check_path_for_log(req.target()); !bad.empty()) return bad;

    constexpr std::array<http::status, 7> statuses{http::status::ok, http::status::no_content, http::status::not_modified,
                                                   http::status::continue_, http::status::not_found,
                                                   http::status::internal_server_error, http::status::unauthorized};
    const http::status status = statuses[req.target().size() % statuses.size()];
    server_response res = status >= http::status::bad_request ? json_error(status, "refused", 11, true)
                                                              : server_response{status, 11};
    if (status == http::status::ok) res.body() = std::string(req.body().size() % 64, 'x');
    const server_response unfinished = res;
    keep = finish_response(res, summary, may_keep_alive);
    if (auto bad = check_prebuilt(unfinished, res, summary, may_keep_alive, keep); !bad.empty()) return bad;

    if (keep && !(may_keep_alive && summary.keep_alive)) return "finish_response keeps a connection it may not";
    if (res.keep_alive() != keep) return "finish_response says keep-alive but the response does not";
    if (res.version() != summary.version) return "the response has another HTTP version than the request";
    const unsigned code = res.result_int();
    const bool no_body = (code >= 100 && code < 200) || code == 204 || code == 304;
    if (no_body && (!res.body().empty() || res.count(http::field::content_length) != 0 ||
                    res.count(http::field::transfer_encoding) != 0))
        return "a " + std::to_string(code) + " response has a body or its length";
    if (!no_body && res[http::field::content_length] != std::to_string(res.body().size()))
        return "Content-Length differs from the body";
    // 1xx is never the final answer a client reads: nothing to parse back.
    if (code >= 200) return check_round_trip(res, summary);
    return {};
}

inline std::string http_request(std::string_view input) {
    namespace http = boost::beast::http;
    constexpr std::size_t header_limit = 8 * 1024;
    constexpr std::size_t body_limit = 16 * 1024;
    constexpr std::size_t read_chunk = 4096;
    constexpr int max_requests = 32;

    if (auto bad = check_path_for_log(input); !bad.empty()) return bad;

    piecewise_stream stream(input);
    boost::beast::flat_buffer buffer(header_limit + read_chunk);
    for (int i = 0; i < max_requests; ++i) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(header_limit));
        parser.body_limit(body_limit);
        boost::system::error_code ec;
        http::read_header(stream, buffer, parser, ec);
        if (!ec && !parser.is_done()) http::read(stream, buffer, parser, ec);
        if (ec) {
            const auto refusal = status_for_read_error(ec);
            if (ec == http::error::header_limit && refusal != http::status::request_header_fields_too_large)
                return "a header over the limit is not refused with 431";
            if (ec == http::error::body_limit && refusal != http::status::payload_too_large)
                return "a body over the limit is not refused with 413";
            if (!refusal) return {};
            if (*refusal != http::status::bad_request && *refusal != http::status::payload_too_large &&
                *refusal != http::status::request_header_fields_too_large)
                return "a request that cannot be read is refused with " + std::to_string(static_cast<unsigned>(*refusal));
            const server_response res = json_error(*refusal, "malformed request");
            if (res[http::field::content_length] != std::to_string(res.body().size()))
                return "json_error's Content-Length differs from its body";
            return {};
        }
        // Now and then the server is stopping and may keep no connection open.
        const bool may_keep_alive = (input.size() + static_cast<std::size_t>(i)) % 4 != 3;
        bool keep = false;
        if (auto bad = answer(parser.get(), may_keep_alive, keep); !bad.empty()) return bad;
        if (!keep) return {};
    }
    return {};
}

}  // namespace sessiond::fuzz
