#include "sessiond/core/time_zone.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>

namespace sessiond {

using std::chrono::seconds;
using std::chrono::sys_seconds;
using std::chrono::local_seconds;

namespace {

constexpr std::size_t max_tzif_size = 1 << 20;  // real files are a few KiB

// A big-endian reader over the file's bytes; every read is bounds-checked.
class reader {
public:
    explicit reader(std::string_view bytes) : bytes_(bytes) {}

    [[nodiscard]] bool has(std::size_t n) const { return bytes_.size() - pos_ >= n; }
    [[nodiscard]] std::size_t left() const { return bytes_.size() - pos_; }

    std::int64_t be(std::size_t width) {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<unsigned char>(bytes_[pos_ + i]);
        pos_ += width;
        // Sign-extend from `width` bytes.
        if (width < 8 && (v >> (width * 8 - 1)) != 0) v |= ~std::uint64_t(0) << (width * 8);
        return static_cast<std::int64_t>(v);
    }
    unsigned char byte() { return static_cast<unsigned char>(bytes_[pos_++]); }
    std::string_view take(std::size_t n) {
        const auto s = bytes_.substr(pos_, n);
        pos_ += n;
        return s;
    }
    void skip(std::size_t n) { pos_ += n; }

private:
    std::string_view bytes_;
    std::size_t pos_ = 0;
};

struct header {
    char version = 0;
    std::uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;

    // Bytes of the data block that follows, with `time_size`-byte transition times.
    [[nodiscard]] std::uint64_t data_size(std::size_t time_size) const {
        return std::uint64_t(timecnt) * time_size + timecnt + std::uint64_t(typecnt) * 6 + charcnt +
               std::uint64_t(leapcnt) * (time_size + 4) + isstdcnt + isutcnt;
    }
};

expected<header> read_header(reader& in) {
    if (!in.has(44)) return make_error("not a TZif file (too short)");
    if (in.take(4) != "TZif") return make_error("not a TZif file (no TZif magic)");
    header h;
    h.version = static_cast<char>(in.byte());
    if (h.version != 0 && h.version != '2' && h.version != '3' && h.version != '4')
        return make_error("unsupported TZif version");
    in.skip(15);
    h.isutcnt = static_cast<std::uint32_t>(in.be(4));
    h.isstdcnt = static_cast<std::uint32_t>(in.be(4));
    h.leapcnt = static_cast<std::uint32_t>(in.be(4));
    h.timecnt = static_cast<std::uint32_t>(in.be(4));
    h.typecnt = static_cast<std::uint32_t>(in.be(4));
    h.charcnt = static_cast<std::uint32_t>(in.be(4));
    if (h.typecnt == 0) return make_error("malformed TZif file (no local time types)");
    if (h.charcnt == 0) return make_error("malformed TZif file (no time zone abbreviations)");
    if ((h.isutcnt != 0 && h.isutcnt != h.typecnt) || (h.isstdcnt != 0 && h.isstdcnt != h.typecnt))
        return make_error("malformed TZif file (indicator counts)");
    if (h.leapcnt != 0) return make_error("TZif files with leap seconds (right/...) are not supported");
    return h;
}

// POSIX TZ rule text, one piece at a time.
class rule_parser {
public:
    explicit rule_parser(std::string_view text) : s_(text) {}

    [[nodiscard]] bool done() const { return pos_ == s_.size(); }
    bool eat(char c) {
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    [[nodiscard]] bool at_name() const {
        return pos_ < s_.size() && (s_[pos_] == '<' || std::isalpha(static_cast<unsigned char>(s_[pos_])) != 0);
    }

    // "EST" (three or more letters) or "<+0330>" (letters, digits, + and -, three or more).
    std::optional<std::string> name() {
        if (eat('<')) {
            const auto end = s_.find('>', pos_);
            if (end == std::string_view::npos) return std::nullopt;
            const auto n = s_.substr(pos_, end - pos_);
            if (n.size() < 3 || !std::ranges::all_of(n, [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '-';
                }))
                return std::nullopt;
            pos_ = end + 1;
            return std::string(n);
        }
        const auto start = pos_;
        while (pos_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[pos_])) != 0) ++pos_;
        if (pos_ - start < 3) return std::nullopt;
        return std::string(s_.substr(start, pos_ - start));
    }

