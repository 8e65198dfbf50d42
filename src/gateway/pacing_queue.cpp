#include "sessiond/gateway/pacing_queue.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace sessiond {

namespace asio = boost::asio;

pacing_permit::pacing_permit(std::shared_ptr<username_pacer> pacer, std::string path, std::function<void()> released)
    : pacer_(std::move(pacer)), path_(std::move(path)), released_(std::move(released)) {}

pacing_permit& pacing_permit::operator=(pacing_permit&& other) noexcept {
    if (this != &other) {
        release();
        pacer_ = std::move(other.pacer_);
        path_ = std::move(other.path_);
        released_ = std::move(other.released_);
    }
    return *this;
}

pacing_permit::~pacing_permit() { release(); }

void pacing_permit::release() noexcept {
    if (!pacer_) return;
    pacer_->end_in_flight(path_);
    pacer_.reset();
    if (released_) std::exchange(released_, {})();
}

pacing_queue::pacing_queue(asio::any_io_executor executor, std::shared_ptr<username_pacer> pacer)
    : executor_(std::move(executor)), pacer_(std::move(pacer)), wake_(executor_) {}

pacing_queue::~pacing_queue() {
    *alive_ = false;
    // Waiters still queued (the gateway stopping) end as refused: wake them.
    for (waiter* w : waiters_) w->timer.cancel();
}

wall_time pacing_queue::ready_at(const std::string& path, wall_time now) const {
    return pacer_->ready_at(path, now, spare_for_session);
}

pacing_permit pacing_queue::permit_for(const std::string& path) {
    pacer_->record_start(path, std::chrono::system_clock::now());
    pacer_->begin_in_flight(path);
    // An endpoint limited by requests in flight gets its place back when the request ends: look again.
    return pacing_permit(pacer_, path, [this, alive = std::weak_ptr<bool>(alive_)] {
        if (const auto a = alive.lock(); a && *a) poke();
    });
}

asio::awaitable<pacing_queue::result> pacing_queue::acquire(std::string path, clock::time_point deadline,
                                                           asio::cancellation_slot cancelled) {
    const wall_time now = std::chrono::system_clock::now();
    const wall_time at = ready_at(path, now);
    const auto left = deadline - clock::now();
    if (at - now > left) co_return pacing_refusal{at, pacer_->penalty_until(now).has_value()};
    if (waiters_.empty() && at <= now && pacer_->has_room(path)) co_return permit_for(path);

    waiter w(executor_, std::move(path));
    w.timer.expires_at(deadline);
    const auto place = waiters_.insert(waiters_.end(), &w);
    dispatch();
    if (w.admitted) co_return std::move(*w.permit);
    const auto alive = alive_;
    auto [ec] = co_await w.timer.async_wait(asio::bind_cancellation_slot(cancelled, asio::as_tuple(asio::use_awaitable)));
    if (w.admitted) co_return std::move(*w.permit);
    if (!*alive) co_return pacing_refusal{std::chrono::system_clock::now(), false};
    waiters_.erase(place);
    if (ec && clock::now() < deadline) co_return pacing_cancelled{};
    const wall_time later = std::chrono::system_clock::now();
    co_return pacing_refusal{std::max(later, ready_at(w.path, later)), pacer_->penalty_until(later).has_value()};
}

void pacing_queue::poke() { dispatch(); }

void pacing_queue::dispatch() {
    const wall_time now = std::chrono::system_clock::now();
    std::optional<wall_time> next;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
        waiter& w = **it;
        const wall_time at = ready_at(w.path, now);
        if (at <= now && pacer_->has_room(w.path)) {
            w.permit.emplace(permit_for(w.path));
            w.admitted = true;
            w.timer.cancel();
            it = waiters_.erase(it);
            continue;
        }
        if (at > now) next = next ? std::min(*next, at) : at;  // else: waits for a place in flight (poke)
        ++it;
    }
    if (!next) return;
    wake_.expires_after(*next - now);
    wake_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
        const auto a = alive.lock();
        if (!ec && a && *a) dispatch();
    });
}

}  // namespace sessiond
