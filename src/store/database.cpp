#include "sessiond/store/database.hpp"

namespace sessiond {

std::string engine_sql(std::string_view text, std::string_view blob_type) {
    constexpr std::string_view placeholder = "{blob}";
    std::string out;
    out.reserve(text.size());
    for (std::size_t at = 0;;) {
        const auto found = text.find(placeholder, at);
        if (found == std::string_view::npos) {
            out.append(text.substr(at));
            return out;
        }
        out.append(text.substr(at, found - at)).append(blob_type);
        at = found + placeholder.size();
    }
}

}  // namespace sessiond