    // [+-]hh[:mm[:ss]] with hh up to max_hours.
    std::optional<seconds> hms(int max_hours) {
        bool negative = false;
        if (eat('-')) negative = true;
        else eat('+');
        const auto h = number(3);
        if (!h || *h > max_hours) return std::nullopt;
        std::int64_t total = *h * 3600;
        if (eat(':')) {
            const auto m = number(2);
            if (!m || *m > 59) return std::nullopt;
            total += *m * 60;
            if (eat(':')) {
                const auto sec = number(2);
                if (!sec || *sec > 59) return std::nullopt;
                total += *sec;
            }
        }
        return seconds(negative ? -total : total);
    }

    // Jn, n or Mm.w.d, then an optional /time.
    std::optional<time_zone::rule_date> date() {
        time_zone::rule_date d;
        using kind = time_zone::rule_date::kind_t;
        if (eat('J')) {
            const auto n = number(3);
            if (!n || *n < 1 || *n > 365) return std::nullopt;
            d.kind = kind::julian_no_leap;
            d.day = static_cast<int>(*n);
        } else if (eat('M')) {
            const auto m = number(2);
            if (!m || *m < 1 || *m > 12 || !eat('.')) return std::nullopt;
            const auto w = number(1);
            if (!w || *w < 1 || *w > 5 || !eat('.')) return std::nullopt;
            const auto wd = number(1);
            if (!wd || *wd > 6) return std::nullopt;
            d.kind = kind::month_week_day;
            d.month = static_cast<int>(*m);
            d.week = static_cast<int>(*w);
            d.day = static_cast<int>(*wd);
        } else {
            const auto n = number(3);
            if (!n || *n > 365) return std::nullopt;
            d.kind = kind::zero_based_day;
            d.day = static_cast<int>(*n);
        }
        if (eat('/')) {
            const auto t = hms(167);  // RFC 8536 3.3.1 extends POSIX's 0-24 to -167..167
            if (!t) return std::nullopt;
            d.time = *t;
        }
        return d;
    }

private:
    std::optional<std::int64_t> number(std::size_t max_digits) {
        const auto start = pos_;
        std::int64_t v = 0;
        while (pos_ < s_.size() && pos_ - start < max_digits && std::isdigit(static_cast<unsigned char>(s_[pos_])) != 0)
            v = v * 10 + (s_[pos_++] - '0');
        if (pos_ == start) return std::nullopt;
        return v;
    }

    std::string_view s_;
    std::size_t pos_ = 0;
};

// The local instant a rule date names in `year` (local time, before applying any offset).
local_seconds rule_instant(const time_zone::rule_date& d, std::chrono::year year) {
    using namespace std::chrono;
    using kind = time_zone::rule_date::kind_t;
    sys_days day{};
    switch (d.kind) {
        case kind::julian_no_leap: {
            // Day 1-365; February 29 is never counted, so day 60 is always March 1.
            const int offset = d.day - 1 + (year.is_leap() && d.day >= 60 ? 1 : 0);
            day = sys_days(year / January / 1) + days(offset);
            break;
        }
        case kind::zero_based_day: day = sys_days(year / January / 1) + days(d.day); break;
        case kind::month_week_day: {
            const auto m = month(static_cast<unsigned>(d.month));
            const auto wd = weekday(static_cast<unsigned>(d.day));
            day = d.week == 5 ? sys_days(year / m / wd[last]) : sys_days(year / m / wd[static_cast<unsigned>(d.week)]);
            break;
        }
    }
    return local_seconds(day.time_since_epoch()) + d.time;
}

}  // namespace

