// libFuzzer target: any bytes as a key file's content, and as a `..data` target and a key
// name, through the secret-directory reader's rules that the file provider and the directory
// store share. An accepted value passes the value rule the stores check at write; a file
// holding an accepted value written as the store writes it reads back as that value.
// Build with .ci/fuzz.sh (clang, -Dfuzzing=enabled); seeds in fuzz/corpus_secret_dir_value.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <dualcred/file/secret_dir.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dualcred::file;
  using namespace dualcred::provider;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const std::string file = "f";
  auto value = key_file_value(raw, file);
  if (value) {
    const std::string_view v = value.value();
    if (!value_defect(v).empty()) std::abort();
    if (raw.substr(0, v.size()) != v || raw.size() - v.size() > 2) std::abort();
    // The store writes the value without an end of line; read back, it is the same value.
    auto again = key_file_value(v, file);
    if (!again || again.value() != v) std::abort();
    if (!check_value("K", v, "s")) std::abort();
  } else {
    if (!value.error().is(dualcred::errc::malformed)) std::abort();
    // The detail is the file name and a fixed reason, never the content.
    if (value.error().detail.size() > 64) std::abort();
  }
  // A `..data` target names one `..`-prefixed entry of the directory, nothing else.
  if (valid_revision_name(raw)) {
    if (!raw.starts_with("..") || raw == ".." || raw.find('/') != std::string_view::npos ||
        raw.find('\0') != std::string_view::npos)
      std::abort();
  }
  if (valid_key(raw)) {
    if (raw.front() == '.' || raw.find('/') != std::string_view::npos || !value_defect(raw).empty())
      std::abort();
  }
  return 0;
}
