#include "sessiond/gateway/ws_topics.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

using kind = ws_client_frame::kind_t;
using route = ws_upstream_route::kind_t;

TEST(ws_topics, subscriptions_are_keyed_by_family_and_argument) {
    const auto md = classify_client_frame(R"(smd+265598+{"fields":["31","84"]})");
    EXPECT_EQ(md.kind, kind::subscribe);
    EXPECT_EQ(md.key, "md:265598");
    EXPECT_EQ(classify_client_frame("sor+{}").key, "or:");
    EXPECT_EQ(classify_client_frame("spl+{}").key, "pl:");
    EXPECT_EQ(classify_client_frame(R"(str+{"days":1})").key, "tr:");
    EXPECT_EQ(classify_client_frame("sor").key, "or:");
    EXPECT_EQ(classify_client_frame(R"(smh+8314+{"period":"1d"})").key, "mh:8314");
    EXPECT_EQ(classify_client_frame("ssd+DU123+{}").key, "sd:DU123");
}

TEST(ws_topics, unsubscribes_name_the_same_key) {
    for (const auto& [text, key] : std::initializer_list<std::pair<std::string_view, std::string_view>>{
             {"umd+265598+{}", "md:265598"}, {"uor+{}", "or:"}, {"upl+{}", "pl:"}, {"utr", "tr:"}, {"usd+DU123+{}", "sd:DU123"}}) {
        const auto f = classify_client_frame(text);
        EXPECT_EQ(f.kind, kind::unsubscribe) << text;
        EXPECT_EQ(f.key, key) << text;
    }
}

TEST(ws_topics, heartbeat_echo_and_session_are_told_apart) {
    EXPECT_EQ(classify_client_frame("tic").kind, kind::heartbeat);
    EXPECT_EQ(classify_client_frame("ech+hb").kind, kind::echo);
    EXPECT_EQ(classify_client_frame(R"({"session":"abc"})").kind, kind::session);
    EXPECT_EQ(classify_client_frame(R"( {"session":"abc"})").kind, kind::other);
}

TEST(ws_topics, anything_else_is_other) {
    for (std::string_view text : {"", "s", "smd", "smd+", "smd+{}", "smd++{}", "smdx", "sxx+{}", "umh+1234",
                                  "smd+12 34+{}", "garbage", "{not json", R"({"topic":"sor"})", "tick", "echo"})
        EXPECT_EQ(classify_client_frame(text).kind, kind::other) << text;
    const std::string long_argument = "smd+" + std::string(65, '1') + "+{}";
    EXPECT_EQ(classify_client_frame(long_argument).kind, kind::other);
}

TEST(ws_topics, the_frame_ending_a_key_is_the_one_ibkr_documents) {
    EXPECT_EQ(unsubscribe_frame("md:265598"), "umd+265598+{}");
    EXPECT_EQ(unsubscribe_frame("or:"), "uor+{}");
    EXPECT_EQ(unsubscribe_frame("pl:"), "upl+{}");
    EXPECT_EQ(unsubscribe_frame("tr:"), "utr");
    for (std::string_view key : {"md:265598", "or:", "pl:", "tr:", "sd:DU1"}) {
        const auto f = classify_client_frame(unsubscribe_frame(key));
        EXPECT_EQ(f.kind, kind::unsubscribe) << key;
        EXPECT_EQ(f.key, key);
    }
}

TEST(ws_topics, upstream_messages_go_to_their_subscribers_or_to_everyone) {
    const auto md = route_upstream_message(R"({"topic":"smd+265598","conid":265598,"31":"101.5"})");
    EXPECT_EQ(md.kind, route::subscribers);
    EXPECT_EQ(md.key, "md:265598");
    EXPECT_EQ(route_upstream_message(R"({"topic":"sor","args":[]})").key, "or:");
    EXPECT_EQ(route_upstream_message(R"({"topic":"spl","args":{}})").key, "pl:");
    EXPECT_EQ(route_upstream_message(R"({"topic":"str","args":[]})").key, "tr:");
    for (std::string_view text : {R"({"topic":"system","hb":1})", R"({"topic":"ntf","args":{}})",
                                  R"({"topic":"blt"})", R"({"topic":"act"})", R"({"topic":"error","error":"x"})",
                                  R"({"topic":"zzz"})", R"({"no":"topic"})", "not json", R"([1,2])",
                                  R"({"topic":"sts","args":{}})"})
        EXPECT_EQ(route_upstream_message(text).kind, route::everyone) << text;
}

TEST(ws_topics, the_session_handshake_is_recognised) {
    EXPECT_EQ(route_upstream_message(R"({"message":"waiting for session"})").kind, route::waiting_for_session);
    EXPECT_EQ(route_upstream_message(R"({"topic":"sts","args":{"authenticated":true}})").kind, route::authenticated);
    EXPECT_EQ(route_upstream_message(R"({"topic":"sts","args":{"authenticated":false}})").kind, route::refused);
    EXPECT_EQ(session_message("abc"), R"({"session":"abc"})");
}

}  // namespace
}  // namespace sessiond
