#include "sessiond/metrics/prometheus_text.hpp"

#include "support/prometheus_parser.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <random>
#include <string>

namespace sessiond {
namespace {

using testing::parse_prometheus_text;
constexpr double inf = std::numeric_limits<double>::infinity();
constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

// The exposition of one gauge sample whose label `v` holds `value`.
std::string with_label_value(std::string_view value) {
    prometheus_text out;
    out.family("g", prometheus_text::type::gauge, "");
    out.sample({{"v", std::string(value)}}, 1);
    return out.take();
}

// What the label value `v` reads as after writing and parsing it back.
std::string label_value_round_trip(std::string_view value) {
    const std::string text = with_label_value(value);
    auto parsed = parse_prometheus_text(text);
    if (!parsed) {
        ADD_FAILURE() << parsed.error().message << "\n" << text;
        return {};
    }
    return parsed->families().at(0).samples.at(0).labels.at("v");
}

double parse_double(const std::string& text) {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    EXPECT_TRUE(ec == std::errc() && end == text.data() + text.size()) << text;
    return value;
}

std::string utf8_encode(char32_t cp) {
    std::string out;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
}

// ---- values

TEST(prometheus_value_format, writes_integers_without_a_decimal_point) {
    EXPECT_EQ(format_prometheus_value(3), "3");
    EXPECT_EQ(format_prometheus_value(0), "0");
    EXPECT_EQ(format_prometheus_value(-7), "-7");
    EXPECT_EQ(format_prometheus_value(1000000), "1000000");
    EXPECT_EQ(format_prometheus_value(9007199254740992.0), "9007199254740992");  // 2^53
}

TEST(prometheus_value_format, writes_negative_zero_as_zero) { EXPECT_EQ(format_prometheus_value(-0.0), "0"); }

TEST(prometheus_value_format, writes_fractions_in_their_shortest_form) {
    EXPECT_EQ(format_prometheus_value(0.1), "0.1");
    EXPECT_EQ(format_prometheus_value(2.5), "2.5");
    EXPECT_EQ(format_prometheus_value(0.005), "0.005");
    EXPECT_EQ(format_prometheus_value(-1.25), "-1.25");
}

TEST(prometheus_value_format, writes_values_that_parse_back_to_the_same_double) {
    for (const double value : {1.0 / 3, 0.1 + 0.2, 123456.789, 1e-7, 6.02214076e23, 1e300, -2.5e-300,
                               std::numeric_limits<double>::min(), std::numeric_limits<double>::denorm_min(),
                               std::numeric_limits<double>::max(), std::nextafter(1.0, 2.0), 9007199254740993.0 * 4}) {
        const std::string text = format_prometheus_value(value);
        EXPECT_EQ(parse_double(text), value) << text;
    }
}

TEST(prometheus_value_format, writes_infinities_and_nan_as_prometheus_spells_them) {
    EXPECT_EQ(format_prometheus_value(inf), "+Inf");
    EXPECT_EQ(format_prometheus_value(-inf), "-Inf");
    EXPECT_EQ(format_prometheus_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

// ---- exact output per type

TEST(prometheus_text, writes_a_counter_family_with_help_type_and_labelled_samples) {
    prometheus_text out;
    out.family("ibkr_requests_total", prometheus_text::type::counter, "IBKR requests by step and outcome.");
    out.sample({{"step", "tickle"}, {"outcome", "ok"}}, 42);
    out.sample({{"step", "tickle"}, {"outcome", "unauthorized"}}, 1);
    EXPECT_EQ(out.take(),
              "# HELP ibkr_requests_total IBKR requests by step and outcome.\n"
              "# TYPE ibkr_requests_total counter\n"
              "ibkr_requests_total{step=\"tickle\",outcome=\"ok\"} 42\n"
              "ibkr_requests_total{step=\"tickle\",outcome=\"unauthorized\"} 1\n");
}

TEST(prometheus_text, writes_a_gauge_without_labels_and_with_a_fraction) {
    prometheus_text out;
    out.family("sessiond_sso_expires_seconds", prometheus_text::type::gauge, "Seconds until the SSO session expires.");
    out.sample({}, 12.5);
    EXPECT_EQ(out.take(),
              "# HELP sessiond_sso_expires_seconds Seconds until the SSO session expires.\n"
              "# TYPE sessiond_sso_expires_seconds gauge\n"
              "sessiond_sso_expires_seconds 12.5\n");
}

TEST(prometheus_text, writes_a_histogram_as_cumulative_buckets_up_to_inf_then_sum_and_count) {
    histogram h({0.25, 1, 2.5});
    for (const double v : {0.25, 0.5, 2.5, 7.0}) h.observe(v);
    prometheus_text out;
    out.family("ibkr_request_duration_seconds", prometheus_text::type::histogram, "Duration of IBKR requests.");
    out.histogram({{"step", "tickle"}}, h);
    EXPECT_EQ(out.take(),
              "# HELP ibkr_request_duration_seconds Duration of IBKR requests.\n"
              "# TYPE ibkr_request_duration_seconds histogram\n"
              "ibkr_request_duration_seconds_bucket{step=\"tickle\",le=\"0.25\"} 1\n"
              "ibkr_request_duration_seconds_bucket{step=\"tickle\",le=\"1\"} 2\n"
              "ibkr_request_duration_seconds_bucket{step=\"tickle\",le=\"2.5\"} 3\n"
              "ibkr_request_duration_seconds_bucket{step=\"tickle\",le=\"+Inf\"} 4\n"
              "ibkr_request_duration_seconds_sum{step=\"tickle\"} 10.25\n"
              "ibkr_request_duration_seconds_count{step=\"tickle\"} 4\n");
}

TEST(prometheus_text, writes_an_unlabelled_histogram_with_le_as_its_only_label) {
    histogram h({1});
    h.observe(0.5);
    prometheus_text out;
    out.family("d", prometheus_text::type::histogram, "");
    out.histogram({}, h);
    EXPECT_EQ(out.take(),
              "# HELP d\n"
              "# TYPE d histogram\n"
              "d_bucket{le=\"1\"} 1\n"
              "d_bucket{le=\"+Inf\"} 1\n"
              "d_sum 0.5\n"
              "d_count 1\n");
}

TEST(prometheus_text, writes_a_histogram_by_hand_with_suffixed_samples) {
    prometheus_text out;
    out.family("d", prometheus_text::type::histogram, "h");
    out.sample("_bucket", {{"le", "+Inf"}}, 2);
    out.sample("_sum", {}, 1.5);
    out.sample("_count", {}, 2);
    EXPECT_EQ(out.take(), "# HELP d h\n# TYPE d histogram\nd_bucket{le=\"+Inf\"} 2\nd_sum 1.5\nd_count 2\n");
}

TEST(prometheus_text, writes_families_in_the_order_they_were_started) {
    prometheus_text out;
    out.family("b", prometheus_text::type::gauge, "second letter");
    out.sample({}, 2);
    out.family("a", prometheus_text::type::gauge, "first letter");
    out.sample({}, 1);
    EXPECT_EQ(out.take(), "# HELP b second letter\n# TYPE b gauge\nb 2\n# HELP a first letter\n# TYPE a gauge\na 1\n");
}

TEST(prometheus_text, take_returns_nothing_when_nothing_was_written) {
    prometheus_text out;
    EXPECT_EQ(out.take(), "");
}

TEST(prometheus_text, take_starts_a_new_exposition_in_which_names_may_be_reused) {
    prometheus_text out;
    out.family("a", prometheus_text::type::gauge, "");
    out.sample({}, 1);
    (void)out.take();
    out.family("a", prometheus_text::type::gauge, "");
    out.sample({}, 2);
    EXPECT_EQ(out.take(), "# HELP a\n# TYPE a gauge\na 2\n");
}

TEST(prometheus_text, content_type_is_the_text_format_0_0_4) {
    EXPECT_EQ(prometheus_content_type, "text/plain; version=0.0.4; charset=utf-8");
}

// ---- escaping

TEST(prometheus_text, escapes_backslash_and_newline_in_help_but_not_quotes) {
    prometheus_text out;
    out.family("a", prometheus_text::type::gauge, "Line one\nC:\\path \"quoted\"");
    EXPECT_EQ(out.take(), "# HELP a Line one\\nC:\\\\path \"quoted\"\n# TYPE a gauge\n");
}

TEST(prometheus_text, escapes_quotes_backslash_and_newline_in_label_values) {
    EXPECT_EQ(with_label_value("say \"hi\" \\ bye\nx"), "# HELP g\n# TYPE g gauge\ng{v=\"say \\\"hi\\\" \\\\ bye\\nx\"} 1\n");
}

TEST(prometheus_text, keeps_valid_utf8_and_other_control_characters_in_label_values) {
    const std::string value = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9D\x84\x9E tab\there cr\r";
    EXPECT_EQ(with_label_value(value), "# HELP g\n# TYPE g gauge\ng{v=\"" + value + "\"} 1\n");
}

TEST(prometheus_text, replaces_each_invalid_utf8_sequence_in_a_label_value_with_one_replacement_character) {
    const std::string r(replacement);
    EXPECT_EQ(label_value_round_trip("a\xFF" "b"), "a" + r + "b");                   // never a UTF-8 byte
    EXPECT_EQ(label_value_round_trip("\x80"), r);                                    // lone continuation byte
    EXPECT_EQ(label_value_round_trip("x\xC3"), "x" + r);                             // truncated at the end
    EXPECT_EQ(label_value_round_trip("\xE2\x82" "x"), r + "x");                      // truncated before ASCII
    EXPECT_EQ(label_value_round_trip("\xC0\x80"), r + r);                            // overlong NUL
    EXPECT_EQ(label_value_round_trip("\xE0\x80\xAF"), r + r + r);                    // overlong '/'
    EXPECT_EQ(label_value_round_trip("\xED\xA0\x80"), r + r + r);                    // surrogate U+D800
    EXPECT_EQ(label_value_round_trip("\xF4\x90\x80\x80"), r + r + r + r);            // past U+10FFFF
    EXPECT_EQ(label_value_round_trip("\xF0\x9F\x98" "\""), r + "\"");                // truncated before a quote
}

TEST(prometheus_text, replaces_invalid_utf8_in_help) {
    prometheus_text out;
    out.family("a", prometheus_text::type::gauge, "bad \xC3(");
    EXPECT_EQ(out.take(), "# HELP a bad " + std::string(replacement) + "(\n# TYPE a gauge\n");
}

TEST(prometheus_text, writes_any_valid_label_value_so_that_it_parses_back_unchanged) {
    std::mt19937 random(20240601);  // fixed: the same cases on every run
    const char32_t interesting[] = {'"', '\\', '\n', '\r', '\t', 0, '{', '}', ',', '=', ' ', 0x7F, 0x80,
                                    0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF};
    for (int round = 0; round < 500; ++round) {
        std::string value;
        const int length = static_cast<int>(random() % 12);
        for (int i = 0; i < length; ++i) {
            char32_t cp = random() % 2 == 0 ? interesting[random() % std::size(interesting)]
                                            : static_cast<char32_t>(random() % 0x110000);
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';  // surrogates are not characters
            value += utf8_encode(cp);
        }
        ASSERT_EQ(label_value_round_trip(value), value);
    }
}

TEST(prometheus_text, writes_any_byte_sequence_as_a_valid_exposition) {
    std::mt19937 random(7);
    for (int round = 0; round < 2000; ++round) {
        std::string value;
        const int length = static_cast<int>(random() % 10);
        for (int i = 0; i < length; ++i) value += static_cast<char>(random() % 256);
        const std::string text = with_label_value(value);
        auto parsed = parse_prometheus_text(text);
        ASSERT_TRUE(parsed) << parsed.error().message;
    }
    for (int byte = 0; byte < 256; ++byte) {
        auto parsed = parse_prometheus_text(with_label_value(std::string(1, static_cast<char>(byte))));
        ASSERT_TRUE(parsed) << "byte " << byte << ": " << parsed.error().message;
    }
}

// ---- through the strict parser

TEST(prometheus_text, output_of_every_type_round_trips_through_the_strict_parser) {
    histogram tickle(request_duration_buckets());
    histogram init(request_duration_buckets());
    for (const double v : {0.004, 0.005, 0.03, 0.2, 12.0}) tickle.observe(v);
    init.observe(1);

    prometheus_text out;
    out.family("ibkr_requests_total", prometheus_text::type::counter, "IBKR requests.");
    out.sample({{"step", "tickle"}}, 5);
    out.sample({{"step", "init"}}, 1);
    out.family("sessiond_session_state", prometheus_text::type::gauge, "1 for the current state.");
    out.sample({{"session", "DU1234567"}, {"state", "healthy"}}, 1);
    out.sample({{"session", "DU1234567"}, {"state", "reconnecting"}}, 0);
    out.family("ibkr_request_duration_seconds", prometheus_text::type::histogram, "Duration of IBKR requests.");
    out.histogram({{"step", "tickle"}}, tickle);
    out.histogram({{"step", "init"}}, init);
    out.family("sessiond_sso_expires_seconds", prometheus_text::type::gauge, "");
    out.sample({}, -inf);
    const std::string text = out.take();

    auto parsed = parse_prometheus_text(text);
    ASSERT_TRUE(parsed) << parsed.error().message << "\n" << text;
    const auto& families = parsed->families();
    ASSERT_EQ(families.size(), 4u);
    EXPECT_EQ(families[0].name, "ibkr_requests_total");
    EXPECT_EQ(families[0].type, testing::metric_type::counter);
    EXPECT_EQ(families[0].help, "IBKR requests.");
    EXPECT_EQ(families[1].type, testing::metric_type::gauge);
    EXPECT_EQ(families[2].type, testing::metric_type::histogram);
    EXPECT_EQ(families[2].samples.size(), 28u);  // two series of 12 buckets, _sum and _count
    EXPECT_EQ(families[3].help, "");

    EXPECT_EQ(parsed->value_of("ibkr_requests_total", {{"step", "tickle"}}), 5);
    EXPECT_EQ(parsed->value_of("sessiond_session_state", {{"session", "DU1234567"}, {"state", "reconnecting"}}), 0);
    const std::string bucket = "ibkr_request_duration_seconds_bucket";
    EXPECT_EQ(parsed->value_of(bucket, {{"step", "tickle"}, {"le", "0.005"}}), 2);
    EXPECT_EQ(parsed->value_of(bucket, {{"step", "tickle"}, {"le", "0.05"}}), 3);
    EXPECT_EQ(parsed->value_of(bucket, {{"step", "tickle"}, {"le", "10"}}), 4);
    EXPECT_EQ(parsed->value_of(bucket, {{"step", "tickle"}, {"le", "+Inf"}}), 5);
    EXPECT_EQ(parsed->value_of("ibkr_request_duration_seconds_sum", {{"step", "tickle"}}), tickle.sum());
    EXPECT_EQ(parsed->value_of("ibkr_request_duration_seconds_count", {{"step", "init"}}), 1);
    EXPECT_EQ(parsed->value_of("sessiond_sso_expires_seconds"), -inf);
}

TEST(prometheus_text, fractional_values_round_trip_through_the_strict_parser) {
    prometheus_text out;
    out.family("g", prometheus_text::type::gauge, "");
    const double values[] = {1.0 / 3, 0.1 + 0.2, 1e-300, -123.456, 9007199254740993.0 * 8};
    for (std::size_t i = 0; i < std::size(values); ++i) out.sample({{"i", std::to_string(i)}}, values[i]);
    auto parsed = parse_prometheus_text(out.take());
    ASSERT_TRUE(parsed) << parsed.error().message;
    for (std::size_t i = 0; i < std::size(values); ++i)
        EXPECT_EQ(parsed->value_of("g", {{"i", std::to_string(i)}}), values[i]);
}

// ---- programming errors abort, in every build

TEST(prometheus_text_death, aborts_on_a_family_written_twice) {
    prometheus_text out;
    out.family("a", prometheus_text::type::gauge, "");
    EXPECT_DEATH(out.family("a", prometheus_text::type::counter, ""), "written twice");
}

TEST(prometheus_text_death, aborts_on_a_family_clashing_with_a_histograms_samples) {
    prometheus_text out;
    out.family("d", prometheus_text::type::histogram, "");
    EXPECT_DEATH(out.family("d_count", prometheus_text::type::gauge, ""), "d_count");
}

TEST(prometheus_text_death, aborts_on_an_invalid_metric_name) {
    prometheus_text out;
    EXPECT_DEATH(out.family("1st", prometheus_text::type::gauge, ""), "invalid metric name");
    EXPECT_DEATH(out.family("a-b", prometheus_text::type::gauge, ""), "invalid metric name");
    EXPECT_DEATH(out.family("", prometheus_text::type::gauge, ""), "invalid metric name");
}

TEST(prometheus_text_death, aborts_on_an_invalid_or_reserved_label_name) {
    prometheus_text out;
    out.family("a", prometheus_text::type::gauge, "");
    EXPECT_DEATH(out.sample({{"a:b", "v"}}, 1), "label name");
    EXPECT_DEATH(out.sample({{"9", "v"}}, 1), "label name");
    EXPECT_DEATH(out.sample({{"__name__", "v"}}, 1), "reserved");
}

TEST(prometheus_text_death, aborts_on_a_label_name_given_twice) {
    prometheus_text out;
    out.family("a", prometheus_text::type::gauge, "");
    EXPECT_DEATH(out.sample({{"x", "1"}, {"x", "2"}}, 1), "twice");
}

TEST(prometheus_text_death, aborts_on_a_sample_before_any_family) {
    prometheus_text out;
    EXPECT_DEATH(out.sample({}, 1), "before any family");
}

TEST(prometheus_text_death, aborts_on_a_histogram_in_a_family_of_another_type) {
    prometheus_text out;
    out.family("a", prometheus_text::type::gauge, "");
    EXPECT_DEATH(out.histogram({}, histogram({1})), "not a histogram");
}

TEST(prometheus_text_death, aborts_on_an_le_label_given_to_histogram) {
    prometheus_text out;
    out.family("a", prometheus_text::type::histogram, "");
    EXPECT_DEATH(out.histogram({{"le", "1"}}, histogram({1})), "le");
}

TEST(prometheus_text_death, aborts_on_a_suffix_the_family_type_cannot_have) {
    prometheus_text out;
    out.family("a", prometheus_text::type::gauge, "");
    EXPECT_DEATH(out.sample("_sum", {}, 1), "named after their family");
    out.family("h", prometheus_text::type::histogram, "");
    EXPECT_DEATH(out.sample({}, 1), "_bucket, _sum or _count");
    EXPECT_DEATH(out.sample("_bucket", {}, 1), "le");
}

}  // namespace
}  // namespace sessiond
