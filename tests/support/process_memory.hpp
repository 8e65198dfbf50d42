#pragma once
// Another process's memory as the kernel counts it (/proc/<pid>/status), for tests that hold a
// daemon to a memory bound: what is resident now, and the most that was resident since the peak was
// last reset.

#include <cstdint>
#include <optional>

#include <sys/types.h>

namespace sessiond::testing {

struct process_memory {
    std::uint64_t resident_kib = 0;       // VmRSS
    std::uint64_t peak_resident_kib = 0;  // VmHWM
};

// Nothing when the process is gone or its status unreadable.
std::optional<process_memory> read_process_memory(pid_t pid);

// Makes VmHWM start again from the current VmRSS ("5" > /proc/<pid>/clear_refs, Linux 4.0): the peak
// that follows belongs to what the test does next. False when not permitted (another user's process).
bool reset_peak_resident(pid_t pid);

}  // namespace sessiond::testing
