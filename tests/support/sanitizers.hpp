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

// How long a test waits for an event (a log line, a notification, an exit, a simulator's call):
// the bound is stretched by the same factor. A wait ends as soon as its event comes, so this only
// matters when something is late: a cold machine loading instrumented binaries from disk for the
// first time, with another suite on the second core, took longer than the plain bounds under TSan.
// A wait that expects nothing to happen lasts longer, and asserts the same.
template <typename Duration>
constexpr Duration patience(Duration bound) {
    return bound * sanitizer_slowdown;
}

}  // namespace sessiond::testing
