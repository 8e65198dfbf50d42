// The routing table: exact paths, exact methods, and what a miss owes the client.

#include "sessiond/server/route_table.hpp"

#include <gtest/gtest.h>

namespace sessiond::testing {
namespace {

namespace http = boost::beast::http;

const route_table<int> table{
    {http::verb::get, "/status", 1},
    {http::verb::post, "/tickle", 2},
    {http::verb::get, "/tickle", 3},
    {http::verb::post, "/test", 4},
};

TEST(route_table, finds_the_target_of_a_path_and_method) {
    const auto m = table.find(http::verb::get, "/status");
    ASSERT_NE(m.target, nullptr);
    EXPECT_EQ(*m.target, 1);
    EXPECT_TRUE(m.known_path);
}

TEST(route_table, one_path_may_have_a_target_per_method) {
    EXPECT_EQ(*table.find(http::verb::post, "/tickle").target, 2);
    EXPECT_EQ(*table.find(http::verb::get, "/tickle").target, 3);
}

TEST(route_table, an_unknown_path_is_a_404) {
    const auto m = table.find(http::verb::get, "/nothing");
    EXPECT_EQ(m.target, nullptr);
    EXPECT_FALSE(m.known_path);
    EXPECT_TRUE(m.allow.empty());
}

TEST(route_table, a_known_path_under_another_method_is_a_405_allowing_its_methods_in_table_order) {
    const auto m = table.find(http::verb::delete_, "/tickle");
    EXPECT_EQ(m.target, nullptr);
    EXPECT_TRUE(m.known_path);
    EXPECT_EQ(m.allow, "POST, GET");
    EXPECT_EQ(table.find(http::verb::get, "/test").allow, "POST");
}

TEST(route_table, head_is_not_get_and_paths_match_exactly) {
    EXPECT_EQ(table.find(http::verb::head, "/status").target, nullptr);
    EXPECT_FALSE(table.find(http::verb::get, "/status/").known_path);
    EXPECT_FALSE(table.find(http::verb::get, "/STATUS").known_path);
}

}  // namespace
}  // namespace sessiond::testing
