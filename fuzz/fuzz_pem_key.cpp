// libFuzzer target: rsa_private_key::from_pem over any text (see harness/pem_key.hpp).
#include "harness/pem_key.hpp"

SESSIOND_FUZZ_TARGET(sessiond::fuzz::pem_key)
