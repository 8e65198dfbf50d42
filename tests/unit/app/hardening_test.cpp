#include "sessiond/app/hardening.hpp"

#include <gtest/gtest.h>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sessiond {
namespace {

// In a child process, so that the test runner itself stays dumpable for debugging.
int dumpable_after(bool refuse) {
    const pid_t child = ::fork();
    if (child == 0) {
        if (refuse && !refuse_core_dumps()) ::_exit(100);
        ::_exit(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(hardening, refusing_core_dumps_makes_the_process_undumpable) {
    EXPECT_EQ(dumpable_after(false), 1) << "a process is dumpable to begin with";
    EXPECT_EQ(dumpable_after(true), 0);
}

}  // namespace
}  // namespace sessiond
