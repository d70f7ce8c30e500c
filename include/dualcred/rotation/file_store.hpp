#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../detail/secure_zero.hpp"
#include "../error.hpp"
#include "../provider/detail/dotenv.hpp"
#include "../provider/detail/read_file.hpp"
#include "../secret.hpp"
#include "detail/posix_file.hpp"
#include "state.hpp"

namespace dualcred::rotation {

struct file_store_options {
  /// The key holding the store's revision. `file_provider` ignores it.
  std::string revision_key = "DUALCRED_REVISION";
  /// Mode of a file or revision directory created from nothing (an existing dotenv file
  /// keeps its own mode and, where permitted, its owner).
  mode_t mode = 0600;
  /// A larger file or key is `errc::malformed`.
  std::size_t max_size = 1 << 20;
};

/// A `writable_store` on local files, in one of the two shapes `file_provider` reads:
///
/// - a **dotenv file** (the path is not a directory): rewritten whole into a temporary file
///   beside it, fsync'ed, then renamed over it, so a reader sees the old or the new file.
///   Values are written double-quoted; comments and layout are not kept.
/// - a **directory** in the Kubernetes secret-volume layout: each revision is a directory
///   `..rev_N.XXXXXX` with one file per key, `..data` a symlink to the live one (swapped by
///   rename), and `KEY -> ..data/KEY` symlinks. A plain directory of key files is taken
///   over into this layout on the first write.
///
/// The revision is a counter under `revision_key`; writes hold an flock (`PATH.lock`, or
/// `DIR/..dualcred.lock`) across the check and the swap, so check-and-set holds between
/// processes on one host. Nothing here copies a secret into a buffer that is not scrubbed.
class file_store {
 public:
  explicit file_store(std::string path, file_store_options opts = {})
      : path_(std::move(path)), opts_(std::move(opts)) {
    while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
  }

  [[nodiscard]] result<stored> read() {
    DUALCRED_TRY(dir, is_directory());
    auto lock = detail::lock_file(lock_path(dir), false);
    if (!lock) return std::move(lock).as_failure();
    return dir ? read_directory() : read_dotenv();
  }

  [[nodiscard]] result<std::uint64_t> write(const values& data, std::uint64_t expected) {
    for (const auto& [key, value] : data) {
      if (key == opts_.revision_key)
        return fail(errc::invalid_argument,
                    fmt::format("{}: {} is the store's own key", describe(), key));
      DUALCRED_TRY(check_key(key));
    }
    DUALCRED_TRY(dir, is_directory());
    auto lock = detail::lock_file(lock_path(dir), true);
    if (!lock) return std::move(lock).as_failure();
    auto current = dir ? read_directory() : read_dotenv();
    std::uint64_t now = 0;
    if (current) {
      now = current.value().revision;
    } else if (!current.error().is(errc::not_found) || dir) {
      return std::move(current).as_failure();
    }
    if (now != expected)
      return fail(errc::conflict,
                  fmt::format("{}: the revision is {}, not {} (written by someone else since it "
                              "was read)",
                              describe(), now, expected));
    const std::uint64_t next = now + 1;
    DUALCRED_TRY(dir ? write_directory(data, next) : write_dotenv(data, next));
    return next;
  }

  [[nodiscard]] std::string describe() const { return fmt::format("file store {}", path_); }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  result<bool> is_directory() const {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      if (errno == ENOENT) return false;
      return boost::outcome_v2::failure(detail::errno_error(errno, path_, "stat"));
    }
    return S_ISDIR(st.st_mode);
  }

  std::string lock_path(bool dir) const {
    return dir ? path_ + "/..dualcred.lock" : path_ + ".lock";
  }

  result<void> check_key(std::string_view key) const {
    bool ok = !key.empty() && key.front() != '.' && key.front() != '-' &&
              !(key.front() >= '0' && key.front() <= '9');
    for (const char c : key)
      ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-');
    if (!ok)
      return fail(
          errc::invalid_argument,
          fmt::format("{}: '{}' cannot be a key (letters, digits, _ . - only)", describe(), key));
    return boost::outcome_v2::success();
  }

