#pragma once
// The one worker thread that takes what must not block the event loop (core/offload.hpp): RSA
// signatures and the fsyncs of the pacing record. It runs below the loop (nice +10), so that where the
// two share a core (a pinned process, a container with one CPU) the loop wakes ahead of it: a probe's
// answer waits for a signature at most rarely. Not SCHED_IDLE, which it once was: beside two busy
// processes at nice 0 an idle-class thread gets almost no CPU, and 1,000 users starting made no
// login in five minutes (their signatures and pacing records all wait here).

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
