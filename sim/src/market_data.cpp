#include "ibkr_sim/market_data.hpp"

#include "ibkr_sim/http_types.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <ctime>
#include <charconv>
#include <cstdio>
#include <map>

namespace sessiond::sim {

namespace {

namespace json = boost::json;

constexpr std::size_t max_fields = 64;
constexpr std::int64_t last_size = 100;
constexpr std::int64_t spread_cents = 1;

std::int64_t seconds_of(wall_time t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// The base price: 10.00 to 1009.99, spread over conids.
std::int64_t base_cents(std::int64_t conid) { return 1000 + (conid * 7919) % 100'000; }

// Splits "a,b,c" (empty pieces are errors).
std::vector<std::string_view> split_commas(std::string_view text) {
    std::vector<std::string_view> pieces;
    while (true) {
        const auto comma = text.find(',');
        pieces.push_back(text.substr(0, comma));
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return pieces;
}

// "5d" -> {5, "d"}
std::optional<std::pair<std::int64_t, std::string_view>> count_and_unit(std::string_view text) {
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end == text.data() || n <= 0 || n > 100'000) return std::nullopt;
    return std::pair{n, text.substr(static_cast<std::size_t>(end - text.data()))};
}

std::optional<std::int64_t> duration_seconds(std::string_view text, bool years_allowed) {
    static const std::map<std::string_view, std::int64_t> units{
        {"min", 60}, {"h", 3600}, {"d", 86400}, {"w", 7 * 86400}, {"m", 30 * 86400}, {"y", 365 * 86400}};
    const auto parsed = count_and_unit(text);
    if (!parsed) return std::nullopt;
    const auto unit = units.find(parsed->second);
    if (unit == units.end() || (unit->first == "y" && !years_allowed)) return std::nullopt;
    return parsed->first * unit->second;
}

// "20231205-09:30:00" (UTC), as IBKR writes startTime.
std::string compact_time(std::int64_t ms) {
    const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    ::gmtime_r(&seconds, &tm);
    std::array<char, 32> text{};
    const std::size_t n = std::strftime(text.data(), text.size(), "%Y%m%d-%H:%M:%S", &tm);
    return {text.data(), n};
}

std::string symbol_of(std::int64_t conid) { return "SIM" + std::to_string(conid); }

}  // namespace

std::optional<std::int64_t> parse_conid(std::string_view text) {
    std::int64_t conid = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), conid);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty() || conid <= 0) return std::nullopt;
    return conid;
}

std::int64_t last_price_cents(std::int64_t conid, wall_time now) {
    const std::int64_t wobble = (seconds_of(now) + conid) % 21 - 10;  // -0.10 .. +0.10
    return base_cents(conid) + wobble;
}

std::string format_price(std::int64_t cents) {
    std::array<char, 32> text{};
    const int n = std::snprintf(text.data(), text.size(), "%s%lld.%02lld", cents < 0 ? "-" : "",
                                static_cast<long long>(std::abs(cents) / 100), static_cast<long long>(std::abs(cents) % 100));
    return {text.data(), static_cast<std::size_t>(n)};
}

json::object market_data_fields(std::int64_t conid, const std::vector<std::string>& fields, wall_time now) {
    const std::int64_t last = last_price_cents(conid, now);
    const std::int64_t open = base_cents(conid);
    const std::map<std::string_view, std::string> known{
        {"31", format_price(last)},
        {"55", symbol_of(conid)},
        {"84", format_price(last - spread_cents)},
        {"85", std::to_string(last_size)},
        {"86", format_price(last + spread_cents)},
        {"88", std::to_string(last_size)},
        {"7059", std::to_string(last_size)},
        {"87", std::to_string(1000 + seconds_of(now) % 100'000)},
        {"70", format_price(open + 10)},
        {"71", format_price(open - 10)},
        {"82", format_price(last - open)},
        {"83", format_price((last - open) * 10'000 / open)},
        {"7295", format_price(open)},
        {"7296", format_price(open)},
    };
    json::object o{{"conid", conid},
                   {"conidEx", std::to_string(conid)},
                   {"_updated", epoch_ms(now)},
                   {"server_id", "q" + std::to_string(conid % 100)}};
    for (const auto& f : fields)
        if (const auto it = known.find(f); it != known.end()) o[f] = it->second;
    return o;
}

expected<std::vector<std::int64_t>> parse_conids(std::string_view text) {
    if (text.empty()) return make_error("conids is required, e.g. conids=265598,8314");
    std::vector<std::int64_t> conids;
    for (const auto piece : split_commas(text)) {
        const auto conid = parse_conid(piece);
        if (!conid) return make_error("conids must be positive integers separated by commas");
        conids.push_back(*conid);
    }
    if (conids.size() > max_snapshot_conids)
        return make_error("at most " + std::to_string(max_snapshot_conids) + " conids per request");
    return conids;
}

expected<std::vector<std::string>> parse_fields(std::string_view text) {
    std::vector<std::string> fields;
    if (text.empty()) return fields;
    for (const auto piece : split_commas(text)) {
        if (piece.empty() || !std::all_of(piece.begin(), piece.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return make_error("fields must be field numbers separated by commas, e.g. fields=31,84,86");
        fields.emplace_back(piece);
    }
    if (fields.size() > max_fields) return make_error("at most " + std::to_string(max_fields) + " fields per request");
    return fields;
}

expected<history_request> parse_history_request(std::string_view query) {
    auto params = parse_query(query);
    if (!params) return params.error();
    auto param = [&](std::string_view name) -> std::string_view {
        const auto it = params->find(name);
        return it == params->end() ? std::string_view{} : std::string_view(it->second);
    };
    history_request req;
    const auto conid = parse_conid(param("conid"));
    if (!conid) return make_error("conid is required: a positive integer");
    req.conid = *conid;
    req.period = std::string(param("period"));
    const auto period = duration_seconds(req.period, true);
    if (!period) return make_error("period must be {n}{min|h|d|w|m|y}, e.g. 1d");
    const auto bar = duration_seconds(param("bar"), false);
    if (!bar) return make_error("bar must be {n}{min|h|d|w|m}, e.g. 5min");
    req.bar_seconds = *bar;
    req.bars = static_cast<std::size_t>(std::clamp<std::int64_t>(*period / *bar, 1, max_history_bars));
    return req;
}

json::object history_json(const history_request& req, wall_time now) {
    const std::int64_t bar_ms = req.bar_seconds * 1000;
    const std::int64_t last_start = epoch_ms(now) / bar_ms * bar_ms;
    const std::int64_t first_start = last_start - static_cast<std::int64_t>(req.bars - 1) * bar_ms;
    json::array data;
    data.reserve(req.bars);
    std::int64_t high = 0;
    std::int64_t low = 0;
    for (std::size_t i = 0; i < req.bars; ++i) {
        const std::int64_t t = first_start + static_cast<std::int64_t>(i) * bar_ms;
        const auto at = wall_time(std::chrono::milliseconds(t));
        const std::int64_t open = last_price_cents(req.conid, at);
        const std::int64_t close = last_price_cents(req.conid, at + std::chrono::seconds(7));
        const std::int64_t bar_high = std::max(open, close) + 3;
        const std::int64_t bar_low = std::min(open, close) - 3;
        high = i == 0 ? bar_high : std::max(high, bar_high);
        low = i == 0 ? bar_low : std::min(low, bar_low);
        data.push_back(json::object{{"o", static_cast<double>(open) / 100},
                                    {"c", static_cast<double>(close) / 100},
                                    {"h", static_cast<double>(bar_high) / 100},
                                    {"l", static_cast<double>(bar_low) / 100},
                                    {"v", static_cast<double>(1000 + (t / 1000 + req.conid) % 5000)},
                                    {"t", t}});
    }
    return {{"serverId", "20477"},
            {"symbol", symbol_of(req.conid)},
            {"text", "Simulated " + std::to_string(req.conid)},
            {"priceFactor", 100},
            {"startTime", compact_time(first_start)},
            {"high", format_price(high)},
            {"low", format_price(low)},
            {"timePeriod", req.period},
            {"barLength", req.bar_seconds},
            {"mdAvailability", "S"},
            {"mktDataDelay", 0},
            {"outsideRth", false},
            {"volumeFactor", 1},
            {"priceDisplayRule", 1},
            {"priceDisplayValue", "2"},
            {"negativeCapable", false},
            {"messageVersion", 2},
            {"data", std::move(data)},
            {"points", static_cast<std::int64_t>(req.bars)},
            {"travelTime", 10}};
}

}  // namespace sessiond::sim
