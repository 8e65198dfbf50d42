// Hostile clients of the daemon's API, played against the real binary with a connected IBKR session
// (ibkr-sim over TLS): ten thousand idle connections, slow-loris headers and bodies, 1 MiB headers,
// headers of empty fields, pipelined and random garbage. Whatever they do, the daemon keeps its
// session, a monitoring probe gets /livez within 50 ms on a fresh connection every time, the
// server's refusals show in /metrics, and the daemon's resident memory stays under a bound that
// follows from the server's limits.
//
// The attacks run from this process: one epoll loop (connection_swarm) turned by the test's thread,
// paced by deadlines; the probe runs on its own thread, as a kubelet would, all through the attack.
// The daemon runs with systemd's default descriptor limit. The figures (latencies, memory) are
// printed as "[ figures  ]" lines.

#include "integration/daemon_fixture.hpp"
#include "support/connection_swarm.hpp"
#include "support/sanitizers.hpp"
#include "support/process_memory.hpp"
#include "support/prometheus_parser.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

namespace sessiond::testing {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Whether this build (the daemon's too: they are built together) runs under AddressSanitizer.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool under_asan = true;
#elif defined(__has_feature)
constexpr bool under_asan = __has_feature(address_sanitizer);
#else
constexpr bool under_asan = false;
#endif

// The requirement: a liveness probe is answered within this, whatever other clients do.
constexpr milliseconds livez_bound{50 * sanitizer_slowdown};  // the 50 ms, stretched only under a sanitizer
// How often the probe asks: often enough for twenty probes in a second of attack.
constexpr milliseconds probe_interval{20};
constexpr std::size_t min_probes = 20;

// The server's limits (include/sessiond/server/http_server.hpp), as the daemon runs them.
constexpr std::size_t connection_cap = 512;
constexpr auto request_timeout = std::chrono::seconds(10);

// What the daemon's resident memory may grow by under any of these attacks, over what it was just
// before. The most a client can make one connection hold: its read buffer (the 8 KiB header limit
// plus one 4 KiB read), its parsed header (8 KiB of names and values, and about 80 bytes for each of
// at most 100 fields), a body of up to 16 KiB, its session, coroutine frames, timer and socket (about
// 4 KiB): 48 KiB. At the cap of 512 connections, 24 MiB; and 8 MiB for what the allocator keeps
// (freed chunks, per-size bins). A daemon that buffered what a client sends (1 MiB headers), kept
// anything of the 10,000 connections it closed, or let the parsed fields of a header grow with its
// length would cross it.
// Under AddressSanitizer the resident memory is mostly the sanitizer's (shadow, redzones, and a
// quarantine that keeps up to 256 MiB of freed memory on purpose: 100 MiB more after 10,000
// connections), so the bound is checked in the other builds only; the figures are printed in all.
constexpr std::uint64_t memory_allowance_kib = 32 * 1024;

// systemd's default for a unit without LimitNOFILE= (ours sets none): soft 1024, hard 524288.
constexpr rlim_t systemd_default_nofile = 1024;

// One GET /livez of the monitoring probe.
struct probe_result {
    clock::time_point started;
    clock::duration latency{};
    unsigned status = 0;  // 0: no answer (error says why)
    std::string error;
};

// A monitoring probe: GET /livez on a fresh connection every probe_interval, on its own thread,
// until stop(); every answer's status and latency is kept.
class livez_monitor {
public:
    explicit livez_monitor(std::uint16_t port) : port_(port), thread_([this] { run(); }) {}
    ~livez_monitor() { (void)stop(); }
    livez_monitor(const livez_monitor&) = delete;
    livez_monitor& operator=(const livez_monitor&) = delete;

    // Waits until n probes have been answered (or failed) since the monitor started.
    bool await_probes(std::size_t n, milliseconds timeout = milliseconds(30'000)) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
    }

    // Waits until n probes that started at or after `since` have been answered (or failed). The
    // monitor's first probe starts before the attack does: counting it made an attack that a fast
    // machine ended early one probe short.
    bool await_probes_since(clock::time_point since, std::size_t n, milliseconds timeout = milliseconds(30'000)) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] {
            return static_cast<std::size_t>(std::count_if(results_.begin(), results_.end(),
                                                          [&](const probe_result& p) { return p.started >= since; })) >= n;
        });
    }

    [[nodiscard]] std::size_t probes() const {
        std::lock_guard lock(mutex_);
        return results_.size();
    }

    std::vector<probe_result> stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        changed_.notify_all();
        if (thread_.joinable()) thread_.join();
        std::lock_guard lock(mutex_);
        return results_;
    }

private:
    void run() {
        http_client client("127.0.0.1", port_);
        http_request_options options;
        options.timeout = milliseconds(2'000);  // a probe locked out fails the test, it does not hang it
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            probe_result p;
            p.started = clock::now();
            const auto r = client.get("/livez", options);
            p.latency = clock::now() - p.started;
            if (r)
                p.status = r->status;
            else
                p.error = r.error().message;
            lock.lock();
            results_.push_back(std::move(p));
            changed_.notify_all();
            // Paced, and stop() ends the wait at once.
            changed_.wait_until(lock, results_.back().started + probe_interval, [this] { return stopping_; });
        }
    }

    std::uint16_t port_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<probe_result> results_;
    bool stopping_ = false;
    std::thread thread_;  // last: starts once the rest is built
};

double ms(clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Every probe answered 200 within the bound; at least min_probes of them started during the attack.
// Prints the figures (the issue asks for them).
void expect_every_probe_in_time(const std::vector<probe_result>& probes, clock::time_point attack_began,
                                clock::time_point attack_ended, std::string_view attack) {
    std::size_t during = 0;
    clock::duration worst{};
    std::vector<double> latencies;
    for (const auto& p : probes) {
        if (p.started >= attack_began && p.started <= attack_ended) ++during;
        worst = std::max(worst, p.latency);
        latencies.push_back(ms(p.latency));
        EXPECT_EQ(p.status, 200u) << attack << ": a probe " << ms(p.started - attack_began)
                                  << " ms into the attack got no 200: " << p.error;
        EXPECT_LE(p.latency, livez_bound) << attack << ": a probe " << ms(p.started - attack_began)
                                          << " ms into the attack took " << ms(p.latency) << " ms";
    }
    EXPECT_GE(during, min_probes) << attack << ": too few probes during the attack to say anything";
    std::sort(latencies.begin(), latencies.end());
    const double median = latencies.empty() ? 0 : latencies[latencies.size() / 2];
    std::printf("[ figures  ] %.*s: %zu probes (%zu during the %.0f ms attack), /livez latency median %.2f ms, max %.2f ms\n",
                static_cast<int>(attack.size()), attack.data(), probes.size(), during, ms(attack_ended - attack_began),
                median, ms(worst));
}

// Raises this process's RLIMIT_NOFILE to at least `needed` (the hard limit too, when running as root);
// false when it cannot, with the limit in `why`.
bool raise_descriptor_limit(rlim_t needed, std::string& why) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        why = "getrlimit failed";
        return false;
    }
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= needed) return true;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) limit.rlim_max = needed;  // root only
    limit.rlim_cur = needed;
    if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) return true;
    rlimit now{};
    ::getrlimit(RLIMIT_NOFILE, &now);
    why = "RLIMIT_NOFILE is " + std::to_string(now.rlim_cur) + " (hard " + std::to_string(now.rlim_max) + "), " +
          std::to_string(needed) + " needed, and it cannot be raised (not root?)";
    return false;
}

