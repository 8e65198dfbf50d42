#include "sessiond/core/values.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sessiond {
namespace {

TEST(config_values, parses_whole_and_fractional_seconds) {
    EXPECT_EQ(parse_seconds("60").value().count(), 60.0);
    EXPECT_EQ(parse_seconds("0").value().count(), 0.0);
    EXPECT_EQ(parse_seconds("0.5").value().count(), 0.5);
    EXPECT_EQ(parse_seconds("1.25").value().count(), 1.25);
    EXPECT_EQ(parse_seconds("007").value().count(), 7.0);
    EXPECT_EQ(parse_seconds("86400").value().count(), 86400.0);
}

TEST(config_values, rejects_anything_but_plain_decimal_seconds) {
    for (const char* text : {"", "abc", "-1", "+1", "1e3", "1E3", "inf", "INF", "nan", "infinity", "60s", " 60",
                             "60 ", "6 0", "0x10", ".5", "5.", "1.2.3", "1,5", "--1", "1-"}) {
        SCOPED_TRACE(text);
        const auto parsed = parse_seconds(text);
        ASSERT_FALSE(parsed);
        EXPECT_EQ(parsed.error().message, "is not a number of seconds (e.g. 60 or 0.5)");
    }
}

TEST(config_values, parses_booleans_in_every_spelling_and_case) {
    for (const char* text : {"true", "TRUE", "True", "yes", "YES", "on", "On", "1"}) {
        SCOPED_TRACE(text);
        EXPECT_EQ(parse_bool(text).value(), true);
    }
    for (const char* text : {"false", "FALSE", "False", "no", "No", "off", "OFF", "0"}) {
        SCOPED_TRACE(text);
        EXPECT_EQ(parse_bool(text).value(), false);
    }
}

TEST(config_values, rejects_other_boolean_spellings) {
    for (const char* text : {"", "t", "f", "y", "n", "2", "enabled", " true", "true ", "truee", "-1"}) {
        SCOPED_TRACE(text);
        const auto parsed = parse_bool(text);
        ASSERT_FALSE(parsed);
        EXPECT_EQ(parsed.error().message, "is not a boolean (true or false)");
    }
}

TEST(config_values, accepts_ipv4_and_ipv6_literals) {
    for (const char* text : {"203.0.113.7", "0.0.0.0", "255.255.255.255", "2001:db8::7", "::1", "::",
                             "::ffff:203.0.113.7", "2001:0db8:0000:0000:0000:0000:0000:0007"}) {
        SCOPED_TRACE(text);
        EXPECT_TRUE(check_ip_literal(text));
    }
}

TEST(config_values, rejects_what_is_not_a_bare_ip_literal) {
    for (const char* text : {"", "localhost", "api.ibkr.com", "1.2.3", "1.2.3.256", "1.2.3.4.5", "203.0.113.7:80",
                             " 203.0.113.7", "203.0.113.7 ", "[::1]", "2001:db8::7/64", "fe80::1%eth0",
                             "2001:db8:::7", "203.0.113.7\n"}) {
        SCOPED_TRACE(text);
        const auto checked = check_ip_literal(text);
        ASSERT_FALSE(checked);
        EXPECT_EQ(checked.error().message, "is not an IP address");
    }
    EXPECT_FALSE(check_ip_literal(std::string(200, '1')));
}

struct url_case {
    const char* text;
    const char* normalised;
    const char* host;
    std::uint16_t port;
};

TEST(config_values, parses_https_base_urls_into_host_and_port) {
    for (const url_case& c : {
             url_case{"https://api.ibkr.com", "https://api.ibkr.com", "api.ibkr.com", 443},
             url_case{"https://api.ibkr.com/", "https://api.ibkr.com", "api.ibkr.com", 443},
             url_case{"https://api.ibkr.com:443", "https://api.ibkr.com:443", "api.ibkr.com", 443},
             url_case{"https://localhost:8443/", "https://localhost:8443", "localhost", 8443},
             url_case{"https://127.0.0.1:5000", "https://127.0.0.1:5000", "127.0.0.1", 5000},
             url_case{"https://[::1]", "https://[::1]", "::1", 443},
             url_case{"https://[::1]:9443/", "https://[::1]:9443", "::1", 9443},
             url_case{"https://[2001:db8::7]:1", "https://[2001:db8::7]:1", "2001:db8::7", 1},
             url_case{"https://h:65535", "https://h:65535", "h", 65535},
             url_case{"HTTPS://api.ibkr.com", "HTTPS://api.ibkr.com", "api.ibkr.com", 443},
         }) {
        SCOPED_TRACE(c.text);
        const auto url = parse_base_url(c.text);
        ASSERT_TRUE(url) << url.error().message;
        EXPECT_EQ(url->text, c.normalised);
        EXPECT_EQ(url->host, c.host);
        EXPECT_EQ(url->port, c.port);
    }
}

TEST(config_values, rejects_base_urls_with_their_reason) {
    const std::string not_https = "must start with https:// (plain http would send credentials in clear)";
    const std::string not_host_only =
        "must be the host only, e.g. https://api.ibkr.com; the daemon adds /oauth2, /gw and /v1/api itself";
    const std::string bad_port = "port must be between 1 and 65535";
    for (const auto& [text, message] : std::initializer_list<std::pair<const char*, std::string>>{
             {"http://api.ibkr.com", not_https},
             {"api.ibkr.com", not_https},
             {"", not_https},
             {"ftp://api.ibkr.com", not_https},
             {"https:api.ibkr.com", not_https},
             {"https://api.ibkr.com/v1/api", not_host_only},
             {"https://api.ibkr.com/gw", not_host_only},
             {"https://api.ibkr.com//", not_host_only},
             {"https://user:pass@api.ibkr.com", "must not contain a user name or password"},
             {"https://api.ibkr.com/?a=1", "must not contain a query (?...) or fragment (#...)"},
             {"https://api.ibkr.com#top", "must not contain a query (?...) or fragment (#...)"},
             {"https://api.ibkr.com:0", bad_port},
             {"https://api.ibkr.com:65536", bad_port},
             {"https://api.ibkr.com:99999999999", bad_port},
             {"https://api.ibkr.com:", bad_port},
             {"https://", "has no host name (e.g. https://api.ibkr.com)"},
             {"https://:443", "has no host name (e.g. https://api.ibkr.com)"},
             {"https://[v1.x]", "has no host name (e.g. https://api.ibkr.com)"},
             {"https://a,b", "has an invalid host name (e.g. https://api.ibkr.com)"},
             {"https://api ibkr.com", "is not a valid URL (e.g. https://api.ibkr.com)"},
             {"https://[::1", "is not a valid URL (e.g. https://api.ibkr.com)"},
         }) {
        SCOPED_TRACE(text);
        const auto url = parse_base_url(text);
        ASSERT_FALSE(url);
        EXPECT_EQ(url.error().message, message);
    }
}

TEST(config_values, formats_seconds_without_needless_decimals) {
    EXPECT_EQ(format_seconds(2), "2");
    EXPECT_EQ(format_seconds(0), "0");
    EXPECT_EQ(format_seconds(0.5), "0.5");
    EXPECT_EQ(format_seconds(1.25), "1.25");
    EXPECT_EQ(format_seconds(0.1), "0.1");
    EXPECT_EQ(format_seconds(86400), "86400");
    EXPECT_EQ(format_seconds(1e20), "100000000000000000000");
}

}  // namespace
}  // namespace sessiond
