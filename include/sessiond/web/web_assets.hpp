#pragma once
// The pages the daemon serves at / (web/ in the source tree), compiled into the binary at build time
// by cmake/embed_web.cmake: nothing to install beside the daemon, nothing fetched at run time.

#include <string_view>
#include <vector>

namespace sessiond {

struct embedded_file {
    std::string_view path;  // "/index.html"
    std::string_view body;
    std::string_view etag;  // quoted, from the content's SHA-256: the same bytes, the same tag
};

// Every file of web/, in path order (generated).
const std::vector<embedded_file>& embedded_web_files();

// By the file name's extension; "application/octet-stream" for one not known.
std::string_view web_content_type(std::string_view path) noexcept;

// The headers every page carries: a Content-Security-Policy that allows only the daemon's own
// scripts, styles and API (no inline script, no eval), no framing, no referrer.
inline constexpr std::string_view page_content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

}  // namespace sessiond
