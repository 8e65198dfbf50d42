#include "sessiond/core/background_worker.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <algorithm>

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

namespace sessiond {
namespace {

TEST(background_worker, runs_its_work_below_the_loops_priority) {
    // The loop outlives the worker: the worker's thread may still be inside its post() of the
    // result when the loop has run dry, so it is joined before the loop goes.
    boost::asio::io_context io;
    background_worker worker;
    ASSERT_TRUE(worker.yields_to_the_loop());
    auto probe = [] {
        errno = 0;
        const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
        EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER) << "not SCHED_IDLE: starved beside busy processes";
        return std::make_pair(nice, ::gettid());
    };
    auto measured = boost::asio::co_spawn(
        io, [&]() -> boost::asio::awaitable<std::pair<int, pid_t>> { co_return co_await worker.work().run(probe); },
        boost::asio::use_future);
    io.run();
    const auto [worker_nice, worker_tid] = measured.get();
    const int loop_nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
    EXPECT_NE(worker_tid, ::gettid()) << "on its own thread";
    EXPECT_EQ(worker_nice, std::min(loop_nice + 10, 19)) << "below the loop's priority";
}

}  // namespace
}  // namespace sessiond
