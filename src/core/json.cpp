#include "sessiond/core/json.hpp"

#include <boost/json/parse.hpp>

#include <cmath>
#include <limits>

namespace sessiond {

expected<boost::json::object> parse_json_object(std::string_view body) {
    boost::system::error_code ec;
    boost::json::parse_options options;
    options.max_depth = 32;
    boost::json::value v = boost::json::parse(body, ec, {}, options);
    if (ec) return make_error(body.empty() ? "empty body where JSON was expected" : "body is not valid JSON (" + ec.message() + ")");
    if (!v.is_object()) return make_error("body is JSON but not an object");
    return std::move(v.as_object());
}

std::optional<bool> json_bool(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_bool()) return std::nullopt;
    return v->get_bool();
}

std::optional<std::int64_t> json_int(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) {
        if (v->get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
        return static_cast<std::int64_t>(v->get_uint64());
    }
    if (v->is_double()) {
        const double d = v->get_double();
        if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15) return std::nullopt;
        return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
}

std::optional<std::string_view> json_string(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    const auto& s = v->get_string();
    return std::string_view(s.data(), s.size());
}

const boost::json::object* json_object(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v != nullptr ? v->if_object() : nullptr;
}

const boost::json::array* json_array(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v != nullptr ? v->if_array() : nullptr;
}

}  // namespace sessiond
