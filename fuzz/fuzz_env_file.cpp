// libFuzzer target: parse_env_file over any text (see harness/env_file.hpp).
#include "harness/env_file.hpp"

SESSIOND_FUZZ_TARGET(sessiond::fuzz::env_file)
