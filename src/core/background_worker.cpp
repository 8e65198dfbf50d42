#include "sessiond/core/background_worker.hpp"

#include <boost/asio/post.hpp>

#include <future>

#include <sys/resource.h>
#include <unistd.h>

namespace sessiond {

background_worker::background_worker() {
    // The pool has one thread: the first job runs on it, and the start waits for its answer.
    std::promise<bool> lowered;
    auto answer = lowered.get_future();
    boost::asio::post(pool_, [&lowered] {
        // nice +10: about a tenth of a core beside busy nice-0 processes (SCHED_IDLE got about 0.3 %:
        // starved), and behind the loop whenever both want the same core.
        const bool niced = ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10) == 0;
        lowered.set_value(niced);
    });
    yields_ = answer.get();
}

background_worker::~background_worker() { pool_.join(); }

}  // namespace sessiond
