// The credential record: its bytes as the README describes them, both layers bound to the user,
// credential and column, every damage refused, and a rewrap that leaves the data part untouched.

#include "sessiond/vault/credential_record.hpp"

#include "sessiond/vault/aead.hpp"
#include "sessiond/vault/canonical_encoding.hpp"
#include "vault_test_keys.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sessiond {
namespace {

using vault_testing::expect_no_key_material;
using vault_testing::make_keys;

const record_binding alice{"alice", "ibkr-key-1", "private_key"};
constexpr std::string_view plaintext = "pretend this is a PKCS#8 private key of some length";

std::string sealed(const master_keyring& keyring, const record_binding& binding = alice) {
    return seal_record(keyring, binding, plaintext).value();
}

TEST(credential_record, round_trips) {
    const auto keys = make_keys({1});
    const auto opened = open_record(keys.keyring(), alice, sealed(keys.keyring()));
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(opened->reveal(), plaintext);
}

TEST(credential_record, is_format_version_wrapped_key_then_data) {
    const auto keys = make_keys({1, 3});
    const std::string record = sealed(keys.keyring());
    ASSERT_EQ(record.size(), record_header_size + 12 + plaintext.size() + 16);
    EXPECT_EQ(record[0], '\x01');
    EXPECT_EQ(record.substr(1, 4), std::string("\0\0\0\x03", 4));  // the current version: the highest
    EXPECT_EQ(record_key_version(record).value(), 3u);

    const auto parts = parse_record(record).value();
    EXPECT_EQ(parts.key_version, 3u);
    EXPECT_EQ(parts.wrapped_data_key, std::string_view(record).substr(5, 60));
    EXPECT_EQ(parts.data, std::string_view(record).substr(65));
    // The layers open by hand, as the README describes them.
    const auto data_key = aead_open(keys.raw.at(3), parts.wrapped_data_key, record_wrap_associated_data(alice, 3));
    ASSERT_TRUE(data_key);
    EXPECT_EQ(data_key->size(), 32u);
    const auto data = aead_open(data_key->reveal(), parts.data, record_data_associated_data(alice));
    ASSERT_TRUE(data);
    EXPECT_EQ(data->reveal(), plaintext);
}

TEST(credential_record, associated_data_is_the_canonical_encoding_of_its_fields) {
    const record_binding b{"u", "c1", ""};
    using namespace std::string_literals;
    const std::string data_ad = "\0\0\0\x1d"s + "ibkr-sessiond credential data" + "\0\0\0\x04\0\0\0\x01"s +
                                "\0\0\0\x01u"s + "\0\0\0\x02" "c1"s + "\0\0\0\0"s;
    EXPECT_EQ(record_data_associated_data(b), data_ad);
    const std::string wrap_ad = "\0\0\0\x1c"s + "ibkr-sessiond credential key" + "\0\0\0\x04\0\0\0\x01"s +
                                "\0\0\0\x04\0\0\0\x07"s + "\0\0\0\x01u"s + "\0\0\0\x02" "c1"s + "\0\0\0\0"s;
    EXPECT_EQ(record_wrap_associated_data(b, 7), wrap_ad);
}

TEST(credential_record, each_changed_binding_field_is_tampered) {
    const auto keys = make_keys({1});
    const std::string record = sealed(keys.keyring());
    for (const record_binding& other : {record_binding{"alicf", alice.credential_id, alice.column},
                                        record_binding{alice.user_id, "ibkr-key-2", alice.column},
                                        record_binding{alice.user_id, alice.credential_id, "access_token"},
                                        // the same characters, split differently between the fields
                                        record_binding{"aliceibkr", "-key-1", alice.column},
                                        record_binding{"", "", ""}}) {
        const auto opened = open_record(keys.keyring(), other, record);
        ASSERT_FALSE(opened) << other.user_id << "/" << other.credential_id << "/" << other.column;
        EXPECT_EQ(opened.error().kind, record_failure::tampered);
        EXPECT_NE(opened.error().message.find("another user, credential or column"), std::string::npos);
    }
}

TEST(credential_record, a_record_copied_to_another_user_is_tampered) {
    const auto keys = make_keys({1});
    const record_binding bob{"bob", alice.credential_id, alice.column};
    const auto opened = open_record(keys.keyring(), bob, sealed(keys.keyring(), alice));
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().kind, record_failure::tampered);
}

TEST(credential_record, the_data_part_of_another_record_under_a_genuine_wrap_is_tampered) {
    const auto keys = make_keys({1});
    const std::string mine = sealed(keys.keyring());
    const std::string other = sealed(keys.keyring());
    const std::string spliced = mine.substr(0, record_header_size) + other.substr(record_header_size);
    const auto opened = open_record(keys.keyring(), alice, spliced);
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().kind, record_failure::tampered);
}

// Bytes 1..4 name the key version: changed, they name one that is not loaded (or version 0).
TEST(credential_record, a_flipped_byte_at_any_offset_never_opens) {
    const auto keys = make_keys({1});
    const std::string record = sealed(keys.keyring());
    for (std::size_t i = 0; i < record.size(); ++i) {
        for (const unsigned char mask : {0x01, 0x80}) {
            std::string damaged = record;
            damaged[i] = static_cast<char>(damaged[i] ^ mask);
            const auto opened = open_record(keys.keyring(), alice, damaged);
            ASSERT_FALSE(opened) << "offset " << i;
            const record_failure kind = opened.error().kind;
            if (i == 0) EXPECT_EQ(kind, record_failure::malformed) << i;
            else if (i < 5) EXPECT_TRUE(kind == record_failure::unknown_key_version || kind == record_failure::malformed) << i;
            else EXPECT_EQ(kind, record_failure::tampered) << i;
            expect_no_key_material(opened.error().message, keys);
        }
    }
}

