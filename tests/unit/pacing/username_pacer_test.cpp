#include "sessiond/pacing/username_pacer.hpp"

#include "budget_test_times.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

using namespace std::chrono_literals;
using budget_test::t0;

constexpr auto margin = ibkr_pace_margin;

pacer_limits production() { return {}; }

TEST(endpoint_limits, names_the_row_of_a_path_with_or_without_the_api_prefix_and_query) {
    const endpoint_limits table(1s, 60s);
    const auto tickle = table.row_of("/v1/api/tickle");
    ASSERT_TRUE(tickle);
    EXPECT_EQ(table.row(*tickle).path, "/tickle");
    EXPECT_EQ(table.row_of("/tickle"), tickle);
    EXPECT_EQ(table.row_of("/v1/api/tickle?x=1"), tickle);
    EXPECT_FALSE(table.row_of("/v1/api/tickler")) << "an exact row is not a prefix";
    EXPECT_FALSE(table.row_of("/v1/api/iserver/accounts")) << "only IBKR's global rate";
    EXPECT_FALSE(table.row_of("/v1/apix/tickle")) << "not under /v1/api";
}

TEST(endpoint_limits, a_family_row_covers_every_path_below_it) {
    const endpoint_limits table(1s, 60s);
    const auto pa = table.row_of("/v1/api/pa/performance");
    ASSERT_TRUE(pa);
    EXPECT_EQ(table.row(*pa).path, "/pa/");
    EXPECT_EQ(table.row_of("/v1/api/pa/transactions"), pa);
    EXPECT_FALSE(table.row_of("/v1/api/pax"));
}

TEST(endpoint_limits, tickle_and_validate_take_the_configured_paces_and_the_rest_ibkrs) {
    const endpoint_limits table(2s, 90s);
    EXPECT_EQ(table.row(*table.row_of("/tickle")).window, 2s);
    EXPECT_EQ(table.row(*table.row_of("/sso/validate")).window, 90s);
    EXPECT_EQ(table.row(*table.row_of("/iserver/account/orders")).window, 5s);
    EXPECT_EQ(table.row(*table.row_of("/iserver/marketdata/snapshot")).count, 10);
    EXPECT_EQ(table.row(*table.row_of("/iserver/scanner/params")).window, 15min);
    EXPECT_EQ(table.row(*table.row_of("/iserver/marketdata/history")).max_in_flight, 5);
}

TEST(username_pacer, an_endpoint_with_one_call_per_window_waits_the_window_and_the_margin) {
    username_pacer p(production());
    EXPECT_EQ(p.ready_at("/v1/api/iserver/account/orders", t0), t0);
    p.record_start("/v1/api/iserver/account/orders", t0);
    EXPECT_EQ(p.ready_at("/v1/api/iserver/account/orders", t0 + 1s), t0 + 5s + margin);
    EXPECT_EQ(p.ready_at("/v1/api/iserver/account/trades", t0 + 1s), t0 + 1s) << "each row paces itself";
}

TEST(username_pacer, validate_is_one_a_minute_and_tickle_one_a_second) {
    username_pacer p(production());
    p.record_start("/v1/api/sso/validate", t0);
    p.record_start("/v1/api/tickle", t0);
    EXPECT_EQ(p.ready_at("/v1/api/sso/validate", t0 + 1s), t0 + 60s + margin);
    EXPECT_EQ(p.ready_at("/v1/api/tickle", t0 + 100ms), t0 + 1s + margin);
    EXPECT_EQ(p.last_start("/v1/api/sso/validate"), t0);
}

TEST(username_pacer, an_endpoint_allowing_ten_a_second_takes_ten_then_waits_for_the_oldest) {
    pacer_limits l = production();
    l.max_requests_per_second = 50;  // the global rate out of the way
    username_pacer p(l);
    for (int i = 0; i < 10; ++i) {
        const wall_time at = t0 + i * 10ms;
        ASSERT_EQ(p.ready_at("/v1/api/iserver/marketdata/snapshot?conids=1", at), at) << i;
        p.record_start("/v1/api/iserver/marketdata/snapshot", at);
    }
    EXPECT_EQ(p.ready_at("/v1/api/iserver/marketdata/snapshot", t0 + 100ms), t0 + 1s + margin);
}

