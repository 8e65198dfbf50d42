// The strict test-side parser must itself be right: it accepts what Prometheus accepts from a
// well-behaved exporter and rejects each way an exposition can be broken.

#include "support/prometheus_parser.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace sessiond::testing {
namespace {

// The error for `text`, which must be rejected; the message must name `line` and contain `what`.
void expect_rejected(std::string_view text, int line, std::string_view what) {
    auto parsed = parse_prometheus_text(text);
    if (parsed) {
        ADD_FAILURE() << "accepted:\n" << text;
        return;
    }
    const std::string& message = parsed.error().message;
    EXPECT_TRUE(message.starts_with("line " + std::to_string(line) + ": ")) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
}

exposition parse_ok(std::string_view text) {
    auto parsed = parse_prometheus_text(text);
    if (!parsed) {
        ADD_FAILURE() << parsed.error().message << "\n" << text;
        return {};
    }
    return std::move(*parsed);
}

// ---- accepted

TEST(prometheus_parser, accepts_real_world_text_with_comments_blank_lines_and_timestamps) {
    const exposition e = parse_ok(
        "# A hand-written exposition, as a Go or Python exporter would serve it.\n"
        "\n"
        "# HELP http_requests_total The total number of HTTP requests.\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
        "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
        "\n"
        "# Escaping in label values:\n"
        "# TYPE msdos_file_access_time_seconds gauge\n"
        "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n"
        "\n"
        "# Minimalistic line:\n"
        "# TYPE metric_without_timestamp_and_labels untyped\n"
        "metric_without_timestamp_and_labels 12.47\n"
        "\n"
        "# A weird metric from before the epoch:\n"
        "# TYPE something_weird gauge\n"
        "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
        "\n"
        "# A histogram, which has a pretty complex representation in the text format:\n"
        "# HELP http_request_duration_seconds A histogram of the request duration.\n"
        "# TYPE http_request_duration_seconds histogram\n"
        "http_request_duration_seconds_bucket{le=\"0.05\"} 24054\n"
        "http_request_duration_seconds_bucket{le=\"0.1\"} 33444\n"
        "http_request_duration_seconds_bucket{le=\"0.2\"} 100392\n"
        "http_request_duration_seconds_bucket{le=\"0.5\"} 129389\n"
        "http_request_duration_seconds_bucket{le=\"1\"} 133988\n"
        "http_request_duration_seconds_bucket{le=\"+Inf\"} 144320\n"
        "http_request_duration_seconds_sum 53423\n"
        "http_request_duration_seconds_count 144320\n"
        "\n"
        "# Finally a summary, which has a complex representation, too:\n"
        "# HELP rpc_duration_seconds A summary of the RPC duration in seconds.\n"
        "# TYPE rpc_duration_seconds summary\n"
        "rpc_duration_seconds{quantile=\"0.01\"} 3102\n"
        "rpc_duration_seconds{quantile=\"0.5\"} 4773\n"
        "rpc_duration_seconds{quantile=\"0.99\"} 76656\n"
        "rpc_duration_seconds_sum 1.7560473e+07\n"
        "rpc_duration_seconds_count 2693\n");

    ASSERT_EQ(e.families().size(), 6u);
    EXPECT_EQ(e.families()[0].help, "The total number of HTTP requests.");
    EXPECT_EQ(e.families()[0].samples[0].timestamp_ms, 1395066363000);
    EXPECT_EQ(e.value_of("http_requests_total", {{"method", "post"}, {"code", "400"}}), 3);
    EXPECT_EQ(e.value_of("msdos_file_access_time_seconds",
                         {{"path", "C:\\DIR\\FILE.TXT"}, {"error", "Cannot find file:\n\"FILE.TXT\""}}),
              1.458255915e9);
    EXPECT_EQ(e.families()[2].type, metric_type::untyped);
    EXPECT_FALSE(e.families()[2].help.has_value());
    EXPECT_EQ(e.value_of("something_weird", {{"problem", "division by zero"}}), std::numeric_limits<double>::infinity());
    EXPECT_EQ(e.families()[3].samples[0].timestamp_ms, -3982045);
    EXPECT_EQ(e.value_of("http_request_duration_seconds_bucket", {{"le", "+Inf"}}), 144320);
    EXPECT_EQ(e.family("rpc_duration_seconds")->type, metric_type::summary);
    EXPECT_EQ(e.value_of("rpc_duration_seconds_sum"), 1.7560473e+07);
    EXPECT_EQ(e.value_of("no_such_metric"), std::nullopt);
    EXPECT_EQ(e.family("no_such_metric"), nullptr);
}

TEST(prometheus_parser, accepts_an_empty_text) { EXPECT_TRUE(parse_ok("").families().empty()); }

TEST(prometheus_parser, accepts_blanks_between_tokens_and_a_trailing_comma_in_labels) {
    const exposition e = parse_ok("  # TYPE a gauge\n\ta { x = \"1\" , y=\"2\", } \t 5  \n");
    EXPECT_EQ(e.value_of("a", {{"x", "1"}, {"y", "2"}}), 5);
}

TEST(prometheus_parser, accepts_empty_braces_and_no_blank_after_them) {
    EXPECT_EQ(parse_ok("# TYPE a gauge\na{}7\n").value_of("a"), 7);
}

TEST(prometheus_parser, reads_help_escapes_and_help_without_text) {
    const exposition e = parse_ok("# HELP a two\\nlines \\\\ \"quoted\"\n# TYPE a gauge\n# HELP b\n# TYPE b gauge\n");
    EXPECT_EQ(e.family("a")->help, "two\nlines \\ \"quoted\"");
    EXPECT_EQ(e.family("b")->help, "");
}

TEST(prometheus_parser, accepts_type_before_help) {
    const exposition e = parse_ok("# TYPE a gauge\n# HELP a why\na 1\n");
    EXPECT_EQ(e.family("a")->help, "why");
}

TEST(prometheus_parser, reads_special_and_signed_values) {
    const exposition e = parse_ok(
        "# TYPE a gauge\na{v=\"1\"} -Inf\na{v=\"2\"} NaN\na{v=\"3\"} +1.5e3\na{v=\"4\"} -.5\na{v=\"5\"} 0\n");
    EXPECT_EQ(e.value_of("a", {{"v", "1"}}), -std::numeric_limits<double>::infinity());
    EXPECT_TRUE(std::isnan(*e.value_of("a", {{"v", "2"}})));
    EXPECT_EQ(e.value_of("a", {{"v", "3"}}), 1500);
    EXPECT_EQ(e.value_of("a", {{"v", "4"}}), -0.5);
}

TEST(prometheus_parser, accepts_valid_utf8_in_label_values_and_help) {
    const exposition e = parse_ok("# HELP a caf\xC3\xA9\n# TYPE a gauge\na{v=\"\xF0\x9D\x84\x9E\"} 1\n");
    EXPECT_EQ(e.value_of("a", {{"v", "\xF0\x9D\x84\x9E"}}), 1);
}

// ---- rejected: one test per rule

TEST(prometheus_parser, rejects_a_sample_before_any_type_line) {
    expect_rejected("a 1\n", 1, "before the TYPE line");
}

TEST(prometheus_parser, rejects_a_sample_after_help_but_before_its_type) {
    expect_rejected("# HELP a x\na 1\n# TYPE a gauge\n", 2, "before the TYPE line");
}

TEST(prometheus_parser, rejects_a_sample_inside_another_family_before_its_own_type) {
    expect_rejected("# TYPE a gauge\na 1\nb 1\n# TYPE b gauge\n", 3, "before the TYPE line");
}

TEST(prometheus_parser, rejects_a_familys_samples_split_by_another_family) {
    expect_rejected("# TYPE a gauge\na{x=\"1\"} 1\n# TYPE b gauge\nb 1\na{x=\"2\"} 2\n", 5, "contiguous");
}

TEST(prometheus_parser, rejects_a_familys_metadata_split_by_another_family) {
    expect_rejected("# HELP a x\n# TYPE b gauge\n# TYPE a gauge\n", 3, "contiguous");
}

TEST(prometheus_parser, rejects_a_second_help_line) {
    expect_rejected("# HELP a x\n# HELP a y\n# TYPE a gauge\n", 2, "second HELP");
}

TEST(prometheus_parser, rejects_a_second_type_line) {
    expect_rejected("# TYPE a gauge\na 1\n# TYPE a gauge\n", 3, "second TYPE");
}

TEST(prometheus_parser, rejects_an_unknown_type) {
    expect_rejected("# TYPE a countr\n", 1, "unknown TYPE \"countr\"");
}

TEST(prometheus_parser, rejects_text_after_the_type) {
    expect_rejected("# TYPE a gauge extra\n", 1, "after the TYPE");
}

TEST(prometheus_parser, rejects_a_family_clashing_with_a_histograms_samples) {
    expect_rejected("# TYPE a histogram\n# TYPE a_count gauge\n", 2, "clashes");
}

TEST(prometheus_parser, rejects_a_malformed_metric_name_in_a_sample) {
    expect_rejected("# TYPE a gauge\n1a 1\n", 2, "malformed metric name");
    expect_rejected("# TYPE a gauge\na-b 1\n", 2, "malformed metric name");
}

TEST(prometheus_parser, rejects_a_malformed_metric_name_in_help_or_type) {
    expect_rejected("# HELP a.b x\n", 1, "malformed metric name");
    expect_rejected("# TYPE\n", 1, "without a metric name");
}

TEST(prometheus_parser, rejects_a_malformed_label_name) {
    expect_rejected("# TYPE a gauge\na{1x=\"v\"} 1\n", 2, "malformed label name");
    expect_rejected("# TYPE a gauge\na{x-y=\"v\"} 1\n", 2, "malformed label name");
    expect_rejected("# TYPE a gauge\na{,} 1\n", 2, "malformed label name");
}

TEST(prometheus_parser, rejects_a_reserved_label_name) {
    expect_rejected("# TYPE a gauge\na{__name__=\"a\"} 1\n", 2, "reserved");
}

TEST(prometheus_parser, rejects_malformed_label_syntax) {
    expect_rejected("# TYPE a gauge\na{x=v} 1\n", 2, "quoted value");
    expect_rejected("# TYPE a gauge\na{x} 1\n", 2, "'='");
    expect_rejected("# TYPE a gauge\na{x=\"1\" y=\"2\"} 1\n", 2, "expected ',' or '}'");
    expect_rejected("# TYPE a gauge\na{x=\"1\" 1\n", 2, "expected ',' or '}'");
    expect_rejected("# TYPE a gauge\na{x=\"1\",\n", 2, "unterminated label set");
}

TEST(prometheus_parser, rejects_an_unterminated_label_value) {
    expect_rejected("# TYPE a gauge\na{x=\"1} 1\n", 2, "unterminated value");
}

TEST(prometheus_parser, rejects_an_invalid_escape_in_a_label_value) {
    expect_rejected("# TYPE a gauge\na{x=\"\\t\"} 1\n", 2, "invalid escape \\t");
}

TEST(prometheus_parser, rejects_an_invalid_escape_in_help) {
    expect_rejected("# HELP a say \\\"hi\\\"\n", 1, "invalid escape \\\"");
    expect_rejected("# HELP a trailing \\\n", 1, "lone backslash");
}

TEST(prometheus_parser, rejects_invalid_utf8_in_a_label_value) {
    expect_rejected("# TYPE a gauge\na{x=\"\xC3(\"} 1\n", 2, "not valid UTF-8");
    expect_rejected("# TYPE a gauge\na{x=\"\xED\xA0\x80\"} 1\n", 2, "not valid UTF-8");  // a surrogate
    expect_rejected("# TYPE a gauge\na{x=\"\xC0\x80\"} 1\n", 2, "not valid UTF-8");      // overlong
}

TEST(prometheus_parser, rejects_invalid_utf8_in_help) {
    expect_rejected("# HELP a \xFF\n", 1, "not valid UTF-8");
}

TEST(prometheus_parser, rejects_a_malformed_value) {
    for (const std::string_view value : {"abc", "inf", "Inf", "nan", "1.5.3", "0x10", "1e", "1_000", "--1", "1,5"})
        expect_rejected("# TYPE a gauge\na " + std::string(value) + "\n", 2, "malformed value");
}

TEST(prometheus_parser, rejects_a_sample_without_a_value) {
    expect_rejected("# TYPE a gauge\na{x=\"1\"}\n", 2, "no value");
}

TEST(prometheus_parser, rejects_a_malformed_timestamp) {
    expect_rejected("# TYPE a gauge\na 1 1.5\n", 2, "malformed timestamp");
    expect_rejected("# TYPE a gauge\na 1 +5\n", 2, "malformed timestamp");
}

TEST(prometheus_parser, rejects_text_after_the_timestamp) {
    expect_rejected("# TYPE a gauge\na 1 5 6\n", 2, "after the timestamp");
}

TEST(prometheus_parser, rejects_a_duplicate_label_name) {
    expect_rejected("# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n", 2, "given twice");
}

TEST(prometheus_parser, rejects_a_duplicate_series) {
    expect_rejected("# TYPE a gauge\na{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n", 3, "duplicate series");
}

TEST(prometheus_parser, rejects_a_duplicate_series_that_differs_only_by_an_empty_label) {
    expect_rejected("# TYPE a gauge\na 1\na{x=\"\"} 2\n", 3, "duplicate series");
}

TEST(prometheus_parser, rejects_a_missing_final_newline) {
    expect_rejected("# TYPE a gauge\na 1", 2, "newline");
}

TEST(prometheus_parser, rejects_a_carriage_return_line_end) {
    expect_rejected("# TYPE a gauge\na 1\r\n", 2, "malformed value");
}

TEST(prometheus_parser, rejects_a_histogram_whose_buckets_are_not_cumulative) {
    expect_rejected("# TYPE h histogram\n"
                    "h_bucket{le=\"1\"} 5\n"
                    "h_bucket{le=\"2\"} 4\n"
                    "h_bucket{le=\"+Inf\"} 5\n"
                    "h_sum 3\n"
                    "h_count 5\n",
                    3, "not cumulative");
}

TEST(prometheus_parser, rejects_a_histogram_whose_bounds_are_not_increasing) {
    expect_rejected("# TYPE h histogram\n"
                    "h_bucket{le=\"2\"} 1\n"
                    "h_bucket{le=\"1\"} 1\n"
                    "h_bucket{le=\"+Inf\"} 1\n"
                    "h_sum 3\n"
                    "h_count 1\n",
                    3, "not increasing");
    expect_rejected("# TYPE h histogram\n"
                    "h_bucket{le=\"1\"} 1\n"
                    "h_bucket{le=\"1.0\"} 1\n"
                    "h_bucket{le=\"+Inf\"} 1\n"
                    "h_sum 3\n"
                    "h_count 1\n",
                    3, "not increasing");
}

TEST(prometheus_parser, rejects_a_histogram_without_an_inf_bucket) {
    expect_rejected("# TYPE h histogram\n"
                    "h_bucket{le=\"1\"} 1\n"
                    "h_bucket{le=\"2\"} 1\n"
                    "h_sum 3\n"
                    "h_count 1\n",
                    3, "le=\"+Inf\"");
}

TEST(prometheus_parser, rejects_a_histogram_series_with_only_sum_and_count) {
    expect_rejected("# TYPE h histogram\n"
                    "h_bucket{x=\"1\",le=\"+Inf\"} 1\n"
                    "h_sum{x=\"1\"} 1\n"
                    "h_count{x=\"1\"} 1\n"
                    "h_sum{x=\"2\"} 1\n"
                    "h_count{x=\"2\"} 1\n",
                    5, "without buckets");
}

TEST(prometheus_parser, rejects_a_histogram_whose_inf_bucket_differs_from_its_count) {
    expect_rejected("# TYPE h histogram\n"
                    "h_bucket{le=\"1\"} 1\n"
                    "h_bucket{le=\"+Inf\"} 2\n"
                    "h_sum 3\n"
                    "h_count 3\n",
                    5, "_count differs");
}

TEST(prometheus_parser, rejects_a_histogram_without_count_or_sum) {
    expect_rejected("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\n", 2, "without _count");
    expect_rejected("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n", 2, "without _sum");
}

TEST(prometheus_parser, rejects_a_histogram_sample_without_suffix_or_with_a_misplaced_le) {
    expect_rejected("# TYPE h histogram\nh 1\n", 2, "suffix");
    expect_rejected("# TYPE h histogram\nh_bucket 1\n", 2, "le label");
    expect_rejected("# TYPE h histogram\nh_sum{le=\"1\"} 1\n", 2, "le label");
    expect_rejected("# TYPE h histogram\nh_bucket{le=\"one\"} 1\n", 2, "malformed le");
}

TEST(prometheus_parser, rejects_a_negative_counter) {
    expect_rejected("# TYPE c_total counter\nc_total -1\n", 2, "negative");
    expect_rejected("# TYPE c_total counter\nc_total -Inf\n", 2, "negative");
}

TEST(prometheus_parser, rejects_a_nan_counter) {
    expect_rejected("# TYPE c_total counter\nc_total NaN\n", 2, "NaN");
}

TEST(prometheus_parser, rejects_a_summary_quantile_on_the_wrong_sample) {
    expect_rejected("# TYPE s summary\ns 1\n", 2, "quantile");
    expect_rejected("# TYPE s summary\ns_sum{quantile=\"0.5\"} 1\n", 2, "quantile");
}

}  // namespace
}  // namespace sessiond::testing
