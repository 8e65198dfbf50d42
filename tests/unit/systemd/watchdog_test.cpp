#include "sessiond/systemd/watchdog.hpp"

#include "support/notify_listener.hpp"

#include "scoped_environment.hpp"

#include <boost/asio/io_context.hpp>

#include <systemd/sd-daemon.h>

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>

namespace sessiond {
namespace {

using namespace std::chrono_literals;
using testing::notify_listener;
using testing::scoped_environment;

constexpr auto patience = 10s;

// The watchdog variables as systemd would set them, for this test only.
struct watchdog_environment {
    scoped_environment env;
    watchdog_environment(std::optional<std::string> usec, std::optional<std::string> pid) {
        if (usec) env.set("WATCHDOG_USEC", *usec);
        else env.unset("WATCHDOG_USEC");
        if (pid) env.set("WATCHDOG_PID", *pid);
        else env.unset("WATCHDOG_PID");
    }
};

std::string our_pid() { return std::to_string(::getpid()); }

TEST(systemd_watchdog_interval, unset_means_no_watchdog) {
    watchdog_environment e(std::nullopt, std::nullopt);
    EXPECT_EQ(watchdog_interval_from_environment(), std::nullopt);
}

TEST(systemd_watchdog_interval, watchdog_usec_without_pid_is_ours) {
    watchdog_environment e("30000000", std::nullopt);
    EXPECT_EQ(watchdog_interval_from_environment(), std::chrono::microseconds(30s));
}

TEST(systemd_watchdog_interval, watchdog_pid_equal_to_ours_is_ours) {
    watchdog_environment e("30000000", our_pid());
    EXPECT_EQ(watchdog_interval_from_environment(), std::chrono::microseconds(30s));
}

TEST(systemd_watchdog_interval, watchdog_pid_of_another_process_is_not_ours) {
    watchdog_environment e("30000000", std::to_string(::getpid() + 1));
    EXPECT_EQ(watchdog_interval_from_environment(), std::nullopt);
    watchdog_environment parent("30000000", std::to_string(::getppid()));
    EXPECT_EQ(watchdog_interval_from_environment(), std::nullopt);
}

TEST(systemd_watchdog_interval, zero_or_malformed_values_mean_no_watchdog) {
    for (const char* usec : {"0", "", "abc", "-5", "30s", "1.5"}) {
        watchdog_environment e(usec, our_pid());
        EXPECT_EQ(watchdog_interval_from_environment(), std::nullopt) << "WATCHDOG_USEC=" << usec;
    }
    for (const char* pid : {"", "abc", "0", "-1"}) {
        watchdog_environment e("30000000", pid);
        EXPECT_EQ(watchdog_interval_from_environment(), std::nullopt) << "WATCHDOG_PID=" << pid;
    }
}

TEST(systemd_watchdog_interval, small_and_large_values_are_taken_as_they_are) {
    {
        watchdog_environment e("1", std::nullopt);
        EXPECT_EQ(watchdog_interval_from_environment(), std::chrono::microseconds(1));
    }
    {
        watchdog_environment e("86400000000", std::nullopt);  // a day
        EXPECT_EQ(watchdog_interval_from_environment(), std::chrono::microseconds(24h));
    }
}

TEST(systemd_watchdog_interval, reading_it_leaves_the_environment_alone) {
    watchdog_environment e("30000000", our_pid());
    (void)watchdog_interval_from_environment();
    EXPECT_NE(std::getenv("WATCHDOG_USEC"), nullptr);
    EXPECT_NE(std::getenv("WATCHDOG_PID"), nullptr);
}

TEST(systemd_watchdog, pings_at_half_the_interval) {
    EXPECT_EQ(watchdog_ping_interval(30s), 15s);
    EXPECT_EQ(watchdog_ping_interval(3us), 1us);
    EXPECT_EQ(watchdog_ping_interval(1us), 1us);
    EXPECT_EQ(watchdog_ping_interval(0us), 1us);

    boost::asio::io_context io;
    scoped_environment env;
    env.unset("NOTIFY_SOCKET");
    notifier n;
    watchdog w(io.get_executor(), n, 20s, [] { return true; });
    EXPECT_EQ(w.ping_interval(), 10s);
    EXPECT_FALSE(w.running());
}

// Drives the watchdog through real timer expirations on an io_context and a real NOTIFY_SOCKET.
struct watchdog_rig {
    notify_listener listener;
    scoped_environment env;
    boost::asio::io_context io;
    std::unique_ptr<notifier> notify;

    watchdog_rig() {
        env.set("NOTIFY_SOCKET", listener.path().string());
        notify = std::make_unique<notifier>();
    }

