#pragma once
// What the process does to itself before it reads the private key.

#include "sessiond/core/error.hpp"

namespace sessiond {

// The private key lives in this process's memory: no core file, and no ptrace or /proc/PID/mem
// access by other processes of the same user (PR_SET_DUMPABLE 0). The error names the reason.
expected<void> refuse_core_dumps();

}  // namespace sessiond
