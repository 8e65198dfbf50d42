#include "sessiond/core/ascii.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

TEST(ascii, compares_ignoring_ascii_case_only) {
    EXPECT_TRUE(equals_ignoring_case("Paper", "paper"));
    EXPECT_TRUE(equals_ignoring_case("", ""));
    EXPECT_FALSE(equals_ignoring_case("paper", "papers"));
    EXPECT_FALSE(equals_ignoring_case("live", "l1ve"));
    // Only A-Z fold: '@' and '`' sit next to them, and bytes above 0x7f are never folded.
    EXPECT_FALSE(equals_ignoring_case("@", "`"));
    EXPECT_FALSE(equals_ignoring_case("[", "{"));
    EXPECT_FALSE(equals_ignoring_case("\xc3\x89", "\xc3\xa9"));
}

TEST(ascii, finds_prefixes_suffixes_and_parts_ignoring_case) {
    EXPECT_TRUE(starts_with_ignoring_case("/V1/API/tickle", "/v1/api/"));
    EXPECT_FALSE(starts_with_ignoring_case("/v1", "/v1/api"));
    EXPECT_TRUE(ends_with_ignoring_case("application/problem+JSON", "+json"));
    EXPECT_FALSE(ends_with_ignoring_case("json", "+json"));
    EXPECT_TRUE(contains_ignoring_case("/iserver/account/U1/ORDER/5", "/order/"));
    EXPECT_TRUE(contains_ignoring_case("/order/", "/order/"));
    EXPECT_FALSE(contains_ignoring_case("/orders", "/order/"));
    EXPECT_TRUE(contains_ignoring_case("anything", ""));
}

TEST(ascii, media_type_drops_parameters_and_blanks) {
    EXPECT_EQ(media_type("application/json"), "application/json");
    EXPECT_EQ(media_type("Application/JSON ; charset=utf-8"), "Application/JSON");
    EXPECT_EQ(media_type(" application/json;charset=UTF-8"), "application/json");
    EXPECT_EQ(media_type("text/plain"), "text/plain");
    EXPECT_EQ(media_type(""), "");
    EXPECT_EQ(media_type("; charset=utf-8"), "");
}

static_assert(equals_ignoring_case("Bearer", "bearer"), "usable at compile time");

}  // namespace
}  // namespace sessiond
