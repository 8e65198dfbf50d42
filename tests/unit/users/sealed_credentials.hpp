#pragma once
// Credentials whose private key is really sealed (vault/credential_record.hpp, bound as
// users/sealed_key.hpp says), for the tests of what opens, rewraps or audits them.

#include "sessiond/users/sealed_key.hpp"
#include "unit/store/store_test_support.hpp"

#include <string>
#include <string_view>

namespace sessiond::users_test {

// store_test::credential_for(user) with `plaintext` sealed under the keyring's current version.
inline credential_row sealed_credential(const std::string& user, const master_keyring& keyring,
                                        std::string_view plaintext) {
    credential_row c = store_test::credential_for(user, keyring.current_version());
    c.key_fingerprint = "sha256:fp-" + user;
    const std::string record = seal_record(keyring, key_record_binding(c), plaintext).value();
    c.key_record.assign(record.begin(), record.end());
    return c;
}

// In a transaction: the credential, and its user first when there is none yet.
inline expected<void> put_with_user(store_tx& tx, const credential_row& c) {
    const auto found = tx.find_user(c.user_id);
    if (!found) return found.error();
    if (!*found)
        if (auto inserted = tx.insert_user(store_test::user(c.user_id)); !inserted) return inserted.error();
    return tx.put_credential(c);
}

inline std::string_view record_bytes(const credential_row& c) {
    return {reinterpret_cast<const char*>(c.key_record.data()), c.key_record.size()};
}

}  // namespace sessiond::users_test
