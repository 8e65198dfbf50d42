// Fault specifications are parsed strictly, and queued faults meet requests in order.

#include "ibkr_sim/fault_injector.hpp"

#include <gtest/gtest.h>

namespace sessiond::sim {
namespace {

fault parsed(std::string_view json) {
    auto f = parse_fault(json);
    EXPECT_TRUE(f.has_value()) << json << ": " << (f ? "" : f.error().message);
    return f ? *f : fault{};
}

std::string error_of(std::string_view json) {
    auto f = parse_fault(json);
    EXPECT_FALSE(f.has_value()) << json;
    return f ? std::string() : f.error().message;
}

TEST(parse_fault, fills_defaults) {
    const fault f = parsed(R"({"path":"/v1/api/tickle","action":"status"})");
    EXPECT_EQ(f.path, "/v1/api/tickle");
    EXPECT_EQ(f.action, fault_action::status);
    EXPECT_EQ(f.count, 1);
    EXPECT_EQ(f.status, 503u);
    EXPECT_FALSE(f.retry_after);
    EXPECT_FALSE(f.body);
}

TEST(parse_fault, reads_every_field_of_each_action) {
    const fault s = parsed(R"({"path":"*","action":"status","count":-1,"status":429,"retry_after":5,"body":"{}"})");
    EXPECT_EQ(s.count, -1);
    EXPECT_EQ(s.status, 429u);
    EXPECT_EQ(s.retry_after, 5u);
    EXPECT_EQ(s.body, "{}");
    EXPECT_EQ(parsed(R"({"path":"/x","action":"delay","delay_ms":1500})").delay, std::chrono::milliseconds(1500));
    EXPECT_EQ(parsed(R"({"path":"/x","action":"body","body":"{\"error\":\"not processed\"}"})").body,
              R"({"error":"not processed"})");
    for (const auto* action : {"hang", "reset", "garbage", "truncate", "content_type"})
        EXPECT_EQ(to_string(parsed(std::string(R"({"path":"/x","action":")") + action + "\"}").action), action);
    EXPECT_EQ(parsed(R"({"path":"handshake","action":"reset","count":2})").count, 2);
}

TEST(parse_fault, names_the_problem) {
    EXPECT_NE(error_of("not json").find("not valid JSON"), std::string::npos);
    EXPECT_NE(error_of("[]").find("JSON object"), std::string::npos);
    EXPECT_NE(error_of(R"({"action":"hang"})").find("\"path\""), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"v1/api/tickle","action":"hang"})").find("\"path\""), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x"})").find("\"action\""), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","action":"explode"})").find("explode"), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","action":"hang","colour":"red"})").find("colour"), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","action":"hang","count":0})").find("\"count\""), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","action":"hang","count":1.5})").find("\"count\""), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","action":"status","status":99})").find("\"status\""), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","action":"status","retry_after":-1})").find("retry_after"), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","action":"body"})").find("\"body\""), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","action":"delay"})").find("delay_ms"), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","action":"delay","delay_ms":600001})").find("delay_ms"), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"/x","action":"hang","delay_ms":5})").find("does not apply"), std::string::npos);
    EXPECT_NE(error_of(R"({"path":"handshake","action":"status"})").find("handshake"), std::string::npos);
}

TEST(fault_injector, applies_faults_first_in_first_out_per_path) {
    fault_injector faults;
    faults.add(parsed(R"({"path":"/a","action":"status","status":500,"count":2})"));
    faults.add(parsed(R"({"path":"/a","action":"garbage"})"));
    faults.add(parsed(R"({"path":"/b","action":"hang"})"));
    EXPECT_EQ(faults.take("/a")->status, 500u);
    EXPECT_EQ(faults.take("/b")->action, fault_action::hang);
    EXPECT_EQ(faults.take("/a")->status, 500u);
    EXPECT_EQ(faults.take("/a")->action, fault_action::garbage);
    EXPECT_FALSE(faults.take("/a"));
    EXPECT_FALSE(faults.take("/b"));
    EXPECT_EQ(faults.pending(), 0u);
}

TEST(fault_injector, wildcard_matches_every_request_but_not_the_handshake) {
    fault_injector faults;
    faults.add(parsed(R"({"path":"*","action":"reset","count":2})"));
    EXPECT_FALSE(faults.take_handshake());
    EXPECT_TRUE(faults.take("/v1/api/tickle"));
    EXPECT_TRUE(faults.take("/oauth2/api/v1/token"));
    EXPECT_FALSE(faults.take("/v1/api/tickle"));
}

TEST(fault_injector, count_minus_one_lasts_until_cleared) {
    fault_injector faults;
    faults.add(parsed(R"({"path":"/a","action":"garbage","count":-1})"));
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(faults.take("/a"));
    faults.clear();
    EXPECT_FALSE(faults.take("/a"));
}

TEST(fault_injector, handshake_faults_apply_only_to_connections) {
    fault_injector faults;
    faults.add(parsed(R"({"path":"handshake","action":"hang"})"));
    EXPECT_FALSE(faults.take("handshake"));
    EXPECT_FALSE(faults.take("/x"));
    EXPECT_EQ(faults.take_handshake()->action, fault_action::hang);
    EXPECT_FALSE(faults.take_handshake());
}

TEST(fault_injector, bounds_the_queue) {
    fault_injector faults;
    for (std::size_t i = 0; i < fault_injector::max_pending; ++i) ASSERT_TRUE(faults.add(parsed(R"({"path":"/a","action":"hang"})")));
    EXPECT_FALSE(faults.add(parsed(R"({"path":"/a","action":"hang"})")));
}

}  // namespace
}  // namespace sessiond::sim
