#include "sessiond/host/username_lock.hpp"

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/evp.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace sessiond {

namespace asio = boost::asio;
namespace json = boost::json;
using local = asio::local::stream_protocol;
using std::chrono::milliseconds;

namespace {

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// A holder's answer is one short line; anything longer is not one.
constexpr std::size_t max_answer = 1024;
// Probes answered at once; more are closed unanswered (a local flood must not run up descriptors).
constexpr int max_open_answers = 16;

}  // namespace

std::string username_lock_name(std::string_view credential, const base_url& endpoint) {
    const std::string input =
        ascii_lower(credential) + '\n' + "https://" + ascii_lower(endpoint.host) + ":" + std::to_string(endpoint.port);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha256(), nullptr);
    std::string name(1, '\0');
    name += "ibkr-sessiond/";
    for (unsigned int i = 0; i < 16 && i < length; ++i) name += fmt::format("{:02x}", digest[i]);
    return name;
}

std::string holder_line(const lock_holder& holder) {
    json::object o;
    o["pid"] = holder.pid ? json::value(*holder.pid) : json::value(nullptr);
    o["api"] = holder.api;
    o["version"] = holder.version;
    o["command"] = holder.command;
    return json::serialize(o) + "\n";
}

expected<lock_holder> parse_holder_line(std::string_view line) {
    if (const auto nl = line.find('\n'); nl != std::string_view::npos) line = line.substr(0, nl);
    boost::system::error_code ec;
    const json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) return make_error("the lock holder's answer is not a JSON object");
    const json::object& o = v.as_object();
    lock_holder h;
    if (const auto* pid = o.if_contains("pid"); pid != nullptr && !pid->is_null()) {
        if (!pid->is_int64() || pid->as_int64() <= 0) return make_error("the lock holder's pid is not a process id");
        h.pid = pid->as_int64();
    }
    auto text = [&](std::string_view key, std::string& into) -> bool {
        const auto* s = o.if_contains(key);
        if (s == nullptr || s->is_null()) return true;
        if (!s->is_string()) return false;
        into = std::string(s->as_string());
        return true;
    };
    if (!text("api", h.api) || !text("version", h.version) || !text("command", h.command))
        return make_error("the lock holder's answer has a field of the wrong type");
    // Only what a terminal can print safely: this came from another process.
    if (!h.api.empty() && !h.api.starts_with("http://") && !h.api.starts_with("https://"))
        return make_error("the lock holder's API address is not an http URL");
    for (const std::string* s : {&h.api, &h.version, &h.command})
        for (const char c : *s)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                return make_error("the lock holder's answer has a control character");
    return h;
}

std::string describe_holder(const lock_holder& holder, const base_url& endpoint) {
    std::string who = holder.command == "test-connection" ? "an `ibkr-sessiond test-connection`" : "another ibkr-sessiond";
    who += holder.pid ? fmt::format(" (pid {}", *holder.pid) : std::string(" (pid unknown: it did not answer");
    if (!holder.version.empty()) who += ", version " + holder.version;
    who += ")";
    std::string out = who + " keeps this IBKR username (the one in IBKR_CREDENTIAL) at " + endpoint.text;
    if (!holder.api.empty())
        out += "; ask it: curl " + holder.api + "/api/ibkr/status";
    else if (holder.command == "test-connection")
        out += "; it ends by itself within a few minutes";
    return out;
}

std::string api_url(std::string_view host, std::uint16_t port) {
    std::string h(host);
    if (h == "0.0.0.0" || h == "localhost" || h.empty()) h = "127.0.0.1";
    if (h == "::") h = "::1";
    if (h.find(':') != std::string::npos) h = "[" + h + "]";
    return "http://" + h + ":" + std::to_string(port);
}

// ---------------------------------------------------------------------------------------------
// The socket part.

struct username_lock::state : std::enable_shared_from_this<state> {
    state(const asio::any_io_executor& ex, std::string n) : acceptor(ex), name(std::move(n)) {}

    void do_accept() {
        acceptor.async_accept([self = shared_from_this()](const boost::system::error_code& ec, local::socket peer) {
            self->on_accept(ec, std::move(peer));
        });
    }

