#include "ibkr_sim/fault_injector.hpp"

#include "ibkr_sim/http_types.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <array>
#include <limits>

namespace sessiond::sim {

namespace {

namespace json = boost::json;

constexpr std::array<std::pair<fault_action, std::string_view>, 8> action_names{{
    {fault_action::status, "status"},
    {fault_action::hang, "hang"},
    {fault_action::reset, "reset"},
    {fault_action::garbage, "garbage"},
    {fault_action::truncate, "truncate"},
    {fault_action::content_type, "content_type"},
    {fault_action::body, "body"},
    {fault_action::delay, "delay"},
}};

constexpr std::array<std::string_view, 7> known_fields{"path", "count", "action", "status", "retry_after", "body",
                                                       "delay_ms"};

constexpr std::int64_t max_delay_ms = 600'000;

// Which optional fields an action takes.
bool applies(std::string_view field, fault_action action) {
    if (field == "status" || field == "retry_after") return action == fault_action::status;
    if (field == "body") return action == fault_action::status || action == fault_action::body;
    if (field == "delay_ms") return action == fault_action::delay;
    return true;
}

}  // namespace

std::string_view to_string(fault_action a) noexcept {
    for (const auto& [action, name] : action_names)
        if (action == a) return name;
    return "unknown";
}

expected<fault> parse_fault(std::string_view text) {
    boost::system::error_code ec;
    const json::value v = json::parse(text, ec);
    if (ec) return make_error("fault is not valid JSON: " + ec.message());
    if (!v.is_object()) return make_error("fault must be a JSON object");
    const json::object& o = v.as_object();
    for (const auto& field : o)
        if (std::find(known_fields.begin(), known_fields.end(), field.key()) == known_fields.end())
            return make_error("unknown field \"" + std::string(field.key()) + "\"");

    fault f;
    const auto* path = o.if_contains("path");
    if (path == nullptr || !path->is_string() || path->get_string().empty())
        return make_error("field \"path\" is required: a request path such as \"/v1/api/tickle\", \"*\" or \"handshake\"");
    f.path = path->get_string();
    if (f.path != "*" && f.path != handshake_path && f.path.front() != '/')
        return make_error("field \"path\" must start with '/', or be \"*\" or \"handshake\"");

    const auto* action = o.if_contains("action");
    if (action == nullptr || !action->is_string())
        return make_error("field \"action\" is required: status, hang, reset, garbage, truncate, content_type, body or delay");
    const auto named = std::find_if(action_names.begin(), action_names.end(),
                                    [&](const auto& a) { return a.second == action->get_string(); });
    if (named == action_names.end())
        return make_error("field \"action\": unknown action \"" + std::string(action->get_string()) + "\"");
    f.action = named->first;

    for (const auto& field : o)
        if (!applies(field.key(), f.action))
            return make_error("field \"" + std::string(field.key()) + "\" does not apply to action \"" +
                              std::string(to_string(f.action)) + "\"");
    if (f.path == handshake_path && f.action != fault_action::reset && f.action != fault_action::hang)
        return make_error("path \"handshake\" takes only the actions reset and hang");

    if (const auto* count = o.if_contains("count")) {
        const auto n = json_integer(*count);
        if (!n || (*n != -1 && *n < 1) || *n > std::numeric_limits<int>::max())
            return make_error("field \"count\" must be a positive integer, or -1 for \"until cleared\"");
        f.count = static_cast<int>(*n);
    }
    if (const auto* status = o.if_contains("status")) {
        const auto n = json_integer(*status);
        if (!n || *n < 200 || *n > 599) return make_error("field \"status\" must be an HTTP status from 200 to 599");
        f.status = static_cast<unsigned>(*n);
    }
    if (const auto* retry_after = o.if_contains("retry_after")) {
        const auto n = json_integer(*retry_after);
        if (!n || *n < 0 || *n > 86400) return make_error("field \"retry_after\" must be whole seconds from 0 to 86400");
        f.retry_after = static_cast<unsigned>(*n);
    }
    if (const auto* body = o.if_contains("body")) {
        if (!body->is_string()) return make_error("field \"body\" must be a string");
        f.body = std::string(body->get_string());
    } else if (f.action == fault_action::body) {
        return make_error("field \"body\" is required for action \"body\"");
    }
    if (const auto* delay = o.if_contains("delay_ms")) {
        const auto n = json_integer(*delay);
        if (!n || *n < 0 || *n > max_delay_ms) return make_error("field \"delay_ms\" must be milliseconds from 0 to 600000");
        f.delay = sim_duration(*n);
    } else if (f.action == fault_action::delay) {
        return make_error("field \"delay_ms\" is required for action \"delay\"");
    }
    return f;
}

bool fault_injector::add(fault f) {
    if (faults_.size() >= max_pending) return false;
    faults_.push_back(std::move(f));
    return true;
}

std::optional<fault> fault_injector::take(std::string_view path) {
    if (path == handshake_path) return std::nullopt;  // a request path can never be the pseudo path
    return take_matching(path, true);
}

std::optional<fault> fault_injector::take_matching(std::string_view path, bool wildcard) {
    const auto it = std::find_if(faults_.begin(), faults_.end(),
                                 [&](const fault& f) { return f.path == path || (wildcard && f.path == "*"); });
    if (it == faults_.end()) return std::nullopt;
    fault taken = *it;
    if (it->count > 0 && --it->count == 0) faults_.erase(it);
    return taken;
}

}  // namespace sessiond::sim
