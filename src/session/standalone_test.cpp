#include "sessiond/session/standalone_test.hpp"

#include "sessiond/pacing/pacing_file_store.hpp"
#include "sessiond/session/session_keeper.hpp"

#include <boost/asio/post.hpp>

namespace sessiond {

void run_standalone_test(boost::asio::any_io_executor executor, const settings& config,
                         std::shared_ptr<boost::asio::ssl::context> tls, logger log,
                         std::function<void(connection_test_report)> done) {
    std::shared_ptr<pacing_store> store;
    if (config.service.state_dir)
        store = std::make_shared<pacing_file_store>(*config.service.state_dir, config.profile.credential, offload{});
    auto pacer = std::make_shared<username_pacer>(machine_settings::from(config).pacing());
    auto one_shot = std::make_shared<session_keeper>(executor, config, std::move(tls), std::move(log), std::move(pacer),
                                              std::move(store));
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
