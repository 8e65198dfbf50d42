// What systemd hears from the real daemon on $NOTIFY_SOCKET (a real datagram socket, as systemd's):
// READY before any IBKR call, STATUS on every lifecycle change, watchdog pings at half
// WATCHDOG_USEC that an IBKR outage never stops, RELOADING/READY on SIGHUP, STOPPING on SIGTERM.

#include "integration/daemon_fixture.hpp"
#include "support/notify_listener.hpp"

#include <boost/json.hpp>

#include <csignal>
#include <fstream>

namespace sessiond::testing {
namespace {

namespace json = boost::json;

class systemd_notify : public daemon_fixture {
protected:
    daemon_options notified(daemon_options o = {}) {
        o.environment["NOTIFY_SOCKET"] = listener_.path().string();
        return o;
    }

    // The STATUS= lines received so far, without the prefix.
    std::vector<std::string> status_lines() const {
        std::vector<std::string> out;
        for (const auto& m : listener_.messages()) {
            std::string_view rest = m.text;
            while (!rest.empty()) {
                const auto end = rest.find('\n');
                const std::string_view line = rest.substr(0, end);
                if (line.starts_with("STATUS=")) out.emplace_back(line.substr(7));
                rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
            }
        }
        return out;
    }

    bool wait_for_status(std::string_view fragment, std::chrono::milliseconds timeout = 20s) {
        return listener_.wait_for(
            [&](const std::vector<notify_message>& all) {
                for (const auto& m : all)
                    if (m.text.starts_with("STATUS=") && m.text.find(fragment) != std::string::npos) return true;
                return false;
            },
            timeout);
    }

    std::vector<std::chrono::steady_clock::time_point> ping_times() const {
        std::vector<std::chrono::steady_clock::time_point> out;
        for (const auto& m : listener_.messages())
            if (m.text == "WATCHDOG=1") out.push_back(m.arrived);
        return out;
    }

    notify_listener listener_;
};

TEST_F(systemd_notify, ready_comes_before_any_ibkr_call_even_during_maintenance) {
    start_sim();
    sim().set_maintenance(true);
    auto& d = start_daemon(notified());
    ASSERT_TRUE(listener_.wait_for_count("READY=1", 1, 20s)) << d.output();
    ASSERT_TRUE(d.wait_for_log("failed: HTTP 503")) << d.output();
    EXPECT_TRUE(d.running()) << "an IBKR outage at boot must not fail the unit";
    EXPECT_EQ(listener_.count("READY=1"), 1u);
    auto livez = d.api().get("/livez");
    ASSERT_TRUE(livez);
    EXPECT_EQ(livez->status, 200u);

    sim().set_maintenance(false);
    ASSERT_TRUE(wait_for_status("connected as DU1234567 (paper)")) << d.output();
}

TEST_F(systemd_notify, status_follows_the_lifecycle_with_one_line_per_change) {
    start_sim();
    auto& d = start_daemon(notified());
    ASSERT_TRUE(wait_for_status("connected as DU1234567 (paper)")) << d.output();
    fault(R"({"path":"/v1/api/tickle","action":"status","status":503,"count":-1})");
    ASSERT_TRUE(wait_for_status("reconnecting")) << d.output();
    sim().clear_faults();
    ASSERT_TRUE(d.wait_for_log("session connected", 2)) << d.output();
    ASSERT_TRUE(listener_.wait_for(
        [](const std::vector<notify_message>& all) {
            return !all.empty() && all.back().text.find("connected as DU1234567") != std::string::npos;
        },
        20s));

    const auto lines = status_lines();
    for (std::size_t i = 1; i < lines.size(); ++i) EXPECT_NE(lines[i], lines[i - 1]) << "a repeated STATUS line";
    for (const auto& l : lines) EXPECT_EQ(l.find('\n'), std::string::npos);
    std::string all;
    for (const auto& m : listener_.messages()) all += m.text + "\n";
    expect_no_secrets(all, d.private_key_pem(), sim().issued_tokens(), "notify messages");
}

TEST_F(systemd_notify, watchdog_pings_at_half_the_interval_and_an_outage_never_stops_them) {
    constexpr auto watchdog_usec = std::chrono::microseconds(1'500'000);
    start_sim();
    sim().set_maintenance(true);
    daemon_options o = notified();
    o.environment["WATCHDOG_USEC"] = std::to_string(watchdog_usec.count());
    auto& d = start_daemon(o);
    ASSERT_TRUE(listener_.wait_for_count("WATCHDOG=1", 4, 30s)) << d.output();
    EXPECT_GE(d.count_in_log("failed: HTTP 503"), 1u) << "the pings came during the outage";
    auto livez = d.api().get("/livez");
    ASSERT_TRUE(livez);
    EXPECT_EQ(livez->status, 200u);

    // systemd acts when a gap reaches WATCHDOG_USEC; the daemon aims at half of it. Timers never
    // fire early, so no gap is below half (less a scheduling margin for the first ping).
    const auto pings = ping_times();
    for (std::size_t i = 1; i < pings.size(); ++i) {
        const auto gap = std::chrono::duration_cast<std::chrono::microseconds>(pings[i] - pings[i - 1]);
        EXPECT_LT(gap, watchdog_usec) << "gap " << i;
        EXPECT_GE(gap, watchdog_usec / 2 - std::chrono::milliseconds(50)) << "gap " << i;
    }
}

TEST_F(systemd_notify, no_watchdog_pings_when_watchdog_pid_names_another_process) {
    start_sim();
    daemon_options o = notified();
    o.environment["WATCHDOG_USEC"] = "200000";
    o.environment["WATCHDOG_PID"] = "1";
    auto& d = start_daemon(o);
    ASSERT_TRUE(wait_for_status("connected as")) << d.output();
    // Three tickles a second apart: thirty times the 100 ms between pings it would have sent.
    ASSERT_TRUE(sim().await_calls(tickle_path, 3, 20s));
    EXPECT_EQ(listener_.count("WATCHDOG=1"), 0u);
    EXPECT_EQ(d.count_in_log("systemd watchdog"), 0u);
}

TEST_F(systemd_notify, sigterm_says_stopping_logs_out_and_exits_0) {
    start_sim();
    auto& d = start_daemon(notified());
    ASSERT_TRUE(wait_for_status("connected as")) << d.output();
    EXPECT_EQ(d.stop(), 0) << d.output();
    // The daemon has exited; its last datagrams may still wait in the socket for the listener's thread.
    EXPECT_TRUE(wait_for_status("stopped")) << d.output();
    EXPECT_EQ(listener_.count("STOPPING=1"), 1u);
    EXPECT_EQ(sim_calls(logout_path), 1u);
    // STOPPING=1 precedes the logout's completion and the final status.
    const auto all = listener_.messages();
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all.back().text, "STATUS=stopped");
}

// Reloads read an env file the test rewrites; the real environment holds only what never changes.
class systemd_reload : public systemd_notify {
protected:
    daemon_process& start_with_env_file(std::string_view account, std::string_view extra = {}) {
        sim_options so = fast_sim();
        so.accounts = {"DU1234567", "DU7654321"};
        start_sim(so);
        env_file_ = dir_.path() / "ibkr-sessiond.env";
        write_env(account, extra);
        daemon_options o = notified();
        // As under EnvironmentFile=: the environment holds a copy of the file's account.
        o.environment["IBKR_ACCOUNT_ID"] = std::string(account);
        o.environment["SESSIOND_API_TOKEN"] = std::nullopt;
        o.environment["SESSIOND_SIMULATOR_LIMITS"] = std::nullopt;
        o.args = {"run", "--env-file", env_file_.string(), "--log-level", "debug"};
        return start_daemon(o);
    }

