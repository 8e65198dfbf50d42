#include "sessiond/core/secret.hpp"

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret_registry.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace sessiond {

namespace {

// Secrets shorter than this are not worth scanning for (and would redact ordinary words). It is
// also the length of the prefix the registry indexes them by.
constexpr std::size_t min_redactable = 6;

// The first min_redactable bytes of a text, packed: the index's key (exact, not a hash).
std::uint64_t prefix_key(std::string_view text) noexcept {
    std::uint64_t key = 0;
    for (std::size_t i = 0; i < min_redactable; ++i) key = (key << 8) | static_cast<unsigned char>(text[i]);
    return key;
}

struct registry {
    std::mutex mutex;
    // Live secrets by their prefix; a bucket holds the few that share one (usually one).
    std::unordered_map<std::uint64_t, std::vector<const secret*>> by_prefix;
};

registry& the_registry() {
    static registry r;
    return r;
}

}  // namespace

void wipe(std::string& s) noexcept {
    // resize() up to capacity() never reallocates, so this reaches every byte the string owns,
    // including what a shorter earlier value left behind in the small-string buffer.
    s.resize(s.capacity());
    OPENSSL_cleanse(s.data(), s.size());
    s.clear();
}

secret::secret(std::string value) : value_(std::move(value)) { enroll(); }

secret::secret(const secret& other) : value_(other.value_) { enroll(); }

secret::secret(secret&& other) noexcept : value_(other.value_) {
    other.clear();
    enroll();
}

secret& secret::operator=(const secret& other) {
    if (this != &other) {
        clear();
        value_ = other.value_;
        enroll();
    }
    return *this;
}

secret& secret::operator=(secret&& other) noexcept {
    if (this != &other) {
        clear();
        value_ = other.value_;
        other.clear();
        enroll();
    }
    return *this;
}

secret::~secret() { clear(); }

void secret::clear() noexcept {
    withdraw();
    wipe(value_);
}

bool operator==(const secret& a, const secret& b) noexcept {
    if (a.value_.size() != b.value_.size()) return false;
    return CRYPTO_memcmp(a.value_.data(), b.value_.data(), a.value_.size()) == 0;
}

void secret::enroll() {
    if (value_.size() < min_redactable) return;
    auto& r = the_registry();
    std::lock_guard lock(r.mutex);
    r.by_prefix[prefix_key(value_)].push_back(this);
}

// Called while value_ still holds what enroll() indexed (clear() withdraws before it wipes).
void secret::withdraw() noexcept {
    if (value_.size() < min_redactable) return;
    auto& r = the_registry();
    std::lock_guard lock(r.mutex);
    const auto bucket = r.by_prefix.find(prefix_key(value_));
    if (bucket == r.by_prefix.end()) return;
    std::erase(bucket->second, this);
    if (bucket->second.empty()) r.by_prefix.erase(bucket);
}

void find_live_secrets(std::string_view text, const std::function<void(std::size_t, std::size_t)>& found) {
    if (text.size() < min_redactable) return;
    auto& r = the_registry();
    std::lock_guard lock(r.mutex);
    if (r.by_prefix.empty()) return;
    for (std::size_t at = 0; at + min_redactable <= text.size(); ++at) {
        const auto bucket = r.by_prefix.find(prefix_key(text.substr(at)));
        if (bucket == r.by_prefix.end()) continue;
        for (const secret* s : bucket->second)
            if (text.substr(at).starts_with(s->reveal())) found(at, at + s->size());
    }
}

void throw_exception_from_error(const error& e, const boost::source_location&) {
    throw std::runtime_error(e.message);
}

}  // namespace sessiond
