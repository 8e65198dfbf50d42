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
        lowered.set_value(::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10) == 0);
    });
    yields_ = answer.get();
}

background_worker::~background_worker() { pool_.join(); }

}  // namespace sessiond
