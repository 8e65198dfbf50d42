#include "sessiond/log/log.hpp"

#include "sessiond/core/secret.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/ostream_sink.h>

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace sessiond {
namespace {

// Designated initializers would trip -Wmissing-field-initializers on this compiler.
log_fields fields(std::string_view state = {}, std::string_view step = {}, int http_status = 0, int attempt = 0) {
    log_fields f;
    f.state = state;
    f.step = step;
    f.http_status = http_status;
    f.attempt = attempt;
    return f;
}

// A logger whose every line lands, redacted, in a string stream.
struct captured_logger {
    std::ostringstream out;
    std::shared_ptr<spdlog::logger> impl;

    explicit captured_logger(spdlog::level::level_enum level = spdlog::level::trace) {
        auto sink = make_redacting_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
        impl = std::make_shared<spdlog::logger>("test", std::move(sink));
        impl->set_formatter(make_line_formatter("%l %v%*"));
        impl->set_level(level);
    }
    [[nodiscard]] std::string text() const { return out.str(); }
};

// Records the structured fields and the message visible to a sink while it writes.
class field_probe final : public spdlog::sinks::base_sink<std::mutex> {
public:
    // log_fields holds views into the call in progress: keep copies.
    struct fields_seen {
        std::string state;
        std::string step;
        int http_status = 0;
        int attempt = 0;
    };
    std::vector<fields_seen> seen;
    std::vector<std::string> sessions;
    std::vector<std::string> payloads;

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        const log_fields& f = current_log_fields();
        seen.push_back({std::string(f.state), std::string(f.step), f.http_status, f.attempt});
        sessions.emplace_back(f.session);
        payloads.emplace_back(msg.payload.data(), msg.payload.size());
    }
    void flush_() override {}
};

TEST(log_logger, fields_format_as_key_value_pairs_in_a_fixed_order) {
    log_fields f;
    f.session = "U1234567";
    f.state = "connected";
    f.step = "tickle";
    f.http_status = 200;
    f.attempt = 2;
    EXPECT_EQ(format_log_fields(f), "session=U1234567 state=connected step=tickle http=200 attempt=2");
}

TEST(log_logger, unset_fields_are_left_out) {
    EXPECT_EQ(format_log_fields({}), "");
    EXPECT_EQ(format_log_fields(fields({}, "tickle")), "step=tickle");
    EXPECT_EQ(format_log_fields(fields({}, {}, 401)), "http=401");
    EXPECT_EQ(format_log_fields(fields("backing_off", {}, 0, 3)), "state=backing_off attempt=3");
}

TEST(log_logger, line_carries_message_then_fields) {
    captured_logger c;
    const logger log(c.impl, "U1234567");
    log.info(fields("connected", "tickle", 200), "tickle ok, sso expires in {} s", 460);
    EXPECT_EQ(c.text(), "info tickle ok, sso expires in 460 s | session=U1234567 state=connected step=tickle http=200\n");
}

TEST(log_logger, line_without_fields_is_just_the_message) {
    captured_logger c;
    const logger log(c.impl, "");
    log.warn({}, "plain {}", "message");
    EXPECT_EQ(c.text(), "warning plain message\n");
}

TEST(log_logger, explicit_session_field_wins_over_the_logger_session) {
    captured_logger c;
    const logger log(c.impl, "U1234567");
    log_fields other;
    other.session = "DU7654321";
    log.error(other, "x");
    EXPECT_EQ(c.text(), "error x | session=DU7654321\n");
}

TEST(log_logger, level_filters_lines) {
    captured_logger c(spdlog::level::warn);
    const logger log(c.impl, "");
    EXPECT_FALSE(log.enabled(spdlog::level::info));
    EXPECT_TRUE(log.enabled(spdlog::level::warn));
    log.debug({}, "hidden debug");
    log.info({}, "hidden info");
    log.warn({}, "shown");
    EXPECT_EQ(c.text(), "warning shown\n");
}

TEST(log_logger, default_logger_logs_nothing_and_does_not_crash) {
    const logger log;
    EXPECT_FALSE(log.enabled(spdlog::level::err));
    log.error({}, "nowhere {}", 1);
    log.log(spdlog::level::err, {}, "nowhere");
}

TEST(log_logger, never_outputs_a_live_secrets_value) {
    const secret token(std::string("sso-bearer-in-a-log-line-5a2e"));
    captured_logger c;
    const logger log(c.impl, "U1234567");
    log.info(fields({}, "tickle"), "calling with token {}", token.reveal());
    log.warn({}, "header Authorization: Bearer {}", token.reveal());
    log.error({}, "{}", token.reveal());
    const std::string text = c.text();
    EXPECT_EQ(text.find("sso-bearer-in-a-log-line-5a2e"), std::string::npos) << text;
    EXPECT_EQ(text,
              "info calling with token [redacted] | session=U1234567 step=tickle\n"
              "warning header Authorization: Bearer [redacted] | session=U1234567\n"
              "error [redacted] | session=U1234567\n");
}

TEST(log_logger, secret_in_a_field_is_redacted_too) {
    const secret token(std::string("secret-passed-as-session-77"));
    captured_logger c;
    const logger log(c.impl, std::string(token.reveal()));
    log.info({}, "hello");
    EXPECT_EQ(c.text(), "info hello | session=[redacted]\n");
}

TEST(log_logger, jwt_and_pem_in_a_message_are_redacted) {
    captured_logger c;
    const logger log(c.impl, "");
    log.info({}, "assertion eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJjIn0.c2ln sent");
    log.info({}, "key -----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY----- loaded");
    EXPECT_EQ(c.text(), "info assertion [redacted] sent\ninfo key [redacted] loaded\n");
}

TEST(log_logger, spdlog_used_directly_through_the_sink_is_redacted) {
    const secret token(std::string("direct-spdlog-secret-991"));
    captured_logger c;
    c.impl->info("raw {}", token.reveal());
    EXPECT_EQ(c.text(), "info raw [redacted]\n");
}

TEST(log_logger, destroyed_secret_value_is_no_longer_redacted) {
    captured_logger c;
    const logger log(c.impl, "");
    { const secret gone(std::string("expired-token-value-31")); }
    log.info({}, "expired-token-value-31");
    EXPECT_EQ(c.text(), "info expired-token-value-31\n");
}

TEST(log_logger, sink_sees_the_fields_of_the_call_in_progress) {
    auto probe = std::make_shared<field_probe>();
    auto impl = std::make_shared<spdlog::logger>("probe", make_redacting_sink(probe));
    const logger log(impl, "U1234567");
    log.info(fields({}, "init", 500, 3), "init failed");
    ASSERT_EQ(probe->seen.size(), 1u);
    EXPECT_EQ(probe->sessions[0], "U1234567");
    EXPECT_EQ(probe->seen[0].step, "init");
    EXPECT_EQ(probe->seen[0].http_status, 500);
    EXPECT_EQ(probe->seen[0].attempt, 3);
    // Outside a call there are no fields.
    EXPECT_EQ(format_log_fields(current_log_fields()), "");
}

TEST(log_logger, sinks_receive_the_bare_message_and_the_fields_beside_it) {
    auto probe = std::make_shared<field_probe>();
    auto impl = std::make_shared<spdlog::logger>("probe", make_redacting_sink(probe));
    const logger log(impl, "U1234567");
    log.warn(fields("reconnecting", "tickle", 503, 4), "tickle failed");
    ASSERT_EQ(probe->payloads.size(), 1u);
    EXPECT_EQ(probe->payloads[0], "tickle failed");
    EXPECT_EQ(probe->seen[0].state, "reconnecting");
}

TEST(log_logger, sink_sees_redacted_fields) {
    const secret token(std::string("secret-as-a-state-name-4411"));
    auto probe = std::make_shared<field_probe>();
    auto impl = std::make_shared<spdlog::logger>("probe", make_redacting_sink(probe));
    const logger log(impl, std::string(token.reveal()));
    log.info(fields(token.reveal(), token.reveal()), "x");
    ASSERT_EQ(probe->sessions.size(), 1u);
    EXPECT_EQ(probe->sessions[0], "[redacted]");
}

TEST(log_logger, fields_flag_renders_nothing_without_fields) {
    captured_logger c;
    c.impl->info("direct");
    const logger log(c.impl, "");
    log.info({}, "via logger");
    EXPECT_EQ(c.text(), "info direct\ninfo via logger\n");
}

TEST(log_logger, fields_flag_works_through_a_sinks_set_pattern) {
    std::ostringstream out;
    auto sink = make_redacting_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    sink->set_pattern("%v%*");
    auto impl = std::make_shared<spdlog::logger>("test", sink);
    const logger log(impl, "DU1");
    log.info(fields({}, {}, 0, 2), "m");
    EXPECT_EQ(out.str(), "m | session=DU1 attempt=2\n");
}

TEST(log_logger, fields_are_cleared_after_the_call) {
    captured_logger c;
    const logger log(c.impl, "U1");
    log.info(fields("connected"), "outer");
    EXPECT_EQ(format_log_fields(current_log_fields()), "");
}

TEST(log_logger, inner_sink_level_is_respected) {
    std::ostringstream out;
    auto inner = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    inner->set_level(spdlog::level::warn);
    auto impl = std::make_shared<spdlog::logger>("test", make_redacting_sink(inner));
    impl->set_pattern("%v");
    impl->set_level(spdlog::level::trace);
    impl->info("quiet");
    impl->warn("loud");
    EXPECT_EQ(out.str(), "loud\n");
}

}  // namespace
}  // namespace sessiond
