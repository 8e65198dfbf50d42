#include "sessiond/store/database.hpp"

#include <array>
#include <utility>

namespace sessiond {

std::string engine_sql(std::string_view text, const engine_words& words) {
    const std::array<std::pair<std::string_view, std::string_view>, 4> placeholders{{{"{blob}", words.blob},
                                                                                   {"{now_ms}", words.now_ms},
                                                                                   {"{skip_locked}", words.skip_locked},
                                                                                   {"{for_share}", words.for_share}}};
    std::string out;
    out.reserve(text.size());
    for (std::size_t at = 0; at < text.size();) {
        bool replaced = false;
        if (text[at] == '{')
            for (const auto& [name, word] : placeholders)
                if (text.substr(at, name.size()) == name) {
                    out.append(word);
                    at += name.size();
                    replaced = true;
                    break;
                }
        if (!replaced) out.push_back(text[at++]);
    }
    return out;
}

}  // namespace sessiond