  // Moves the revision key out of `data`.
  result<stored> finish(values data) const {
    stored out;
    if (const auto it = data.find(opts_.revision_key); it != data.end()) {
      const std::string_view text = it->second.reveal();
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out.revision);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        return fail(errc::malformed,
                    fmt::format("{}: {} is not a number", describe(), opts_.revision_key));
      data.erase(it);
    }
    out.data = std::move(data);
    return out;
  }

  result<stored> read_dotenv() const {
    DUALCRED_TRY(raw, dualcred::detail::read_secret_file(path_, {opts_.max_size, false}));
    if (!raw) return fail(errc::not_found, fmt::format("{} does not exist", describe()));
    DUALCRED_TRY(entries, dualcred::detail::dotenv_parser::parse(raw->reveal(), path_));
    return finish(std::move(entries));
  }

  // The live revision directory: the `..data` target, or the directory itself.
  std::string data_dir() const {
    char buf[4096];
    const std::string link = path_ + "/..data";
    const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
    if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf) return path_;
    const std::string target(buf, static_cast<std::size_t>(n));
    return target.starts_with('/') ? target : path_ + "/" + target;
  }

  result<stored> read_directory() const {
    const std::string dir = data_dir();
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return boost::outcome_v2::failure(detail::errno_error(errno, dir, "list"));
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      if (name.empty() || name.front() == '.') continue;
      names.emplace_back(name);
    }
    ::closedir(d);
    values data;
    for (const auto& name : names) {
      const std::string file = dir + "/" + name;
      struct stat st {};
      if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      DUALCRED_TRY(raw, dualcred::detail::read_secret_file(file, {opts_.max_size, false}));
      if (!raw) continue;
      std::string_view text = raw->reveal();
      if (text.ends_with("\r\n"))
        text.remove_suffix(2);
      else if (text.ends_with('\n'))
        text.remove_suffix(1);
      data.insert_or_assign(name, secret(text));
    }
    return finish(std::move(data));
  }

  // One `KEY="value"` line per key, escaped for dotenv_parser's double quotes.
  static void append_dotenv(std::string& out, std::string_view key, std::string_view value) {
    out.append(key);
    out.append("=\"");
    for (const char c : value) {
      switch (c) {
        case '\\':
          out.append("\\\\");
          break;
        case '"':
          out.append("\\\"");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        default:
          out.push_back(c);
      }
    }
    out.append("\"\n");
  }

  result<void> write_dotenv(const values& data, std::uint64_t revision) const {
    constexpr std::string_view header = "# Written by dualcred rotation; comments are not kept.\n";
    std::size_t size = header.size();
    const std::string rev = std::to_string(revision);
    for (const auto& [key, value] : data) size += key.size() + 2 * value.size() + 5;
    size += opts_.revision_key.size() + rev.size() + 5;
    std::string text;
    text.reserve(size);  // one allocation, so no unscrubbed copy is left behind
    struct scrub {
      std::string& s;
      ~scrub() { dualcred::detail::secure_zero(s.data(), s.size()); }
    } scrub_text{text};
    text.append(header);
    for (const auto& [key, value] : data) append_dotenv(text, key, value.reveal());
    append_dotenv(text, opts_.revision_key, rev);

    const std::string dir = detail::parent_dir(path_);
    std::string tmp;
    DUALCRED_TRY(fd, detail::temp_file(dir, "." + detail::base_name(path_) + ".tmp", tmp));
    struct remove_on_fail {
      const std::string& path;
      bool done = false;
      ~remove_on_fail() {
        if (!done) ::unlink(path.c_str());
      }
    } cleanup{tmp};
    struct stat old {};
    if (::stat(path_.c_str(), &old) == 0) {
      ::fchmod(fd.get(), old.st_mode & 07777);
      if (::fchown(fd.get(), old.st_uid, old.st_gid) != 0) {
        // Not permitted unless root: the file then belongs to the rotator.
      }
    } else {
      ::fchmod(fd.get(), opts_.mode);
    }
    DUALCRED_TRY(detail::write_all(fd.get(), text, tmp));
    if (::fsync(fd.get()) != 0)
      return boost::outcome_v2::failure(detail::errno_error(errno, tmp, "fsync"));
    fd.reset();
    if (::rename(tmp.c_str(), path_.c_str()) != 0)
      return boost::outcome_v2::failure(detail::errno_error(errno, path_, "replace"));
    cleanup.done = true;
    return detail::sync_dir(dir);
  }

  result<void> write_key_file(const std::string& dir, std::string_view key,
                              std::string_view value) const {
    const std::string file = dir + "/" + std::string(key);
    detail::unique_fd fd(
        ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, opts_.mode & 0666));
    if (!fd) return boost::outcome_v2::failure(detail::errno_error(errno, file, "create"));
    DUALCRED_TRY(detail::write_all(fd.get(), value, file));
    if (::fsync(fd.get()) != 0)
      return boost::outcome_v2::failure(detail::errno_error(errno, file, "fsync"));
    return boost::outcome_v2::success();
  }

  // Replaces `link` with a symlink to `target`, atomically (symlink beside it, rename).
  result<void> swap_symlink(const std::string& target, const std::string& link) const {
    const std::string tmp = link + ".dualcred-tmp";
    ::unlink(tmp.c_str());
    if (::symlink(target.c_str(), tmp.c_str()) != 0)
      return boost::outcome_v2::failure(detail::errno_error(errno, tmp, "create the symlink"));
    if (::rename(tmp.c_str(), link.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return boost::outcome_v2::failure(detail::errno_error(err, link, "replace"));
    }
    return boost::outcome_v2::success();
  }

  result<void> write_directory(const values& data, std::uint64_t revision) const {
    const std::string old_dir = data_dir();
    std::string rev_dir = fmt::format("{}/..rev_{}.XXXXXX", path_, revision);
    if (::mkdtemp(rev_dir.data()) == nullptr)
      return boost::outcome_v2::failure(detail::errno_error(errno, path_, "create a revision in"));
    ::chmod(rev_dir.c_str(), (opts_.mode & 0777) | ((opts_.mode & 0444) >> 2));  // r → x
    struct remove_on_fail {
      const file_store& self;
      const std::string& dir;
      bool done = false;
      ~remove_on_fail() {
        if (!done) self.remove_tree(dir);
      }
    } cleanup{*this, rev_dir};
    for (const auto& [key, value] : data) {
      DUALCRED_TRY(write_key_file(rev_dir, key, value.reveal()));
    }
    DUALCRED_TRY(write_key_file(rev_dir, opts_.revision_key, std::to_string(revision)));
    DUALCRED_TRY(detail::sync_dir(rev_dir));
    DUALCRED_TRY(swap_symlink(detail::base_name(rev_dir), path_ + "/..data"));
    cleanup.done = true;
    // Top-level names follow `..data`; a key that is gone loses its link.
    for (const auto& [key, value] : data) {
      DUALCRED_TRY(swap_symlink("..data/" + key, path_ + "/" + key));
    }
    if (old_dir != path_) {
      DIR* d = ::opendir(old_dir.c_str());
      if (d != nullptr) {
        std::vector<std::string> gone;
        while (const dirent* e = ::readdir(d)) {
          const std::string name = e->d_name;
          if (!name.empty() && name.front() != '.' && !data.contains(name)) gone.push_back(name);
        }
        ::closedir(d);
        for (const auto& name : gone) ::unlink((path_ + "/" + name).c_str());
      }
      remove_tree(old_dir);
    }
    return detail::sync_dir(path_);
  }

  // Removes a revision directory (flat: files only), scrubbing nothing: its files hold
  // values still in the store or retired ones the filesystem frees.
  void remove_tree(const std::string& dir) const {
    if (DIR* d = ::opendir(dir.c_str())) {
      std::vector<std::string> names;
      while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") names.push_back(name);
      }
      ::closedir(d);
      for (const auto& n : names) ::unlink((dir + "/" + n).c_str());
    }
    ::rmdir(dir.c_str());
  }

  std::string path_;
  file_store_options opts_;
};

}  // namespace dualcred::rotation
