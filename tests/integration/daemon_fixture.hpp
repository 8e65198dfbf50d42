#pragma once
// Shared setup of the integration suites: one ibkr-sim, one or more real ibkr-sessiond processes,
// and after every test the check that nothing the daemons printed contains a secret.

#include "support/daemon_process.hpp"
#include "support/sim_process.hpp"
#include "support/temp_dir.hpp"
#include "support/test_keys.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace sessiond::testing {

using namespace std::chrono_literals;

class daemon_fixture : public ::testing::Test {
protected:
    // Fast simulator limits that still hold the daemon to pacing (the daemon mirrors them).
    static sim_options fast_sim() {
        sim_options o;
        o.tickle_min_interval = 1;
        o.validate_min_interval = 1;
        return o;
    }

    sim_process& start_sim(sim_options options = fast_sim()) {
        sim_ = std::make_unique<sim_process>(std::move(options));
        return *sim_;
    }

    daemon_process& start_daemon(daemon_options options = {}) {
        daemons_.push_back(std::make_unique<daemon_process>(*sim_, std::move(options)));
        return *daemons_.back();
    }

    sim_process& sim() { return *sim_; }

    // A simulator with fast_sim() limits and a daemon that has logged "session connected".
    daemon_process& connected_daemon(daemon_options o = {}) {
        start_sim();
        auto& d = start_daemon(std::move(o));
        EXPECT_TRUE(d.wait_for_log("session connected")) << d.output();
        return d;
    }

    // Injects a fault given as JSON (see sim/README.md).
    void fault(std::string_view spec) { sim_->fault(boost::json::parse(spec)); }

    std::uint64_t sim_count(std::string_view field) {
        const auto state = sim_->state();
        const auto* v = state.if_contains(field);
        return v != nullptr && v->is_int64() ? static_cast<std::uint64_t>(v->as_int64()) : 0;
    }

    std::uint64_t sim_calls(std::string_view path) {
        const auto state = sim_->state();
        const auto* calls = state.if_contains("calls");
        if (calls == nullptr || !calls->is_object()) return 0;
        const auto* n = calls->as_object().if_contains(path);
        return n != nullptr && n->is_int64() ? static_cast<std::uint64_t>(n->as_int64()) : 0;
    }

    // Whatever state the test left the daemon in, everything it says about itself: none of it may
    // carry a secret (checked in TearDown with the rest of its responses).
    static void ask_everything(daemon_process& d) {
        if (!d.running() || !d.api_port(std::chrono::milliseconds(0))) return;
        auto api = d.api();
        for (const char* target : {"/api/ibkr/status", "/metrics", "/readyz?verbose", "/livez"}) (void)api.get(target);
        http_request_options wrong;
        wrong.headers.emplace_back("Authorization", "Bearer not-the-token-0123456789");
        (void)api.post("/api/ibkr/test", "", wrong);
    }

    // The daemon never causes a 429 by itself: whatever the test did, none of the simulator's own
    // limiters (IBKR's tickle, validate, global and per-endpoint limits) refused it. A test that
    // deliberately configures the daemon looser than the simulator turns this off.
    void expect_no_self_inflicted_429() {
        if (!sim_ || !sim_->running() || !expect_no_self_inflicted_429_) return;
        const auto state = sim_->state();
        // Every limiter's reason ends in "limited" (rate_limited, global_rate_limited, orders_rate_limited,
        // history_concurrency_limited, ...), and the penalty box's is penalty_box.
        for (const auto& [reason, n] : state.at("rejections").as_object()) {
            const std::string_view r = reason;
            if (!r.ends_with("limited") && r != "penalty_box") continue;
            EXPECT_EQ(n.to_number<std::int64_t>(), 0) << "the simulator refused " << n << " request(s) as " << r;
        }
    }

    void TearDown() override {
        expect_no_self_inflicted_429();
        std::vector<std::string> secrets = sim_ ? sim_->issued_tokens() : std::vector<std::string>{};
        for (auto& d : daemons_) {
            ask_everything(*d);
            if (!d->api_token().empty()) secrets.push_back(d->api_token());
        }
        for (auto& d : daemons_) {
            // Exit 0 on SIGTERM, whatever happened before: under the sanitizers a leak or an error
            // report makes the exit code non-zero, so this is also where those surface.
            EXPECT_EQ(d->stop(), 0) << d->output();
            expect_no_secrets(d->output(), d->private_key_pem(), secrets, "daemon output");
            expect_no_secrets(d->responses(), d->private_key_pem(), secrets, "daemon API responses");
        }
    }

    std::unique_ptr<sim_process> sim_;
    std::vector<std::unique_ptr<daemon_process>> daemons_;
    bool expect_no_self_inflicted_429_ = true;
};

inline constexpr std::string_view token_path = "/oauth2/api/v1/token";
inline constexpr std::string_view sso_path = "/gw/api/v1/sso-sessions";
inline constexpr std::string_view validate_path = "/v1/api/sso/validate";
inline constexpr std::string_view init_path = "/v1/api/iserver/auth/ssodh/init";
inline constexpr std::string_view accounts_path = "/v1/api/iserver/accounts";
inline constexpr std::string_view tickle_path = "/v1/api/tickle";
inline constexpr std::string_view logout_path = "/v1/api/logout";

}  // namespace sessiond::testing
