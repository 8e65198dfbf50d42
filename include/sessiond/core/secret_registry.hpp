#pragma once
// Every secret enrolls itself here while it lives; the log redactor asks where they occur in a line.
//
// With many users a process holds tens of thousands of live secrets (bearers, cookies, tokens), and
// every log line is checked against all of them. The registry therefore indexes them by their first
// bytes: a line of n bytes costs n lookups and a comparison per candidate, whatever the number of
// secrets, where a find() per secret cost n times their number. Only positions leave the registry's
// lock, never the values.

#include <cstddef>
#include <functional>
#include <string_view>

namespace sessiond {

// Calls found(start, end) for every occurrence in `text` of every live secret, overlapping ones and
// each secret holding the same value included, in no particular order.
void find_live_secrets(std::string_view text, const std::function<void(std::size_t, std::size_t)>& found);

}  // namespace sessiond