expected<time_zone::posix_rule> time_zone::parse_posix_rule(std::string_view text) {
    const auto bad = [&](std::string_view what) {
        return make_error("malformed POSIX TZ rule (" + std::string(what) + ")");
    };
    rule_parser p(text);
    posix_rule r;
    auto std_name = p.name();
    if (!std_name) return bad("standard time name");
    const auto std_west = p.hms(24);
    if (!std_west) return bad("standard time offset");
    r.std_abbreviation = std::move(*std_name);
    r.std_offset = -*std_west;
    if (p.done()) return r;

    auto dst_name = p.name();
    if (!dst_name) return bad("daylight saving time name");
    r.has_dst = true;
    r.dst_abbreviation = std::move(*dst_name);
    r.dst_offset = r.std_offset + std::chrono::hours(1);
    if (!p.done() && !p.eat(',')) {
        const auto dst_west = p.hms(24);
        if (!dst_west) return bad("daylight saving time offset");
        r.dst_offset = -*dst_west;
        if (!p.eat(',')) return bad("daylight saving time without its rules");
    } else if (p.done()) {
        return bad("daylight saving time without its rules");
    }
    const auto start = p.date();
    if (!start || !p.eat(',')) return bad("start of daylight saving time");
    const auto end = p.date();
    if (!end || !p.done()) return bad("end of daylight saving time");
    r.dst_start = *start;
    r.dst_end = *end;
    return r;
}

expected<time_zone> time_zone::from_tzif(std::string_view bytes, std::string name) {
    if (bytes.size() > max_tzif_size) return make_error("not a TZif file (too large)");
    reader in(bytes);
    auto first = read_header(in);
    if (!first) return first.error();
    header h = *first;
    std::size_t time_size = 4;
    if (h.version != 0) {
        // Version 2+: skip the 32-bit block; the 64-bit one after the second header is authoritative.
        if (in.left() < h.data_size(4)) return make_error("malformed TZif file (truncated)");
        in.skip(static_cast<std::size_t>(h.data_size(4)));
        auto second = read_header(in);
        if (!second) return second.error();
        h = *second;
        time_size = 8;
    }
    if (in.left() < h.data_size(time_size)) return make_error("malformed TZif file (truncated)");

    time_zone zone;
    zone.name_ = std::move(name);
    std::vector<std::int64_t> times(h.timecnt);
    for (auto& t : times) t = in.be(time_size);
    for (std::size_t i = 1; i < times.size(); ++i)
        if (times[i] <= times[i - 1]) return make_error("malformed TZif file (transitions out of order)");
    std::vector<std::uint8_t> indices(h.timecnt);
    for (auto& i : indices) {
        i = in.byte();
        if (i >= h.typecnt) return make_error("malformed TZif file (transition to an unknown type)");
    }
    struct raw_type {
        std::int64_t offset;
        std::uint8_t abbreviation_index;
    };
    std::vector<raw_type> raw(h.typecnt);
    for (auto& t : raw) {
        t.offset = in.be(4);
        in.byte();  // isdst: the offset says all the daemon needs
        t.abbreviation_index = in.byte();
        if (t.offset <= -89'999 || t.offset >= 93'600 || t.abbreviation_index >= h.charcnt)
            return make_error("malformed TZif file (local time type)");
    }
    const std::string_view abbreviations = in.take(h.charcnt);
    in.skip(h.isstdcnt + h.isutcnt);
    for (const auto& t : raw) {
        const auto from = abbreviations.substr(t.abbreviation_index);
        zone.types_.push_back({seconds(t.offset), std::string(from.substr(0, from.find('\0')))});
    }
    for (std::size_t i = 0; i < times.size(); ++i) zone.transitions_.push_back({sys_seconds(seconds(times[i])), indices[i]});

    if (h.version != 0) {
        // The footer: "\n<POSIX TZ rule>\n"; empty between the newlines when there is no rule.
        if (!in.has(2) || in.byte() != '\n') return make_error("malformed TZif file (footer)");
        const std::string_view rest = in.take(in.left());
        const auto end = rest.find('\n');
        if (end == std::string_view::npos) return make_error("malformed TZif file (footer)");
        if (end > 0) {
            auto rule = parse_posix_rule(rest.substr(0, end));
            if (!rule) return rule.error();
            zone.rule_ = std::move(*rule);
        }
    }
    return zone;
}

