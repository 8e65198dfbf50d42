// Restarts cannot turn into a login storm: the login budget is kept in the state directory, written
// before each login, so kill -9 at any point of the login flow, followed by a restart (what systemd's
// Restart=on-failure does), never makes more logins than the budget allows nor leaves a state file
// the next start cannot read.

#include "integration/daemon_fixture.hpp"

#include "sessiond/core/state_file.hpp"
#include "sessiond/pacing/pacing_file.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

namespace sessiond::testing {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

constexpr milliseconds login_spacing{2'000};

class restart_safety : public daemon_fixture {
protected:
    daemon_options budget_in(const temp_dir& state, int per_hour) {
        daemon_options o;
        o.environment["SESSIOND_STATE_DIR"] = state.path().string();
        o.environment["SESSIOND_LOGIN_MIN_INTERVAL"] = std::to_string(login_spacing.count() / 1000);
        o.environment["SESSIOND_LOGINS_PER_HOUR"] = std::to_string(per_hour);
        return o;
    }

    // SIGKILL: no logout, no flush, nothing the daemon can do about it.
    static void kill9(daemon_process& d) {
        d.send_signal(SIGKILL);
        ASSERT_TRUE(d.wait_exit(std::chrono::seconds(10)));
    }

    // Every file in the state directory is a budget the daemon can read back, and nothing else is there.
    static void expect_readable_state(const temp_dir& state) {
        for (const auto& entry : fs::directory_iterator(state.path())) {
            const std::string name = entry.path().filename().string();
            if (name.starts_with(".")) continue;  // an interrupted write's temporary file: removed at the next start
            EXPECT_TRUE(name.starts_with("pacing-")) << name;
            const auto text = read_small_file(entry.path());
            ASSERT_TRUE(text && *text) << name;
            const auto record = parse_pacing_record(**text, {}, std::chrono::system_clock::now());
            EXPECT_TRUE(record) << name << ": " << (record ? "" : record.error().message) << "\n" << **text;
        }
    }

    std::vector<std::int64_t> login_times() {
        std::vector<std::int64_t> out;
        const auto journal = sim().events(0);  // outlives the loop: a temporary in the range would not
        for (const auto& e : journal.at("events").as_array())
            if (e.at("path").as_string() == token_path) out.push_back(e.at("t_ms").to_number<std::int64_t>());
        return out;
    }

    // The daemons this test killed cannot exit 0 on SIGTERM in TearDown: their output is checked for
    // secrets here, and TearDown checks the last one as usual.
    void forget_killed() {
        const auto tokens = sim().issued_tokens();
        for (auto it = daemons_.begin(); it != daemons_.end() - 1; ++it)
            expect_no_secrets((*it)->output(), (*it)->private_key_pem(), tokens, "killed daemon's output");
        daemons_.erase(daemons_.begin(), daemons_.end() - 1);
    }
};

TEST_F(restart_safety, kill_9_anywhere_in_the_login_flow_never_exceeds_the_budget_nor_corrupts_the_state) {
    const std::uint64_t seed = std::getenv("SESSIOND_RESTART_SEED") ? std::strtoull(std::getenv("SESSIOND_RESTART_SEED"), nullptr, 10)
                                                                    : std::random_device{}();
    SCOPED_TRACE(fmt::format("seed {} (SESSIOND_RESTART_SEED={} replays it)", seed, seed));
    std::mt19937_64 random(seed);
    constexpr int per_hour = 8;
    constexpr int kills = 6;
    const temp_dir state;
    start_sim();
    std::vector<std::string> killed_at;
    for (int round = 0; round < kills; ++round) {
        // Every step of the login flow answers 250 ms late, so that a kill lands inside the flow.
        for (const auto path : {token_path, sso_path, validate_path, init_path, accounts_path})
            fault(fmt::format(R"({{"path":"{}","action":"delay","delay_ms":250}})", path));
        auto& d = start_daemon(budget_in(state, per_hour));
        // The kill point: anywhere from before the first request to the end of the flow (the budget's
        // spacing may hold the login back up to 2 s). A random wait, not a synchronisation.
        std::this_thread::sleep_for(milliseconds(random() % 3'500));
        const auto calls = sim().state().at("calls");
        killed_at.push_back(boost::json::serialize(calls));
        kill9(d);
        expect_readable_state(state);
        sim().clear_faults();
    }
    auto& last = start_daemon(budget_in(state, per_hour));
    forget_killed();
    ASSERT_TRUE(last.wait_for_log("session connected", 1, std::chrono::seconds(30))) << last.output();

    const auto logins = login_times();
    std::string rounds;
    for (const auto& k : killed_at) rounds += "\n  " + k;
    SCOPED_TRACE("calls seen at each kill:" + rounds);
    EXPECT_LE(logins.size(), static_cast<std::size_t>(per_hour));
    for (std::size_t i = 1; i < logins.size(); ++i)
        EXPECT_GE(logins[i] - logins[i - 1], login_spacing.count() - 500) << "logins " << i - 1 << " and " << i;
    expect_readable_state(state);
    for (const auto& entry : fs::directory_iterator(state.path()))
        EXPECT_FALSE(entry.path().filename().string().starts_with(".")) << "left over: " << entry.path();
    const auto status = last.api().get("/api/ibkr/status");
    ASSERT_TRUE(status);
    EXPECT_TRUE(status->json().at("login_budget").at("persisted").as_bool());
    // The budget is written before the token request leaves, so a kill between the two counts a login
    // the simulator never saw: safe, and at most one per kill. A login the budget does not count is not.
    const auto counted =
        static_cast<std::size_t>(status->json().at("login_budget").at("logins_last_hour").to_number<std::int64_t>());
    EXPECT_GE(counted, logins.size()) << "every login the simulator saw is in the restored budget";
    EXPECT_LE(counted, logins.size() + kills) << "at most one unsent login counted per kill";
}

TEST_F(restart_safety, a_restart_with_the_hours_budget_spent_starts_throttled_and_makes_no_call) {
    const temp_dir state;
    start_sim();
    for (int i = 0; i < 2; ++i) {
        auto& d = start_daemon(budget_in(state, 2));
        ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();
        kill9(d);
    }
    auto& d = start_daemon(budget_in(state, 2));
    forget_killed();
    ASSERT_TRUE(d.wait_for_log("throttled: the login budget (2 an hour")) << d.output();
    EXPECT_NE(d.log().find("warning throttled: the login budget (2 an hour"), std::string::npos)
        << "the hour's logins spent is a warning";
    const auto status = d.api().get("/api/ibkr/status");
    ASSERT_TRUE(status);
    const auto j = status->json().as_object();
    EXPECT_EQ(j.at("state"), "throttled");
    EXPECT_FALSE(j.at("throttled_until").is_null());
    EXPECT_EQ(j.at("login_budget").at("logins_last_hour").to_number<std::int64_t>(), 2);
    EXPECT_NE(std::string(j.at("message").as_string()).find("throttled: 2 login(s) in the last hour"), std::string::npos)
        << j.at("message");
    EXPECT_EQ(sim_count("tokens_issued"), 2u);
    EXPECT_EQ(sim_calls(token_path), 2u) << "the third start waits for the budget instead of logging in";
}

TEST_F(restart_safety, an_unreadable_budget_counts_as_a_login_just_made) {
    const temp_dir state;
    start_sim();
    auto& first = start_daemon(budget_in(state, 30));
    ASSERT_TRUE(first.wait_for_log("session connected")) << first.output();
    kill9(first);
    for (const auto& entry : fs::directory_iterator(state.path())) std::ofstream(entry.path(), std::ios::trunc) << "garbage\n";
    auto& d = start_daemon(budget_in(state, 30));
    forget_killed();
    ASSERT_TRUE(d.wait_for_log("counting a login now to stay within IBKR's limits")) << d.output();
    EXPECT_EQ(d.count_in_log("garbage"), 0u) << "the file's content is not echoed";
    ASSERT_TRUE(d.wait_for_log("session connected")) << d.output();
    const auto logins = login_times();
    ASSERT_EQ(logins.size(), 2u);
    EXPECT_GE(logins[1] - logins[0], login_spacing.count() - 500);
}

// Run by hand, with neither SESSIOND_STATE_DIR nor systemd's STATE_DIRECTORY, the pacing record
// lives in $HOME/.local/state/ibkr-sessiond: a restart within IBKR's validate minute waits for it
// instead of earning a 429 and a quarter of an hour in the penalty box.
TEST_F(restart_safety, a_restart_without_a_configured_state_directory_earns_no_429) {
    sim_options so = fast_sim();
    so.validate_min_interval = 60;  // IBKR's minute, enforced (the daemon paces validate to it too)
    start_sim(so);
    const temp_dir home;
    daemon_options o;
    o.environment["HOME"] = home.path().string();
    for (const char* name : {"SESSIOND_STATE_DIR", "STATE_DIRECTORY", "XDG_STATE_HOME"}) o.environment[name] = std::nullopt;
    const fs::path state = home.path() / ".local" / "state" / "ibkr-sessiond";

    auto& first = start_daemon(o);
    ASSERT_TRUE(first.wait_for_log("session connected")) << first.output();
    EXPECT_EQ(first.count_in_log("state directory " + state.string() + " (default: $HOME/.local/state)"), 1u)
        << first.log();
    ASSERT_EQ(first.stop(), 0) << first.output();

    auto& second = start_daemon(o);
    ASSERT_TRUE(second.wait_for_log("session connected", 1, 90s)) << second.output();
    const auto rejections = sim().state().at("rejections").as_object();
    for (const char* reason : {"rate_limited", "global_rate_limited", "penalty_box"}) {
        const auto* n = rejections.if_contains(reason);
        EXPECT_TRUE(n == nullptr || n->to_number<std::int64_t>() == 0) << reason << ": " << *n;
    }
    EXPECT_EQ(second.count_in_log("HTTP 429"), 0u) << second.log();

    const auto status = second.api().get("/api/ibkr/status");
    ASSERT_TRUE(status);
    const auto budget = boost::json::parse(status->body).as_object().at("login_budget").as_object();
    EXPECT_TRUE(budget.at("persisted").as_bool()) << status->body;
    EXPECT_EQ(budget.at("state_directory"), boost::json::value(state.string())) << status->body;
}

}  // namespace
}  // namespace sessiond::testing
