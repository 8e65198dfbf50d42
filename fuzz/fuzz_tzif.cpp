// libFuzzer target: TZif time zone files and their POSIX TZ footers (see harness/state_files.hpp).
#include "harness/state_files.hpp"

SESSIOND_FUZZ_TARGET(sessiond::fuzz::tzif)