    // The simulator switch is in the file (not the environment), so that a reload can drop it.
    void write_env(std::string_view account, std::string_view extra = {}, bool simulator_limits = true) {
        std::ofstream out(env_file_, std::ios::trunc);
        out << "IBKR_ACCOUNT_ID=" << account << "\n" << (simulator_limits ? "SESSIOND_SIMULATOR_LIMITS=true\n" : "") << extra;
    }

    bool reloaded(daemon_process& d, std::size_t n) {
        d.send_signal(SIGHUP);
        return listener_.wait_for_count("RELOADING=1", n, 20s) && listener_.wait_for_count("READY=1", n + 1, 20s);
    }

    temp_dir dir_;
    std::filesystem::path env_file_;
};

TEST_F(systemd_reload, sighup_with_the_same_login_keeps_the_session_and_applies_the_new_token) {
    auto& d = start_with_env_file("DU1234567");
    ASSERT_TRUE(wait_for_status("connected as DU1234567")) << d.output();
    const auto logins = sim_calls(token_path);
    write_env("DU1234567", "SESSIOND_API_TOKEN=reloaded-token-0123456789\n");
    ASSERT_TRUE(reloaded(d, 1)) << d.output();

    // RELOADING=1 carries MONOTONIC_USEC, and READY=1 ends the reload.
    bool monotonic = false;
    for (const auto& m : listener_.messages())
        if (m.text.starts_with("RELOADING=1\nMONOTONIC_USEC=")) monotonic = true;
    EXPECT_TRUE(monotonic);
    ASSERT_TRUE(d.wait_for_log("reloaded: same IBKR login")) << d.output();
    EXPECT_EQ(sim_calls(token_path), logins) << "same login: no new login";

    http_request_options with_token;
    with_token.headers.emplace_back("Authorization", "Bearer reloaded-token-0123456789");
    const auto r = d.api().post("/api/ibkr/test", "", with_token);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200u) << r->body;
    EXPECT_EQ(d.count_in_log("reloaded-token-0123456789"), 0u);
}

