#pragma once
// Where a user's private key is stored sealed: credential_row::key_record, a credential record
// (vault/credential_record.hpp) bound to the row's user, its credential id and this column. Whatever
// seals, opens or rewraps it uses this binding, so that a record copied onto another user's row, or
// into another column, does not open.

#include "sessiond/store/credential_store.hpp"
#include "sessiond/vault/credential_record.hpp"

#include <string_view>

namespace sessiond {

inline constexpr std::string_view key_record_column = "key_record";

inline record_binding key_record_binding(const credential_row& row) {
    return {row.user_id, row.credential_id, std::string(key_record_column)};
}

}  // namespace sessiond