    void on_accept(const boost::system::error_code& ec, local::socket peer) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
        if (ec) {
            // Out of descriptors or the like: try again shortly rather than spin.
            auto retry = std::make_shared<asio::steady_timer>(acceptor.get_executor(), std::chrono::seconds(1));
            retry->async_wait([self = shared_from_this(), retry](const boost::system::error_code& e) {
                if (!e && self->acceptor.is_open()) self->do_accept();
            });
            return;
        }
        if (open_answers < max_open_answers) answer(std::move(peer));
        do_accept();
    }

    // One line, then close; a peer that does not take it within a second is dropped.
    void answer(local::socket peer) {
        struct reply {
            reply(local::socket s, std::string l) : socket(std::move(s)), timer(socket.get_executor()), line(std::move(l)) {}
            local::socket socket;
            asio::steady_timer timer;
            std::string line;
        };
        auto r = std::make_shared<reply>(std::move(peer), line);
        ++open_answers;
        r->timer.expires_after(std::chrono::seconds(1));
        r->timer.async_wait([r](const boost::system::error_code& e) {
            if (!e) {
                boost::system::error_code ignored;
                r->socket.close(ignored);
            }
        });
        asio::async_write(r->socket, asio::buffer(r->line),
                          [self = shared_from_this(), r](const boost::system::error_code& e, std::size_t) {
                              if (!e) ++self->answered;
                              boost::system::error_code ignored;
                              r->socket.shutdown(local::socket::shutdown_both, ignored);
                              r->socket.close(ignored);
                              r->timer.cancel();
                              --self->open_answers;
                          });
    }

    local::acceptor acceptor;
    std::string name;
    std::string line;
    int open_answers = 0;
    std::uint64_t answered = 0;
};

namespace {

// connect() to the abstract name without blocking; the descriptor (or -1 with errno set).
int connect_to(std::string_view name) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (name.size() > sizeof(address.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    std::memcpy(address.sun_path, name.data(), name.size());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0 && errno != EINPROGRESS &&
        errno != EAGAIN) {
        const int saved = errno;
        ::close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

}  // namespace

std::optional<lock_holder> username_lock::probe(std::string_view name, milliseconds timeout) {
    const int fd = connect_to(name);
    if (fd < 0) {
        // Nobody listens: the name is free (or the holder is between bind and listen).
        if (errno == ECONNREFUSED || errno == ENOENT) return std::nullopt;
        return lock_holder{};
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string got;
    while (got.size() < max_answer && got.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) break;
        char buffer[256];
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) break;
        got.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    auto holder = parse_holder_line(got);
    return holder ? *holder : lock_holder{};
}

username_lock::attempt username_lock::acquire(const asio::any_io_executor& executor, std::string name,
                                              lock_holder self, milliseconds probe_timeout) {
    // The holder may end between our bind and our probe (then the name is free again): a few rounds.
    for (int round = 0; round < 3; ++round) {
        auto s = std::make_shared<state>(executor, name);
        boost::system::error_code ec;
        s->acceptor.open(local(), ec);
        if (ec) return make_error("cannot make the host-wide lock's socket (AF_UNIX): " + ec.message());
        // The lock must not outlive this process in a child it might start.
        ::fcntl(s->acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
        s->acceptor.bind(local::endpoint(name), ec);
        if (!ec) {
            s->acceptor.listen(asio::socket_base::max_listen_connections, ec);
            if (ec) return make_error("cannot listen on the host-wide lock's socket: " + ec.message());
            username_lock lock(std::move(s));
            lock.describe_self(std::move(self));
            lock.state_->do_accept();
            return lock;
        }
        if (ec != asio::error::address_in_use) return make_error("cannot bind the host-wide lock's socket: " + ec.message());
        if (auto holder = probe(name, probe_timeout)) return held_elsewhere{std::move(*holder)};
    }
    return held_elsewhere{lock_holder{}};
}

username_lock::username_lock(std::shared_ptr<state> s) : state_(std::move(s)) {}
username_lock::username_lock(username_lock&&) noexcept = default;

username_lock& username_lock::operator=(username_lock&& other) noexcept {
    if (this != &other) {
        if (state_) {
            boost::system::error_code ignored;
            state_->acceptor.close(ignored);
        }
        state_ = std::move(other.state_);
    }
    return *this;
}

username_lock::~username_lock() {
    if (!state_) return;
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
}

const std::string& username_lock::name() const noexcept { return state_->name; }

void username_lock::describe_self(lock_holder self) { state_->line = holder_line(self); }

std::uint64_t username_lock::answered() const noexcept { return state_->answered; }

}  // namespace sessiond
