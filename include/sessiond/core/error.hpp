#pragma once
// The error type of everything that can fail in the library: a message meant for an operator,
// already free of secrets, plus a category that callers branch on.

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include <string>
#include <utility>

namespace sessiond {

// Built only through make_error(): a plain std::string must stay unambiguous as a *value* of
// expected<std::string>, so error is deliberately not constructible from one argument.
struct error {
    struct from_message {};
    error() = default;
    error(from_message, std::string text) : message(std::move(text)) {}
    std::string message;
};

// Only reached when code calls .value() on a failed result: a programming error.
[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

template <class T>
using expected = boost::system::result<T, error>;

inline error make_error(std::string message) { return error(error::from_message{}, std::move(message)); }

}  // namespace sessiond
