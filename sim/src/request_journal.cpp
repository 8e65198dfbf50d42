#include "ibkr_sim/request_journal.hpp"

#include <boost/json/array.hpp>

#include <vector>

namespace sessiond::sim {

namespace {

boost::json::object to_json(const std::map<std::string, std::uint64_t, std::less<>>& counts) {
    boost::json::object out;
    for (const auto& [key, n] : counts) out[key] = n;
    return out;
}

std::string status_key(std::string_view path, unsigned status) {
    return std::string(path) + " " + std::to_string(status);
}

}  // namespace

void request_journal::record(request_event e, steady_time at) {
    e.seq = next_seq_++;
    e.t_ms = std::chrono::duration_cast<std::chrono::milliseconds>(at - started_).count();
    // Paths are the client's to choose: past max_counted_paths distinct ones, new paths count as one.
    const std::string& counted = calls_.contains(e.path) || calls_.size() < max_counted_paths ? e.path : other_paths;
    ++calls_[counted];
    ++statuses_[status_key(counted, e.status)];
    if (!e.reason.empty()) ++rejections_[e.reason];
    events_.push_back(std::move(e));
    if (events_.size() > capacity_) events_.pop_front();

    // A listener may unsubscribe others (or itself) while we call it: walk a snapshot of the ids.
    std::vector<std::uint64_t> ids;
    ids.reserve(listeners_.size());
    for (const auto& [id, l] : listeners_) ids.push_back(id);
    for (const auto id : ids)
        if (const auto it = listeners_.find(id); it != listeners_.end()) it->second();
}

boost::json::object request_journal::events_since(std::uint64_t since) const {
    boost::json::array events;
    for (const auto& e : events_) {
        if (e.seq < since) continue;
        events.push_back(boost::json::object{{"seq", e.seq},
                                             {"t_ms", e.t_ms},
                                             {"method", e.method},
                                             {"path", e.path},
                                             {"status", e.status},
                                             {"fault", e.fault},
                                             {"reason", e.reason}});
    }
    return {{"next", next_seq_}, {"events", std::move(events)}};
}

std::uint64_t request_journal::count(std::string_view path, std::optional<unsigned> status) const {
    if (status) {
        const auto it = statuses_.find(status_key(path, *status));
        return it == statuses_.end() ? 0 : it->second;
    }
    const auto it = calls_.find(path);
    return it == calls_.end() ? 0 : it->second;
}

boost::json::object request_journal::calls_json() const { return to_json(calls_); }
boost::json::object request_journal::statuses_json() const { return to_json(statuses_); }
boost::json::object request_journal::rejections_json() const { return to_json(rejections_); }

void request_journal::reset_counts() {
    calls_.clear();
    statuses_.clear();
    rejections_.clear();
}

std::uint64_t request_journal::subscribe(listener l) {
    const std::uint64_t id = next_listener_++;
    listeners_.emplace(id, std::move(l));
    return id;
}

void request_journal::unsubscribe(std::uint64_t id) { listeners_.erase(id); }

}  // namespace sessiond::sim
