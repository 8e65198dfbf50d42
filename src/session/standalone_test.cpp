#include "sessiond/session/standalone_test.hpp"

#include "sessiond/session/session_keeper.hpp"

#include <boost/asio/post.hpp>

namespace sessiond {

void run_standalone_test(boost::asio::any_io_executor executor, const settings& config,
                         std::shared_ptr<boost::asio::ssl::context> tls, logger log,
                         std::function<void(connection_test_report)> done) {
    // Alone with the username: a pacer of its own, kept from and to the state directory's record.
    auto one_shot = std::make_shared<session_keeper>(executor, std::make_shared<const settings>(config), std::move(tls),
                                                     std::move(log), nullptr,
                                                     state_directory_store(config, offload{}));
    one_shot->start();
    one_shot->run_test([executor, one_shot, done = std::move(done)](const connection_test_report& report) mutable {
        one_shot->stop([executor, one_shot, report, done = std::move(done)]() mutable {
            // Released from a handler of its own, not from inside the session's stop.
            boost::asio::post(executor, [one_shot, report, done = std::move(done)]() mutable {
                connection_test_report out = report;
                if (const auto& logout = one_shot->last_logout()) out.steps.push_back(step_report("logout", *logout));
                done(std::move(out));
            });
        });
    });
}

}  // namespace sessiond
