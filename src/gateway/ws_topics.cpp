#include "sessiond/gateway/ws_topics.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>

namespace sessiond {

namespace json = boost::json;

namespace {

struct family {
    std::string_view name;
    bool has_argument;  // md+<conid>, sd+<account>; or, pl and tr stand alone
};

constexpr std::array families{family{"md", true}, family{"mh", true}, family{"bd", true}, family{"sd", true},
                              family{"ld", true},  family{"or", false}, family{"pl", false}, family{"tr", false}};

constexpr std::size_t max_argument = 64;

const family* family_named(std::string_view name) {
    const auto it = std::find_if(families.begin(), families.end(), [&](const family& f) { return f.name == name; });
    return it == families.end() ? nullptr : &*it;
}

bool argument_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' || c == '_' || c == '-';
}

// "md:265598" for "smd+265598+{...}" (prefix 's'), "or:" for "sor+{}"; nothing when the text is not
// one of the known families in that form. `rest` follows the three-letter topic.
std::optional<std::string> key_of(const family& f, std::string_view rest) {
    if (!rest.empty() && rest.front() != '+') return std::nullopt;
    if (!f.has_argument) return std::string(f.name) + ":";
    if (rest.empty()) return std::nullopt;
    rest.remove_prefix(1);
    const std::string_view argument = rest.substr(0, rest.find('+'));
    if (argument.empty() || argument.size() > max_argument || !std::all_of(argument.begin(), argument.end(), argument_char))
        return std::nullopt;
    return std::string(f.name) + ":" + std::string(argument);
}

// The key of a three-letter topic starting with `prefix` ('s' or 'u') and a known family.
std::optional<std::string> topic_key(std::string_view text, char prefix) {
    if (text.size() < 3 || text.front() != prefix) return std::nullopt;
    const family* f = family_named(text.substr(1, 2));
    if (f == nullptr) return std::nullopt;
    return key_of(*f, text.substr(3));
}

bool is_topic(std::string_view text, std::string_view topic) {
    return text.starts_with(topic) && (text.size() == topic.size() || text[topic.size()] == '+');
}

std::optional<json::object> object_of(std::string_view text) {
    if (text.empty() || text.front() != '{') return std::nullopt;
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return std::move(v.as_object());
}

}  // namespace

ws_client_frame classify_client_frame(std::string_view text) {
    if (text == "tic" || is_topic(text, "tic")) return {ws_client_frame::heartbeat, {}};
    if (is_topic(text, "ech")) return {ws_client_frame::echo, {}};
    if (const auto o = object_of(text); o && o->contains("session")) return {ws_client_frame::session, {}};
    // umh ends a history stream by IBKR's server id, which the gateway cannot match to a subscription.
    if (text.starts_with("umh")) return {ws_client_frame::other, {}};
    if (auto key = topic_key(text, 's')) return {ws_client_frame::subscribe, std::move(*key)};
    if (auto key = topic_key(text, 'u')) return {ws_client_frame::unsubscribe, std::move(*key)};
    return {ws_client_frame::other, {}};
}

std::string unsubscribe_frame(std::string_view key) {
    const auto colon = key.find(':');
    const std::string_view name = key.substr(0, colon);
    const std::string_view argument = colon == std::string_view::npos ? std::string_view() : key.substr(colon + 1);
    if (name == "tr") return "utr";
    if (argument.empty()) return "u" + std::string(name) + "+{}";
    return "u" + std::string(name) + "+" + std::string(argument) + "+{}";
}

ws_upstream_route route_upstream_message(std::string_view text) {
    const auto o = object_of(text);
    if (!o) return {};
    if (const auto* m = o->if_contains("message"); m != nullptr && m->is_string() && m->as_string() == "waiting for session")
        return {ws_upstream_route::waiting_for_session, {}};
    const auto* t = o->if_contains("topic");
    if (t == nullptr || !t->is_string()) return {};
    const std::string_view topic = t->as_string();
    if (topic == "sts") {
        const auto* args = o->if_contains("args");
        const auto* a = args != nullptr && args->is_object() ? args->as_object().if_contains("authenticated") : nullptr;
        if (a != nullptr && a->is_bool())
            return {a->as_bool() ? ws_upstream_route::authenticated : ws_upstream_route::refused, {}};
        return {};
    }
    if (auto key = topic_key(topic, 's')) return {ws_upstream_route::subscribers, std::move(*key)};
    return {};
}

std::string session_message(std::string_view tickle_session) {
    return json::serialize(json::object{{"session", tickle_session}});
}

}  // namespace sessiond
