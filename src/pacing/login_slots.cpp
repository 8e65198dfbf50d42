#include "sessiond/pacing/login_slots.hpp"

#include <algorithm>
#include <iterator>

namespace sessiond {

login_slots::clock::time_point login_slots::first_free(clock::time_point earliest) const {
    if (interval_.count() <= 0) return earliest;
    // A slot is [t, t + interval): it must not overlap a run. Start in the run that may hold
    // `earliest` (the last one starting at or before it) and move past every run the slot would hit.
    clock::time_point t = earliest;
    auto it = busy_.upper_bound(t);
    if (it != busy_.begin()) {
        auto before = std::prev(it);
        if (before->second > t) t = before->second;
    }
    while (it != busy_.end() && it->first < t + interval_) {
        t = std::max(t, it->second);
        ++it;
    }
    return t;
}

login_slots::clock::time_point login_slots::claim_send(request which, clock::time_point now) {
    if (interval_.count() <= 0) return now;
    clock::time_point& last = which == request::token ? last_token_sent_ : last_sso_sent_;
    last = std::max(now, last + interval_);
    return last;
}

login_slots::clock::time_point login_slots::reserve(clock::time_point earliest, clock::time_point now) {
    if (interval_.count() <= 0) return earliest;
    // What ended no longer holds anyone up.
    while (!busy_.empty() && busy_.begin()->second <= now) busy_.erase(busy_.begin());
    const clock::time_point t = first_free(earliest);
    // Reserve [t, t + interval), merged with the runs it touches.
    clock::time_point start = t;
    clock::time_point end = t + interval_;
    auto next = busy_.lower_bound(start);
    if (next != busy_.begin()) {
        auto before = std::prev(next);
        if (before->second == start) {
            start = before->first;
            next = busy_.erase(before);
        }
    }
    if (next != busy_.end() && next->first == end) {
        end = next->second;
        busy_.erase(next);
    }
    busy_.emplace(start, end);
    return t;
}

}  // namespace sessiond
