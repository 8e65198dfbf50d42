// The vault's formats read by an implementation that is not ours: tests/vault/decrypt_record.py,
// written from the README's byte description with Debian's python3-cryptography, decrypts a record
// this code sealed and recomputes an audit entry's MAC. A format that round-trips in C++ but
// differs from the README fails here.

#include "sessiond/vault/audit_chain.hpp"
#include "sessiond/vault/credential_record.hpp"

#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"
#include "vault_test_keys.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

namespace sessiond {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using vault_testing::hex;
using vault_testing::make_keys;

const fs::path python = "/usr/bin/python3";
const fs::path script = fs::path(SESSIOND_SOURCE_DIR) / "tests/vault/decrypt_record.py";

struct run_result {
    int exit_code = -1;
    std::string out;
    std::string all;
};

run_result run(std::vector<std::string> argv) {
    testing::subprocess_options options;
    options.argv = std::move(argv);
    testing::subprocess child(std::move(options));
    run_result r;
    r.exit_code = child.wait_exit(30s).value_or(-1);
    r.out = child.output(testing::output_stream::out);
    r.all = child.all_output();
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r;
}

class vault_cross_check : public ::testing::Test {
protected:
    void SetUp() override {
        if (!fs::exists(python)) GTEST_SKIP() << python << " is missing: install python3 and python3-cryptography";
        const auto probe = run({python.string(), "-c", "import cryptography.hazmat.primitives.ciphers.aead"});
        if (probe.exit_code != 0)
            GTEST_SKIP() << python << " lacks the cryptography module: apt-get install python3-cryptography";
    }
    testing::temp_dir dir_;
};

TEST_F(vault_cross_check, python_cryptography_decrypts_a_record_from_the_readme_alone) {
    const auto keys = make_keys({1, 4});
    const std::string plaintext = std::string("binary\0\xff plaintext ", 19) + std::string(300, 'k');
    const record_binding binding{"user-42", "ibkr-key-main", "private_key"};
    const std::string record = seal_record(keys.keyring(), binding, plaintext).value();
    ASSERT_EQ(record_key_version(record).value(), 4u);

    const auto r = run({python.string(), script.string(), "record", "--master-key",
                        dir_.write("master-key-4", keys.raw.at(4)).string(), "--user", binding.user_id, "--credential",
                        binding.credential_id, "--column", binding.column, "--record",
                        dir_.write("record", record).string()});
    ASSERT_EQ(r.exit_code, 0) << r.all;
    EXPECT_EQ(r.out, hex(plaintext));

    // And after a rewrap to version 1, with version 1's key.
    const std::string rewrapped = rewrap_record(keys.keyring(), binding, record, 1).value();
    const auto again = run({python.string(), script.string(), "record", "--master-key",
                            dir_.write("master-key-1", keys.raw.at(1)).string(), "--user", binding.user_id,
                            "--credential", binding.credential_id, "--column", binding.column, "--record",
                            dir_.write("rewrapped", rewrapped).string()});
    ASSERT_EQ(again.exit_code, 0) << again.all;
    EXPECT_EQ(again.out, hex(plaintext));
}

TEST_F(vault_cross_check, python_refuses_a_record_under_another_binding) {
    const auto keys = make_keys({1});
    const std::string record = seal_record(keys.keyring(), {"alice", "k", "private_key"}, "secret").value();
    const auto r = run({python.string(), script.string(), "record", "--master-key",
                        dir_.write("master-key", keys.raw.at(1)).string(), "--user", "bob", "--credential", "k",
                        "--column", "private_key", "--record", dir_.write("record", record).string()});
    EXPECT_NE(r.exit_code, 0) << r.all;
    EXPECT_NE(r.all.find("InvalidTag"), std::string::npos) << r.all;
}

TEST_F(vault_cross_check, python_recomputes_audit_macs_of_a_chain_across_key_versions) {
    const auto keys = make_keys({1, 2});
    audit_entry first;
    first.seq = 1;
    first.at_ms = 1'780'000'123'456;
    first.actor = "admin";
    first.source = "local";
    first.action = "user.create";
    first.target = "user:alice";
    first.outcome = "ok";
    first.details = R"({"paper":true})";
    const audit_entry one = seal_entry(keys.keyring({1}), std::nullopt, first).value();
    audit_entry second = first;
    second.seq = 2;
    second.actor = "alice";
    second.source = "[2001:db8::1]:51234";
    second.action = "credential.rotate";
    second.details = "{}";
    const audit_entry two = seal_entry(keys.keyring(), one.mac, second).value();
    ASSERT_EQ(two.key_version, 2u);

    std::string previous(32, '\0');
    for (const audit_entry* e : {&one, &two}) {
        const boost::json::object entry{{"seq", e->seq},          {"at_ms", e->at_ms},         {"actor", e->actor},
                                        {"source", e->source},    {"action", e->action},       {"target", e->target},
                                        {"outcome", e->outcome},  {"details", e->details},     {"key_version", e->key_version}};
        const std::string name = "entry-" + std::to_string(e->seq);
        const auto r = run({python.string(), script.string(), "audit-mac", "--master-key",
                            dir_.write(name + ".key", keys.raw.at(e->key_version)).string(), "--entry",
                            dir_.write(name + ".json", boost::json::serialize(entry)).string(), "--previous-mac",
                            hex(previous)});
        ASSERT_EQ(r.exit_code, 0) << r.all;
        const std::string mac(reinterpret_cast<const char*>(e->mac.data()), e->mac.size());
        EXPECT_EQ(r.out, hex(mac)) << "seq " << e->seq;
        previous = mac;
    }
}

// The other direction: the fuzz seeds were sealed by Python (the same format code as the script) under
// fixed keys that are not secrets, and must open here.
TEST(vault_cross_check_seeds, a_record_python_sealed_opens_here) {
    std::map<std::uint32_t, secret> keys;
    keys.emplace(1, secret(std::string(32, '\x01')));
    keys.emplace(2, secret(std::string(32, '\x02')));
    const auto keyring = master_keyring::from_keys(std::move(keys)).value();
    const fs::path seeds = fs::path(SESSIOND_SOURCE_DIR) / "fuzz/corpus/credential_record";
    const auto read = [&](std::string_view name) {
        std::ifstream in(seeds / name, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    };
    const record_binding binding{"fuzz-user", "fuzz-credential", "fuzz-column"};
    const auto v1 = open_record(keyring, binding, read("v1-record.bin"));
    ASSERT_TRUE(v1) << v1.error().message;
    EXPECT_EQ(v1->reveal(), "a credential sealed under the fuzz key");
    const auto v2 = open_record(keyring, binding, read("v2-empty-plaintext.bin"));
    ASSERT_TRUE(v2) << v2.error().message;
    EXPECT_TRUE(v2->empty());
    EXPECT_EQ(open_record(keyring, binding, read("v1-other-user.bin")).error().kind, record_failure::tampered);
}

}  // namespace
}  // namespace sessiond
