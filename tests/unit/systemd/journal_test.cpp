#include "sessiond/systemd/journal.hpp"

#include "sessiond/core/secret.hpp"

#include "scoped_environment.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace sessiond {
namespace {

using testing::scoped_environment;

constexpr std::array all_levels = {spdlog::level::trace, spdlog::level::debug, spdlog::level::info,
                                   spdlog::level::warn,  spdlog::level::err,   spdlog::level::critical};

TEST(systemd_journal, priorities_follow_syslog) {
    EXPECT_EQ(syslog_priority(spdlog::level::trace), 7);
    EXPECT_EQ(syslog_priority(spdlog::level::debug), 7);
    EXPECT_EQ(syslog_priority(spdlog::level::info), 6);
    EXPECT_EQ(syslog_priority(spdlog::level::warn), 4);
    EXPECT_EQ(syslog_priority(spdlog::level::err), 3);
    EXPECT_EQ(syslog_priority(spdlog::level::critical), 2);
    EXPECT_EQ(syslog_priority(spdlog::level::off), 6);
}

TEST(systemd_journal, entry_with_every_field) {
    log_fields f;
    f.session = "DU1234567";
    f.state = "reconnecting";
    f.step = "tickle";
    f.http_status = 503;
    f.attempt = 4;
    EXPECT_EQ(journal_fields(spdlog::level::warn, f, "tickle failed", "ibkr-sessiond"),
              (std::vector<std::string>{"MESSAGE=tickle failed", "PRIORITY=4", "SYSLOG_IDENTIFIER=ibkr-sessiond",
                                        "IBKR_SESSION=DU1234567", "IBKR_STATE=reconnecting", "IBKR_STEP=tickle",
                                        "IBKR_HTTP_STATUS=503", "IBKR_ATTEMPT=4"}));
}

TEST(systemd_journal, entry_without_fields_has_message_priority_and_identifier) {
    EXPECT_EQ(journal_fields(spdlog::level::info, {}, "started", "ibkr-sessiond"),
              (std::vector<std::string>{"MESSAGE=started", "PRIORITY=6", "SYSLOG_IDENTIFIER=ibkr-sessiond"}));
}

// Every level with every combination of set and unset fields: a field appears exactly when set,
// after the three fixed ones, in a fixed order.
TEST(systemd_journal, every_level_and_field_combination) {
    for (const auto level : all_levels) {
        for (unsigned mask = 0; mask < 32; ++mask) {
            log_fields f;
            std::vector<std::string> expected = {"MESSAGE=m", "PRIORITY=" + std::to_string(syslog_priority(level)),
                                                 "SYSLOG_IDENTIFIER=id"};
            if (mask & 1u) {
                f.session = "U1";
                expected.push_back("IBKR_SESSION=U1");
            }
            if (mask & 2u) {
                f.state = "connected";
                expected.push_back("IBKR_STATE=connected");
            }
            if (mask & 4u) {
                f.step = "init";
                expected.push_back("IBKR_STEP=init");
            }
            if (mask & 8u) {
                f.http_status = 401;
                expected.push_back("IBKR_HTTP_STATUS=401");
            }
            if (mask & 16u) {
                f.attempt = 12;
                expected.push_back("IBKR_ATTEMPT=12");
            }
            EXPECT_EQ(journal_fields(level, f, "m", "id"), expected) << "level " << level << " mask " << mask;
        }
    }
}

TEST(systemd_journal, message_is_kept_as_it_is) {
    const auto entry = journal_fields(spdlog::level::err, {}, "two\nlines = and | bars", "x");
    EXPECT_EQ(entry[0], "MESSAGE=two\nlines = and | bars");
    EXPECT_EQ(journal_fields(spdlog::level::err, {}, "", "x")[0], "MESSAGE=");
}

TEST(systemd_journal, journal_stream_value_is_device_colon_inode) {
    EXPECT_TRUE(journal_stream_matches("8:12345", 8, 12345));
    EXPECT_TRUE(journal_stream_matches("0:1", 0, 1));
    EXPECT_FALSE(journal_stream_matches("8:12346", 8, 12345));
    EXPECT_FALSE(journal_stream_matches("9:12345", 8, 12345));
    EXPECT_FALSE(journal_stream_matches("", 8, 12345));
    EXPECT_FALSE(journal_stream_matches("8", 8, 12345));
    EXPECT_FALSE(journal_stream_matches("8:", 8, 12345));
    EXPECT_FALSE(journal_stream_matches(":12345", 8, 12345));
    EXPECT_FALSE(journal_stream_matches("8:12345x", 8, 12345));
    EXPECT_FALSE(journal_stream_matches(" 8:12345", 8, 12345));
    EXPECT_FALSE(journal_stream_matches("-8:12345", 8, 12345));
    EXPECT_FALSE(journal_stream_matches("8:12345:1", 8, 12345));
}

TEST(systemd_journal, stderr_is_the_journal_only_when_journal_stream_names_it) {
    struct stat st {};
    ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
    scoped_environment env;

    env.unset("JOURNAL_STREAM");
    EXPECT_FALSE(stderr_is_journal_stream());

    env.set("JOURNAL_STREAM", std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino));
    EXPECT_TRUE(stderr_is_journal_stream());

    // Inherited from a parent whose stderr was the journal, while ours is something else.
    env.set("JOURNAL_STREAM", std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1));
    EXPECT_FALSE(stderr_is_journal_stream());

    env.set("JOURNAL_STREAM", "garbage");
    EXPECT_FALSE(stderr_is_journal_stream());
}

