#include "sessiond/net/connection_registry.hpp"

namespace sessiond {

connection_registry::membership::~membership() {
    if (registry_ != nullptr) registry_->entries_.erase(id_);
}

void connection_registry::membership::on_close(closer c) {
    if (registry_ == nullptr) return;
    // An evicted connection is no longer listed: it must not come back.
    if (auto it = registry_->entries_.find(id_); it != registry_->entries_.end()) it->second.close = std::move(c);
}

void connection_registry::membership::set(activity what, clock::time_point since) {
    if (registry_ == nullptr) return;
    if (auto it = registry_->entries_.find(id_); it != registry_->entries_.end()) {
        it->second.what = what;
        it->second.since = since;
    }
}

connection_registry::membership connection_registry::add(clock::time_point now) {
    const std::uint64_t id = next_id_++;
    entries_.emplace(id, entry{{}, activity::idle, now});
    return membership(*this, id);
}

void connection_registry::close_all() {
    for (auto& [id, e] : entries_)
        if (e.close) e.close();
}

std::optional<connection_registry::eviction> connection_registry::eviction_candidate() const {
    // Lower rank goes first; within a rank, the earlier "since".
    auto rank = [](activity a) {
        switch (a) {
            case activity::closing: return 0;
            case activity::idle: return 1;
            case activity::reading: return 2;
            case activity::responding: break;
        }
        return 3;
    };
    std::optional<eviction> best;
    for (const auto& [id, e] : entries_) {
        if (e.what == activity::responding) continue;
        if (!best || rank(e.what) < rank(best->what) || (rank(e.what) == rank(best->what) && e.since < best->since))
            best = eviction{id, e.what, e.since};
    }
    return best;
}

std::optional<connection_registry::eviction> connection_registry::evict_one() {
    auto victim = eviction_candidate();
    if (!victim) return std::nullopt;
    auto it = entries_.find(victim->id);
    closer close = std::move(it->second.close);
    entries_.erase(it);
    if (close) close();
    return victim;
}

std::string_view to_string(connection_registry::activity a) noexcept {
    switch (a) {
        case connection_registry::activity::idle: return "idle";
        case connection_registry::activity::reading: return "reading a request";
        case connection_registry::activity::responding: return "responding";
        case connection_registry::activity::closing: return "closing";
    }
    return "?";
}

}  // namespace sessiond
