// Where the store's work runs: on its own database thread, never the caller's, with the caller's
// loop free meanwhile; and what happens to work still queued when the store goes.

#include "store_test_support.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <future>
#include <thread>

namespace sessiond {
namespace {

using namespace store_test;
using namespace std::chrono_literals;

class store_thread : public store_fixture {};

struct observed {
    std::thread::id worked_on;
    std::thread::id resumed_on;
};

asio::awaitable<void> record_threads(credential_store& store, observed& out) {
    auto work = [&out](store_tx& tx) {
        out.worked_on = std::this_thread::get_id();
        return tx.list_users("", 1);
    };
    auto r = co_await store.transact(std::move(work));
    EXPECT_TRUE(r);
    out.resumed_on = std::this_thread::get_id();
}

TEST_F(store_thread, runs_every_call_on_the_database_thread_and_resumes_on_the_callers_loop) {
    observed first;
    observed second;
    asio::co_spawn(io, record_threads(*store, first), asio::detached);
    asio::co_spawn(io, record_threads(*store, second), asio::detached);
    io.restart();
    io.run();
    EXPECT_NE(first.worked_on, std::thread::id());
    EXPECT_NE(first.worked_on, std::this_thread::get_id());
    EXPECT_EQ(second.worked_on, first.worked_on);  // one thread, not a pool
    EXPECT_EQ(first.resumed_on, std::this_thread::get_id());
    EXPECT_EQ(second.resumed_on, std::this_thread::get_id());
}

TEST_F(store_thread, the_loop_runs_its_timers_while_a_transaction_holds_the_database_thread) {
    asio::steady_timer timer(io);
    std::promise<void> timer_fired;
    auto fired = timer_fired.get_future();
    // The transaction starts a timer on the loop and waits, mid-transaction, for the loop to run
    // it: it can finish only if the loop is not waiting for it. The bound only turns a broken
    // store into a failure instead of a hung test.
    auto slow = [&](store_tx& tx) -> expected<void> {
        if (auto r = tx.save_pacing("ibkr-user", "sessiond-pacing 1\n", 1, std::nullopt); !r) return r;
        asio::post(io, [&] {
            timer.expires_after(1ms);
            timer.async_wait([&](boost::system::error_code) { timer_fired.set_value(); });
        });
        if (fired.wait_for(60s) != std::future_status::ready) return make_error("the loop never ran its timer");
        return {};
    };
    auto r = transact(std::move(slow));
    EXPECT_TRUE(r) << r.error().message;
}

asio::awaitable<void> save_one(credential_store& store, int i, int& completed) {
    auto save = [i](store_tx& tx) { return tx.save_pacing("user-" + std::to_string(i), "sessiond-pacing 1\n", i, std::nullopt); };
    auto r = co_await store.transact(std::move(save));
    EXPECT_TRUE(r);
    if (r) ++completed;
}

std::int64_t pacing_rows(asio::io_context& io, const std::filesystem::path& file) {
    auto store = open_store(io, file);
    if (store == nullptr) return -1;
    std::int64_t found = 0;
    for (int i = 0; i < 20; ++i) {
        auto load = [i](store_tx& tx) { return tx.load_pacing("user-" + std::to_string(i)); };
        auto r = await_on(io, store->transact(std::move(load)));
        if (r && *r) ++found;
    }
    return found;
}

asio::awaitable<void> hold(credential_store& store, std::shared_future<void> gate) {
    auto wait = [gate](store_tx&) -> expected<void> {
        gate.wait();
        return {};
    };
    co_await store.transact(std::move(wait));
}

// Queues 20 transactions behind one that waits for `gate`, so that they are all still queued.
void queue_behind_a_gate(asio::io_context& io, credential_store& store, std::shared_future<void> gate, int& completed) {
    asio::co_spawn(io, hold(store, std::move(gate)), asio::detached);
    for (int i = 0; i < 20; ++i) asio::co_spawn(io, save_one(store, i, completed), asio::detached);
    io.restart();
    io.poll();  // every coroutine has handed its transaction to the database thread
}

TEST_F(store_thread, work_queued_when_the_store_is_destroyed_is_done_before_it_closes) {
    std::promise<void> open_gate;
    int completed = 0;
    queue_behind_a_gate(io, *store, open_gate.get_future().share(), completed);
    open_gate.set_value();
    store.reset();
    io.restart();
    io.run();  // the results, posted back before the store closed
    EXPECT_EQ(completed, 20);
    EXPECT_EQ(pacing_rows(io, file()), 20);
}

TEST_F(store_thread, results_never_delivered_because_the_loop_went_first_are_freed) {
    std::promise<void> open_gate;
    int completed = 0;
    {
        asio::io_context other;
        queue_behind_a_gate(other, *store, open_gate.get_future().share(), completed);
        open_gate.set_value();
        store.reset();
        // `other` is destroyed without running the coroutines' resumptions: their frames are
        // freed with it (the sanitizer builds check nothing leaks).
    }
    EXPECT_EQ(completed, 0);
    EXPECT_EQ(pacing_rows(io, file()), 20);
}

}  // namespace
}  // namespace sessiond
