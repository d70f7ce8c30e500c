#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "../error.hpp"
#include "../file/dotenv.hpp"
#include "../file/fd.hpp"
#include "../file/read.hpp"
#include "../file/secret_dir.hpp"
#include "../secret.hpp"
#include "assemble.hpp"
#include "detail/version_stamp.hpp"
#include "key_names.hpp"

namespace dualcred {

struct file_options {
  /// Refuse files readable by group or others. Off by default: Kubernetes mounts secrets
  /// 0644 unless told otherwise.
  bool refuse_shared_permissions = false;
  /// Larger files are `errc::malformed`: a credential file is never this big.
  std::size_t max_size = 64 * 1024;
};

/// Reads a login from files: either a directory with one file per key (Kubernetes and
/// Docker secrets: `/run/secrets/DB_PASS_CURRENT`), or a dotenv file (`KEY=VALUE` lines).
///
/// In a directory, one trailing newline of each file is dropped, and a Kubernetes volume's
/// `..data` symlink is resolved once per load so all keys come from one revision even while
/// the kubelet swaps it. `..data` must name a `..`-prefixed entry of the directory; key
/// files must be regular files (not symlinks, FIFOs or devices). A credential value is one
/// line of text (no NUL, line break or other control byte). The version changes exactly
/// when the values do.
class file_provider {
 public:
  explicit file_provider(std::string path, key_names keys = key_names::for_prefix("DB"),
                         file_options opts = {})
      : path_(std::move(path)), keys_(std::move(keys)), opts_(opts) {}

  [[nodiscard]] result<credential_set> load() {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) return file::errno_failure(errno, path_, "read");
    auto set = S_ISDIR(st.st_mode) ? load_directory() : load_dotenv();
    if (set) stamp_.stamp(set.value());
    return set;
  }

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  [[nodiscard]] file::read_limits limits() const {
    return {opts_.max_size, opts_.refuse_shared_permissions};
  }

  result<credential_set> load_dotenv() {
    DUALCRED_TRY(raw, file::read_secret_file(path_, limits()));
    if (!raw) return fail(errc::not_found, fmt::format("{} does not exist", path_));
    DUALCRED_TRY(entries, file::dotenv_parser::parse(raw->reveal(), path_));
    return provider::assemble(keys_, path_,
                              [&](const std::string& key) -> result<std::optional<secret>> {
                                const auto it = entries.find(key);
                                if (it == entries.end()) return std::optional<secret>();
                                return std::optional<secret>(std::move(it->second));
                              });
  }

  result<credential_set> load_directory() {
    // Kubernetes publishes a new revision by swapping the `..data` symlink; reading through
    // the revision's descriptor and checking the link did not move gives a consistent set.
    for (int attempt = 0; attempt < 5; ++attempt) {
      DUALCRED_TRY(dir, file::secret_dir::open(path_));
      auto set = provider::assemble(
          keys_, path_, [&](const std::string& key) { return dir.read_key(key, limits()); });
      if (dir.unchanged()) return set;
    }
    return fail(errc::provider_unavailable,
                fmt::format("{} kept changing while being read", path_));
  }

  std::string path_;
  key_names keys_;
  file_options opts_;
  provider::detail::version_stamp stamp_;
};

}  // namespace dualcred
