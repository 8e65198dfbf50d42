#include "sessiond/core/secret.hpp"

#include "sessiond/core/secret_registry.hpp"
#include "sessiond/log/redact.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sessiond {
namespace {

// How many live secrets hold exactly this value.
int live_count(std::string_view value) {
    int n = 0;
    find_live_secrets(value, [&](std::size_t start, std::size_t end) {
        if (start == 0 && end == value.size()) ++n;
    });
    return n;
}

bool is_redacted(std::string_view value) { return redact(value) != value; }

TEST(core_secret, holds_and_reveals_its_value) {
    const secret s(std::string("oauth-token-abc123"));
    EXPECT_EQ(s.reveal(), "oauth-token-abc123");
    EXPECT_EQ(s.size(), 18u);
    EXPECT_FALSE(s.empty());
    const secret from_view(std::string_view("view-built-secret"));
    EXPECT_EQ(from_view.reveal(), "view-built-secret");
}

TEST(core_secret, among_many_live_secrets_each_is_found_where_it_occurs_and_only_there) {
    // What 10,000 users' sessions hold at once; secrets sharing their first bytes land in one bucket.
    std::vector<secret> many;
    many.reserve(20'000);
    for (int i = 0; i < 10'000; ++i) many.emplace_back("bearer-" + std::to_string(1'000'000 + i) + "-x");
    for (int i = 0; i < 10'000; ++i) many.emplace_back("cookie" + std::to_string(i));
    EXPECT_EQ(live_count("bearer-1004242-x"), 1);
    // cookie10001 is no live secret, but cookie1, cookie10, cookie100 and cookie1000 are: the longest
    // occurrence goes whole, the 1 after it stays.
    EXPECT_EQ(redact("sent bearer-1004242-x; cookie77 cookie10001 bearer-2"),
              "sent [redacted]; [redacted] [redacted]1 bearer-2");
}

TEST(core_secret, default_secret_is_empty) {
    const secret s;
    EXPECT_TRUE(s.empty());
    EXPECT_EQ(s.size(), 0u);
    EXPECT_EQ(s.reveal(), "");
}

TEST(core_secret, live_secret_is_redacted_and_no_longer_once_destroyed) {
    const std::string value = "live-secret-destroyed-01";
    {
        const secret s(value);
        EXPECT_EQ(live_count(value), 1);
        EXPECT_EQ(redact("token " + value + " sent"), "token [redacted] sent");
    }
    EXPECT_EQ(live_count(value), 0);
    EXPECT_EQ(redact("token " + value + " sent"), "token " + value + " sent");
}

TEST(core_secret, cleared_secret_is_empty_and_no_longer_redacted) {
    const std::string value = "live-secret-cleared-02";
    secret s(value);
    s.clear();
    EXPECT_TRUE(s.empty());
    EXPECT_EQ(live_count(value), 0);
    EXPECT_FALSE(is_redacted(value));
}

TEST(core_secret, moved_from_secret_is_empty_and_only_the_new_one_is_live) {
    const std::string value = "live-secret-moved-03";
    secret from(value);
    secret to(std::move(from));
    EXPECT_TRUE(from.empty());  // NOLINT(bugprone-use-after-move): moving must empty the source
    EXPECT_EQ(to.reveal(), value);
    EXPECT_EQ(live_count(value), 1);
    EXPECT_TRUE(is_redacted(value));
    from.clear();  // the moved-from object's end changes nothing for the new one
    EXPECT_TRUE(is_redacted(value));
    to.clear();
    EXPECT_FALSE(is_redacted(value));
}

TEST(core_secret, move_assignment_withdraws_the_overwritten_value) {
    const std::string old_value = "live-secret-overwritten-04";
    const std::string new_value = "live-secret-moved-in-05";
    secret target(old_value);
    secret source(new_value);
    target = std::move(source);
    EXPECT_EQ(target.reveal(), new_value);
    EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(live_count(old_value), 0);
    EXPECT_EQ(live_count(new_value), 1);
    EXPECT_FALSE(is_redacted(old_value));
    EXPECT_TRUE(is_redacted(new_value));
}

TEST(core_secret, copy_is_a_second_live_secret) {
    const std::string value = "live-secret-copied-06";
    auto original = std::make_unique<secret>(value);
    const secret copy(*original);
    EXPECT_EQ(copy.reveal(), value);
    EXPECT_EQ(live_count(value), 2);
    original.reset();
    EXPECT_EQ(live_count(value), 1);
    EXPECT_TRUE(is_redacted(value));
}

TEST(core_secret, copy_assignment_withdraws_the_overwritten_value) {
    const std::string old_value = "live-secret-overwritten-07";
    const std::string new_value = "live-secret-copied-in-08";
    secret target(old_value);
    const secret source(new_value);
    target = source;
    EXPECT_EQ(target.reveal(), new_value);
    EXPECT_EQ(source.reveal(), new_value);
    EXPECT_EQ(live_count(old_value), 0);
    EXPECT_EQ(live_count(new_value), 2);
}

TEST(core_secret, self_assignment_keeps_the_value_live) {
    const std::string value = "live-secret-self-09";
    secret s(value);
    secret& alias = s;
    s = alias;
    EXPECT_EQ(s.reveal(), value);
    EXPECT_EQ(live_count(value), 1);
}

TEST(core_secret, assigning_into_a_cleared_secret_makes_it_live_again) {
    const std::string value = "live-secret-reused-10";
    secret s(std::string("first-value-of-reused"));
    s.clear();
    s = secret(value);
    EXPECT_EQ(live_count(value), 1);
    EXPECT_EQ(live_count("first-value-of-reused"), 0);
}

TEST(core_secret, secrets_in_containers_stay_tracked) {
    const std::string value = "live-secret-in-optional-11";
    std::optional<secret> slot;
    slot.emplace(value);
    std::optional<secret> other = std::move(slot);
    slot.reset();
    EXPECT_EQ(live_count(value), 1);
    other.reset();
    EXPECT_EQ(live_count(value), 0);
}

TEST(core_secret, very_short_secrets_are_not_redacted) {
    // Redacting every "abc" in every log line would mangle ordinary words.
    const secret s(std::string("abc12"));
    EXPECT_EQ(live_count("abc12"), 0);
    EXPECT_EQ(redact("abc12"), "abc12");
    const secret six(std::string("abc123"));
    EXPECT_EQ(redact("abc123"), "[redacted]");
}

TEST(core_secret, equality_compares_values) {
    EXPECT_TRUE(secret(std::string("same-value")) == secret(std::string("same-value")));
    EXPECT_FALSE(secret(std::string("same-value")) == secret(std::string("same-valuE")));
    EXPECT_FALSE(secret(std::string("short")) == secret(std::string("shorter")));
    EXPECT_TRUE(secret() == secret(std::string()));
    EXPECT_FALSE(secret() == secret(std::string("x")));
}

TEST(core_secret, wipe_empties_the_string) {
    std::string s = "a private key that must not linger in memory";
    wipe(s);
    EXPECT_TRUE(s.empty());
    std::string small = "abc";
    wipe(small);
    EXPECT_TRUE(small.empty());
    std::string empty;
    wipe(empty);
    EXPECT_TRUE(empty.empty());
}

TEST(core_secret, wipe_keeps_the_buffer_so_no_copy_is_left_behind) {
    std::string s(1000, 'k');
    const auto capacity = s.capacity();
    const char* buffer = s.data();
    wipe(s);
    EXPECT_EQ(s.capacity(), capacity);
    EXPECT_EQ(s.data(), buffer);
}

}  // namespace
}  // namespace sessiond
