// IBKR ends the SSO session while the daemon runs with IBKR's own validate limit (one a minute, the
// default IBKR_PACE_VALIDATE=60) against a simulator that enforces that minute: the daemon is
// authenticated again within its login spacing and a few round trips, not after the validate
// minute, and validates when IBKR allows it, without a single 429.

#include "integration/daemon_fixture.hpp"

#include <boost/json.hpp>

#include <cstdio>

namespace sessiond::testing {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

// The daemon's login spacing in this test (SESSIOND_LOGIN_MIN_INTERVAL), and what recovery may
// take beyond it: the 401 on the next tickle, the token, SSO, init, accounts and tickle round trips,
// and scheduling on a loaded machine.
constexpr milliseconds login_spacing{3'000};
constexpr milliseconds round_trips_and_slack{5'000};
constexpr milliseconds validate_minute{60'000};

class production_pacing : public daemon_fixture {
protected:
    daemon_process& connected_with_ibkrs_validate_minute() {
        sim_options so = fast_sim();
        so.validate_min_interval = validate_minute.count() / 1000;
        start_sim(so);
        daemon_options o;
        o.environment["IBKR_PACE_VALIDATE"] = std::to_string(validate_minute.count() / 1000);
        o.environment["SESSIOND_LOGIN_MIN_INTERVAL"] = std::to_string(login_spacing.count() / 1000);
        auto& d = start_daemon(o);
        EXPECT_TRUE(d.wait_for_log("session connected")) << d.output();
        return d;
    }

    json::object status(daemon_process& d) {
        const auto res = d.api().get("/api/ibkr/status");
        EXPECT_TRUE(res && res->status == 200u);
        return res ? res->json().as_object() : json::object{};
    }

    std::uint64_t answered_429() {
        std::uint64_t n = 0;
        const auto state = sim().state();
        for (const auto& [key, value] : state.at("statuses").as_object())
            if (std::string_view(key).ends_with(" 429")) n += static_cast<std::uint64_t>(value.to_number<std::int64_t>());
        return n;
    }
};

TEST_F(production_pacing, an_ended_sso_session_is_authenticated_again_within_the_login_spacing_and_validated_later) {
    auto& d = connected_with_ibkrs_validate_minute();
    ASSERT_EQ(sim_calls(validate_path), 1u) << "the first login validates at once";

    const auto ended = clock_type::now();
    sim().expire_sessions();
    const bool again = d.wait_for_log("session connected", 2, login_spacing + round_trips_and_slack);
    const auto took = std::chrono::duration_cast<milliseconds>(clock_type::now() - ended);
    ASSERT_TRUE(again) << "not authenticated again within " << (login_spacing + round_trips_and_slack).count()
                       << " ms\n"
                       << d.output();
    std::printf("[production-pacing] SSO session ended: authenticated again after %lld ms (login spacing %lld ms)\n",
                static_cast<long long>(took.count()), static_cast<long long>(login_spacing.count()));
    std::fflush(stdout);
    EXPECT_LE(took, login_spacing + round_trips_and_slack);

    // The recovery made no validate (IBKR's minute was still running) and said why.
    EXPECT_EQ(sim_calls(validate_path), 1u);
    EXPECT_EQ(sim_count("sso_sessions_created"), 2u);
    EXPECT_EQ(d.count_in_log("(IBKR allows one a minute): initialising the brokerage session now"), 1u) << d.log();
    EXPECT_EQ(d.count_in_log("paper login confirmed by /iserver/accounts isPaper; validate deferred until"), 1u)
        << d.log();
    const auto during = status(d);
    EXPECT_EQ(during.at("status"), "connected") << json::serialize(during);
    EXPECT_EQ(during.at("environment_confirmed_by"), "accounts") << json::serialize(during);
    EXPECT_TRUE(during.at("validate_deferred_until").is_string()) << json::serialize(during);

    // The deferred validate comes when IBKR's minute allows it, and IBKR accepts it.
    ASSERT_TRUE(sim().await_calls(validate_path, 2, validate_minute + round_trips_and_slack, 200)) << d.output();
    ASSERT_TRUE(d.wait_for_log("validate: HTTP 200", 2)) << d.output();
    const auto after = status(d);
    EXPECT_EQ(after.at("status"), "connected") << json::serialize(after);
    EXPECT_EQ(after.at("environment_confirmed_by"), "validate") << json::serialize(after);
    EXPECT_TRUE(after.at("validate_deferred_until").is_null()) << json::serialize(after);
    EXPECT_EQ(d.count_in_log("tickle failed"), 1u) << "only the 401 after IBKR ended the SSO session\n" << d.log();
    EXPECT_EQ(sim_count("sso_sessions_created"), 2u) << "no login after the recovery";

    EXPECT_EQ(answered_429(), 0u) << "IBKR's limits kept: no 429 at all";
    expect_no_self_inflicted_429();
}

}  // namespace
}  // namespace sessiond::testing
