#include "sessiond/net/tls.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

namespace sessiond {
namespace {

using kind = system_trust::kind_t;
using testing::temp_dir;

TEST(tls_trust, a_hashed_directory_is_read_lazily_instead_of_parsing_the_bundle) {
    const temp_dir dir;
    dir.write("ca-certificates.crt", "bundle");
    dir.write("9d04f354.0", "link");
    const auto t = choose_system_trust(dir.path(), nullptr, nullptr);
    EXPECT_EQ(t.kind, kind::hashed_directory);
    EXPECT_EQ(t.directory, dir.path());
}

TEST(tls_trust, without_hash_links_the_bundle_is_loaded) {
    const temp_dir dir;
    dir.write("ca-certificates.crt", "bundle");
    dir.write("README.0", "not a hash");
    EXPECT_EQ(choose_system_trust(dir.path(), nullptr, nullptr).kind, kind::bundle_and_directory);
    EXPECT_EQ(choose_system_trust(dir.path() / "missing", nullptr, nullptr).kind, kind::bundle_and_directory);
}

TEST(tls_trust, the_operators_ssl_cert_file_and_ssl_cert_dir_win) {
    const temp_dir dir;
    dir.write("9d04f354.0", "link");
    EXPECT_EQ(choose_system_trust(dir.path(), "/etc/custom/bundle.pem", nullptr).kind, kind::bundle_and_directory);
    const temp_dir other;
    other.write("0123abcd.1", "link");
    const auto t = choose_system_trust("/nonexistent", nullptr, other.path().c_str());
    EXPECT_EQ(t.kind, kind::hashed_directory);
    EXPECT_EQ(t.directory, other.path());
}

TEST(tls_trust, the_system_store_of_this_machine_is_a_hashed_directory) {
    // Debian's ca-certificates keeps /etc/ssl/certs hashed: the daemon starts without parsing the bundle.
    EXPECT_EQ(choose_system_trust("/etc/ssl/certs", nullptr, nullptr).kind, kind::hashed_directory);
    EXPECT_TRUE(make_client_tls_context(std::nullopt));
}

}  // namespace
}  // namespace sessiond