expected<time_zone> time_zone::load(std::string_view name, std::optional<std::filesystem::path> dir) {
    const bool well_formed = !name.empty() && name.front() != '/' && name.find("..") == std::string_view::npos &&
                             std::ranges::all_of(name, [](char c) {
                                 return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '/' || c == '_' ||
                                        c == '-' || c == '+';
                             });
    if (!well_formed) return make_error("not a time zone name");
    const auto path = dir.value_or(std::filesystem::path("/usr/share/zoneinfo")) / std::filesystem::path(std::string(name));
    std::ifstream file(path, std::ios::binary);
    if (!file) return make_error("cannot read " + path.string() + " (is the tzdata package installed?)");
    std::string bytes;
    bytes.resize(max_tzif_size + 1);
    file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    bytes.resize(static_cast<std::size_t>(file.gcount()));
    auto zone = from_tzif(bytes, std::string(name));
    if (!zone) return make_error(path.string() + ": " + zone.error().message);
    return zone;
}

time_zone::in_force time_zone::at(sys_seconds t) const {
    if (transitions_.empty() || t >= transitions_.back().at) {
        if (rule_) {
            const posix_rule& r = *rule_;
            if (!r.has_dst) return {r.std_offset, &r.std_abbreviation};
            const auto year = std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(t + r.std_offset)).year();
            const sys_seconds start = sys_seconds((rule_instant(r.dst_start, year) - r.std_offset).time_since_epoch());
            const sys_seconds end = sys_seconds((rule_instant(r.dst_end, year) - r.dst_offset).time_since_epoch());
            const bool dst = start < end ? (t >= start && t < end) : (t < end || t >= start);
            return dst ? in_force{r.dst_offset, &r.dst_abbreviation} : in_force{r.std_offset, &r.std_abbreviation};
        }
        const auto& last = transitions_.empty() ? types_.front() : types_[transitions_.back().type];
        return {last.offset, &last.abbreviation};
    }
    // The last transition at or before t; before the first, type 0 (RFC 8536 section 3.2).
    const auto after = std::upper_bound(transitions_.begin(), transitions_.end(), t,
                                        [](sys_seconds v, const transition& x) { return v < x.at; });
    const auto& type = after == transitions_.begin() ? types_.front() : types_[std::prev(after)->type];
    return {type.offset, &type.abbreviation};
}

seconds time_zone::offset_at(sys_seconds t) const { return at(t).offset; }

std::string_view time_zone::abbreviation_at(sys_seconds t) const { return *at(t).abbreviation; }

local_seconds time_zone::to_local(sys_seconds t) const { return local_seconds((t + offset_at(t)).time_since_epoch()); }

sys_seconds time_zone::to_sys(local_seconds t) const {
    // Offsets change by at most a day around any instant: the offset in force a day before and a
    // day after the naive reading bracket every candidate.
    const sys_seconds naive(t.time_since_epoch());
    const seconds before = offset_at(naive - std::chrono::days(1));
    const seconds after = offset_at(naive + std::chrono::days(1));
    const sys_seconds with_before = naive - before;
    const sys_seconds with_after = naive - after;
    const bool before_fits = offset_at(with_before) == before;
    const bool after_fits = offset_at(with_after) == after;
    if (before_fits && after_fits) return std::min(with_before, with_after);  // happened twice: the earlier
    if (before_fits) return with_before;
    if (after_fits) return with_after;
    return with_before;  // skipped: read with the offset before the gap
}

}  // namespace sessiond
