#include "sessiond/config/variable_suggestions.hpp"

#include "sessiond/config/variable_schema.hpp"
#include "sessiond/core/values.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

namespace sessiond {

namespace {

// The prefixes of the daemon's own variables: an unknown name under them is most likely a typo.
constexpr std::array<std::string_view, 2> daemon_prefixes = {"IBKR_", "SESSIOND_"};
constexpr int max_suggestion_distance = 2;

}  // namespace

int edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<int>> d(a.size() + 1, std::vector<int>(b.size() + 1, 0));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = static_cast<int>(i);
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = static_cast<int>(j);
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

bool is_unknown_daemon_variable(std::string_view name) {
    const bool ours =
        std::ranges::any_of(daemon_prefixes, [&](std::string_view p) { return starts_with_ignoring_case(name, p); });
    return ours && find_variable(name) == nullptr;
}

std::optional<std::string_view> suggest_variable(std::string_view name) {
    std::string upper(name);
    std::ranges::transform(upper, upper.begin(),
                           [](char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); });
    std::optional<std::string_view> best;
    int best_distance = max_suggestion_distance + 1;
    for (const std::string_view known : known_variables()) {
        const int distance = edit_distance(upper, known);
        if (distance < best_distance) {
            best = known;
            best_distance = distance;
        }
    }
    return best;
}

}  // namespace sessiond
