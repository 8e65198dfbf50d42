#pragma once
// Typos in variable names: an IBKR_* or SESSIOND_* name the schema does not know is most likely a
// misspelt one. Pure.

#include <optional>
#include <string_view>

namespace sessiond {

// Under the daemon's prefixes (IBKR_, SESSIOND_, in any case) but not a variable the daemon reads.
bool is_unknown_daemon_variable(std::string_view name);

// The known variable `name` most likely means: the nearest within two edits (insertions, deletions,
// substitutions, swaps of neighbours), case ignored; the first in the schema's order on a tie.
std::optional<std::string_view> suggest_variable(std::string_view name);

// Optimal string alignment distance between a and b.
int edit_distance(std::string_view a, std::string_view b);

}  // namespace sessiond
