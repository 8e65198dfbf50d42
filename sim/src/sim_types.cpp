#include "ibkr_sim/sim_types.hpp"

#include <boost/throw_exception.hpp>

#include <stdexcept>

namespace sessiond::sim {

void throw_exception_from_error(const rejection& r, const boost::source_location& loc) {
    boost::throw_exception(std::logic_error("unchecked rejection: " + r.reason), loc);
}

}  // namespace sessiond::sim
