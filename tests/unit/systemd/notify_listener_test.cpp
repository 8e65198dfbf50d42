// The test-side NOTIFY_SOCKET listener, checked against libsystemd's own sd_notify.

#include "support/notify_listener.hpp"

#include "scoped_environment.hpp"

#include <systemd/sd-daemon.h>

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>

namespace sessiond::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto patience = 10s;

TEST(notify_listener, path_is_an_absolute_socket_path) {
    notify_listener listener;
    EXPECT_TRUE(listener.path().is_absolute());
    EXPECT_TRUE(std::filesystem::is_socket(listener.path()));
    EXPECT_TRUE(listener.messages().empty());
}

TEST(notify_listener, receives_what_sd_notify_sends_with_the_senders_pid) {
    notify_listener listener;
    scoped_environment env;
    env.set("NOTIFY_SOCKET", listener.path().string());

    ASSERT_GT(sd_notify(0, "READY=1\nSTATUS=up"), 0);
    ASSERT_GT(sd_notify(0, "STATUS=still up"), 0);
    ASSERT_GT(sd_notify(0, "WATCHDOG=1"), 0);

    ASSERT_TRUE(listener.wait_for_count("WATCHDOG=1", 1, patience));
    const auto messages = listener.messages();
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(messages[0].text, "READY=1\nSTATUS=up");
    EXPECT_EQ(messages[1].text, "STATUS=still up");
    EXPECT_EQ(messages[2].text, "WATCHDOG=1");
    for (const auto& m : messages) EXPECT_EQ(m.sender, ::getpid());
    EXPECT_LE(messages[0].arrived, messages[1].arrived);
    EXPECT_LE(messages[1].arrived, messages[2].arrived);
}

TEST(notify_listener, counts_lines_across_datagrams) {
    notify_listener listener;
    scoped_environment env;
    env.set("NOTIFY_SOCKET", listener.path().string());

    ASSERT_GT(sd_notify(0, "READY=1\nSTATUS=a"), 0);
    ASSERT_GT(sd_notify(0, "STATUS=b"), 0);
    ASSERT_GT(sd_notify(0, "X_DONE=1"), 0);
    ASSERT_TRUE(listener.wait_for_count("X_DONE=1", 1, patience));
    EXPECT_EQ(listener.count("STATUS="), 2u);
    EXPECT_EQ(listener.count("READY=1"), 1u);
    EXPECT_EQ(listener.count("STOPPING=1"), 0u);
    EXPECT_EQ(listener.count(""), 4u);  // every line
}

TEST(notify_listener, count_lines_matches_prefixes_of_whole_lines_only) {
    std::vector<notify_message> m(2);
    m[0].text = "STATUS=READY=1\nREADY=1";
    m[1].text = "";
    EXPECT_EQ(count_lines(m, "READY=1"), 1u);
    EXPECT_EQ(count_lines(m, "STATUS="), 1u);
    EXPECT_EQ(count_lines({}, "READY=1"), 0u);
}

TEST(notify_listener, wait_for_gives_up_when_nothing_comes) {
    notify_listener listener;
    EXPECT_FALSE(listener.wait_for_count("READY=1", 1, 20ms));
}

TEST(notify_listener, wait_for_wakes_up_for_a_datagram_sent_from_another_thread) {
    notify_listener listener;
    scoped_environment env;
    env.set("NOTIFY_SOCKET", listener.path().string());
    std::thread sender([] { (void)sd_notify(0, "READY=1"); });
    EXPECT_TRUE(listener.wait_for_count("READY=1", 1, patience));
    sender.join();
}

}  // namespace
}  // namespace sessiond::testing
