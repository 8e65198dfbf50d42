#include "support/prometheus_parser.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

namespace sessiond::testing {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_metric_name_char(char c) { return is_letter(c) || is_digit(c) || c == '_' || c == ':'; }
bool is_label_name_char(char c) { return is_letter(c) || is_digit(c) || c == '_'; }

bool is_metric_name(std::string_view name) {
    if (name.empty() || is_digit(name.front())) return false;
    for (const char c : name)
        if (!is_metric_name_char(c)) return false;
    return true;
}

// Decodes each code point and checks its value: no overlong form, no surrogate, nothing past U+10FFFF.
bool is_valid_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t continuation = 0;
        char32_t code_point = 0;
        char32_t smallest = 0;
        if (lead < 0x80) {
            ++i;
            continue;
        }
        if ((lead & 0xE0) == 0xC0) {
            continuation = 1, code_point = lead & 0x1F, smallest = 0x80;
        } else if ((lead & 0xF0) == 0xE0) {
            continuation = 2, code_point = lead & 0x0F, smallest = 0x800;
        } else if ((lead & 0xF8) == 0xF0) {
            continuation = 3, code_point = lead & 0x07, smallest = 0x10000;
        } else {
            return false;
        }
        if (text.size() - i <= continuation) return false;
        for (std::size_t k = 1; k <= continuation; ++k) {
            const auto byte = static_cast<unsigned char>(text[i + k]);
            if ((byte & 0xC0) != 0x80) return false;
            code_point = (code_point << 6) | (byte & 0x3F);
        }
        if (code_point < smallest || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) return false;
        i += continuation + 1;
    }
    return true;
}

std::optional<double> parse_value(std::string_view token) {
    if (token == "+Inf") return std::numeric_limits<double>::infinity();
    if (token == "-Inf") return -std::numeric_limits<double>::infinity();
    if (token == "NaN") return std::numeric_limits<double>::quiet_NaN();
    std::string_view digits = token;
    bool negative = false;
    if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) {
        negative = digits.front() == '-';
        digits.remove_prefix(1);
    }
    // from_chars also reads "inf", "nan" and "infinity" in any case: only decimal notation here.
    if (digits.empty() || !(is_digit(digits.front()) || digits.front() == '.')) return std::nullopt;
    double value = 0.0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return negative ? -value : value;
}

std::optional<std::int64_t> parse_timestamp(std::string_view token) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (token.empty() || ec != std::errc() || end != token.data() + token.size()) return std::nullopt;
    return value;
}

std::optional<metric_type> parse_type(std::string_view token) {
    if (token == "counter") return metric_type::counter;
    if (token == "gauge") return metric_type::gauge;
    if (token == "histogram") return metric_type::histogram;
    if (token == "summary") return metric_type::summary;
    if (token == "untyped") return metric_type::untyped;
    return std::nullopt;
}

std::vector<std::string_view> sample_suffixes(metric_type type) {
    switch (type) {
        case metric_type::histogram: return {"_bucket", "_sum", "_count"};
        case metric_type::summary: return {"", "_sum", "_count"};
        default: return {""};
    }
}

// Identifies a series: in Prometheus an empty label value is the same as no label. Lengths are
// written out because names and values may contain any character.
std::string series_key(std::string_view name, const label_map& labels, std::string_view except_label = {}) {
    std::string key(name);
    for (const auto& [label, value] : labels) {
        if (value.empty() || label == except_label) continue;
        key += '{' + std::to_string(label.size()) + ':' + label + std::to_string(value.size()) + ':' + value;
    }
    return key;
}

std::string in_quotes(std::string_view text) { return '"' + std::string(text) + '"'; }

class text_parser {
public:
    explicit text_parser(std::string_view text) : text_(text) {}

    expected<exposition> run() {
        if (text_.empty()) return exposition{};
        if (text_.back() != '\n') {
            line_number_ = static_cast<int>(std::count(text_.begin(), text_.end(), '\n')) + 1;
            return fail("the text does not end with a newline");
        }
        for (std::size_t start = 0; start < text_.size();) {
            const std::size_t end = text_.find('\n', start);
            line_ = text_.substr(start, end - start);
            pos_ = 0;
            ++line_number_;
            if (auto parsed = parse_line(); !parsed) return parsed.error();
            start = end + 1;
        }
        for (const metric_family& family : families_)
            if (family.type == metric_type::histogram)
                if (auto checked = check_histogram(family); !checked) return checked.error();
        return exposition(std::move(families_));
    }

private:
    bool at_end() const { return pos_ >= line_.size(); }
    char peek() const { return line_[pos_]; }
    void skip_blanks() {
        while (!at_end() && is_blank(peek())) ++pos_;
    }
    std::string_view read_until_blank() {
        const std::size_t start = pos_;
        while (!at_end() && !is_blank(peek())) ++pos_;
        return line_.substr(start, pos_ - start);
    }
    error fail(const std::string& what) const { return fail_at(line_number_, what); }
    static error fail_at(int line, const std::string& what) {
        return make_error("line " + std::to_string(line) + ": " + what);
    }