// How fast the attacks open their connections. The attacker, the daemon and the probe share what
// the machine gives this test: on the two shared cores the tests run on, with the kernel's autogroups
// splitting the CPU between sessions, a fraction of them. As fast as one thread can open them (12,000
// to 19,000 a second here, each connect costing this process 50 to 80 us with both ends of the
// loopback handshake), the attacker took most of it: the daemon, which spends 22 us of CPU on each
// idle connection (accepting it, evicting another), got a quarter of a core, the kernel's accept
// queue (first come, first served) filled up, and a probe waited its turn behind up to 1,500
// attacker connections: 50 to 190 ms. At 10,000 a second, still 55 to 65 ms now and then. That is
// the attacker outrunning the daemon's share of the machine, not the server locking the probe out; so
// idle connections come at 5,000 a second, and those that send a request (80 us of the daemon's CPU
// to parse and refuse a header) at 2,000. Under AddressSanitizer the daemon spends ten times as much
// on each (230 us on an idle one) and the attacks slow down accordingly: at the rates above, probes
// waited up to 730 ms there; at 2,000 idle connections a second, 18 ms at most.
constexpr std::size_t idle_attack_rate = under_asan ? 2'000 : 5'000;
constexpr std::size_t request_attack_rate = under_asan ? 200 : 2'000;

// Opens n connections of the swarm at `per_second`, a wave every 10 ms, handing each to on_open as
// soon as its connect has started.
void open_at_attack_rate(connection_swarm& swarm, std::size_t n, std::size_t per_second,
                         const std::function<void(std::size_t)>& on_open) {
    constexpr milliseconds wave_interval{10};
    const std::size_t wave = per_second / 100;
    const auto began = clock::now();
    for (std::size_t opened = 0, waves = 0; opened < n; ++waves) {
        for (std::size_t i = 0; i < wave && opened < n; ++i, ++opened) on_open(swarm.open());
        swarm.run_until(began + wave_interval * (waves + 1));
    }
}