TEST(credential_record, short_records_and_other_formats_are_malformed) {
    const auto keys = make_keys({1});
    const std::string record = sealed(keys.keyring());
    for (std::size_t size = 0; size < record_min_size; ++size) {
        const auto opened = open_record(keys.keyring(), alice, record.substr(0, size));
        ASSERT_FALSE(opened) << size;
        EXPECT_EQ(opened.error().kind, record_failure::malformed) << size;
    }
    // One byte of ciphertext gone: still long enough to parse, so the tag tells.
    const auto cut = open_record(keys.keyring(), alice, record.substr(0, record.size() - 1));
    ASSERT_FALSE(cut);
    EXPECT_EQ(cut.error().kind, record_failure::tampered);

    std::string future = record;
    future[0] = '\x02';
    EXPECT_EQ(parse_record(future).error().message, "the credential record has format 2, this daemon reads format 1");
    std::string version_zero = record;
    version_zero.replace(1, 4, std::string(4, '\0'));
    EXPECT_EQ(open_record(keys.keyring(), alice, version_zero).error().kind, record_failure::malformed);
}

TEST(credential_record, an_empty_plaintext_makes_the_shortest_record) {
    const auto keys = make_keys({1});
    const std::string record = seal_record(keys.keyring(), alice, "").value();
    EXPECT_EQ(record.size(), record_min_size);
    EXPECT_TRUE(open_record(keys.keyring(), alice, record).value().empty());
}

TEST(credential_record, a_record_under_a_version_not_loaded_names_the_version) {
    const auto keys = make_keys({1, 2});
    const std::string record = sealed(keys.keyring({1}));
    const auto opened = open_record(keys.keyring({2}), alice, record);
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().kind, record_failure::unknown_key_version);
    EXPECT_EQ(opened.error().message, "master key version 1 is not loaded");
}

TEST(credential_record, a_wrong_master_key_of_the_right_version_is_tampered) {
    const auto keys = make_keys({1});
    const auto impostor = make_keys({1});
    const auto opened = open_record(impostor.keyring(), alice, sealed(keys.keyring()));
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().kind, record_failure::tampered);
    expect_no_key_material(opened.error().message, keys);
    expect_no_key_material(opened.error().message, impostor);
}

TEST(credential_record, a_rewrap_to_v2_changes_only_the_wrap_and_opens_with_v2_alone) {
    const auto keys = make_keys({1, 2});
    const std::string record = sealed(keys.keyring({1}));
    const auto rewrapped = rewrap_record(keys.keyring(), alice, record, 2);
    ASSERT_TRUE(rewrapped) << rewrapped.error().message;
    ASSERT_EQ(rewrapped->size(), record.size());
    EXPECT_EQ(rewrapped->substr(record_header_size), record.substr(record_header_size));
    EXPECT_EQ(record_key_version(*rewrapped).value(), 2u);
    EXPECT_NE(rewrapped->substr(5, 60), record.substr(5, 60));

    const auto opened = open_record(keys.keyring({2}), alice, *rewrapped);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(opened->reveal(), plaintext);
    // The version is bound by the wrap: the new wrap relabelled as version 1 does not open under v1's key.
    std::string relabelled = *rewrapped;
    relabelled[4] = '\x01';
    EXPECT_EQ(open_record(keys.keyring(), alice, relabelled).error().kind, record_failure::tampered);
}

TEST(credential_record, a_rewrap_refuses_an_unloaded_target_a_foreign_binding_and_a_damaged_data_part) {
    const auto keys = make_keys({1, 2});
    const std::string record = sealed(keys.keyring({1}));
    const auto to_missing = rewrap_record(keys.keyring(), alice, record, 3);
    ASSERT_FALSE(to_missing);
    EXPECT_EQ(to_missing.error().kind, record_failure::unknown_key_version);
    EXPECT_EQ(to_missing.error().message, "master key version 3 is not loaded");

    EXPECT_EQ(rewrap_record(keys.keyring(), {"bob", alice.credential_id, alice.column}, record, 2).error().kind,
              record_failure::tampered);
    std::string damaged = record;
    damaged.back() = static_cast<char>(damaged.back() ^ 0x01);
    EXPECT_EQ(rewrap_record(keys.keyring(), alice, damaged, 2).error().kind, record_failure::tampered);
    EXPECT_EQ(rewrap_record(keys.keyring(), alice, record.substr(0, 50), 2).error().kind, record_failure::malformed);
}

TEST(credential_record, every_error_is_free_of_key_material) {
    const auto keys = make_keys({1, 2});
    const std::string record = sealed(keys.keyring());
    std::vector<std::string> messages;
    messages.push_back(open_record(keys.keyring({1}), alice, record).error().message);
    messages.push_back(open_record(keys.keyring(), {"bob", "x", "y"}, record).error().message);
    messages.push_back(open_record(keys.keyring(), alice, record.substr(0, 70)).error().message);
    messages.push_back(rewrap_record(keys.keyring(), alice, record, 9).error().message);
    for (const std::string& message : messages) {
        expect_no_key_material(message, keys);
        EXPECT_EQ(message.find(plaintext.substr(0, 12)), std::string::npos) << message;
    }
}

}  // namespace
}  // namespace sessiond
