#include "sessiond/log/repeat_filter.hpp"

#include <functional>

namespace sessiond {

namespace {

// What is remembered of a key: the key itself when short, otherwise enough of it to tell keys apart
// (prefix, hash of the whole, length) in bounded space.
std::string stored_form(std::string_view key) {
    if (key.size() <= repeat_filter::max_key_bytes) return std::string(key);
    std::string out(key.substr(0, repeat_filter::max_key_bytes));
    // Longer than any key stored as itself, so never equal to one.
    out += '\0';
    out += std::to_string(std::hash<std::string_view>{}(key));
    out += ':';
    out += std::to_string(key.size());
    return out;
}

}  // namespace

repeat_filter::verdict repeat_filter::check(std::string_view key, time_point now) {
    verdict out;
    std::string stored = stored_form(key);
    if (has_key_ && stored == key_) {
        // A clock that went backwards counts as "no time passed".
        const bool within_window = now < last_emitted_ || now - last_emitted_ < window_;
        if (within_window) {
            out.emit = false;
            if (suppressed_ != UINT64_MAX) ++suppressed_;
            return out;
        }
        out.suppressed = suppressed_;
    } else {
        out.previous_suppressed = has_key_ ? suppressed_ : 0;
        key_ = std::move(stored);
        has_key_ = true;
    }
    suppressed_ = 0;
    last_emitted_ = now;
    return out;
}

std::uint64_t repeat_filter::take_pending() noexcept {
    const std::uint64_t n = suppressed_;
    suppressed_ = 0;
    return n;
}

void repeat_filter::reset() noexcept {
    has_key_ = false;
    key_.clear();
    suppressed_ = 0;
    last_emitted_ = {};
}

std::string suppressed_suffix(std::uint64_t count) {
    if (count == 0) return {};
    return " (" + std::to_string(count) + (count == 1 ? " identical message suppressed)" : " identical messages suppressed)");
}

}  // namespace sessiond
