// The audit chain: a sealed chain verifies; an edited, deleted, reordered or relabelled entry is
// reported at the seq where the chain breaks; a cut-off tail only against an external anchor.

#include "sessiond/vault/audit_chain.hpp"

#include "vault_test_keys.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace sessiond {
namespace {

using vault_testing::expect_no_key_material;
using vault_testing::make_keys;

audit_entry unsealed(std::int64_t seq) {
    audit_entry e;
    e.seq = seq;
    e.at_ms = 1'780'000'000'000 + seq * 1000;
    e.actor = seq % 2 ? "admin" : "alice";
    e.source = seq % 2 ? "local" : "192.0.2.7";
    e.action = "credential.rotate";
    e.target = "user:alice";
    e.outcome = "ok";
    e.details = R"({"credential_id":"ibkr-key-1","n":)" + std::to_string(seq) + "}";
    return e;
}

// Entries 1..n sealed in turn, under the keyring's current version.
std::vector<audit_entry> chain_of(const master_keyring& keyring, std::int64_t n, std::vector<audit_entry> chain = {}) {
    for (std::int64_t i = 0; i < n; ++i) {
        const std::optional<audit_mac> previous = chain.empty() ? std::nullopt : std::optional(chain.back().mac);
        chain.push_back(seal_entry(keyring, previous, unsealed(static_cast<std::int64_t>(chain.size()) + 1)).value());
    }
    return chain;
}

void expect_fault(const chain_verdict& verdict, chain_fault fault, std::int64_t seq) {
    EXPECT_FALSE(verdict.intact());
    EXPECT_EQ(verdict.fault, fault) << verdict.message;
    EXPECT_EQ(verdict.bad_seq, seq) << verdict.message;
    EXPECT_NE(verdict.message.find("seq " + std::to_string(seq)), std::string::npos) << verdict.message;
}

TEST(audit_chain, canonical_form_is_the_length_prefixed_fields) {
    audit_entry e;
    e.seq = 2;
    e.at_ms = 0x0102030405;
    e.actor = "a";
    e.details = "{}";
    e.key_version = 3;
    using namespace std::string_literals;
    const std::string expected = "\0\0\0\x16"s + "ibkr-sessiond audit v1" + "\0\0\0\x08\0\0\0\0\0\0\0\x02"s +
                                 "\0\0\0\x08\0\0\0\x01\x02\x03\x04\x05"s + "\0\0\0\x01"s + "a" + std::string(16, '\0') +
                                 "\0\0\0\x02{}"s + "\0\0\0\x04\0\0\0\x03"s;
    EXPECT_EQ(canonical_audit_entry(e), expected);
}

TEST(audit_chain, a_chain_of_five_verifies) {
    const auto keys = make_keys({1});
    const auto chain = chain_of(keys.keyring(), 5);
    const auto verdict = verify_chain(keys.keyring(), chain);
    EXPECT_TRUE(verdict.intact()) << verdict.message;
    ASSERT_TRUE(verdict.last_good);
    EXPECT_EQ(verdict.last_good->seq, 5);
    EXPECT_EQ(verdict.last_good->mac, chain.back().mac);
    for (const audit_entry& e : chain) EXPECT_EQ(e.key_version, 1u);
}

TEST(audit_chain, an_empty_log_is_intact) {
    const auto keys = make_keys({1});
    EXPECT_TRUE(verify_chain(keys.keyring(), {}).intact());
}

TEST(audit_chain, an_edited_field_is_found_at_its_entry) {
    const auto keys = make_keys({1});
    const auto chain = chain_of(keys.keyring(), 5);
    const std::vector<std::function<void(audit_entry&)>> edits = {
        [](audit_entry& e) { e.at_ms += 1; },          [](audit_entry& e) { e.actor = "mallory"; },
        [](audit_entry& e) { e.source = "198.51.100.9"; }, [](audit_entry& e) { e.action = "credential.read"; },
        [](audit_entry& e) { e.target = "user:bob"; },  [](audit_entry& e) { e.outcome = "denied"; },
        [](audit_entry& e) { e.details = "{}"; },       [](audit_entry& e) { e.mac[31] ^= 1; },
    };
    for (std::size_t i = 0; i < edits.size(); ++i) {
        auto edited = chain;
        edits[i](edited[2]);
        SCOPED_TRACE("edit " + std::to_string(i));
        const auto verdict = verify_chain(keys.keyring(), edited);
        expect_fault(verdict, chain_fault::mac_mismatch, 3);
        ASSERT_TRUE(verdict.last_good);
        EXPECT_EQ(verdict.last_good->seq, 2);
    }
}

TEST(audit_chain, a_deleted_middle_entry_is_a_gap_at_the_next_seq) {
    const auto keys = make_keys({1});
    auto chain = chain_of(keys.keyring(), 5);
    chain.erase(chain.begin() + 2);
    expect_fault(verify_chain(keys.keyring(), chain), chain_fault::seq_gap, 4);
}

TEST(audit_chain, a_deleted_and_renumbered_entry_is_a_mac_mismatch) {
    const auto keys = make_keys({1});
    auto chain = chain_of(keys.keyring(), 5);
    chain.erase(chain.begin() + 2);
    for (std::size_t i = 2; i < chain.size(); ++i) chain[i].seq -= 1;
    expect_fault(verify_chain(keys.keyring(), chain), chain_fault::mac_mismatch, 3);
}

TEST(audit_chain, a_swapped_pair_is_found_where_the_order_breaks) {
    const auto keys = make_keys({1});
    const auto chain = chain_of(keys.keyring(), 5);
    auto swapped = chain;
    std::swap(swapped[1], swapped[2]);
    expect_fault(verify_chain(keys.keyring(), swapped), chain_fault::seq_gap, 3);

    // Swapped with their seqs kept in order: the MACs no longer chain.
    std::swap(swapped[1].seq, swapped[2].seq);
    expect_fault(verify_chain(keys.keyring(), swapped), chain_fault::mac_mismatch, 2);
}

TEST(audit_chain, a_changed_key_version_is_found_at_its_entry) {
    const auto keys = make_keys({1, 2});
    auto chain = chain_of(keys.keyring({1}), 5);
    chain[3].key_version = 2;
    expect_fault(verify_chain(keys.keyring(), chain), chain_fault::mac_mismatch, 4);

    const auto verdict = verify_chain(keys.keyring({1}), chain);
    expect_fault(verdict, chain_fault::unknown_key_version, 4);
    EXPECT_NE(verdict.message.find("master key version 2 is not loaded"), std::string::npos) << verdict.message;
}

TEST(audit_chain, a_deleted_first_entry_is_a_bad_start) {
    const auto keys = make_keys({1});
    auto chain = chain_of(keys.keyring(), 5);
    chain.erase(chain.begin());
    expect_fault(verify_chain(keys.keyring(), chain), chain_fault::bad_first_seq, 2);
}

TEST(audit_chain, a_cut_off_tail_is_found_only_against_an_external_anchor) {
    const auto keys = make_keys({1});
    auto chain = chain_of(keys.keyring(), 5);
    chain.pop_back();
    // The remaining entries are a valid chain of their own.
    EXPECT_TRUE(verify_chain(keys.keyring(), chain).intact());
    const auto verdict = verify_chain(keys.keyring(), chain, std::nullopt, 5);
    expect_fault(verdict, chain_fault::truncated, 5);
    // Entries appended after the anchor was taken are not a fault.
    EXPECT_TRUE(verify_chain(keys.keyring(), chain, std::nullopt, 3).intact());
}

TEST(audit_chain, verification_continues_from_an_anchor) {
    const auto keys = make_keys({1});
    const auto chain = chain_of(keys.keyring(), 5);
    const std::span<const audit_entry> tail(chain.begin() + 2, chain.end());
    const chain_anchor anchor{2, chain[1].mac};
    EXPECT_TRUE(verify_chain(keys.keyring(), tail, anchor).intact());

    // Without the anchor the tail does not start at 1; with a wrong anchor MAC entry 3 fails.
    expect_fault(verify_chain(keys.keyring(), tail), chain_fault::bad_first_seq, 3);
    chain_anchor wrong = anchor;
    wrong.mac[0] ^= 1;
    expect_fault(verify_chain(keys.keyring(), tail, wrong), chain_fault::mac_mismatch, 3);
    // Entries missing right after the anchor.
    expect_fault(verify_chain(keys.keyring(), tail.subspan(1), anchor), chain_fault::seq_gap, 4);
}

TEST(audit_chain, entries_sealed_under_v1_then_v2_verify_with_both_keys) {
    const auto keys = make_keys({1, 2});
    auto chain = chain_of(keys.keyring({1}), 3);
    chain = chain_of(keys.keyring(), 2, chain);
    ASSERT_EQ(chain.size(), 5u);
    EXPECT_EQ(chain[2].key_version, 1u);
    EXPECT_EQ(chain[3].key_version, 2u);
    EXPECT_TRUE(verify_chain(keys.keyring(), chain).intact());
    expect_fault(verify_chain(keys.keyring({2}), chain), chain_fault::unknown_key_version, 1);
    expect_fault(verify_chain(keys.keyring({1}), chain), chain_fault::unknown_key_version, 4);
}

TEST(audit_chain, a_chain_sealed_under_another_master_key_does_not_verify) {
    const auto keys = make_keys({1});
    const auto impostor = make_keys({1});
    const auto verdict = verify_chain(keys.keyring(), chain_of(impostor.keyring(), 2));
    expect_fault(verdict, chain_fault::mac_mismatch, 1);
    expect_no_key_material(verdict.message, keys);
    expect_no_key_material(verdict.message, impostor);
}

TEST(audit_chain, audit_keys_differ_per_master_key_and_are_not_the_master_key) {
    const auto keys = make_keys({1, 2});
    const auto k1 = derive_audit_key(*keys.keyring().key(1)).value();
    const auto k2 = derive_audit_key(*keys.keyring().key(2)).value();
    EXPECT_EQ(k1.size(), 32u);
    EXPECT_NE(k1, k2);
    EXPECT_NE(k1.reveal(), keys.raw.at(1));
    EXPECT_EQ(derive_audit_key(*keys.keyring().key(1)).value(), k1);
}

TEST(audit_chain, seal_entry_refuses_seq_0) {
    const auto keys = make_keys({1});
    EXPECT_FALSE(seal_entry(keys.keyring(), std::nullopt, unsealed(0)));
}

}  // namespace
}  // namespace sessiond