TEST(username_pacer, the_global_rate_counts_every_path_of_the_username) {
    pacer_limits l = production();
    l.max_requests_per_second = 3;
    username_pacer p(l);
    p.record_start("/v1/api/iserver/accounts", t0);
    p.record_start("/v1/api/portfolio/positions/0", t0);
    p.record_start("/v1/api/tickle", t0);
    EXPECT_GT(p.ready_at("/v1/api/anything", t0), t0);
    EXPECT_EQ(p.endpoint_ready_at("/v1/api/anything", t0), t0) << "no row of its own";
}

TEST(username_pacer, a_429_silences_every_caller_until_the_penalty_ends) {
    username_pacer p(production());
    p.penalise(t0 + 15min);
    for (const auto* path : {"/v1/api/tickle", "/v1/api/iserver/accounts", "/v1/api/sso/validate", "/anything"})
        EXPECT_EQ(p.ready_at(path, t0 + 1s), t0 + 15min) << path;
    EXPECT_EQ(p.penalty_until(t0), t0 + 15min);
    p.penalise(t0 + 1min);
    EXPECT_EQ(p.penalty_until(t0), t0 + 15min) << "a shorter penalty does not shorten the one in force";
    EXPECT_FALSE(p.penalty_until(t0 + 15min)) << "over when it ends";
    EXPECT_EQ(p.ready_at("/v1/api/iserver/accounts", t0 + 16min), t0 + 16min);
}

TEST(username_pacer, a_429_without_its_own_end_boxes_every_username_of_the_address_and_no_other) {
    auto box = std::make_shared<ip_penalty_box>();
    username_pacer alice(production()), bob(production()), carol(production());
    alice.share_penalty_box(box);
    bob.share_penalty_box(box);
    carol.share_penalty_box(std::make_shared<ip_penalty_box>());  // another address

    alice.penalise(t0 + 15min, penalty_scope::address);
    EXPECT_EQ(bob.ready_at("/v1/api/tickle", t0 + 1s), t0 + 15min) << "the same address: boxed too";
    EXPECT_EQ(bob.penalty_until(t0), t0 + 15min);
    EXPECT_FALSE(carol.penalty_until(t0)) << "another address is not IBKR's box";
    EXPECT_EQ(carol.ready_at("/v1/api/iserver/accounts", t0 + 1s), t0 + 1s);
    EXPECT_FALSE(alice.penalty_until(t0 + 15min)) << "over when it ends";

    // Retry-After named the username's own end: its neighbours keep going.
    bob.penalise(t0 + 20min, penalty_scope::username);
    EXPECT_EQ(bob.penalty_until(t0 + 16min), t0 + 20min);
    EXPECT_FALSE(alice.penalty_until(t0 + 16min));
}

TEST(username_pacer, an_address_penalty_without_a_shared_box_stays_the_usernames) {
    username_pacer p(production());
    p.penalise(t0 + 15min, penalty_scope::address);
    EXPECT_EQ(p.penalty_until(t0), t0 + 15min);
}

TEST(username_pacer, a_request_that_left_late_paces_from_when_it_left) {
    username_pacer p(production());
    p.record_start("/v1/api/tickle", t0);
    p.record_sent("/v1/api/tickle", t0, t0 + 300ms);
    EXPECT_EQ(p.ready_at("/v1/api/tickle", t0 + 500ms), t0 + 1300ms + margin);
    p.record_sent("/v1/api/tickle", t0, t0 + 100ms);
    EXPECT_EQ(p.last_start("/v1/api/tickle"), t0 + 300ms) << "an earlier time changes nothing";
}

TEST(username_pacer, a_request_that_left_late_counts_in_ibkrs_global_rate_from_when_it_left) {
    pacer_limits l = production();
    l.max_requests_per_second = 2;
    username_pacer p(l);
    p.record_start("/v1/api/iserver/accounts", t0);  // opened a connection first: left 700 ms later
    p.record_sent("/v1/api/iserver/accounts", t0, t0 + 700ms);
    p.record_start("/v1/api/iserver/accounts", t0 + 800ms);
    // IBKR saw the two at +700 and +800 ms: the third waits until the first has left IBKR's window.
    EXPECT_EQ(p.ready_at("/v1/api/iserver/accounts", t0 + 1300ms), t0 + 700ms + 1s + margin);
}

