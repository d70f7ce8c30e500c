#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../../error.hpp"
#include "../../http/types.hpp"
#include "config.hpp"
#include "detail/body.hpp"
#include "detail/response.hpp"
#include "detail/scrubbed_json.hpp"
#include "detail/session.hpp"
#include "kv2_types.hpp"

namespace dualcred {

/// A client for one Vault KV version 2 secret (every key of `config.path`): the one place
/// that reads and writes it. `vault_kv2_provider` reads through it; `rotation::stores::vault_store`
/// reads the current version from the metadata, any version's values (for rollback), and
/// writes guarded by check-and-set, so two rotations racing on one secret cannot both win.
///
/// \requires `Http` is an `http_client`. Authentication and error mapping are described at
/// `vault_kv2_provider`; in addition a write whose CAS version is not the current one is
/// `errc::conflict`. Safe to use from several threads when `Http` is.
///
/// Only string values can be written; a read refuses other types (`malformed`, naming the
/// key) unless asked to list them, because writing such a secret back would change it.
template <class Http>
class vault_kv2_client {
  static_assert(http_client<Http>,
                "dualcred: the Http callable must take `const dualcred::http_request&` and "
                "return dualcred::result<dualcred::http_response>");

 public:
  vault_kv2_client(Http http, vault_config config)
      : source_(fmt::format("Vault {}/{}", config.mount, config.path)),
        session_(std::move(http), std::move(config)) {}

  /// `GET /v1/{mount}/metadata/{path}`: the current version and each version's state.
  [[nodiscard]] result<kv2_metadata> metadata() {
    DUALCRED_TRY(url, api_path("metadata", {}));
    DUALCRED_TRY(resp, session_.send("GET", url));
    provider::vault::detail::scrub_on_exit guard(resp.body);
    provider::vault::detail::scrubbed_json doc;
    const std::string what = source_ + " metadata";
    DUALCRED_TRY(session_.check(resp, doc, what));
    return provider::vault::detail::parse_kv2_metadata(doc.value(), what);
  }

  /// The values of `version`, or of the latest version. A soft-deleted or destroyed version
  /// is `not_found`. `other` says what a value that is not a string does.
  [[nodiscard]] result<kv2_secret> read(std::optional<std::uint64_t> version = std::nullopt,
                                        kv2_other_types other = kv2_other_types::refuse) {
    DUALCRED_TRY(url, api_path("data", version));
    DUALCRED_TRY(resp, session_.send("GET", url));
    provider::vault::detail::scrub_on_exit guard(resp.body);
    provider::vault::detail::scrubbed_json doc;
    const std::string what = version ? fmt::format("{} version {}", source_, *version) : source_;
    DUALCRED_TRY(session_.check(resp, doc, what));
    DUALCRED_TRY(read, provider::vault::detail::parse_kv2_read(doc.value(), what));
    if (!read.has_data)
      return fail(errc::not_found,
                  fmt::format("{}: version {} is {}", source_, read.value.metadata.version,
                              read.value.metadata.destroyed ? "destroyed" : "deleted"));
    if (other == kv2_other_types::refuse && !read.value.other_types.empty())
      return fail(errc::malformed, fmt::format("{} in {} is not a string; only string values "
                                               "can be rewritten",
                                               read.value.other_types.front(), source_));
    return std::move(read.value);
  }

  /// Writes `values` as the secret's new version and returns its number. With `cas`, Vault
  /// writes only if the current version is `*cas` (0: only if the secret does not exist),
  /// and a mismatch is `errc::conflict`. Without it, a mount or secret that requires CAS
  /// refuses the write (`invalid_argument`). A key or value that is not valid UTF-8, or a
  /// secret too large to read back within `max_response_bytes`, is refused before anything
  /// is sent (`invalid_argument`, naming the key).
  [[nodiscard]] result<std::uint64_t> write(const secret_map& values,
                                            std::optional<std::uint64_t> cas) {
    DUALCRED_TRY(url, api_path("data", {}));
    DUALCRED_TRY(writable(values));
    std::string body = provider::vault::detail::kv2_write_body(values, cas);
    DUALCRED_TRY(resp, session_.send("POST", url, std::move(body)));
    provider::vault::detail::scrub_on_exit guard(resp.body);
    provider::vault::detail::scrubbed_json doc;
    const std::string what = source_ + " write";
    auto checked = check_write(resp, doc, what, values);
    if (!checked) {
      if (cas && resp.status == 400 && checked.error().is(errc::invalid_argument) &&
          provider::vault::detail::mentions(doc.value(), "check-and-set parameter did not match"))
        return fail(errc::conflict,
                    fmt::format("{}: the current version is no longer {} (check-and-set, HTTP "
                                "400)",
                                what, *cas));
      return std::move(checked).as_failure();
    }
    DUALCRED_TRY(written, provider::vault::detail::parse_kv2_write(doc.value(), what));
    return written.version;
  }

  /// `Vault {mount}/{path}`: how errors name the secret.
  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  [[nodiscard]] const vault_config& config() const noexcept { return session_.config(); }
  [[nodiscard]] Http& http() noexcept { return session_.http(); }

 private:
  result<std::string> api_path(std::string_view kind, std::optional<std::uint64_t> version) {
    const vault_config& cfg = session_.config();
    DUALCRED_TRY(mount, provider::vault::detail::encode_vault_path(cfg.mount, "mount"));
    DUALCRED_TRY(path, provider::vault::detail::encode_vault_path(cfg.path, "path"));
    if (version) return fmt::format("{}/{}/{}?version={}", mount, kind, path, *version);
    return fmt::format("{}/{}/{}", mount, kind, path);
  }

  // What Vault, or this client's next read, could not take back unchanged. Names keys,
  // never values.
  result<void> writable(const secret_map& values) const {
    const std::string what = source_ + " write";
    std::size_t total = 0;
    const std::string* largest = nullptr;
    std::size_t largest_size = 0;
    for (const auto& [key, value] : values) {
      if (!provider::vault::detail::valid_utf8(key))
        return fail(errc::invalid_argument,
                    fmt::format("{}: a key ({} bytes) is not valid UTF-8", what, key.size()));
      if (!provider::vault::detail::valid_utf8(value.reveal()))
        return fail(errc::invalid_argument,
                    fmt::format("{}: the value of {} is not valid UTF-8 (JSON, and so Vault, "
                                "takes UTF-8 only)",
                                what, key));
      const std::size_t size = provider::vault::detail::escaped_size(key) +
                               provider::vault::detail::escaped_size(value.reveal());
      total += size + 6;
      if (size > largest_size) largest = &key, largest_size = size;
    }
    // Room for the metadata that comes back with the values on a read.
    constexpr std::size_t read_overhead = 4096;
    const std::size_t max = session_.config().max_response_bytes;
    if (total + read_overhead > max)
      return fail(
          errc::invalid_argument,
          fmt::format("{}: the values are {} bytes as JSON (the largest is {}), too long to "
                      "read back within max_response_bytes ({})",
                      what, total, largest != nullptr ? *largest : std::string(), max));
    return boost::outcome_v2::success();
  }

  // The write's own check: the values just sent are redacted from any quoted error text.
  result<void> check_write(const http_response& resp, provider::vault::detail::scrubbed_json& doc,
                           std::string_view what, const secret_map& values) {
    std::vector<std::string_view> sent;
    if (resp.status != 200) {
      sent.reserve(values.size());
      for (const auto& [key, value] : values) sent.push_back(value.reveal());
    }
    return session_.check(resp, doc, what, sent);
  }

  std::string source_;
  provider::vault::detail::vault_session<Http> session_;
};

}  // namespace dualcred
