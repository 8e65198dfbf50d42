// libFuzzer target: the credential request body of multi-user mode (see harness/credential_request.hpp).
#include "harness/credential_request.hpp"

SESSIOND_FUZZ_TARGET(sessiond::fuzz::credential_request)
