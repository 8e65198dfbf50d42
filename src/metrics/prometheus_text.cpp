#include "sessiond/metrics/prometheus_text.hpp"

#include "contract.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace sessiond {

namespace {

using metrics_detail::contract_violated;

bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool is_metric_name(std::string_view name) {
    if (name.empty() || is_ascii_digit(name.front())) return false;
    for (const char c : name)
        if (!is_ascii_letter(c) && !is_ascii_digit(c) && c != '_' && c != ':') return false;
    return true;
}

// [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved for Prometheus' own labels).
bool is_label_name(std::string_view name) {
    if (name.empty() || is_ascii_digit(name.front()) || name.starts_with("__")) return false;
    for (const char c : name)
        if (!is_ascii_letter(c) && !is_ascii_digit(c) && c != '_') return false;
    return true;
}

void check_labels(const label_set& labels) {
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const std::string& name = labels[i].first;
        if (!is_label_name(name)) contract_violated("invalid or reserved label name", name);
        for (std::size_t j = 0; j < i; ++j)
            if (labels[j].first == name) contract_violated("label name given twice", name);
    }
}

bool has_label(const label_set& labels, std::string_view name) {
    for (const auto& label : labels)
        if (label.first == name) return true;
    return false;
}

struct utf8_step {
    std::size_t length;  // bytes consumed: the code point, or the maximal invalid subpart
    bool valid;
};

// One step of UTF-8 decoding per Unicode table 3-7 (no overlong forms, no surrogates, nothing past
// U+10FFFF). An invalid sequence is consumed as its maximal subpart, so that each becomes exactly
// one U+FFFD, as the Unicode standard recommends.
utf8_step next_code_point(std::string_view text, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    if (lead < 0x80) return {1, true};
    std::size_t length = 0;
    unsigned char second_low = 0x80;
    unsigned char second_high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) second_low = 0xA0;   // overlong
        if (lead == 0xED) second_high = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) second_low = 0x90;   // overlong
        if (lead == 0xF4) second_high = 0x8F;  // past U+10FFFF
    } else {
        return {1, false};
    }
    for (std::size_t k = 1; k < length; ++k) {
        if (i + k >= text.size()) return {k, false};
        const unsigned char b = byte(i + k);
        const unsigned char low = k == 1 ? second_low : 0x80;
        const unsigned char high = k == 1 ? second_high : 0xBF;
        if (b < low || b > high) return {k, false};
    }
    return {length, true};
}

// Help texts escape backslash and newline; label values also the double quote.
void append_escaped(std::string& out, std::string_view text, bool escape_quote) {
    for (std::size_t i = 0; i < text.size();) {
        const utf8_step step = next_code_point(text, i);
        if (!step.valid) {
            out += "\xEF\xBF\xBD";  // U+FFFD
        } else if (text[i] == '\\') {
            out += "\\\\";
        } else if (text[i] == '\n') {
            out += "\\n";
        } else if (text[i] == '"' && escape_quote) {
            out += "\\\"";
        } else {
            out.append(text.substr(i, step.length));
        }
        i += step.length;
    }
}

std::string_view type_name(prometheus_text::type t) {
    switch (t) {
        case prometheus_text::type::counter: return "counter";
        case prometheus_text::type::gauge: return "gauge";
        case prometheus_text::type::histogram: return "histogram";
    }
    contract_violated("unknown metric type");
}

}  // namespace

std::string format_prometheus_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    // Below 2^53 every integer is exact; the shortest form would write a million as "1e+06".
    if (std::trunc(value) == value && std::fabs(value) <= 0x1p53)
        return std::to_string(static_cast<std::int64_t>(value));
    char buffer[32];  // the longest shortest-round-trip double has 24 characters
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    return std::string(buffer, result.ptr);
}

void prometheus_text::family(std::string_view name, type t, std::string_view help) {
    if (!is_metric_name(name)) contract_violated("invalid metric name", name);
    std::vector<std::string> names{std::string(name)};
    if (t == type::histogram)
        for (const std::string_view suffix : {"_bucket", "_sum", "_count"}) names.push_back(std::string(name) += suffix);
    for (const std::string& n : names)
        if (claimed_names_.contains(n)) contract_violated("metric family written twice, or clashing with another", n);
    claimed_names_.insert(names.begin(), names.end());
    family_ = std::string(name);
    type_ = t;

    out_ += "# HELP ";
    out_ += name;
    if (!help.empty()) {
        out_ += ' ';
        append_escaped(out_, help, false);
    }
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type_name(t);
    out_ += '\n';
}

void prometheus_text::sample(const label_set& labels, double value) { sample("", labels, value); }

void prometheus_text::sample(std::string_view suffix, const label_set& labels, double value) {
    require_family();
    check_labels(labels);
    if (type_ == type::histogram) {
        if (suffix != "_bucket" && suffix != "_sum" && suffix != "_count")
            contract_violated("a histogram sample needs the suffix _bucket, _sum or _count", family_);
        // Exactly the buckets carry `le`; histogram() adds it itself.
        if (has_label(labels, "le") != (suffix == "_bucket"))
            contract_violated("a histogram's `le` label belongs on its _bucket samples only", family_);
    } else if (!suffix.empty()) {
        contract_violated("counter and gauge samples are named after their family", family_);
    }
    write_sample(suffix, labels, {}, value);
}

void prometheus_text::histogram(const label_set& labels, const sessiond::histogram& h) {
    require_family();
    if (type_ != type::histogram) contract_violated("histogram() in a family that is not a histogram", family_);
    check_labels(labels);
    if (has_label(labels, "le")) contract_violated("histogram() writes the `le` label itself", family_);

    const std::vector<double>& bounds = h.bounds();
    const auto counts = h.bucket_counts();
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        cumulative += counts[i];
        write_sample("_bucket", labels, format_prometheus_value(bounds[i]), static_cast<double>(cumulative));
    }
    cumulative += counts[bounds.size()];
    write_sample("_bucket", labels, "+Inf", static_cast<double>(cumulative));
    write_sample("_sum", labels, {}, h.sum());
    write_sample("_count", labels, {}, static_cast<double>(h.count()));
}

std::string prometheus_text::take() {
    std::string text = std::move(out_);
    out_.clear();
    family_.clear();
    claimed_names_.clear();
    return text;
}

void prometheus_text::require_family() const {
    if (family_.empty()) contract_violated("a sample before any family()");
}

void prometheus_text::write_sample(std::string_view suffix, const label_set& labels, std::string_view le,
                                   double value) {
    out_ += family_;
    out_ += suffix;
    if (!labels.empty() || !le.empty()) {
        out_ += '{';
        bool first = true;
        const auto append_label = [&](std::string_view name, std::string_view label_value) {
            if (!first) out_ += ',';
            first = false;
            out_ += name;
            out_ += "=\"";
            append_escaped(out_, label_value, true);
            out_ += '"';
        };
        for (const auto& [name, label_value] : labels) append_label(name, label_value);
        if (!le.empty()) append_label("le", le);
        out_ += '}';
    }
    out_ += ' ';
    out_ += format_prometheus_value(value);
    out_ += '\n';
}

}  // namespace sessiond
