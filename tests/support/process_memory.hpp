#pragma once
// Another process's memory as the kernel counts it (/proc/<pid>/status), for tests that hold a
// daemon to a memory bound: what is resident now, and the most that was resident since the peak was
// last reset.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// Which of `needles` occur anywhere in the process's writable memory (heap, stacks, anonymous and
// data mappings: /proc/<pid>/maps, read through /proc/<pid>/mem), by index. Nothing when the memory
// cannot be read (not root, or ptrace is restricted). The process should be idle while it is read.
std::optional<std::vector<std::size_t>> find_in_process_memory(pid_t pid, const std::vector<std::string>& needles);

}  // namespace sessiond::testing
