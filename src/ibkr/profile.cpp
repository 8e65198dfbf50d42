#include "sessiond/ibkr/profile.hpp"

namespace sessiond {

std::string_view to_string(ibkr_environment e) noexcept {
    switch (e) {
        case ibkr_environment::paper: return "paper";
        case ibkr_environment::live: return "live";
    }
    return "unknown";
}

}  // namespace sessiond