// The HTTP responses in bytes, in order, as far as they parse; what follows the last one is left out.
std::vector<http::response<http::string_body>> responses_in(std::string_view bytes) {
    std::vector<http::response<http::string_body>> out;
    while (!bytes.empty()) {
        http::response_parser<http::string_body> parser;
        parser.eager(true);
        boost::system::error_code ec;
        const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
        if (ec || !parser.is_done()) break;
        out.push_back(parser.release());
        bytes.remove_prefix(used);
    }
    return out;
}

// An attack of `attackers` connections opened at the attack rate, each starting with on_open, run until
// the daemon has closed every one, with /livez probed throughout: the probes and the attack's span.
struct attack_outcome {
    clock::time_point began;
    clock::time_point ended;
    std::vector<probe_result> probes;
};
attack_outcome attack_until_all_closed(std::uint16_t port, connection_swarm& swarm, std::size_t attackers,
                                       const std::function<void(std::size_t)>& on_open) {
    livez_monitor monitor(port);
    attack_outcome out;
    out.began = clock::now();
    open_at_attack_rate(swarm, attackers, request_attack_rate, on_open);
    const bool all_closed = swarm.run_until(
        [&] { return swarm.count(connection_swarm::phase::closed_by_server) + swarm.count(connection_swarm::phase::failed) == attackers; },
        out.began + std::chrono::seconds(30));
    EXPECT_TRUE(all_closed) << swarm.count(connection_swarm::phase::open) << " connections still open";
    EXPECT_TRUE(monitor.await_probes_since(out.began, min_probes));
    out.ended = clock::now();
    out.probes = monitor.stop();
    return out;
}

std::vector<unsigned> statuses_in(std::string_view bytes) {
    std::vector<unsigned> out;
    for (const auto& r : responses_in(bytes)) out.push_back(r.result_int());
    return out;
}

class hostile_clients : public daemon_fixture {
protected:
    // A connected daemon under production limits: systemd's default descriptor limit (it inherits
    // this process's otherwise, which the attacks raise), its session's counters and its memory
    // taken as the baseline of what follows.
    daemon_process& daemon_under_attack(daemon_options options = {}) {
        auto& d = connected_daemon(std::move(options));
        port_ = d.api_port().value_or(0);
        EXPECT_NE(port_, 0) << d.output();
        rlimit limit{};
        if (::prlimit(d.pid(), RLIMIT_NOFILE, nullptr, &limit) == 0) {
            limit.rlim_cur = std::min(limit.rlim_max, systemd_default_nofile);
            EXPECT_EQ(::prlimit(d.pid(), RLIMIT_NOFILE, &limit, nullptr), 0) << "cannot set the daemon's RLIMIT_NOFILE";
        }
        // The cap plus what else the daemon holds (log pipes, its IBKR connection, the listener).
        EXPECT_GE(limit.rlim_cur, connection_cap + 64) << "the daemon could not hold its connection cap";
        EXPECT_TRUE(sim().await_calls(tickle_path, 1, std::chrono::seconds(15)));
        tokens_before_ = sim_count("tokens_issued");
        tickles_before_ = sim_calls(tickle_path);
        const auto m = read_process_memory(d.pid());
        EXPECT_TRUE(m);
        rss_before_kib_ = m ? m->resident_kib : 0;
        // The peak from now on is the attack's; if the kernel refuses, the peak since start-up is
        // used, which can only make the check stricter.
        (void)reset_peak_resident(d.pid());
        return d;
    }

    // The session did not notice: still connected, no new login, tickles going on.
    void expect_session_undisturbed(daemon_process& d) {
        auto r = d.api().get("/api/ibkr/status");
        ASSERT_TRUE(r) << r.error().message;
        const json::value status = r->json();
        ASSERT_TRUE(status.is_object()) << r->body;
        EXPECT_EQ(json::value_to<std::string>(status.at("state")), "connected") << r->body;
        EXPECT_EQ(sim_count("tokens_issued"), tokens_before_) << "the attack cost a login";
        EXPECT_TRUE(sim().await_calls(tickle_path, tickles_before_ + 2, std::chrono::seconds(15)))
            << "tickles stopped";
        EXPECT_EQ(d.count_in_log("session lost"), 0u) << d.log();
        EXPECT_EQ(d.count_in_log("accept failed:"), 0u) << "the daemon ran out of something";
    }

