#pragma once
// What every fuzz harness shares. A harness is `std::string NAME(std::string_view input)`: it feeds the
// input to the real parser, checks the invariants that are cheap to check, and returns "" when they
// hold or a description of the first one that did not. The libFuzzer entry point aborts on a
// description; tests/unit/fuzz_regressions_test.cpp calls the same functions on the stored inputs.
// An exception that escapes a harness is a finding as well: libFuzzer reports it as a crash.

#include "sessiond/log/redact.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace sessiond::fuzz {

inline bool is_printable_ascii(char c) { return c >= 0x20 && c < 0x7f; }

inline bool all_printable(std::string_view s) {
    for (const char c : s)
        if (!is_printable_ascii(c)) return false;
    return true;
}

// "" when a one-line text meant for an operator (log line, status page, error message) is at most
// max bytes of printable ASCII, else what is wrong with it.
inline std::string check_one_line(std::string_view what, std::string_view text, std::size_t max) {
    if (text.size() > max) return std::string(what) + ": " + std::to_string(text.size()) + " bytes, more than " + std::to_string(max);
    if (!all_printable(text)) return std::string(what) + ": holds a byte that is not printable ASCII";
    return {};
}

// "" when a one-line message that may quote an operator's own value (a settings problem, a field of a
// request body) is at most max bytes of well-formed UTF-8 without a control byte, else what is wrong:
// printable() keeps a value's non-ASCII characters and cuts it on a character boundary.
inline std::string check_quoting_line(std::string_view what, std::string_view text, std::size_t max) {
    if (text.size() > max) return std::string(what) + ": " + std::to_string(text.size()) + " bytes, more than " + std::to_string(max);
    for (std::size_t i = 0; i < text.size();) {
        const auto u = static_cast<unsigned char>(text[i]);
        if (u < 0x20 || u == 0x7f) return std::string(what) + ": holds a control byte";
        const std::size_t length = u < 0x80 ? 1 : (u & 0xE0) == 0xC0 ? 2 : (u & 0xF0) == 0xE0 ? 3 : (u & 0xF8) == 0xF0 ? 4 : 0;
        if (length == 0 || i + length > text.size()) return std::string(what) + ": is not well-formed UTF-8";
        for (std::size_t k = 1; k < length; ++k)
            if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return std::string(what) + ": is not well-formed UTF-8";
        i += length;
    }
    return {};
}

// Text that went through the IBKR responses' bounding (printable_remote_text): at most 200 characters
// plus "...", printable, and redacted: redact() finds nothing left to remove. When the text was cut, only
// the part before its last blank is judged, since the cut may split the "[redacted]" marker itself.
inline std::string check_remote_text(std::string_view what, std::string_view text) {
    constexpr std::size_t max_description = 200;
    if (auto bad = check_one_line(what, text, max_description + 3); !bad.empty()) return bad;
    std::string_view judged = text;
    if (text.size() > max_description) {
        const auto blank = text.substr(0, max_description).find_last_of(' ');
        judged = blank == std::string_view::npos ? std::string_view{} : text.substr(0, blank);
    }
    if (contains_secret_material(judged)) return std::string(what) + ": secret-shaped text survived redaction";
    return {};
}

// Whether needle occurs in haystack, found without telling the fuzzer: the sanitizer hooks of memcmp and
// memmem (and the comparison tracing of instrumented loops) would hand the haystack, e.g. a report's own
// text, to the mutator, which would then write it into a value and break the check that searched it.
#if defined(__clang__)
__attribute__((no_sanitize("coverage")))
#endif
inline bool contains_quietly(std::string_view haystack, std::string_view needle) {
    if (needle.size() > haystack.size()) return false;
    for (std::size_t at = 0; at + needle.size() <= haystack.size(); ++at) {
        std::size_t i = 0;
        while (i < needle.size() && haystack[at + i] == needle[i]) ++i;
        if (i == needle.size()) return true;
    }
    return false;
}

// The libFuzzer entry point of one harness.
template <class Harness>
int run_or_abort(Harness harness, const std::uint8_t* data, std::size_t size) {
    const std::string broken = harness(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!broken.empty()) {
        std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
        std::abort();
    }
    return 0;
}

}  // namespace sessiond::fuzz

#define SESSIOND_FUZZ_TARGET(harness)                                                               \
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {              \
        return ::sessiond::fuzz::run_or_abort(harness, data, size);                                   \
    }
