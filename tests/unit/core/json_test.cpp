#include "sessiond/core/json.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace sessiond {
namespace {

boost::json::object object_of(std::string_view text) { return boost::json::parse(text).as_object(); }

TEST(core_json, parses_one_object) {
    const auto o = parse_json_object(R"({"RESULT":true,"EXPIRES":415890,"nested":{"a":[1,2]}})");
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->size(), 3u);
}

TEST(core_json, empty_body_is_reported_as_empty) {
    const auto o = parse_json_object("");
    ASSERT_FALSE(o);
    EXPECT_EQ(o.error().message, "empty body where JSON was expected");
}

TEST(core_json, invalid_json_is_reported_without_quoting_the_body) {
    for (const char* body : {"not json secret-word-in-body", "{\"a\":", "{'a':1}", "{\"a\":1}}", "\xff\xfe{}", "   "}) {
        SCOPED_TRACE(body);
        const auto o = parse_json_object(body);
        ASSERT_FALSE(o);
        EXPECT_TRUE(o.error().message.starts_with("body is not valid JSON (")) << o.error().message;
        EXPECT_EQ(o.error().message.find("secret-word"), std::string::npos);
    }
}

TEST(core_json, json_that_is_not_an_object_is_refused) {
    for (const char* body : {"[]", "[{\"RESULT\":true}]", "null", "true", "42", "\"text\""}) {
        SCOPED_TRACE(body);
        const auto o = parse_json_object(body);
        ASSERT_FALSE(o);
        EXPECT_EQ(o.error().message, "body is JSON but not an object");
    }
}

TEST(core_json, moderately_nested_json_is_accepted) {
    std::string body;
    for (int i = 0; i < 16; ++i) body += R"({"a":)";
    body += "1" + std::string(16, '}');
    EXPECT_TRUE(parse_json_object(body));
}

TEST(core_json, deeply_nested_json_is_refused_without_exhausting_the_stack) {
    const std::string arrays = "{\"a\":" + std::string(1000000, '[') + std::string(1000000, ']') + "}";
    EXPECT_FALSE(parse_json_object(arrays));
    std::string objects;
    for (int i = 0; i < 100000; ++i) objects += R"({"a":)";
    objects += "1" + std::string(100000, '}');
    EXPECT_FALSE(parse_json_object(objects));
}

TEST(core_json, bool_reads_only_booleans) {
    const auto o = object_of(R"({"t":true,"f":false,"s":"true","n":1,"z":null})");
    EXPECT_EQ(json_bool(o, "t"), true);
    EXPECT_EQ(json_bool(o, "f"), false);
    EXPECT_FALSE(json_bool(o, "s"));
    EXPECT_FALSE(json_bool(o, "n"));
    EXPECT_FALSE(json_bool(o, "z"));
    EXPECT_FALSE(json_bool(o, "missing"));
}

TEST(core_json, int_reads_integers_of_either_sign) {
    const auto o = object_of(R"({"p":460311,"n":-5,"zero":0,"max":9223372036854775807,"min":-9223372036854775808})");
    EXPECT_EQ(json_int(o, "p"), 460311);
    EXPECT_EQ(json_int(o, "n"), -5);
    EXPECT_EQ(json_int(o, "zero"), 0);
    EXPECT_EQ(json_int(o, "max"), std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(json_int(o, "min"), std::numeric_limits<std::int64_t>::min());
}

TEST(core_json, int_reads_unsigned_values_that_fit) {
    boost::json::object o;
    o["fits"] = std::uint64_t{9223372036854775807ULL};
    o["too_big"] = std::uint64_t{9223372036854775808ULL};
    EXPECT_EQ(json_int(o, "fits"), std::numeric_limits<std::int64_t>::max());
    EXPECT_FALSE(json_int(o, "too_big"));
    EXPECT_FALSE(json_int(object_of(R"({"u":18446744073709551615})"), "u"));
}

TEST(core_json, int_reads_integral_doubles) {
    const auto o = object_of(R"({"e":4.6E5,"d":460311.0,"neg":-2e3,"edge":9e15})");
    EXPECT_EQ(json_int(o, "e"), 460000);
    EXPECT_EQ(json_int(o, "d"), 460311);
    EXPECT_EQ(json_int(o, "neg"), -2000);
    EXPECT_EQ(json_int(o, "edge"), 9000000000000000);
}

TEST(core_json, int_refuses_fractions_huge_doubles_and_non_numbers) {
    const auto o = object_of(
        R"({"frac":1.5,"huge":1e300,"beyond":1e16,"overflow":1e400,"big":99999999999999999999999,"s":"5","b":true,"z":null,"a":[1]})");
    for (const char* key : {"frac", "huge", "beyond", "overflow", "big", "s", "b", "z", "a", "missing"}) {
        SCOPED_TRACE(key);
        EXPECT_FALSE(json_int(o, key));
    }
}

TEST(core_json, int_refuses_non_finite_doubles) {
    boost::json::object o;
    o["inf"] = std::numeric_limits<double>::infinity();
    o["ninf"] = -std::numeric_limits<double>::infinity();
    o["nan"] = std::numeric_limits<double>::quiet_NaN();
    EXPECT_FALSE(json_int(o, "inf"));
    EXPECT_FALSE(json_int(o, "ninf"));
    EXPECT_FALSE(json_int(o, "nan"));
}

TEST(core_json, string_reads_only_strings) {
    const auto o = object_of(R"({"s":"U1234567","e":"","n":5,"z":null,"o":{"s":"x"}})");
    EXPECT_EQ(json_string(o, "s"), "U1234567");
    EXPECT_EQ(json_string(o, "e"), "");
    EXPECT_FALSE(json_string(o, "n"));
    EXPECT_FALSE(json_string(o, "z"));
    EXPECT_FALSE(json_string(o, "o"));
    EXPECT_FALSE(json_string(o, "missing"));
}

TEST(core_json, string_keeps_embedded_nul_bytes) {
    const auto o = object_of(R"({"s":"a\u0000b"})");
    EXPECT_EQ(json_string(o, "s"), std::string_view("a\0b", 3));
}

TEST(core_json, keys_are_case_sensitive) {
    const auto o = object_of(R"({"RESULT":true})");
    EXPECT_FALSE(json_bool(o, "result"));
}

TEST(core_json, object_and_array_read_only_their_type) {
    const auto o = object_of(R"({"o":{"authStatus":{}},"a":["U1"],"s":"x","n":null})");
    ASSERT_NE(json_object(o, "o"), nullptr);
    EXPECT_NE(json_object(*json_object(o, "o"), "authStatus"), nullptr);
    EXPECT_EQ(json_object(o, "a"), nullptr);
    EXPECT_EQ(json_object(o, "s"), nullptr);
    EXPECT_EQ(json_object(o, "n"), nullptr);
    EXPECT_EQ(json_object(o, "missing"), nullptr);
    ASSERT_NE(json_array(o, "a"), nullptr);
    EXPECT_EQ(json_array(o, "a")->size(), 1u);
    EXPECT_EQ(json_array(o, "o"), nullptr);
    EXPECT_EQ(json_array(o, "missing"), nullptr);
}

}  // namespace
}  // namespace sessiond
