#include "sessiond/gateway/ws_fanout.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

const std::string md_key = "md:265598";
const std::string md_frame = R"(smd+265598+{"fields":["31"]})";

TEST(ws_fanout, the_first_subscribe_goes_upstream_and_a_second_clients_joins_it) {
    ws_fanout f;
    EXPECT_EQ(f.subscribe(1, md_key, md_frame).upstream, md_frame);
    EXPECT_FALSE(f.subscribe(2, md_key, md_frame).upstream);
    EXPECT_EQ(f.subscribers(md_key), (std::vector<ws_client_id>{1, 2}));
    EXPECT_EQ(f.keys(), 1u);
}

TEST(ws_fanout, one_client_unsubscribing_does_not_end_the_others_subscription) {
    ws_fanout f;
    f.subscribe(1, md_key, md_frame);
    f.subscribe(2, md_key, md_frame);
    EXPECT_FALSE(f.unsubscribe(1, md_key, "umd+265598+{}").upstream);
    EXPECT_EQ(f.subscribers(md_key), std::vector<ws_client_id>{2});
    EXPECT_EQ(f.unsubscribe(2, md_key, "umd+265598+{}").upstream, "umd+265598+{}");
    EXPECT_TRUE(f.subscribers(md_key).empty());
    EXPECT_EQ(f.keys(), 0u);
}

TEST(ws_fanout, a_client_cannot_end_a_subscription_it_does_not_hold) {
    ws_fanout f;
    f.subscribe(1, md_key, md_frame);
    EXPECT_FALSE(f.unsubscribe(2, md_key, "umd+265598+{}").upstream);
    EXPECT_FALSE(f.unsubscribe(2, "or:", "uor+{}").upstream);
    EXPECT_EQ(f.subscribers(md_key), std::vector<ws_client_id>{1});
}

TEST(ws_fanout, a_repeated_or_changed_subscribe_goes_upstream_and_is_what_a_reconnect_sends) {
    ws_fanout f;
    f.subscribe(1, md_key, md_frame);
    EXPECT_EQ(f.subscribe(1, md_key, md_frame).upstream, md_frame);  // renews IBKR's 15 minutes
    const std::string more = R"(smd+265598+{"fields":["31","84"]})";
    EXPECT_EQ(f.subscribe(2, md_key, more).upstream, more);
    f.subscribe(1, "or:", "sor+{}");
    EXPECT_EQ(f.subscribe_frames(), (std::vector<std::string>{more, "sor+{}"}));
}

TEST(ws_fanout, a_leaving_client_ends_only_the_keys_nobody_else_holds) {
    ws_fanout f;
    f.subscribe(1, md_key, md_frame);
    f.subscribe(1, "or:", "sor+{}");
    f.subscribe(1, "tr:", "str+{}");
    f.subscribe(2, "or:", "sor+{}");
    EXPECT_EQ(f.remove(1), (std::vector<std::string>{"umd+265598+{}", "utr"}));
    EXPECT_EQ(f.subscribe_frames(), std::vector<std::string>{"sor+{}"});
    EXPECT_TRUE(f.remove(1).empty());
    EXPECT_FALSE(f.holds(1, "or:"));
    EXPECT_TRUE(f.holds(2, "or:"));
}

TEST(ws_fanout, subscriptions_are_bounded_per_client_and_in_all) {
    ws_fanout f;
    for (std::size_t i = 0; i < ws_fanout::max_keys_per_client; ++i)
        EXPECT_FALSE(f.subscribe(1, "md:" + std::to_string(i), "smd+" + std::to_string(i) + "+{}").refused);
    const auto over = f.subscribe(1, "md:x", "smd+x+{}");
    EXPECT_TRUE(over.refused);
    EXPECT_FALSE(over.upstream);
    EXPECT_FALSE(f.subscribe(2, "md:0", "smd+0+{}").refused);  // joining costs no new key
    ws_client_id client = 3;
    std::size_t n = 0;
    while (f.keys() < ws_fanout::max_keys) {
        ASSERT_FALSE(f.subscribe(client, "md:k" + std::to_string(n), "smd+k" + std::to_string(n) + "+{}").refused);
        if (++n % ws_fanout::max_keys_per_client == 0) ++client;
    }
    EXPECT_TRUE(f.subscribe(client + 1, "md:last", "smd+last+{}").refused);
    EXPECT_FALSE(f.holds(client + 1, "md:last"));
}

}  // namespace
}  // namespace sessiond
