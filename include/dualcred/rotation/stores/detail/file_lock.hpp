#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "../../../error.hpp"
#include "../../../file/fd.hpp"
#include "../../../file/lock.hpp"
#include "../../lock.hpp"

namespace dualcred::rotation::stores::detail {

// What the holder of the lock file wrote into it (one line, at most 255 bytes).
inline std::string lock_file_owner(int fd) {
  std::array<char, 256> buf{};
  const ssize_t n = ::pread(fd, buf.data(), buf.size() - 1, 0);
  std::string_view line(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
  line = line.substr(0, line.find('\n'));
  return line.empty() ? std::string("another rotator") : std::string(line);
}

// The rotation lock of a file store: an exclusive flock on the lock file `name` in `dir_fd`,
// polled until `o.wait` has passed. The kernel drops an flock with its process, so a rotator
// that crashed leaves nothing to break. The holder's line is written into the file for the
// error of whoever asks next.
inline result<rotation_lock> take_file_rotation_lock(int dir_fd, const std::string& name,
                                                     const std::string& path, const lock_options& o,
                                                     std::string_view store) {
  DUALCRED_TRY(opened, file::open_lock_file(dir_fd, name, path));
  auto fd = std::make_shared<file::unique_fd>(std::move(opened));
  const auto deadline = std::chrono::steady_clock::now() + o.wait;
  while (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK)
      return boost::outcome_v2::failure(file::errno_error(errno, path, "lock"));
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(errc::locked, fmt::format("{} is being rotated by {} (lock file {})", store,
                                            lock_file_owner(fd->get()), path));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string owner = lock_owner_line(o.holder.empty() ? default_lock_holder() : o.holder,
                                            std::chrono::system_clock::now()) +
                            "\n";
  if (::ftruncate(fd->get(), 0) != 0)
    return boost::outcome_v2::failure(file::errno_error(errno, path, "truncate"));
  DUALCRED_TRY(file::write_all(fd->get(), owner, path));
  return rotation_lock(nullptr, [fd] {
    (void)::ftruncate(fd->get(), 0);
    fd->reset();
  });
}

}  // namespace dualcred::rotation::stores::detail
