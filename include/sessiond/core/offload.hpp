#pragma once
// Work that must not run on the event loop: an RSA signature (about 1 ms each, once per login and
// per user) and the fsyncs of a durable write. It runs on a small worker pool while the coroutine
// that needs the result waits; the result is handed back on the coroutine's own executor, so
// everything else stays on the loop's one thread. Without a worker (the default) the work runs on
// the caller's executor, which is what a one-shot command line wants.
//
// The function must only read what the waiting coroutine keeps alive and does not change while it
// waits (its own locals, its session's constant settings); what it returns is handed back by value.
// Pass it as a named object (co_await run(std::move(work))): GCC 12 mishandles lambda temporaries
// in a co_await expression.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <type_traits>
#include <utility>

namespace sessiond {

class offload {
public:
    offload() = default;
    explicit offload(boost::asio::any_io_executor worker) : worker_(std::move(worker)) {}

    [[nodiscard]] bool inline_only() const noexcept { return !worker_; }

    template <typename F>
    auto run(F work) const {
        using result = std::invoke_result_t<F&>;
        return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>, void(result)>(
            [worker = worker_](auto handler, F fn) {
                auto home = boost::asio::get_associated_executor(handler);
                auto job = [handler = std::move(handler), fn = std::move(fn), home]() mutable {
                    result r = fn();
                    boost::asio::post(home, [handler = std::move(handler), r = std::move(r)]() mutable {
                        std::move(handler)(std::move(r));
                    });
                };
                if (worker)
                    boost::asio::post(worker, std::move(job));
                else
                    boost::asio::post(home, std::move(job));
            },
            boost::asio::use_awaitable, std::move(work));
    }

private:
    boost::asio::any_io_executor worker_;
};

}  // namespace sessiond
