// libFuzzer target: every IBKR response parser, picked by the first byte (see harness/ibkr_responses.hpp).
#include "harness/ibkr_responses.hpp"

SESSIOND_FUZZ_TARGET(sessiond::fuzz::ibkr_responses)