    // The daemon's peak resident memory since daemon_under_attack() stayed within the allowance.
    void expect_memory_bounded(daemon_process& d, std::string_view attack) {
        const auto m = read_process_memory(d.pid());
        ASSERT_TRUE(m);
        std::printf("[ figures  ] %.*s: daemon RSS %.1f MiB before, peak %.1f MiB during, %.1f MiB after\n",
                    static_cast<int>(attack.size()), attack.data(), static_cast<double>(rss_before_kib_) / 1024,
                    static_cast<double>(m->peak_resident_kib) / 1024, static_cast<double>(m->resident_kib) / 1024);
        if (under_asan) return;
        EXPECT_LE(m->peak_resident_kib, rss_before_kib_ + memory_allowance_kib)
            << attack << ": the daemon's peak RSS grew by " << (m->peak_resident_kib - rss_before_kib_) << " KiB";
    }

    exposition metrics(daemon_process& d) {
        auto r = d.api().get("/metrics");
        EXPECT_TRUE(r) << r.error().message;
        if (!r) return {};
        auto parsed = parse_prometheus_text(r->body);
        EXPECT_TRUE(parsed) << parsed.error().message;
        return parsed ? std::move(*parsed) : exposition{};
    }

    std::uint16_t port_ = 0;
    std::uint64_t tokens_before_ = 0;
    std::uint64_t tickles_before_ = 0;
    std::uint64_t rss_before_kib_ = 0;
};

TEST_F(hostile_clients, ten_thousand_idle_connections_neither_lock_out_livez_nor_disturb_the_session) {
    constexpr std::size_t attackers = 10'000;
    std::string why;
    if (!raise_descriptor_limit(attackers + 256, why)) GTEST_SKIP() << "10,000 connections need descriptors: " << why;
    auto& d = daemon_under_attack();
    ASSERT_NE(port_, 0);

    livez_monitor monitor(port_);
    connection_swarm swarm(port_);
    const auto began = clock::now();
    open_at_attack_rate(swarm, attackers, idle_attack_rate, [](std::size_t) {});
    const auto deadline = began + std::chrono::seconds(60);
    // Every connect completes (a full accept queue only delays it): the daemon keeps accepting.
    ASSERT_TRUE(swarm.run_until([&] { return swarm.count(connection_swarm::phase::connecting) == 0; }, deadline))
        << swarm.count(connection_swarm::phase::connecting) << " connects still in progress";
    EXPECT_EQ(swarm.count(connection_swarm::phase::failed), 0u);
    // Nobody sends a byte; the daemon closes all but its cap to make room for the newer ones.
    ASSERT_TRUE(swarm.run_until(
        [&] { return swarm.count(connection_swarm::phase::closed_by_server) >= attackers - connection_cap; }, deadline))
        << swarm.count(connection_swarm::phase::closed_by_server) << " closed by the daemon";
    // The daemon stays at its cap, full of idle connections, while the probe goes on.
    ASSERT_TRUE(monitor.await_probes(monitor.probes() + min_probes / 2));
    const auto ended = clock::now();
    const auto probes = monitor.stop();

    expect_every_probe_in_time(probes, began, ended, "10,000 idle connections");
    EXPECT_LE(swarm.count(connection_swarm::phase::open), connection_cap);
    for (std::size_t i = 0; i < swarm.size(); ++i)
        ASSERT_EQ(swarm[i].received, "") << "an idle connection was sent something";
    expect_session_undisturbed(d);
    expect_memory_bounded(d, "10,000 idle connections");
    // Thousands of evictions, a handful of log lines, and the count in the metrics.
    EXPECT_LE(d.count_in_log("to serve a new one"), 10u);
    const exposition m = metrics(d);
    EXPECT_GE(m.value_of("sessiond_http_connections_accepted_total").value_or(0), static_cast<double>(attackers));
    EXPECT_GE(m.value_of("sessiond_http_connections_evicted_total").value_or(0),
              static_cast<double>(attackers - connection_cap));
    EXPECT_LE(m.value_of("sessiond_http_connections_open").value_or(0), static_cast<double>(connection_cap));
    EXPECT_EQ(m.value_of("sessiond_http_connections_refused_total"), 0.0);
    EXPECT_EQ(m.value_of("sessiond_http_accept_failures_total"), 0.0);
    EXPECT_GE(m.value_of("sessiond_http_requests_total", {{"path", "/livez"}, {"code", "200"}}).value_or(0),
              static_cast<double>(probes.size()));
}

