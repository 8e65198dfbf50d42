#pragma once
// Wall-clock instants as the status API and reports print them: ISO 8601, UTC, milliseconds.

#include <chrono>
#include <string>

namespace sessiond {

// "2026-11-25T03:06:39.670Z"
std::string iso8601_utc(std::chrono::system_clock::time_point t);

// "7.3 s", "45 s", "4m05s", "2h07m": durations as people read them in logs and STATUS=.
std::string human_duration(std::chrono::milliseconds d);

}  // namespace sessiond
