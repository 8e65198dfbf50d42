// libFuzzer target: the status server's request reading and answering rules (see harness/http_request.hpp).
#include "harness/http_request.hpp"

SESSIOND_FUZZ_TARGET(sessiond::fuzz::http_request)