TEST_F(hostile_clients, ten_thousand_idle_websocket_upgrades_stop_at_the_gateways_cap_without_locking_out_livez) {
    // Each sends a request (an upgrade the daemon parses and answers 101 or 503): they come at the
    // rate of the other request attacks, and under AddressSanitizer, which costs ten times as much per
    // request, 2,000 of them.
    constexpr std::size_t attackers = under_asan ? 2'000 : 10'000;
    constexpr std::size_t websocket_cap = 256;  // ws_relay_options::max_sockets, below the server's 512
    std::string why;
    if (!raise_descriptor_limit(attackers + 256, why)) GTEST_SKIP() << "10,000 connections need descriptors: " << why;
    // At the production log level: 10,000 answered requests at debug are 10,000 lines on a pipe.
    daemon_options o;
    o.args = {"run", "--log-level", "info"};
    auto& d = daemon_under_attack(std::move(o));
    ASSERT_NE(port_, 0);

    const std::string upgrade =
        "GET /v1/api/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    livez_monitor monitor(port_);
    connection_swarm swarm(port_);
    const auto began = clock::now();
    open_at_attack_rate(swarm, attackers, request_attack_rate, [&](std::size_t i) { swarm.send(i, upgrade); });
    const auto deadline = began + std::chrono::seconds(60);
    ASSERT_TRUE(swarm.run_until([&] { return swarm.count(connection_swarm::phase::connecting) == 0; }, deadline));
    // Each attempt is answered (101 up to the cap, 503 beyond) or evicted to make room; the upgraded
    // ones then sit idle, never evicted, and the server keeps half its connections for the others.
    const auto settled = [&] {
        for (std::size_t i = 0; i < swarm.size(); ++i)
            if (swarm[i].received.empty() && swarm[i].state == connection_swarm::phase::open) return false;
        return true;
    };
    ASSERT_TRUE(swarm.run_until(settled, deadline));
    ASSERT_TRUE(monitor.await_probes(monitor.probes() + min_probes / 2));
    const auto ended = clock::now();
    const auto probes = monitor.stop();

    std::size_t upgraded = 0;
    std::size_t refused = 0;
    for (std::size_t i = 0; i < swarm.size(); ++i) {
        upgraded += swarm[i].received.starts_with("HTTP/1.1 101") ? 1 : 0;
        refused += swarm[i].received.starts_with("HTTP/1.1 503") ? 1 : 0;
    }
    std::printf("[ figures  ] 10,000 WebSocket upgrades: %zu upgraded, %zu refused 503, the rest evicted\n", upgraded,
                refused);
    EXPECT_GT(upgraded, 0u);
    EXPECT_LE(upgraded, websocket_cap);
    EXPECT_GT(refused, 0u) << "beyond the cap the upgrade is refused";
    expect_every_probe_in_time(probes, began, ended, "10,000 WebSocket upgrades");
    expect_session_undisturbed(d);
    expect_memory_bounded(d, "10,000 WebSocket upgrades");
    EXPECT_EQ(sim().websockets().size(), 1u) << "one upstream socket for every client";
}

