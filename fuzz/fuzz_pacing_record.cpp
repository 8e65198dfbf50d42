// libFuzzer target: the pacing record of the state directory (see harness/state_files.hpp).
#include "harness/state_files.hpp"

SESSIOND_FUZZ_TARGET(sessiond::fuzz::pacing_record)
