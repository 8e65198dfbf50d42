#include "contract.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace sessiond::metrics_detail {

void contract_violated(std::string_view what, std::string_view subject) {
    std::string line = "metrics: ";
    line += what;
    if (!subject.empty()) {
        line += ": \"";
        line += subject;
        line += '"';
    }
    line += '\n';
    std::fputs(line.c_str(), stderr);
    std::abort();
}

}  // namespace sessiond::metrics_detail