TEST_F(hostile_clients, slow_lorises_are_evicted_or_timed_out_without_locking_out_livez_or_running_up_memory) {
    constexpr std::size_t attackers = 600;  // more than the cap
    std::string why;
    if (!raise_descriptor_limit(4 * attackers, why)) GTEST_SKIP() << why;
    auto& d = daemon_under_attack();
    ASSERT_NE(port_, 0);

    // Two kinds of loris, one byte a second once they have sent their opening. Half dribble a header
    // that never ends; half make their connection hold the most a request may: a header of 100 fields
    // just under 8 KiB, then a body announced at 16,000 bytes, 15,000 of them sent at once. One the
    // daemon closes comes back, as attack tools do (once, so that the attack ends; at the attack rate,
    // as the others came).
    const std::string header_loris = "GET /api/ibkr/status HTTP/1.1\r\nHost: x\r\nX-Loris: ";
    std::string body_loris = "POST /api/ibkr/test HTTP/1.1\r\nHost: x\r\nContent-Length: 16000\r\n";
    for (int f = 0; f < 98; ++f) body_loris += "X-Field-" + std::to_string(100 + f) + ": " + std::string(66, 'v') + "\r\n";
    ASSERT_LT(body_loris.size() + 2, 8 * 1024u);
    body_loris += "\r\n" + std::string(15'000, 'b');
    livez_monitor monitor(port_);
    connection_swarm swarm(port_);
    const auto began = clock::now();
    std::vector<bool> comes_back;
    auto start_loris = [&](std::size_t i, bool again) {
        swarm.send(i, i % 2 == 0 ? header_loris : body_loris);
        comes_back.push_back(again);
    };
    open_at_attack_rate(swarm, attackers, request_attack_rate, [&](std::size_t i) { start_loris(i, true); });
    const auto deadline = began + request_timeout + std::chrono::seconds(20);
    constexpr milliseconds tick{10};
    auto next_tick = clock::now() + tick;
    auto next_byte = began + std::chrono::seconds(1);
    // Until the daemon has closed every loris: the survivors of the cap by the request timeout.
    auto all_closed = [&] {
        return swarm.count(connection_swarm::phase::open) == 0 && swarm.count(connection_swarm::phase::connecting) == 0;
    };
    std::size_t returned = 0;
    while (!all_closed() && clock::now() < deadline) {
        swarm.run_until(all_closed, std::min(next_tick, deadline));
        next_tick += tick;
        // Those the daemon closed come back, request_attack_rate a second at most.
        std::size_t allowed = request_attack_rate / 100;
        for (std::size_t i = returned; i < swarm.size() && allowed > 0; ++i) {
            if (swarm[i].state == connection_swarm::phase::closed_by_server && comes_back[i]) {
                comes_back[i] = false;
                start_loris(swarm.open(), false);
                --allowed;
            }
        }
        while (returned < swarm.size() && !comes_back[returned]) ++returned;
        if (clock::now() >= next_byte) {
            for (std::size_t i = 0; i < swarm.size(); ++i)
                if (swarm[i].state == connection_swarm::phase::open && swarm.unsent(i) == 0) swarm.send(i, i % 2 == 0 ? "a" : "b");
            next_byte += std::chrono::seconds(1);
        }
    }
    const auto ended = clock::now();
    ASSERT_TRUE(all_closed()) << swarm.count(connection_swarm::phase::open) << " loris connections still open after "
                              << ms(ended - began) << " ms";
    ASSERT_TRUE(monitor.await_probes(min_probes));
    const auto probes = monitor.stop();

    std::size_t timed_out = 0;
    std::size_t evicted = 0;
    for (std::size_t i = 0; i < swarm.size(); ++i) {
        const auto& c = swarm[i];
        ASSERT_NE(c.state, connection_swarm::phase::failed) << "connect " << i << " failed: errno " << c.error;
        // A loris never finishes its request, so it is never answered: closed silently (evicted) or
        // with a 408 (timed out), never later than the request timeout allows.
        const std::vector<unsigned> answers = statuses_in(c.received);
        if (answers == std::vector<unsigned>{408})
            ++timed_out;
        else if (c.received.empty())
            ++evicted;
        else
            ADD_FAILURE() << "loris " << i << " got: " << c.received.substr(0, 200);
        EXPECT_LE(c.ended_at - c.connected_at, request_timeout + std::chrono::seconds(2)) << "loris " << i;
    }
    std::printf("[ figures  ] slow loris: %zu connections, %zu evicted, %zu timed out (408)\n", swarm.size(), evicted,
                timed_out);
    EXPECT_GE(evicted, attackers - connection_cap) << "the cap let more in than it holds";
    EXPECT_GE(timed_out, 1u) << "the request timeout never fired";
    expect_every_probe_in_time(probes, began, ended, "slow loris");
    expect_session_undisturbed(d);
    expect_memory_bounded(d, "slow loris");
    const exposition m = metrics(d);
    EXPECT_GE(m.value_of("sessiond_http_timeouts_total").value_or(0), static_cast<double>(timed_out));
    EXPECT_GE(m.value_of("sessiond_http_connections_evicted_total").value_or(0), static_cast<double>(evicted));
}

TEST_F(hostile_clients, one_mebibyte_headers_get_431_without_the_daemon_buffering_them) {
    // Buffered, their headers alone would be 64 MiB, twice the memory allowance. Under AddressSanitizer,
    // which checks no memory bound, 16: draining 64 MiB there kept probes waiting up to 56 ms.
    constexpr std::size_t attackers = under_asan ? 16 : 64;
    constexpr std::size_t header_bytes = 1024 * 1024;
    auto& d = daemon_under_attack();
    ASSERT_NE(port_, 0);

    // Half of them in one endless field, half in many ordinary-looking ones.
    auto huge_request = [&](std::size_t i) {
        std::string r = "GET /api/ibkr/status HTTP/1.1\r\nHost: x\r\n";
        if (i % 2 == 0) {
            r += "X-Huge: " + std::string(header_bytes, 'h') + "\r\n";
        } else {
            for (std::size_t n = 0; r.size() < header_bytes; ++n) r += "X-Field-" + std::to_string(n) + ": " + std::string(100, 'v') + "\r\n";
        }
        return r + "\r\n";
    };
    livez_monitor monitor(port_);
    connection_swarm swarm(port_);
    const auto began = clock::now();
    open_at_attack_rate(swarm, attackers, request_attack_rate, [&](std::size_t c) {
        swarm.send(c, huge_request(c));
        swarm.finish_sending(c);
    });
    ASSERT_TRUE(swarm.run_until(
        [&] { return swarm.count(connection_swarm::phase::closed_by_server) + swarm.count(connection_swarm::phase::failed) == attackers; },
        began + std::chrono::seconds(30)));
    // Long enough for min_probes even if the refusals were quick: the daemon is still draining.
    ASSERT_TRUE(monitor.await_probes_since(began, min_probes));
    const auto ended = clock::now();
    const auto probes = monitor.stop();

    for (std::size_t i = 0; i < swarm.size(); ++i) {
        const auto answers = statuses_in(swarm[i].received);
        EXPECT_EQ(answers, std::vector<unsigned>{431}) << "connection " << i << " got: " << swarm[i].received.substr(0, 200);
    }
    expect_every_probe_in_time(probes, began, ended, "1 MiB headers");
    expect_session_undisturbed(d);
    expect_memory_bounded(d, "1 MiB headers");
    EXPECT_LT(d.log().size(), 1024 * 1024u) << "the daemon logged what it was sent";
    EXPECT_EQ(metrics(d).value_of("sessiond_http_rejected_requests_total", {{"reason", "too_large"}}),
              static_cast<double>(attackers));
}

// Within the 8 KiB header limit, 2,000 empty fields ("a:") cost 160 KiB once parsed, and the parser
// keeps what it has parsed while it waits for the rest: 80 MiB at the connection cap until the
// request timeout, had the count of fields no limit.
TEST_F(hostile_clients, headers_of_empty_fields_are_refused_at_the_field_limit_before_they_cost_memory) {
    constexpr std::size_t attackers = 600;
    std::string why;
    if (!raise_descriptor_limit(4 * attackers, why)) GTEST_SKIP() << why;
    auto& d = daemon_under_attack();
    ASSERT_NE(port_, 0);

    std::string fields = "GET /api/ibkr/status HTTP/1.1\r\nHost: x\r\n";
    while (fields.size() < 8000) fields += "a:\r\n";
    connection_swarm swarm(port_);
    // Half of them end their header, half never do; none stops sending: the daemon ends them all.
    const auto [began, ended, probes] = attack_until_all_closed(
        port_, swarm, attackers, [&](std::size_t c) { swarm.send(c, c % 2 == 0 ? fields + "\r\n" : fields); });

    // Each is refused, or evicted before the daemon read it when more came than the cap holds.
    std::size_t unread = 0;
    for (std::size_t i = 0; i < swarm.size(); ++i) {
        if (swarm[i].received.empty()) {
            ++unread;
            continue;
        }
        EXPECT_EQ(statuses_in(swarm[i].received), std::vector<unsigned>{431})
            << "connection " << i << " got: " << swarm[i].received.substr(0, 200);
    }
    EXPECT_LE(unread, attackers - connection_cap);
    expect_every_probe_in_time(probes, began, ended, "empty header fields");
    expect_session_undisturbed(d);
    expect_memory_bounded(d, "empty header fields");
    EXPECT_GE(metrics(d).value_of("sessiond_http_rejected_requests_total", {{"reason", "too_large"}}).value_or(0),
              static_cast<double>(attackers - unread));
}

TEST_F(hostile_clients, pipelined_garbage_gets_400_after_the_valid_requests_and_nobody_else_notices) {
    constexpr std::size_t garbage_after_requests = 32;
    constexpr std::size_t random_bytes = 32;
    auto& d = daemon_under_attack();
    ASSERT_NE(port_, 0);
    const auto seed = std::random_device{}();
    SCOPED_TRACE("random garbage seed " + std::to_string(seed));
    std::mt19937 rng(seed);

    // A well-behaved client on one keep-alive connection across the attack.
    auto neighbour = d.api();
    neighbour.keep_alive(true);
    ASSERT_TRUE(neighbour.get("/api/ibkr/status"));

    auto random_garbage = [&](std::size_t size) {
        std::string bytes(size, '\0');
        for (auto& b : bytes) b = static_cast<char>(rng() & 0xff);
        return bytes;
    };
    const std::string valid =
        "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /api/ibkr/status HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    livez_monitor monitor(port_);
    connection_swarm swarm(port_);
    const auto began = clock::now();
    open_at_attack_rate(swarm, garbage_after_requests + random_bytes, request_attack_rate, [&](std::size_t i) {
        // At least 256 random bytes: shorter ones could all be token characters, a request line still
        // in progress rather than garbage.
        const std::string garbage = random_garbage(256 + rng() % (64 * 1024));
        swarm.send(i, i < garbage_after_requests ? valid + garbage : garbage);
        // Half of them stop sending (the daemon reads their EOF), half keep the connection open: the
        // daemon must close those itself.
        if (i % 2 == 0) swarm.finish_sending(i);
    });
    auto all_ended = [&] {
        return swarm.count(connection_swarm::phase::closed_by_server) + swarm.count(connection_swarm::phase::failed) == swarm.size();
    };
    // A 400 closes the connection once the daemon has drained what the client still sends, 2 s at most.
    ASSERT_TRUE(swarm.run_until(all_ended, began + std::chrono::seconds(10)))
        << swarm.count(connection_swarm::phase::open) << " connections still open";
    ASSERT_TRUE(monitor.await_probes_since(began, min_probes));
    const auto ended = clock::now();
    const auto probes = monitor.stop();

    for (std::size_t i = 0; i < swarm.size(); ++i) {
        const auto& c = swarm[i];
        ASSERT_EQ(c.state, connection_swarm::phase::closed_by_server) << "connection " << i << ": errno " << c.error;
        const auto expected = i < garbage_after_requests ? std::vector<unsigned>{200, 200, 404, 400} : std::vector<unsigned>{400};
        EXPECT_EQ(statuses_in(c.received), expected) << "connection " << i << " got: " << c.received.substr(0, 400);
    }
    const auto status_again = neighbour.get("/api/ibkr/status");
    ASSERT_TRUE(status_again) << status_again.error().message;
    EXPECT_EQ(status_again->status, 200u);
    EXPECT_EQ(neighbour.connections_opened(), 1u) << "the neighbour's keep-alive connection was closed";
    expect_every_probe_in_time(probes, began, ended, "pipelined garbage");
    expect_session_undisturbed(d);
    expect_memory_bounded(d, "pipelined garbage");
    // The valid requests before the garbage were served and counted like any other; the garbage was
    // counted apart.
    const exposition m = metrics(d);
    EXPECT_GE(m.value_of("sessiond_http_requests_total", {{"path", "other"}, {"code", "404"}}).value_or(0),
              static_cast<double>(garbage_after_requests));
    EXPECT_EQ(m.value_of("sessiond_http_rejected_requests_total", {{"reason", "malformed"}}),
              static_cast<double>(swarm.size()));
}


// The gateway's paths, from clients it does not serve (no gateway token): a body announced at 1 MiB is
// refused before it is read (the daemon holds 16 KiB at most for a client it refuses), garbage gets
// 400, and calls get 401 without reaching IBKR; the session and /livez do not notice.
TEST_F(hostile_clients, gateway_paths_from_clients_it_does_not_serve_cost_neither_memory_nor_ibkr_calls) {
    constexpr std::size_t attackers = 480;
    std::string why;
    if (!raise_descriptor_limit(4 * attackers, why)) GTEST_SKIP() << why;
    daemon_options o;
    o.environment["SESSIOND_GATEWAY_TOKEN"] = "gateway-canary-" + canary_api_token().substr(0, 24);
    auto& d = daemon_under_attack(std::move(o));
    ASSERT_NE(port_, 0);
    const auto forwarded_before = sim_calls(accounts_path);

    auto attack = [](std::size_t i) -> std::string {
        switch (i % 3) {
            case 0:  // an order body of 1 MiB announced, 60 KiB of it sent, the rest never
                return "POST /v1/api/iserver/account/DU1234567/orders HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n" +
                       std::string(60 * 1024, '{');
            case 1:  // garbage after a gateway path
                return "GET /v1/api/iserver/accounts HTTP/1.1\r\nHost: x\r\n\x01\x02 garbage\r\n\r\n";
            default:  // a call without the token
                return "GET /v1/api/iserver/accounts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        }
    };
    connection_swarm swarm(port_);
    const auto [began, ended, probes] =
        attack_until_all_closed(port_, swarm, attackers, [&](std::size_t c) { swarm.send(c, attack(c)); });

    for (std::size_t i = 0; i < swarm.size(); ++i) {
        const auto answers = statuses_in(swarm[i].received);
        if (answers.empty()) continue;  // evicted before the daemon read it
        const unsigned expected = i % 3 == 0 ? 413u : i % 3 == 1 ? 400u : 401u;
        EXPECT_EQ(answers, std::vector<unsigned>{expected}) << "connection " << i;
    }
    expect_every_probe_in_time(probes, began, ended, "gateway paths without the token");
    expect_session_undisturbed(d);
    expect_memory_bounded(d, "gateway paths without the token");
    EXPECT_EQ(sim_calls(accounts_path), forwarded_before) << "nothing reached IBKR";
}

}  // namespace
}  // namespace sessiond::testing
