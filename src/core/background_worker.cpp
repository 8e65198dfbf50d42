#include "sessiond/core/background_worker.hpp"

#include <boost/asio/post.hpp>

#include <future>

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

namespace sessiond {

background_worker::background_worker() {
    // The pool has one thread: the first job runs on it, and the start waits for its answer.
    std::promise<bool> lowered;
    auto answer = lowered.get_future();
    boost::asio::post(pool_, [&lowered] {
        // SCHED_IDLE: a waking loop preempts the worker at once (at nice +10 alone it could wait out
        // the rest of a signature, a millisecond, behind it). Under full load the worker still gets
        // CFS's small share for idle tasks: a signature is late by a fraction of a second, not starved.
        const sched_param none{};
        const bool idle = ::sched_setscheduler(::gettid(), SCHED_IDLE, &none) == 0;
        const bool niced = ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10) == 0;
        lowered.set_value(idle || niced);
    });
    yields_ = answer.get();
}

background_worker::~background_worker() { pool_.join(); }

}  // namespace sessiond
