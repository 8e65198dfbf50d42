#include "sessiond/pacing/rate_window.hpp"

#include <algorithm>

namespace sessiond {

using std::chrono::milliseconds;

rate_window::rate_window(milliseconds window, int limit, milliseconds min_spacing) : window_(window) {
    set_limits(limit, min_spacing);
}

wall_time rate_window::next_allowed(wall_time now, int limit) const {
    if (recent_.empty()) return now;
    const auto last = std::min(recent_.back(), now);
    wall_time next = std::max(now, last + min_spacing_);
    const auto cap = static_cast<std::size_t>(std::clamp(limit, 1, limit_));
    if (recent_.size() >= cap) {
        // Full until the oldest of the newest `limit` events leaves the window.
        const auto oldest_counted = std::min(recent_[recent_.size() - cap], now);
        next = std::max(next, oldest_counted + window_);
    }
    return next;
}

void rate_window::record(wall_time at) {
    advance(at);
    recent_.push_back(at);
    keep_newest();
}

void rate_window::move(wall_time from, wall_time to) {
    if (to <= from) return;
    const auto it = std::find(recent_.begin(), recent_.end(), from);
    if (it == recent_.end()) return;
    recent_.erase(it);
    recent_.insert(std::upper_bound(recent_.begin(), recent_.end(), to), to);
}

void rate_window::insert(wall_time at) {
    if (recent_.size() >= static_cast<std::size_t>(limit_) && at <= recent_.front()) return;  // no room, oldest
    recent_.insert(std::upper_bound(recent_.begin(), recent_.end(), at), at);
    keep_newest();
}

void rate_window::advance(wall_time now) {
    for (auto it = recent_.rbegin(); it != recent_.rend() && *it > now; ++it) *it = now;  // stays sorted
    const auto kept = std::find_if(recent_.begin(), recent_.end(), [&](wall_time t) { return t > now - window_; });
    recent_.erase(recent_.begin(), kept);
}

void rate_window::set_limits(int limit, milliseconds min_spacing) {
    limit_ = std::max(limit, 1);
    min_spacing_ = std::max(min_spacing, milliseconds(0));
    keep_newest();
}

void rate_window::keep_newest() {
    if (recent_.size() > static_cast<std::size_t>(limit_))
        recent_.erase(recent_.begin(), recent_.end() - limit_);
}

}  // namespace sessiond
