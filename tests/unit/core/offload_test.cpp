// Work handed to a worker runs off the event loop's thread, and the coroutine that waited for it
// carries on on the loop's thread with the result.

#include "sessiond/core/offload.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace sessiond {
namespace {

namespace asio = boost::asio;

struct observed {
    std::thread::id worked_on;
    std::thread::id resumed_on;
    std::string result;
};

asio::awaitable<void> use(const offload& o, observed& out) {
    std::string input = "signed";
    auto work = [&out, input] {
        out.worked_on = std::this_thread::get_id();
        return input + " elsewhere";
    };
    std::string r = co_await o.run(std::move(work));
    out.resumed_on = std::this_thread::get_id();
    out.result = std::move(r);
}

TEST(offload, runs_the_work_on_the_worker_and_resumes_on_the_loop) {
    asio::io_context io;
    asio::thread_pool pool(1);
    const offload o(pool.get_executor());
    observed seen;
    asio::co_spawn(io, use(o, seen), asio::detached);
    io.run();
    EXPECT_EQ(seen.result, "signed elsewhere");
    EXPECT_NE(seen.worked_on, std::this_thread::get_id());
    EXPECT_NE(seen.worked_on, std::thread::id());
    EXPECT_EQ(seen.resumed_on, std::this_thread::get_id());
}

TEST(offload, without_a_worker_runs_on_the_loop) {
    asio::io_context io;
    const offload o;
    EXPECT_TRUE(o.inline_only());
    observed seen;
    asio::co_spawn(io, use(o, seen), asio::detached);
    io.run();
    EXPECT_EQ(seen.result, "signed elsewhere");
    EXPECT_EQ(seen.worked_on, std::this_thread::get_id());
    EXPECT_EQ(seen.resumed_on, std::this_thread::get_id());
}

}  // namespace
}  // namespace sessiond
