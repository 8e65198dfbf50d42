#pragma once
// Whether this build runs under a sanitizer, for the few bounds that are about speed.

namespace sessiond::testing {

// ASan and TSan multiply the daemon's CPU cost several times over (on two cores, with the tests
// and the simulator instrumented too). A latency bound is stretched by this factor under them, so
// that it still catches a blocked event loop without failing on the instrumentation's own cost;
// the plain test build asserts the bound itself.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int sanitizer_slowdown = 4;
#else
inline constexpr int sanitizer_slowdown = 1;
#endif

}  // namespace sessiond::testing