TEST(username_pacer, history_allows_five_requests_in_flight) {
    username_pacer p(production());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(p.begin_in_flight("/v1/api/iserver/marketdata/history?conid=1")) << i;
    EXPECT_FALSE(p.has_room("/v1/api/iserver/marketdata/history"));
    EXPECT_FALSE(p.begin_in_flight("/v1/api/iserver/marketdata/history"));
    p.end_in_flight("/v1/api/iserver/marketdata/history");
    EXPECT_TRUE(p.begin_in_flight("/v1/api/iserver/marketdata/history"));
    EXPECT_TRUE(p.begin_in_flight("/v1/api/iserver/accounts")) << "no in-flight limit there";
}

TEST(username_pacer, a_restored_record_holds_the_next_login_validate_and_tickle_for_their_possible_lateness) {
    username_pacer p(production());
    login_budget logins({10s, 30});
    logins.record(t0 - 5s);
    p.restore(persisted_pacing{logins, t0 - 20s}, t0);
    EXPECT_TRUE(p.restored());
    EXPECT_EQ(p.login_ready_at(t0), t0 + 15s) << "10 s of spacing, and the 10 s the login may have taken to arrive";
    EXPECT_EQ(p.ready_at("/v1/api/sso/validate", t0), t0 + 50s + margin);
    EXPECT_EQ(p.ready_at("/v1/api/tickle", t0), t0 + 1s + margin) << "it may have tickled just before it ended";
    EXPECT_EQ(p.to_persist().logins.recent().size(), 1u);
    EXPECT_EQ(p.to_persist().last_validate, t0 - 10s);
}

TEST(username_pacer, only_the_first_restore_counts) {
    username_pacer p(production());
    p.restore(std::nullopt, t0);  // a first start: nothing on disk
    login_budget logins({10s, 30});
    logins.record(t0);
    p.restore(persisted_pacing{logins, t0}, t0 + 1s);
    EXPECT_TRUE(p.logins().recent().empty()) << "a later session of the username continues from the pacer";
    EXPECT_EQ(p.login_ready_at(t0 + 1s), t0 + 1s);
}

TEST(username_pacer, a_caller_that_leaves_room_for_others_waits_while_they_still_may_call) {
    pacer_limits l = production();
    l.max_requests_per_second = 3;
    username_pacer p(l);
    p.record_start("/v1/api/iserver/accounts", t0);
    p.record_start("/v1/api/iserver/accounts", t0);
    EXPECT_EQ(p.ready_at("/v1/api/tickle", t0), t0) << "the third request of the second is the session's";
    EXPECT_GT(p.ready_at("/v1/api/iserver/accounts", t0, 1), t0) << "not the gateway's";
}

TEST(username_pacer, a_global_rate_of_zero_is_no_global_limit_for_the_simulator) {
    pacer_limits l = production();
    l.max_requests_per_second = 0;
    username_pacer p(l);
    for (int i = 0; i < 100; ++i) p.record_start("/v1/api/iserver/accounts", t0);
    EXPECT_EQ(p.ready_at("/v1/api/iserver/accounts", t0), t0);
    p.record_start("/v1/api/portfolio/accounts", t0);
    EXPECT_GT(p.ready_at("/v1/api/portfolio/accounts", t0), t0) << "the endpoint limits still hold";
}

TEST(username_pacer, new_limits_keep_what_was_recorded) {
    username_pacer p(production());
    p.record_start("/v1/api/sso/validate", t0);
    p.record_login(t0);
    pacer_limits slower = production();
    slower.pace_validate = 120s;
    p.reconfigure(slower);
    EXPECT_EQ(p.ready_at("/v1/api/sso/validate", t0), t0 + 120s + margin);
    EXPECT_EQ(p.logins().recent().size(), 1u);
}

}  // namespace
}  // namespace sessiond