// A journal sink whose entries land in a vector instead of the journal.
struct captured_journal {
    std::vector<std::vector<std::string>> entries;
    std::shared_ptr<spdlog::logger> impl;

    captured_journal() {
        auto sink = make_journal_sink("ibkr-sessiond", [this](std::span<const std::string> fields) {
            entries.emplace_back(fields.begin(), fields.end());
            return 0;
        });
        impl = std::make_shared<spdlog::logger>("test", std::move(sink));
        impl->set_level(spdlog::level::trace);
    }
};

bool entry_has(const std::vector<std::string>& entry, const std::string& field) {
    return std::find(entry.begin(), entry.end(), field) != entry.end();
}

TEST(systemd_journal, sink_writes_the_bare_message_and_the_fields_of_the_call) {
    captured_journal j;
    const logger log(j.impl, "DU1234567");
    log_fields f;
    f.state = "reconnecting";
    f.step = "tickle";
    f.http_status = 503;
    f.attempt = 2;
    log.warn(f, "tickle failed: {}", "service unavailable");
    ASSERT_EQ(j.entries.size(), 1u);
    EXPECT_EQ(j.entries[0], (std::vector<std::string>{"MESSAGE=tickle failed: service unavailable", "PRIORITY=4",
                                                      "SYSLOG_IDENTIFIER=ibkr-sessiond", "IBKR_SESSION=DU1234567",
                                                      "IBKR_STATE=reconnecting", "IBKR_STEP=tickle",
                                                      "IBKR_HTTP_STATUS=503", "IBKR_ATTEMPT=2"}));
}

TEST(systemd_journal, sink_maps_each_level_to_its_priority) {
    captured_journal j;
    const logger log(j.impl, "");
    log.debug({}, "d");
    log.info({}, "i");
    log.warn({}, "w");
    log.error({}, "e");
    j.impl->critical("c");
    ASSERT_EQ(j.entries.size(), 5u);
    EXPECT_TRUE(entry_has(j.entries[0], "PRIORITY=7"));
    EXPECT_TRUE(entry_has(j.entries[1], "PRIORITY=6"));
    EXPECT_TRUE(entry_has(j.entries[2], "PRIORITY=4"));
    EXPECT_TRUE(entry_has(j.entries[3], "PRIORITY=3"));
    EXPECT_TRUE(entry_has(j.entries[4], "PRIORITY=2"));
}

TEST(systemd_journal, spdlog_used_directly_gets_no_ibkr_fields) {
    captured_journal j;
    j.impl->info("plain {}", 1);
    ASSERT_EQ(j.entries.size(), 1u);
    EXPECT_EQ(j.entries[0],
              (std::vector<std::string>{"MESSAGE=plain 1", "PRIORITY=6", "SYSLOG_IDENTIFIER=ibkr-sessiond"}));
}

TEST(systemd_journal, nothing_secret_reaches_the_journal) {
    const secret token(std::string("journal-bound-secret-value-5150"));
    captured_journal j;
    const logger log(j.impl, std::string(token.reveal()));
    log_fields f;
    f.state = token.reveal();
    f.step = "sso";
    log.error(f, "bearer {} and eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJjIn0.c2ln", token.reveal());
    j.impl->warn("Authorization: Bearer {}", token.reveal());
    ASSERT_EQ(j.entries.size(), 2u);
    for (const auto& entry : j.entries) {
        for (const auto& field : entry) EXPECT_EQ(field.find("journal-bound-secret-value-5150"), std::string::npos) << field;
    }
    EXPECT_EQ(j.entries[0][0], "MESSAGE=bearer [redacted] and [redacted]");
    EXPECT_TRUE(entry_has(j.entries[0], "IBKR_SESSION=[redacted]"));
    EXPECT_TRUE(entry_has(j.entries[0], "IBKR_STATE=[redacted]"));
    EXPECT_TRUE(entry_has(j.entries[0], "IBKR_STEP=sso"));
    EXPECT_EQ(j.entries[1][0], "MESSAGE=Authorization: Bearer [redacted]");
}

TEST(systemd_journal, a_failing_journal_does_not_throw) {
    auto sink = make_journal_sink("ibkr-sessiond", [](std::span<const std::string>) { return -ECONNREFUSED; });
    auto impl = std::make_shared<spdlog::logger>("test", std::move(sink));
    const logger log(impl, "");
    EXPECT_NO_THROW(log.error({}, "lost"));
}

TEST(systemd_journal, daemon_logger_outside_the_journal_writes_to_stderr) {
    scoped_environment env;
    env.unset("JOURNAL_STREAM");
    const auto impl = make_daemon_logger("ibkr-sessiond", spdlog::level::debug);
    ASSERT_NE(impl, nullptr);
    EXPECT_EQ(impl->name(), "ibkr-sessiond");
    EXPECT_EQ(impl->level(), spdlog::level::debug);
}

TEST(systemd_journal, daemon_logger_under_the_journal_is_set_up_too) {
    struct stat st {};
    ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
    scoped_environment env;
    env.set("JOURNAL_STREAM", std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino));
    const auto impl = make_daemon_logger("ibkr-sessiond", spdlog::level::info);
    ASSERT_NE(impl, nullptr);
    EXPECT_EQ(impl->name(), "ibkr-sessiond");
    EXPECT_EQ(impl->level(), spdlog::level::info);
}

}  // namespace
}  // namespace sessiond
