#pragma once
// The web pages on the API listener (web/, embedded: sessiond/web/web_assets.hpp). Each file's answer
// is serialised once; a browser that sends the file's ETag back gets 304. Pages are revalidated at
// every load (no-cache: a new daemon's pages show at once) and carry the strict CSP, nosniff, no
// referrer and no framing.

#include "sessiond/server/http_messages.hpp"
#include "sessiond/web/web_assets.hpp"

#include <map>
#include <memory>
#include <string_view>

namespace sessiond {

class pages {
public:
    pages();
    // The answer to GET (or HEAD) of path, or null when no page has that path.
    [[nodiscard]] std::shared_ptr<const prebuilt_response> find(const server_request& request, std::string_view path) const;

private:
    struct page {
        std::string_view etag;
        std::shared_ptr<const prebuilt_response> full;
        std::shared_ptr<const prebuilt_response> not_modified;
    };
    std::map<std::string_view, page> pages_;
};

// The headers of a page's answer (200 and 304 alike).
void set_page_headers(server_response& res, const embedded_file& file);

// Whether an If-None-Match header value names this ETag ("*", or a list that holds it, weak or not).
bool etag_matches(std::string_view if_none_match, std::string_view etag) noexcept;

}  // namespace sessiond