    // Everything sent before this call has arrived once it returns: the socket keeps order.
    void drain() {
        ASSERT_GT(sd_notify(0, "X_SENTINEL=1"), 0);
        ASSERT_TRUE(listener.wait_for_count("X_SENTINEL=1", 1, patience));
    }
};

TEST(systemd_watchdog, nothing_happens_before_start) {
    watchdog_rig rig;
    watchdog w(rig.io.get_executor(), *rig.notify, 2ms, [] { return true; });
    EXPECT_EQ(rig.io.run(), 0u);  // no timer armed: returns at once
    EXPECT_EQ(w.pings(), 0u);
}

TEST(systemd_watchdog, each_timer_expiry_pings_once) {
    watchdog_rig rig;
    watchdog w(rig.io.get_executor(), *rig.notify, 2ms, [] { return true; });
    w.start();
    EXPECT_TRUE(w.running());
    for (int i = 0; i < 5; ++i) ASSERT_EQ(rig.io.run_one(), 1u);  // one handler: one expiry
    EXPECT_EQ(w.pings(), 5u);
    EXPECT_EQ(w.skipped(), 0u);
    EXPECT_EQ(rig.notify->sent(), 5u);
    rig.drain();
    EXPECT_EQ(rig.listener.count("WATCHDOG=1"), 5u);
    for (const auto& m : rig.listener.messages()) EXPECT_EQ(m.sender, ::getpid());
}

TEST(systemd_watchdog, no_ping_while_unhealthy_and_the_timer_keeps_going) {
    watchdog_rig rig;
    int expiry = 0;
    // Unhealthy at the 2nd and 3rd expiry only.
    watchdog w(rig.io.get_executor(), *rig.notify, 2ms, [&] {
        ++expiry;
        return expiry != 2 && expiry != 3;
    });
    w.start();
    for (int i = 0; i < 6; ++i) ASSERT_EQ(rig.io.run_one(), 1u);
    EXPECT_EQ(expiry, 6);
    EXPECT_EQ(w.pings(), 4u);
    EXPECT_EQ(w.skipped(), 2u);
    rig.drain();
    EXPECT_EQ(rig.listener.count("WATCHDOG=1"), 4u);
}

TEST(systemd_watchdog, stop_cancels_the_timer) {
    watchdog_rig rig;
    watchdog w(rig.io.get_executor(), *rig.notify, 2ms, [] { return true; });
    w.start();
    ASSERT_EQ(rig.io.run_one(), 1u);
    w.stop();
    EXPECT_FALSE(w.running());
    rig.io.run();  // only the cancelled wait is left: returns once it has completed
    EXPECT_EQ(w.pings(), 1u);
    rig.drain();
    EXPECT_EQ(rig.listener.count("WATCHDOG=1"), 1u);
}

TEST(systemd_watchdog, stopping_from_inside_healthy_ends_the_pings) {
    watchdog_rig rig;
    std::unique_ptr<watchdog> w;
    int expiry = 0;
    w = std::make_unique<watchdog>(rig.io.get_executor(), *rig.notify, 2ms, [&] {
        if (++expiry == 3) w->stop();
        return true;
    });
    w->start();
    rig.io.run();  // returns when nothing is armed any more
    EXPECT_EQ(expiry, 3);
    EXPECT_EQ(w->pings(), 3u);  // the ping of the expiry that stopped it still went out
    rig.drain();
    EXPECT_EQ(rig.listener.count("WATCHDOG=1"), 3u);
}

TEST(systemd_watchdog, restart_after_stop_pings_again) {
    watchdog_rig rig;
    watchdog w(rig.io.get_executor(), *rig.notify, 2ms, [] { return true; });
    w.start();
    ASSERT_EQ(rig.io.run_one(), 1u);
    w.stop();
    w.start();
    w.start();  // starting a running watchdog changes nothing
    rig.io.restart();
    // The cancelled wait completes (no ping), then the new one expires (ping).
    while (w.pings() < 2) ASSERT_EQ(rig.io.run_one(), 1u);
    w.stop();
    rig.io.run();
    EXPECT_EQ(w.pings(), 2u);
}

TEST(systemd_watchdog, destroying_it_with_a_wait_pending_is_safe) {
    watchdog_rig rig;
    {
        watchdog w(rig.io.get_executor(), *rig.notify, 2ms, [] { return true; });
        w.start();
    }
    rig.io.run();  // the aborted handler runs after the watchdog is gone (ASan would object)
    EXPECT_EQ(rig.notify->sent(), 0u);
}

TEST(systemd_watchdog, pings_even_outside_systemd_without_sending) {
    scoped_environment env;
    env.unset("NOTIFY_SOCKET");
    boost::asio::io_context io;
    notifier n;
    watchdog w(io.get_executor(), n, 2ms, [] { return true; });
    w.start();
    ASSERT_EQ(io.run_one(), 1u);
    w.stop();
    EXPECT_EQ(w.pings(), 1u);
    EXPECT_EQ(n.sent(), 0u);
}

}  // namespace
}  // namespace sessiond
