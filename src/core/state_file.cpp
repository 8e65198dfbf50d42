#include "sessiond/core/state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <system_error>

namespace sessiond {

namespace {

std::string reason(int err) { return std::error_code(err, std::generic_category()).message(); }

error cannot_write(const std::filesystem::path& path, std::string_view step, int err) {
    return make_error("cannot write " + path.string() + ": " + std::string(step) + ": " + reason(err));
}

error cannot_read(const std::filesystem::path& path, std::string_view why) {
    return make_error("cannot read " + path.string() + ": " + std::string(why));
}

class file_descriptor {
public:
    explicit file_descriptor(int fd) noexcept : fd_(fd) {}
    ~file_descriptor() { reset(); }
    file_descriptor(const file_descriptor&) = delete;
    file_descriptor& operator=(const file_descriptor&) = delete;

    [[nodiscard]] int get() const noexcept { return fd_; }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    // Closes now and reports what close() said: on some filesystems a write error surfaces only here.
    int close() noexcept {
        const int result = ::close(fd_);
        fd_ = -1;
        return result;
    }

private:
    int fd_;
};

// 0 when all of content is written, else the errno.
int write_all(int fd, std::string_view content) {
    while (!content.empty()) {
        const ssize_t n = ::write(fd, content.data(), content.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return EIO;
        content.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
}

// Distinct within the process; the pid makes it distinct between processes, O_EXCL does the rest.
std::atomic<unsigned> temp_counter{0};

}  // namespace

expected<void> write_atomically(const std::filesystem::path& path, std::string_view content) {
    if (!path.has_filename()) return cannot_write(path, "not a file name", EINVAL);
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");

    // Hidden and beside the target: rename() is atomic only within one filesystem.
    std::filesystem::path temp;
    int fd = -1;
    for (int attempt = 0; fd < 0; ++attempt) {
        temp = dir / ("." + path.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                      std::to_string(temp_counter.fetch_add(1)));
        fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
        // EEXIST: a leftover of an earlier process that had the same pid; try the next name.
        if (fd < 0 && (errno != EEXIST || attempt == 99)) {
            const int err = errno;
            return cannot_write(path, "create a temporary file in " + dir.string(), err);
        }
    }
    file_descriptor file(fd);
    const auto fail = [&](std::string_view step, int err) {
        file.reset();
        ::unlink(temp.c_str());
        return cannot_write(path, step, err);
    };

    // The umask may have removed bits from 0600, never added any; make the mode exact.
    if (::fchmod(file.get(), 0600) != 0) return fail("set mode 0600 on the temporary file", errno);
    if (const int err = write_all(file.get(), content)) return fail("write the temporary file", err);
    if (::fsync(file.get()) != 0) return fail("sync the temporary file", errno);
    if (file.close() != 0) return fail("close the temporary file", errno);
    if (::rename(temp.c_str(), path.c_str()) != 0) return fail("rename the temporary file over it", errno);

    // The rename itself is durable only once the directory entry is.
    file_descriptor directory(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (directory.get() < 0) return cannot_write(path, "open its directory to sync it", errno);
    // EINVAL: the filesystem cannot sync directories at all; nothing more can be done there.
    if (::fsync(directory.get()) != 0 && errno != EINVAL)
        return cannot_write(path, "sync its directory (the new content is in place but may not survive a crash)",
                            errno);
    return {};
}

std::size_t remove_leftover_temporaries(const std::filesystem::path& path) {
    const std::string prefix = "." + path.filename().string() + ".tmp-";
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::error_code ec;
    std::size_t removed = 0;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.starts_with(prefix) && ::unlink(it->path().c_str()) == 0) ++removed;
    }
    return removed;
}

namespace {

struct read_rules {
    std::size_t max_bytes;
    // State files: nothing but a regular file, and never wait for a writer of a FIFO planted in place
    // of one (the event loop reads them).
    bool regular_only;
};

struct file_bytes {
    std::string bytes;
    unsigned mode = 0;
};

// Wipes the buffer on every way out: what is read may be a key.
struct wiped_on_exit {
    std::string& buffer;
    ~wiped_on_exit() { wipe(buffer); }
};

// The reader behind read_small_file() and read_private_file(); nullopt when the file does not exist.
expected<std::optional<file_bytes>> read_bytes(const std::filesystem::path& path, read_rules rules) {
    file_descriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | (rules.regular_only ? O_NONBLOCK : 0)));
    if (file.get() < 0) {
        if (errno == ENOENT) return std::optional<file_bytes>();
        return cannot_read(path, reason(errno));
    }
    struct stat st {};
    if (::fstat(file.get(), &st) != 0) return cannot_read(path, reason(errno));
    if (rules.regular_only && !S_ISREG(st.st_mode)) return cannot_read(path, "not a regular file");
    if (S_ISDIR(st.st_mode)) return cannot_read(path, reason(EISDIR));
    // State files name their limit; configuration files have always said the system's "File too large".
    const auto too_large = [&] {
        return cannot_read(path, rules.regular_only ? "larger than " + std::to_string(rules.max_bytes) + " bytes"
                                                    : reason(EFBIG));
    };
    if (S_ISREG(st.st_mode) && (st.st_size < 0 || static_cast<std::uintmax_t>(st.st_size) > rules.max_bytes))
        return too_large();

    // One byte past the limit tells a file that grew since fstat() (or a device without a size) from
    // one that fits exactly.
    const std::size_t limit = rules.max_bytes + 1;
    const auto expected_size = static_cast<std::size_t>(std::max<off_t>(st.st_size, 0)) + 1;
    std::string buffer(std::clamp<std::size_t>(expected_size, std::min<std::size_t>(4096, limit), limit), '\0');
    const wiped_on_exit wiper{buffer};
    std::size_t length = 0;
    for (;;) {
        if (length == buffer.size()) {
            if (buffer.size() >= limit) return too_large();
            std::string bigger(std::min(buffer.size() * 2, limit), '\0');
            std::copy_n(buffer.data(), length, bigger.data());
            wipe(buffer);
            buffer.swap(bigger);
        }
        const ssize_t n = ::read(file.get(), buffer.data() + length, buffer.size() - length);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return cannot_read(path, reason(errno));
        if (n == 0) break;
        length += static_cast<std::size_t>(n);
    }
    buffer.resize(length);  // shrinking never reallocates: whoever owns it last wipes the whole capacity
    return std::optional<file_bytes>(file_bytes{std::move(buffer), static_cast<unsigned>(st.st_mode & 07777)});
}

}  // namespace

expected<std::optional<std::string>> read_small_file(const std::filesystem::path& path, std::size_t max_bytes) {
    auto read = read_bytes(path, {max_bytes, true});
    if (!read) return read.error();
    if (!*read) return std::optional<std::string>();
    return std::optional<std::string>(std::move((*read)->bytes));
}

expected<private_file> read_private_file(const std::filesystem::path& path, std::size_t max_bytes) {
    auto read = read_bytes(path, {max_bytes, false});
    if (!read) return read.error();
    if (!*read) return cannot_read(path, reason(ENOENT));
    return private_file{secret(std::move((*read)->bytes)), (*read)->mode};
}

}  // namespace sessiond
