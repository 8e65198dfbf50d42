#include "sessiond/api/pages.hpp"

#include <boost/beast/http/field.hpp>

namespace sessiond {

namespace http = boost::beast::http;

void set_page_headers(server_response& res, const embedded_file& file) {
    res.set(http::field::etag, file.etag);
    res.set(http::field::cache_control, "no-cache");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    if (file.path.ends_with(".html")) {
        res.set("Content-Security-Policy", page_content_security_policy);
        res.set(http::field::x_frame_options, "DENY");
    }
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) noexcept {
    while (!if_none_match.empty()) {
        const auto comma = if_none_match.find(',');
        std::string_view item = if_none_match.substr(0, comma);
        if_none_match = comma == std::string_view::npos ? std::string_view() : if_none_match.substr(comma + 1);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (item.starts_with("W/")) item.remove_prefix(2);
        if (item == "*" || item == etag) return true;
    }
    return false;
}

pages::pages() {
    for (const embedded_file& file : embedded_web_files()) {
        server_response full{http::status::ok, 11};
        full.set(http::field::content_type, web_content_type(file.path));
        set_page_headers(full, file);
        full.body() = std::string(file.body);
        full.prepare_payload();
        server_response unchanged{http::status::not_modified, 11};
        set_page_headers(unchanged, file);
        page p{file.etag, std::make_shared<const prebuilt_response>(std::move(full)),
               std::make_shared<const prebuilt_response>(std::move(unchanged))};
        pages_.emplace(file.path, std::move(p));
        if (file.path == "/index.html") pages_.emplace("/", pages_.at(file.path));
    }
}

std::shared_ptr<const prebuilt_response> pages::find(const server_request& request, std::string_view path) const {
    const auto it = pages_.find(path);
    if (it == pages_.end()) return nullptr;
    const auto inm = request.find(http::field::if_none_match);
    if (inm != request.end() && etag_matches(inm->value(), it->second.etag)) return it->second.not_modified;
    return it->second.full;
}

}  // namespace sessiond
