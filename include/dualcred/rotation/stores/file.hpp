#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

#include "../../error.hpp"
#include "../state.hpp"
#include "dotenv.hpp"
#include "secret_dir.hpp"

namespace dualcred::rotation::stores {

/// The file store for a path as `file_provider` would read it: a `secret_dir_store` when the
/// path is a directory, else a `dotenv_store` (which creates the file on the first write).
/// Chosen once, at construction; for tools and tests that take a path from the operator.
class file_store {
 public:
  explicit file_store(std::string path, file_store_options opts = {})
      : store_(pick(std::move(path), std::move(opts))) {}

  [[nodiscard]] result<stored> read() {
    return std::visit([](auto& s) { return s.read(); }, store_);
  }
  [[nodiscard]] result<std::uint64_t> write(const secret_map& data, std::uint64_t expected) {
    return std::visit([&](auto& s) { return s.write(data, expected); }, store_);
  }
  [[nodiscard]] result<rotation_lock> lock_rotation(const lock_options& o) const {
    return std::visit([&](const auto& s) { return s.lock_rotation(o); }, store_);
  }
  [[nodiscard]] std::string describe() const {
    return std::visit([](const auto& s) { return s.describe(); }, store_);
  }
  [[nodiscard]] const std::string& path() const noexcept {
    return std::visit([](const auto& s) -> const std::string& { return s.path(); }, store_);
  }
  [[nodiscard]] bool is_directory() const noexcept {
    return std::holds_alternative<secret_dir_store>(store_);
  }

 private:
  using either = std::variant<dotenv_store, secret_dir_store>;

  static either pick(std::string path, file_store_options opts) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      return secret_dir_store(std::move(path), std::move(opts));
    return dotenv_store(std::move(path), std::move(opts));
  }

  either store_;
};

}  // namespace dualcred::rotation::stores
