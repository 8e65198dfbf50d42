// libFuzzer target: the vault's credential record (see harness/credential_record.hpp).
#include "harness/credential_record.hpp"

SESSIOND_FUZZ_TARGET(sessiond::fuzz::credential_record)