    expected<void> parse_line() {
        skip_blanks();
        if (at_end()) return {};
        if (peek() == '#') return parse_comment();
        return parse_sample();
    }

    expected<void> parse_comment() {
        ++pos_;
        skip_blanks();
        const std::string_view keyword = read_until_blank();
        if (keyword != "HELP" && keyword != "TYPE") return {};  // any other comment
        skip_blanks();
        const std::string_view name = read_until_blank();
        if (name.empty()) return fail(std::string(keyword) + " without a metric name");
        if (!is_metric_name(name)) return fail("malformed metric name " + in_quotes(name) + " in " + std::string(keyword));
        skip_blanks();
        if (keyword == "HELP") {
            auto help = unescape_help(line_.substr(pos_));
            if (!help) return help.error();
            return on_help(name, std::move(*help));
        }
        const std::string_view type = read_until_blank();
        skip_blanks();
        if (!at_end()) return fail("unexpected text after the TYPE of " + std::string(name));
        return on_type(name, type);
    }

    expected<std::string> unescape_help(std::string_view raw) const {
        std::string help;
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] != '\\') {
                help += raw[i];
                continue;
            }
            if (i + 1 == raw.size()) return fail("HELP text ends in a lone backslash");
            const char escaped = raw[++i];
            if (escaped == '\\') help += '\\';
            else if (escaped == 'n') help += '\n';
            else return fail(std::string("invalid escape \\") + escaped + " in HELP text (only \\\\ and \\n)");
        }
        if (!is_valid_utf8(help)) return fail("HELP text is not valid UTF-8");
        return help;
    }

    expected<void> parse_sample() {
        sample s;
        s.line = line_number_;
        const std::size_t start = pos_;
        while (!at_end() && !is_blank(peek()) && peek() != '{') ++pos_;
        s.name = std::string(line_.substr(start, pos_ - start));
        if (!is_metric_name(s.name)) return fail("malformed metric name " + in_quotes(s.name));
        skip_blanks();
        if (!at_end() && peek() == '{')
            if (auto labels = parse_labels(s.labels); !labels) return labels.error();
        skip_blanks();
        const std::string_view value = read_until_blank();
        if (value.empty()) return fail("sample " + s.name + " has no value");
        const auto parsed_value = parse_value(value);
        if (!parsed_value) return fail("malformed value " + in_quotes(value) + " of " + s.name);
        s.value = *parsed_value;
        skip_blanks();
        if (!at_end()) {
            const std::string_view timestamp = read_until_blank();
            s.timestamp_ms = parse_timestamp(timestamp);
            if (!s.timestamp_ms) return fail("malformed timestamp " + in_quotes(timestamp) + " of " + s.name);
            skip_blanks();
            if (!at_end()) return fail("unexpected text after the timestamp of " + s.name);
        }
        return on_sample(std::move(s));
    }

    expected<void> parse_labels(label_map& labels) {
        ++pos_;  // '{'
        while (true) {
            skip_blanks();
            if (at_end()) return fail("unterminated label set");
            if (peek() == '}') break;
            const std::size_t start = pos_;
            while (!at_end() && is_label_name_char(peek())) ++pos_;
            const std::string name(line_.substr(start, pos_ - start));
            // "x-y" is a bad name; "x}" is a good name missing its value.
            const bool name_continues = !at_end() && !is_blank(peek()) && peek() != '=' && peek() != '}' && peek() != ',';
            if (name.empty() || is_digit(name.front()) || name_continues)
                return fail("malformed label name at column " + std::to_string(start + 1));
            if (name.starts_with("__")) return fail("label name " + in_quotes(name) + " is reserved (starts with __)");
            skip_blanks();
            if (at_end() || peek() != '=') return fail("expected '=' after label name " + in_quotes(name));
            ++pos_;
            skip_blanks();
            if (at_end() || peek() != '"') return fail("expected a quoted value for label " + in_quotes(name));
            ++pos_;
            auto value = read_label_value(name);
            if (!value) return value.error();
            if (!labels.emplace(name, std::move(*value)).second) return fail("label name " + in_quotes(name) + " given twice");
            skip_blanks();
            if (at_end()) return fail("unterminated label set");
            if (peek() == '}') break;
            if (peek() != ',') return fail("expected ',' or '}' after the value of label " + in_quotes(name));
            ++pos_;  // a trailing comma before '}' is allowed
        }
        ++pos_;  // '}'
        return {};
    }

    expected<std::string> read_label_value(const std::string& name) {
        std::string value;
        while (true) {
            if (at_end()) return fail("unterminated value of label " + in_quotes(name));
            const char c = line_[pos_++];
            if (c == '"') break;
            if (c != '\\') {
                value += c;
                continue;
            }
            if (at_end()) return fail("unterminated value of label " + in_quotes(name));
            const char escaped = line_[pos_++];
            if (escaped == '\\') value += '\\';
            else if (escaped == '"') value += '"';
            else if (escaped == 'n') value += '\n';
            else return fail(std::string("invalid escape \\") + escaped + " in the value of label " + in_quotes(name));
        }
        if (!is_valid_utf8(value)) return fail("value of label " + in_quotes(name) + " is not valid UTF-8");
        return value;
    }

    // The family a HELP or TYPE line is about: the current one, or a new one.
    expected<std::size_t> family_for_metadata(std::string_view name) {
        if (current_ && families_[*current_].name == name) return *current_;
        if (const auto owner = owner_of_.find(name); owner != owner_of_.end()) {
            const metric_family& other = families_[owner->second];
            if (other.name == name)
                return fail("family " + std::string(name) + " appears again after family " +
                            families_[*current_].name + " began: a family's lines must be contiguous");
            return fail("family " + std::string(name) + " clashes with the samples of family " + other.name);
        }
        families_.push_back(metric_family{std::string(name), metric_type::untyped, std::nullopt, {}});
        typed_.push_back(false);
        current_ = families_.size() - 1;
        owner_of_.emplace(std::string(name), *current_);
        return *current_;
    }

    expected<void> on_help(std::string_view name, std::string help) {
        const auto index = family_for_metadata(name);
        if (!index) return index.error();
        metric_family& family = families_[*index];
        if (family.help) return fail("second HELP line for " + family.name);
        family.help = std::move(help);
        return {};
    }

    expected<void> on_type(std::string_view name, std::string_view type_token) {
        const auto type = parse_type(type_token);
        if (!type) return fail("unknown TYPE " + in_quotes(type_token) + " for " + std::string(name));
        const auto index = family_for_metadata(name);
        if (!index) return index.error();
        metric_family& family = families_[*index];
        if (typed_[*index]) return fail("second TYPE line for " + family.name);
        family.type = *type;
        typed_[*index] = true;
        for (const std::string_view suffix : sample_suffixes(*type)) {
            const std::string sample_name = family.name + std::string(suffix);
            const auto [owner, added] = owner_of_.emplace(sample_name, *index);
            if (!added && owner->second != *index)
                return fail("family " + family.name + " clashes with the samples of family " +
                            families_[owner->second].name);
        }
        return {};
    }

    expected<void> on_sample(sample s) {
        const auto owner = owner_of_.find(s.name);
        if (owner == owner_of_.end() || !typed_[owner->second])
            return fail("sample " + s.name + " before the TYPE line of its family");
        if (current_ != owner->second)
            return fail("sample " + s.name + " after family " + families_[*current_].name +
                        " began: a family's lines must be contiguous");
        metric_family& family = families_[owner->second];
        if (auto checked = check_sample_of_type(family, s); !checked) return checked.error();
        if (!series_.insert(series_key(s.name, s.labels)).second) return fail("duplicate series of " + s.name);
        family.samples.push_back(std::move(s));
        return {};
    }

    expected<void> check_sample_of_type(const metric_family& family, const sample& s) const {
        const std::string_view suffix = std::string_view(s.name).substr(family.name.size());
        const auto label = [&](std::string_view name) -> const std::string* {
            const auto found = s.labels.find(name);
            return found == s.labels.end() ? nullptr : &found->second;
        };
        switch (family.type) {
            case metric_type::counter:
                if (std::isnan(s.value) || s.value < 0) return fail("counter " + s.name + " is negative or NaN");
                return {};
            case metric_type::gauge:
            case metric_type::untyped: return {};
            case metric_type::histogram: {
                if (suffix.empty()) return fail("histogram sample " + s.name + " lacks a _bucket, _sum or _count suffix");
                const std::string* le = label("le");
                if ((le != nullptr) != (suffix == "_bucket"))
                    return fail(s.name + ": the le label belongs on the _bucket samples, and only there");
                if (le != nullptr) {
                    const auto bound = parse_value(*le);
                    if (!bound || std::isnan(*bound)) return fail("malformed le " + in_quotes(*le) + " of " + s.name);
                }
                if (suffix != "_sum" && (std::isnan(s.value) || s.value < 0))
                    return fail(s.name + " is a count: it cannot be negative or NaN");
                return {};
            }
            case metric_type::summary: {
                const std::string* quantile = label("quantile");
                if ((quantile != nullptr) != suffix.empty())
                    return fail(s.name + ": the quantile label belongs on the samples without suffix, and only there");
                if (quantile != nullptr && !parse_value(*quantile))
                    return fail("malformed quantile " + in_quotes(*quantile) + " of " + s.name);
                return {};
            }
        }
        return {};
    }

    // Per series (labels other than le): increasing bounds up to +Inf, cumulative counts, and a
    // _count equal to the +Inf bucket, plus a _sum.
    static expected<void> check_histogram(const metric_family& family) {
        struct series {
            std::vector<const sample*> buckets;
            const sample* sum = nullptr;
            const sample* count = nullptr;
        };
        std::map<std::string, series> by_labels;
        for (const sample& s : family.samples) {
            series& found = by_labels[series_key("", s.labels, "le")];
            if (s.name.ends_with("_bucket")) found.buckets.push_back(&s);
            else if (s.name.ends_with("_sum")) found.sum = &s;
            else found.count = &s;
        }
        for (const auto& [key, series] : by_labels) {
            if (series.buckets.empty()) {
                const sample* any = series.sum != nullptr ? series.sum : series.count;
                return fail_at(any->line, "histogram " + family.name + " has a series without buckets (no le=\"+Inf\")");
            }
            double previous_bound = -std::numeric_limits<double>::infinity();
            double previous_count = 0.0;
            for (const sample* bucket : series.buckets) {
                const double bound = *parse_value(bucket->labels.at("le"));
                if (bucket != series.buckets.front() && !(bound > previous_bound))
                    return fail_at(bucket->line, "histogram " + family.name + ": le bounds are not increasing");
                if (bucket->value < previous_count)
                    return fail_at(bucket->line, "histogram " + family.name + ": bucket counts are not cumulative");
                previous_bound = bound;
                previous_count = bucket->value;
            }
            const sample& last = *series.buckets.back();
            if (previous_bound != std::numeric_limits<double>::infinity())
                return fail_at(last.line, "histogram " + family.name + " has a series without an le=\"+Inf\" bucket");
            if (series.count == nullptr)
                return fail_at(last.line, "histogram " + family.name + " has a series without _count");
            if (series.count->value != last.value)
                return fail_at(series.count->line,
                               "histogram " + family.name + ": _count differs from the le=\"+Inf\" bucket");
            if (series.sum == nullptr)
                return fail_at(last.line, "histogram " + family.name + " has a series without _sum");
        }
        return {};
    }

    std::string_view text_;
    std::string_view line_;
    std::size_t pos_ = 0;
    int line_number_ = 0;

    std::vector<metric_family> families_;
    std::vector<bool> typed_;  // per family: its TYPE line was seen
    // Every family name and every sample name a typed family may use, to the family's index.
    std::map<std::string, std::size_t, std::less<>> owner_of_;
    std::optional<std::size_t> current_;
    std::set<std::string> series_;
};

}  // namespace

const metric_family* exposition::family(std::string_view name) const {
    for (const metric_family& f : families_)
        if (f.name == name) return &f;
    return nullptr;
}

std::optional<double> exposition::value_of(std::string_view sample_name, const label_map& labels) const {
    for (const metric_family& f : families_)
        for (const sample& s : f.samples)
            if (s.name == sample_name && s.labels == labels) return s.value;
    return std::nullopt;
}

expected<exposition> parse_prometheus_text(std::string_view text) { return text_parser(text).run(); }

}  // namespace sessiond::testing
