#include "sessiond/core/time_format.hpp"

#include <array>
#include <cstdio>
#include <ctime>

namespace sessiond {

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
    const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
    const auto secs = std::chrono::floor<std::chrono::seconds>(ms);
    const std::time_t tt = std::chrono::system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>((ms - secs).count()));
    return buf.data();
}

std::string human_duration(std::chrono::milliseconds d) {
    if (d < std::chrono::milliseconds(0)) d = std::chrono::milliseconds(0);
    std::array<char, 48> buf{};
    const long long ms = d.count();
    const long long s = ms / 1000;
    if (ms < 10'000)
        std::snprintf(buf.data(), buf.size(), "%.1f s", static_cast<double>(ms) / 1000.0);
    else if (s < 120)
        std::snprintf(buf.data(), buf.size(), "%lld s", s);
    else if (s < 7200)
        std::snprintf(buf.data(), buf.size(), "%lldm%02llds", s / 60, s % 60);
    else
        std::snprintf(buf.data(), buf.size(), "%lldh%02lldm", s / 3600, (s % 3600) / 60);
    return buf.data();
}

}  // namespace sessiond
