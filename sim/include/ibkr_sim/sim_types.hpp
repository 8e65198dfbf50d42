#pragma once
// Vocabulary shared by the simulator's parts: its wall clock and the shape of a refusal.

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace sessiond::sim {

// JWT iat/exp, AUTH_TIME and lastAccessed are wall-clock facts, so the model runs on the wall clock.
using wall_clock = std::chrono::system_clock;
using wall_time = wall_clock::time_point;

inline std::int64_t epoch_ms(wall_time t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Why IBKR would refuse a request: the HTTP status, a short code counted in /control/state
// ("rejections") and shown in the request log, and the human text that goes into the body.
struct rejection {
    unsigned status = 0;
    std::string reason;
    std::string detail;
};

// Only reached when code calls .value() on a failed result: a programming error.
[[noreturn]] void throw_exception_from_error(const rejection& r, const boost::source_location& loc);

template <class T>
using checked = boost::system::result<T, rejection>;

}  // namespace sessiond::sim
