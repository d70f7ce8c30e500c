#pragma once

// A throwaway directory for tests, benchmarks and demos.

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace dualcred::testing {

/// A fresh mkdtemp directory, removed with everything in it at scope exit.
///
///     dualcred::testing::temp_dir dir("dualcred-pg", "/tmp");
///     dir.write("app.env", "DB_PASS_CURRENT=...\n");
class temp_dir {
 public:
  /// `stem-XXXXXX` under `base`, else under $TMPDIR (else /tmp).
  explicit temp_dir(const std::string& stem = "dualcred", const std::filesystem::path& base = {}) {
    const std::filesystem::path parent =
        base.empty() ? std::filesystem::temp_directory_path() : base;
    std::string templ = (parent / (stem + "-XXXXXX")).string();
    if (::mkdtemp(templ.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed under " + parent.string());
    path_ = templ;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::string operator/(const std::string& name) const {
    return (path_ / name).string();
  }

  /// Writes `content` to `name` (atomically, by rename) with `mode`; returns its path.
  std::string write(const std::string& name, const std::string& content, mode_t mode = 0600) const {
    const std::string target = *this / name;
    const std::string tmp = target + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << content;
    }
    ::chmod(tmp.c_str(), mode);
    std::filesystem::rename(tmp, target);
    return target;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace dualcred::testing
