#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "../../../error.hpp"
#include "../../../provider/value_rules.hpp"
#include "../../detail/decimal.hpp"
#include "../../state.hpp"

namespace dualcred::rotation::stores {

/// Options of the two file stores (`dotenv_store`, `secret_dir_store`).
struct file_store_options {
  /// The key holding the store's revision. `file_provider` ignores it.
  std::string revision_key = "DUALCRED_REVISION";
  /// Mode of a file or revision directory created from nothing (an existing dotenv file
  /// keeps its own mode and, where permitted, its owner).
  mode_t mode = 0600;
  /// A larger file or key is `errc::malformed`.
  std::size_t max_size = 1 << 20;
};

}  // namespace dualcred::rotation::stores

namespace dualcred::rotation::stores::detail {

// What both file stores refuse before writing anything, naming the key and never the value:
// their own revision key, a key neither shape can hold, and any value `file_provider` would
// refuse on read (`value_defect`: a NUL, which libpq would cut the password at, a line
// break or another control byte). Every value is checked, not only the credentials: the
// store cannot tell which keys a provider will read.
inline result<void> check_write(const secret_map& data, const file_store_options& opts,
                                std::string_view store) {
  for (const auto& [key, value] : data) {
    if (key == opts.revision_key)
      return fail(errc::invalid_argument, fmt::format("{}: {} is the store's own key", store, key));
    if (!provider::valid_key(key))
      return fail(errc::invalid_argument,
                  fmt::format("{}: '{}' cannot be a key (letters, digits, _ . - only, not "
                              "starting with a digit, . or -)",
                              store, key));
    const std::string_view defect = provider::value_defect(value.reveal());
    if (!defect.empty())
      return fail(errc::invalid_argument,
                  fmt::format("{}: {} {}; a file store holds one line of text per key", store, key,
                              defect));
  }
  return boost::outcome_v2::success();
}

// Moves the revision key out of `data`.
inline result<stored> take_revision(secret_map data, const file_store_options& opts,
                                    std::string_view store) {
  stored out;
  if (const auto it = data.find(opts.revision_key); it != data.end()) {
    const auto revision = rotation::detail::parse_decimal<std::uint64_t>(it->second.reveal());
    if (!revision)
      return fail(errc::malformed,
                  fmt::format("{}: {} is not a number (0 to 2^64-1)", store, opts.revision_key));
    out.revision = *revision;
    data.erase(it);
  }
  out.data = std::move(data);
  return out;
}

// The check of a check-and-set write, then the revision to write: `now + 1`, a counter that
// cannot wrap, since a reader comparing versions would take a wrapped one for an old one.
inline result<std::uint64_t> next_revision(std::uint64_t now, std::uint64_t expected,
                                           std::string_view store) {
  if (now != expected)
    return fail(errc::conflict,
                fmt::format("{}: the revision is {}, not {} (written by someone else since it "
                            "was read)",
                            store, now, expected));
  if (now == std::numeric_limits<std::uint64_t>::max())
    return fail(
        errc::malformed,
        fmt::format("{}: the revision is 2^64-1, the largest there is; it cannot grow", store));
  return now + 1;
}

}  // namespace dualcred::rotation::stores::detail
