#include "support/process_memory.hpp"

#include <fstream>
#include <string>

namespace sessiond::testing {

std::optional<process_memory> read_process_memory(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    process_memory m;
    bool rss = false;
    bool hwm = false;
    for (std::string line; std::getline(status, line);) {
        // "VmRSS:	    6400 kB"
        if (line.starts_with("VmRSS:")) {
            m.resident_kib = std::stoull(line.substr(6));
            rss = true;
        } else if (line.starts_with("VmHWM:")) {
            m.peak_resident_kib = std::stoull(line.substr(6));
            hwm = true;
        }
    }
    if (!rss || !hwm) return std::nullopt;
    return m;
}

bool reset_peak_resident(pid_t pid) {
    std::ofstream clear("/proc/" + std::to_string(pid) + "/clear_refs");
    clear << "5" << std::flush;
    return static_cast<bool>(clear);
}

}  // namespace sessiond::testing
