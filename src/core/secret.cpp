#include "sessiond/core/secret.hpp"

#include "sessiond/core/error.hpp"
#include "sessiond/core/secret_registry.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace sessiond {

namespace {

// Secrets shorter than this are not worth scanning for (and would redact ordinary words).
constexpr std::size_t min_redactable = 6;

struct registry {
    std::mutex mutex;
    std::vector<const secret*> live;
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
    r.live.push_back(this);
}

void secret::withdraw() noexcept {
    auto& r = the_registry();
    std::lock_guard lock(r.mutex);
    std::erase(r.live, this);
}

void for_each_live_secret(const std::function<void(std::string_view)>& visit) {
    auto& r = the_registry();
    std::lock_guard lock(r.mutex);
    for (const secret* s : r.live) visit(s->reveal());
}

void throw_exception_from_error(const error& e, const boost::source_location&) {
    throw std::runtime_error(e.message);
}

}  // namespace sessiond
