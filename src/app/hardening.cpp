#include "sessiond/app/hardening.hpp"

#include <sys/prctl.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sessiond {

expected<void> refuse_core_dumps() {
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return make_error(std::string("cannot turn off core dumps (prctl PR_SET_DUMPABLE): ") + std::strerror(errno));
    return {};
}

}  // namespace sessiond
