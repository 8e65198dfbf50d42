#pragma once
// The one worker thread that takes what must not block the event loop (core/offload.hpp): RSA
// signatures and the fsyncs of the pacing record. It runs below the loop (SCHED_IDLE, and nice +10
// where that policy is refused), so that where the two share a core (a pinned process, a container
// with one CPU) the loop preempts it at once: a probe's answer never waits for a signature.

#include "sessiond/core/offload.hpp"

#include <boost/asio/thread_pool.hpp>

namespace sessiond {

class background_worker {
public:
    background_worker();
    ~background_worker();
    background_worker(const background_worker&) = delete;
    background_worker& operator=(const background_worker&) = delete;

    [[nodiscard]] offload work() { return offload(pool_.get_executor()); }
    // Whether a lower priority took (a seccomp filter may forbid sched_setscheduler and setpriority;
    // the work then runs at the loop's priority).
    [[nodiscard]] bool yields_to_the_loop() const noexcept { return yields_; }

private:
    boost::asio::thread_pool pool_{1};
    bool yields_ = false;
};

}  // namespace sessiond
