// libFuzzer target: load_settings over an env file holding any text (see harness/settings.hpp).
#include "harness/settings.hpp"

SESSIOND_FUZZ_TARGET(sessiond::fuzz::settings_env)