TEST_F(systemd_reload, sighup_that_drops_the_simulator_switch_is_refused_and_keeps_the_running_session) {
    auto& d = start_with_env_file("DU1234567");
    ASSERT_TRUE(wait_for_status("connected as DU1234567")) << d.output();
    EXPECT_EQ(d.count_in_log("SESSIOND_SIMULATOR_LIMITS=true: simulator limits are in force"), 1u) << d.log();
    const auto logins = sim_calls(token_path);
    write_env("DU1234567", {}, false);  // the test-speed pacing stays, the switch goes
    ASSERT_TRUE(reloaded(d, 1)) << d.output();
    ASSERT_TRUE(d.wait_for_log("reload refused: settings the daemon refuses to run with")) << d.output();
    // The problems follow that line: awaited, not counted at once (under valgrind the reader lagged).
    EXPECT_TRUE(d.wait_for_log("IBKR_PACE_VALIDATE: 1 s is looser than IBKR's limit")) << d.log();

    const auto tickles = sim_calls(tickle_path);
    ASSERT_TRUE(sim().await_calls(tickle_path, tickles + 2, 15s)) << "the old session keeps tickling";
    EXPECT_EQ(sim_calls(token_path), logins);
    EXPECT_TRUE(d.running());
}

TEST_F(systemd_reload, sighup_with_a_broken_config_keeps_the_running_session_and_says_why) {
    auto& d = start_with_env_file("DU1234567");
    ASSERT_TRUE(wait_for_status("connected as DU1234567")) << d.output();
    const auto logins = sim_calls(token_path);
    write_env("DU1234567", "IBKR_COMPETE=perhaps\n");
    ASSERT_TRUE(reloaded(d, 1)) << d.output();
    ASSERT_TRUE(d.wait_for_log("reload refused")) << d.output();
    EXPECT_TRUE(d.wait_for_log("configuration: IBKR_COMPETE")) << d.log();

    const auto tickles = sim_calls(tickle_path);
    ASSERT_TRUE(sim().await_calls(tickle_path, tickles + 2, 15s)) << "the old session keeps tickling";
    EXPECT_EQ(sim_calls(token_path), logins);
    const auto status = d.api().get("/api/ibkr/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(status->json().as_object().at("status").as_string(), "connected");
}

TEST_F(systemd_reload, sighup_with_another_account_logs_out_and_logs_in_again) {
    auto& d = start_with_env_file("DU1234567");
    ASSERT_TRUE(wait_for_status("connected as DU1234567")) << d.output();
    write_env("DU7654321");
    ASSERT_TRUE(reloaded(d, 1)) << d.output();
    ASSERT_TRUE(wait_for_status("connected as DU7654321")) << d.output();
    EXPECT_EQ(sim_calls(logout_path), 1u);
    EXPECT_EQ(sim_calls(token_path), 2u);
    const auto status = d.api().get("/api/ibkr/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(status->json().as_object().at("account_id").as_string(), "DU7654321");
}

// Configuration tools reload twice in a row. Each cycle changes the login and sends three SIGHUPs
// while IBKR is slow to answer the old session's logout: the daemon must never start the new login
// before the old one has logged out, never replace a session in the middle of its work, and end
// connected with the last configuration (defect: a crash, "malloc(): unaligned tcache chunk").
TEST_F(systemd_reload, login_changes_and_repeated_sighups_during_a_slow_logout_never_overlap_two_logins) {
    auto& d = start_with_env_file("DU1234567");
    ASSERT_TRUE(wait_for_status("connected as DU1234567")) << d.output();
    constexpr int cycles = 4;
    std::size_t reloads = 0;
    std::string account;
    for (int cycle = 0; cycle < cycles; ++cycle) {
        // Slower than a round trip, within the daemon's logout budget (IBKR_HTTP_TIMEOUT=2).
        fault(R"({"path":"/v1/api/logout","action":"delay","delay_ms":1500})");
        account = cycle % 2 == 0 ? "DU7654321" : "DU1234567";
        write_env(account);
        for (int hup = 0; hup < 3; ++hup) ASSERT_TRUE(reloaded(d, ++reloads)) << d.output();
        ASSERT_TRUE(d.wait_for_log("session connected", static_cast<std::size_t>(cycle) + 2)) << d.output();
    }
    const auto status = d.api().get("/api/ibkr/status");
    ASSERT_TRUE(status);
    const auto body = status->json();  // outlives the references below
    const auto& j = body.as_object();
    EXPECT_EQ(j.at("status").as_string(), "connected") << status->body;
    EXPECT_EQ(j.at("account_id").as_string(), account);
    EXPECT_EQ(j.at("users").as_array().size(), 1u);

    // The simulator's record: login, then (logout, login) once per cycle, never two logins in a row.
    std::string order;
    const auto journal = sim().events(0);  // outlives the loop
    for (const auto& e : journal.at("events").as_array()) {
        const auto& ev = e.as_object();
        if (ev.at("path").as_string() == sso_path && ev.at("status").to_number<std::int64_t>() == 200) order += 'S';
        if (ev.at("path").as_string() == logout_path) order += 'L';
    }
    std::string expected = "S";
    for (int cycle = 0; cycle < cycles; ++cycle) expected += "LS";
    EXPECT_EQ(order, expected) << "S: SSO session created, L: logout";
    EXPECT_EQ(d.count_in_log("cannot build the request"), 0u) << d.log();
}

}  // namespace
}  // namespace sessiond::testing
