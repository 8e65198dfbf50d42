#pragma once
// What a PEM bundle of trust anchors (IBKR_CA_FILE) holds.

#include <string_view>

namespace sessiond {

// The X.509 certificates in `pem`, up to the first damaged one; blocks of other types are skipped.
int count_pem_certificates(std::string_view pem);

}  // namespace sessiond
