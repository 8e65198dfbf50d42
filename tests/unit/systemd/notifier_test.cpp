#include "sessiond/systemd/notifier.hpp"

#include "sessiond/core/secret.hpp"
#include "support/notify_listener.hpp"
#include "scoped_environment.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace sessiond {
namespace {

using namespace std::chrono_literals;
using testing::notify_listener;
using testing::scoped_environment;

constexpr auto patience = 10s;  // a bound on waiting, not a timing assertion

TEST(systemd_notifier, reloading_message_carries_the_monotonic_timestamp) {
    EXPECT_EQ(reloading_message(0), "RELOADING=1\nMONOTONIC_USEC=0");
    EXPECT_EQ(reloading_message(123456789012), "RELOADING=1\nMONOTONIC_USEC=123456789012");
    EXPECT_EQ(reloading_message(UINT64_MAX), "RELOADING=1\nMONOTONIC_USEC=18446744073709551615");
}

TEST(systemd_notifier, status_message_is_the_line_as_given) {
    EXPECT_EQ(status_message("connected as DU1234567 (paper)"), "STATUS=connected as DU1234567 (paper)");
    EXPECT_EQ(status_message(""), "STATUS=");
    EXPECT_EQ(status_message("reconnecting in 7.3 s (attempt 4): 503 from tickle"),
              "STATUS=reconnecting in 7.3 s (attempt 4): 503 from tickle");
}

TEST(systemd_notifier, status_message_stays_on_one_line) {
    EXPECT_EQ(status_message("a\nb"), "STATUS=a b");
    EXPECT_EQ(status_message("a\r\nb"), "STATUS=a  b");
    EXPECT_EQ(status_message("\nREADY=1"), "STATUS= READY=1");  // cannot smuggle an assignment
    EXPECT_EQ(status_message("tab\there"), "STATUS=tab here");
    EXPECT_EQ(status_message(std::string("nul\0byte", 8)), "STATUS=nul byte");
    EXPECT_EQ(status_message("del\x7f"), "STATUS=del ");
    EXPECT_EQ(status_message("caf\xc3\xa9"), "STATUS=caf\xc3\xa9");  // UTF-8 is not a control character
}

TEST(systemd_notifier, status_message_is_redacted) {
    const secret token(std::string("status-line-secret-value-8812"));
    const std::string message = status_message("login failed with " + std::string(token.reveal()));
    EXPECT_EQ(message, "STATUS=login failed with [redacted]");
    EXPECT_EQ(status_message("got eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJjIn0.c2ln back"), "STATUS=got [redacted] back");
}

TEST(systemd_notifier, long_status_is_cut_on_a_character_boundary) {
    const std::string exact(max_status_bytes, 'x');
    EXPECT_EQ(status_message(exact), "STATUS=" + exact);

    const std::string longer(max_status_bytes + 1, 'x');
    const std::string cut = status_message(longer);
    EXPECT_EQ(cut.size(), std::string("STATUS=").size() + max_status_bytes);
    EXPECT_TRUE(cut.ends_with("xx..."));

    // "é" is two bytes; place one across the cut so that a byte-wise cut would split it.
    std::string accented(max_status_bytes - 4, 'x');
    accented += "\xc3\xa9\xc3\xa9\xc3\xa9";
    const std::string accented_cut = status_message(accented);
    EXPECT_LE(accented_cut.size(), std::string("STATUS=").size() + max_status_bytes);
    EXPECT_TRUE(accented_cut.ends_with("x...")) << accented_cut;
}

TEST(systemd_notifier, monotonic_clock_moves_forward) {
    const auto a = monotonic_usec_now();
    const auto b = monotonic_usec_now();
    EXPECT_GT(a, 0u);
    EXPECT_LE(a, b);
}

TEST(systemd_notifier, without_notify_socket_nothing_is_sent) {
    scoped_environment env;
    env.unset("NOTIFY_SOCKET");
    notifier n;
    EXPECT_FALSE(n.enabled());
    EXPECT_FALSE(n.ready());
    EXPECT_FALSE(n.status("x"));
    EXPECT_FALSE(n.watchdog_ping());
    EXPECT_EQ(n.sent(), 0u);
    EXPECT_EQ(n.failed(), 0u);
}

TEST(systemd_notifier, sends_each_message_to_the_notify_socket) {
    notify_listener listener;
    scoped_environment env;
    env.set("NOTIFY_SOCKET", listener.path().string());
    notifier n;
    ASSERT_TRUE(n.enabled());

    const auto before = monotonic_usec_now();
    EXPECT_TRUE(n.ready());
    EXPECT_TRUE(n.status("connected as DU1234567\nsecond line"));
    EXPECT_TRUE(n.reloading());
    const auto after = monotonic_usec_now();
    EXPECT_TRUE(n.ready());
    EXPECT_TRUE(n.watchdog_ping());
    EXPECT_TRUE(n.stopping());
    EXPECT_EQ(n.sent(), 6u);
    EXPECT_EQ(n.failed(), 0u);

    ASSERT_TRUE(listener.wait_for([](const auto& m) { return m.size() >= 6; }, patience));
    const auto messages = listener.messages();
    ASSERT_EQ(messages.size(), 6u);
    EXPECT_EQ(messages[0].text, "READY=1");
    EXPECT_EQ(messages[1].text, "STATUS=connected as DU1234567 second line");
    ASSERT_TRUE(messages[2].text.starts_with("RELOADING=1\nMONOTONIC_USEC=")) << messages[2].text;
    const auto usec = std::stoull(messages[2].text.substr(std::string("RELOADING=1\nMONOTONIC_USEC=").size()));
    EXPECT_GE(usec, before);
    EXPECT_LE(usec, after);
    EXPECT_EQ(messages[3].text, "READY=1");
    EXPECT_EQ(messages[4].text, "WATCHDOG=1");
    EXPECT_EQ(messages[5].text, "STOPPING=1");
    for (const auto& m : messages) EXPECT_EQ(m.sender, ::getpid());
}

TEST(systemd_notifier, a_socket_that_is_gone_counts_as_a_failure) {
    testing::temp_dir dir;
    scoped_environment env;
    env.set("NOTIFY_SOCKET", (dir.path() / "nobody-listens").string());
    notifier n;
    ASSERT_TRUE(n.enabled());
    EXPECT_FALSE(n.ready());
    EXPECT_EQ(n.sent(), 0u);
    EXPECT_EQ(n.failed(), 1u);
}

}  // namespace
}  // namespace sessiond
