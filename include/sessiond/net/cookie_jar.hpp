#pragma once
// The cookies IBKR sets on a session (it sets an "api" cookie), sent back on later requests and
// dropped with the session. Bounded: a server cannot make it grow without limit.

#include "sessiond/core/secret.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

class cookie_jar {
public:
    static constexpr std::size_t max_cookies = 16;
    static constexpr std::size_t max_cookie_size = 4096;

    // Takes every Set-Cookie of a response: "name=value" before the first ';'. An empty value, or
    // Max-Age=0, deletes the cookie.
    void store(const boost::beast::http::response<boost::beast::http::string_body>& res);
    // "a=1; b=2", or empty when the jar is empty.
    [[nodiscard]] secret header() const;
    void clear() noexcept { cookies_.clear(); }
    [[nodiscard]] std::size_t size() const noexcept { return cookies_.size(); }

private:
    struct cookie {
        std::string name;
        secret value;
    };
    void put(std::string_view line);
    std::vector<cookie> cookies_;
};

}  // namespace sessiond
