#include "sessiond/web/web_assets.hpp"

#include <array>
#include <utility>

namespace sessiond {

std::string_view web_content_type(std::string_view path) noexcept {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> types{{
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
    }};
    for (const auto& [extension, type] : types)
        if (path.ends_with(extension)) return type;
    return "application/octet-stream";
}

}  // namespace sessiond
