#include "support/process_memory.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
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

std::optional<std::vector<std::size_t>> find_in_process_memory(pid_t pid, const std::vector<std::string>& needles) {
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    const int mem = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
    if (!maps || mem < 0) {
        if (mem >= 0) ::close(mem);
        return std::nullopt;
    }
    std::vector<bool> found(needles.size(), false);
    std::size_t longest = 0;
    for (const auto& n : needles) longest = std::max(longest, n.size());
    bool read_any = false;
    std::string chunk;
    for (std::string line; std::getline(maps, line);) {
        // "55d0c2a3e000-55d0c2a5f000 rw-p 00000000 00:00 0   [heap]"
        std::istringstream fields(line);
        std::string range;
        std::string perms;
        fields >> range >> perms;
        if (perms.size() < 2 || perms[0] != 'r' || perms[1] != 'w') continue;
        const auto dash = range.find('-');
        std::uint64_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
        const std::uint64_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
        // In 1 MiB pieces that overlap by the longest needle, so that none is missed at a seam.
        constexpr std::uint64_t piece = 1 << 20;
        for (std::uint64_t at = begin; at < end;) {
            const std::uint64_t size = std::min<std::uint64_t>(piece + longest, end - at);
            chunk.resize(size);
            const ssize_t got = ::pread(mem, chunk.data(), size, static_cast<off_t>(at));
            if (got <= 0) break;  // e.g. [vvar]: not readable this way
            read_any = true;
            chunk.resize(static_cast<std::size_t>(got));
            for (std::size_t i = 0; i < needles.size(); ++i)
                if (!found[i] && chunk.find(needles[i]) != std::string::npos) found[i] = true;
            at += std::min<std::uint64_t>(piece, static_cast<std::uint64_t>(got));
        }
    }
    ::close(mem);
    if (!read_any) return std::nullopt;
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < needles.size(); ++i)
        if (found[i]) out.push_back(i);
    return out;
}

}  // namespace sessiond::testing
