#pragma once
// A string that holds key material, a token or a signed assertion.
//
// It cannot be streamed or formatted (there is deliberately no operator<< and no fmt formatter),
// it is wiped when it dies or is overwritten, and while it lives its value is known to the
// log redactor, so that even a careless log line cannot carry it out of the process.

#include <string>
#include <string_view>

namespace sessiond {

class secret {
public:
    secret() = default;
    explicit secret(std::string value);
    explicit secret(std::string_view value) : secret(std::string(value)) {}
    secret(const secret& other);
    secret(secret&& other) noexcept;
    secret& operator=(const secret& other);
    secret& operator=(secret&& other) noexcept;
    ~secret();

    // The only way to read the value; grep for reveal() to audit every use.
    [[nodiscard]] std::string_view reveal() const noexcept { return value_; }
    [[nodiscard]] bool empty() const noexcept { return value_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return value_.size(); }
    void clear() noexcept;

    friend bool operator==(const secret& a, const secret& b) noexcept;

private:
    void enroll();
    void withdraw() noexcept;
    std::string value_;
};

// Overwrites every byte the string owns (including spare capacity) and empties it.
void wipe(std::string& s) noexcept;

}  // namespace sessiond
