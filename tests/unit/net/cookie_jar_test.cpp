#include "sessiond/net/cookie_jar.hpp"

#include "sessiond/log/redact.hpp"

#include <boost/beast/http/field.hpp>

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

namespace sessiond {
namespace {

namespace http = boost::beast::http;
using response = http::response<http::string_body>;

response with_cookies(std::initializer_list<std::string_view> lines) {
    response res;
    res.result(http::status::ok);
    res.set(http::field::content_type, "application/json");
    for (const auto line : lines) res.insert(http::field::set_cookie, line);
    return res;
}

std::string header_of(const cookie_jar& jar) { return std::string(jar.header().reveal()); }

TEST(cookie_jar, empty_jar_sends_no_cookie_header) {
    const cookie_jar jar;
    EXPECT_EQ(jar.size(), 0u);
    EXPECT_TRUE(jar.header().empty());
}

TEST(cookie_jar, stores_name_and_value_without_attributes) {
    cookie_jar jar;
    jar.store(with_cookies({"api=5f1c0e2b9a7d4c3e; Path=/; Domain=api.ibkr.com; Secure; HttpOnly; SameSite=None"}));
    EXPECT_EQ(jar.size(), 1u);
    EXPECT_EQ(header_of(jar), "api=5f1c0e2b9a7d4c3e");
}

TEST(cookie_jar, header_joins_cookies_in_the_order_they_arrived) {
    cookie_jar jar;
    jar.store(with_cookies({"api=aaaa1111", "x-sess-uuid=0.1234abcd; Path=/"}));
    jar.store(with_cookies({"third=3"}));
    EXPECT_EQ(header_of(jar), "api=aaaa1111; x-sess-uuid=0.1234abcd; third=3");
    EXPECT_EQ(jar.size(), 3u);
}

TEST(cookie_jar, response_without_set_cookie_changes_nothing) {
    cookie_jar jar;
    jar.store(with_cookies({"api=aaaa1111"}));
    jar.store(with_cookies({}));
    EXPECT_EQ(header_of(jar), "api=aaaa1111");
}

TEST(cookie_jar, same_name_replaces_the_value_in_place) {
    cookie_jar jar;
    jar.store(with_cookies({"api=old-value-1", "other=o"}));
    jar.store(with_cookies({"api=new-value-2; Path=/"}));
    EXPECT_EQ(jar.size(), 2u);
    EXPECT_EQ(header_of(jar), "api=new-value-2; other=o");
}

TEST(cookie_jar, names_are_case_sensitive) {
    cookie_jar jar;
    jar.store(with_cookies({"api=1", "API=2"}));
    EXPECT_EQ(header_of(jar), "api=1; API=2");
}

TEST(cookie_jar, empty_value_deletes_the_cookie) {
    cookie_jar jar;
    jar.store(with_cookies({"api=aaaa1111", "other=o"}));
    jar.store(with_cookies({"api=; Path=/"}));
    EXPECT_EQ(header_of(jar), "other=o");
    jar.store(with_cookies({"other=  "}));
    EXPECT_EQ(jar.size(), 0u);
    EXPECT_TRUE(jar.header().empty());
}

TEST(cookie_jar, max_age_zero_deletes_the_cookie) {
    for (const char* line : {"api=deleted; Max-Age=0; Path=/", "api=x; max-age=0", "api=x;MAX-AGE=0",
                             "api=x; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:10 GMT"}) {
        SCOPED_TRACE(line);
        cookie_jar jar;
        jar.store(with_cookies({"api=aaaa1111", "keep=k"}));
        jar.store(with_cookies({line}));
        EXPECT_EQ(header_of(jar), "keep=k");
    }
}

TEST(cookie_jar, positive_max_age_keeps_the_cookie) {
    cookie_jar jar;
    jar.store(with_cookies({"api=aaaa1111; Max-Age=3600", "b=2; Max-Age=60"}));
    EXPECT_EQ(header_of(jar), "api=aaaa1111; b=2");
}

TEST(cookie_jar, negative_max_age_deletes_and_a_number_merely_starting_with_zero_does_not) {
    cookie_jar jar;
    jar.store(with_cookies({"a=1", "b=2"}));
    jar.store(with_cookies({"a=1; Max-Age=-1", "b=3; Max-Age=0120"}));
    EXPECT_EQ(header_of(jar), "b=3");
}

TEST(cookie_jar, deleting_an_unknown_cookie_adds_nothing) {
    cookie_jar jar;
    jar.store(with_cookies({"ghost=; Path=/", "ghost2=x; Max-Age=0"}));
    EXPECT_EQ(jar.size(), 0u);
}

TEST(cookie_jar, trims_blanks_around_name_and_value) {
    cookie_jar jar;
    jar.store(with_cookies({" \tapi = aaaa1111 \t; Path=/"}));
    EXPECT_EQ(header_of(jar), "api=aaaa1111");
}

TEST(cookie_jar, value_may_contain_equals_signs) {
    cookie_jar jar;
    jar.store(with_cookies({"tok=a=b==; Path=/"}));
    EXPECT_EQ(header_of(jar), "tok=a=b==");
}

TEST(cookie_jar, ignores_lines_without_name_or_equals) {
    cookie_jar jar;
    jar.store(with_cookies({"novalue", "=orphan", " =orphan2", "; Path=/", ""}));
    EXPECT_EQ(jar.size(), 0u);
}

TEST(cookie_jar, ignores_an_oversized_cookie) {
    cookie_jar jar;
    const std::string at_limit = "big=" + std::string(cookie_jar::max_cookie_size - 4, 'v');
    const std::string over_limit = "huge=" + std::string(cookie_jar::max_cookie_size, 'v');
    jar.store(with_cookies({at_limit, over_limit}));
    EXPECT_EQ(jar.size(), 1u);
    EXPECT_EQ(header_of(jar), at_limit);
}

TEST(cookie_jar, oversized_replacement_leaves_the_old_value) {
    cookie_jar jar;
    jar.store(with_cookies({"api=aaaa1111"}));
    jar.store(with_cookies({"api=" + std::string(cookie_jar::max_cookie_size, 'v')}));
    EXPECT_EQ(header_of(jar), "api=aaaa1111");
}

TEST(cookie_jar, holds_at_most_max_cookies) {
    cookie_jar jar;
    for (std::size_t i = 0; i < cookie_jar::max_cookies + 10; ++i)
        jar.store(with_cookies({"c" + std::to_string(i) + "=v"}));
    EXPECT_EQ(jar.size(), cookie_jar::max_cookies);
    const std::string header = header_of(jar);
    EXPECT_EQ(header.find("c16="), std::string::npos);
    EXPECT_NE(header.find("c15=v"), std::string::npos);
}

TEST(cookie_jar, full_jar_still_replaces_and_deletes) {
    cookie_jar jar;
    for (std::size_t i = 0; i < cookie_jar::max_cookies; ++i) jar.store(with_cookies({"c" + std::to_string(i) + "=v"}));
    jar.store(with_cookies({"c0=new"}));
    EXPECT_EQ(jar.size(), cookie_jar::max_cookies);
    EXPECT_TRUE(header_of(jar).starts_with("c0=new; c1=v"));
    jar.store(with_cookies({"c1=; Max-Age=0"}));
    jar.store(with_cookies({"late=l"}));
    EXPECT_EQ(jar.size(), cookie_jar::max_cookies);
    EXPECT_TRUE(header_of(jar).ends_with("; late=l"));
}

TEST(cookie_jar, clear_drops_every_cookie) {
    cookie_jar jar;
    jar.store(with_cookies({"api=aaaa1111", "b=2"}));
    jar.clear();
    EXPECT_EQ(jar.size(), 0u);
    EXPECT_TRUE(jar.header().empty());
}

TEST(cookie_jar, cookie_values_are_redacted_from_logs_while_the_jar_holds_them) {
    cookie_jar jar;
    jar.store(with_cookies({"api=session-cookie-7f3a9c"}));
    EXPECT_EQ(redact("cookie is session-cookie-7f3a9c"), "cookie is [redacted]");
    jar.clear();
    EXPECT_EQ(redact("cookie is session-cookie-7f3a9c"), "cookie is session-cookie-7f3a9c");
}

TEST(cookie_jar, replaced_value_is_no_longer_redacted) {
    cookie_jar jar;
    jar.store(with_cookies({"api=first-cookie-value-1"}));
    jar.store(with_cookies({"api=second-cookie-value-2"}));
    EXPECT_EQ(redact("first-cookie-value-1"), "first-cookie-value-1");
    EXPECT_EQ(redact("second-cookie-value-2"), "[redacted]");
}

}  // namespace
}  // namespace sessiond
