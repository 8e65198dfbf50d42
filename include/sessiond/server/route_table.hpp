#pragma once
// A routing table: (method, path) -> target, with what a miss owes the client worked out once, when the
// table is built: 404 for a path it does not know, 405 with an Allow header for a path it knows under
// other methods. The target is whatever the server dispatches on: a handler, an enum, a member pointer.
// Paths match exactly (no patterns): every server of the project has a fixed set of endpoints.

#include <boost/beast/http/verb.hpp>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {

template <class Target>
class route_table {
public:
    struct route {
        boost::beast::http::verb method;
        std::string_view path;  // static storage: a literal
        Target target;
    };

    // Where a request goes: a target, or why none.
    struct match {
        const Target* target = nullptr;
        bool known_path = false;  // false: 404; true without a target: 405
        std::string_view allow;   // the path's methods in table order ("POST, GET"): the 405's Allow
    };

    route_table(std::initializer_list<route> routes) : routes_(routes) {
        for (const route& r : routes_) {
            auto it = std::find_if(allow_.begin(), allow_.end(), [&](const auto& a) { return a.first == r.path; });
            if (it == allow_.end()) {
                allow_.emplace_back(r.path, std::string(boost::beast::http::to_string(r.method)));
            } else {
                it->second.append(", ").append(boost::beast::http::to_string(r.method));
            }
        }
    }

    [[nodiscard]] match find(boost::beast::http::verb method, std::string_view path) const {
        match m;
        for (const route& r : routes_) {
            if (r.path != path) continue;
            m.known_path = true;
            if (r.method == method) {
                m.target = &r.target;
                return m;
            }
        }
        if (m.known_path) {
            const auto it = std::find_if(allow_.begin(), allow_.end(), [&](const auto& a) { return a.first == path; });
            m.allow = it->second;
        }
        return m;
    }

    [[nodiscard]] const std::vector<route>& routes() const noexcept { return routes_; }

private:
    std::vector<route> routes_;
    std::vector<std::pair<std::string_view, std::string>> allow_;  // per path, built once
};

}  // namespace sessiond
