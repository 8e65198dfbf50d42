#include "sessiond/net/connection_registry.hpp"

namespace sessiond {

connection_registry::membership::~membership() {
    if (registry_ == nullptr) return;
    if (auto it = registry_->entries_.find(id_); it != registry_->entries_.end()) registry_->forget(it);
}

void connection_registry::membership::on_close(closer c) {
    if (registry_ == nullptr) return;
    // An evicted connection is no longer listed: it must not come back.
    if (auto it = registry_->entries_.find(id_); it != registry_->entries_.end()) it->second.close = std::move(c);
}

void connection_registry::membership::set(activity what, clock::time_point since) {
    if (registry_ == nullptr) return;
    auto it = registry_->entries_.find(id_);
    if (it == registry_->entries_.end()) return;
    entry& e = it->second;
    if (const auto old = key_of(id_, e)) registry_->candidates_.erase(*old);
    e.what = what;
    e.since = since;
    if (const auto now = key_of(id_, e)) registry_->candidates_.insert(*now);
}

std::optional<connection_registry::candidate_key> connection_registry::key_of(std::uint64_t id, const entry& e) {
    switch (e.what) {
        case activity::closing: return candidate_key{0, e.since, id};
        case activity::idle:
        case activity::reading: return candidate_key{1, e.since, id};
        case activity::responding: break;
    }
    return std::nullopt;
}

void connection_registry::forget(std::map<std::uint64_t, entry>::iterator it) {
    if (const auto key = key_of(it->first, it->second)) candidates_.erase(*key);
    entries_.erase(it);
}

connection_registry::membership connection_registry::add(clock::time_point now) {
    const std::uint64_t id = next_id_++;
    const auto [it, added] = entries_.emplace(id, entry{{}, activity::idle, now});
    candidates_.insert(*key_of(id, it->second));
    return membership(*this, id);
}

void connection_registry::close_all() {
    for (auto& [id, e] : entries_)
        if (e.close) e.close();
}

std::optional<connection_registry::eviction> connection_registry::eviction_candidate() const {
    if (candidates_.empty()) return std::nullopt;
    const std::uint64_t id = std::get<2>(*candidates_.begin());
    const entry& e = entries_.at(id);
    return eviction{id, e.what, e.since};
}

std::optional<connection_registry::eviction> connection_registry::evict_one() {
    auto victim = eviction_candidate();
    if (!victim) return std::nullopt;
    auto it = entries_.find(victim->id);
    closer close = std::move(it->second.close);
    forget(it);
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
