#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../../../detail/redact.hpp"
#include "../../../detail/secure_zero.hpp"
#include "../../../error.hpp"
#include "../../../secret.hpp"
#include "../kv2_types.hpp"
#include "scrubbed_json.hpp"

// Reading Vault's JSON responses without exceptions: every access checks the type first,
// unknown fields are ignored, and no detail ever quotes a value from `data.data` or `auth`.
namespace dualcred::provider::vault::detail {

inline const json* field(const json& object, const char* name) noexcept {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

inline std::optional<std::uint64_t> as_count(const json* v) noexcept {
  if (v == nullptr) return std::nullopt;
  if (v->is_number_unsigned()) return v->get<std::uint64_t>();
  if (v->is_number_integer() && v->get<std::int64_t>() >= 0)
    return static_cast<std::uint64_t>(v->get<std::int64_t>());
  return std::nullopt;
}

// The longest lease or TTL taken as given. Longer ones (or values this large) are clamped, so
// `steady_clock::now() + lease` cannot overflow; a token living ten years is renewed every
// seven anyway.
inline constexpr std::chrono::seconds max_lease{std::chrono::hours(24) * 365 * 10};

// A lease or TTL in seconds: whole seconds (a fraction rounded down), negative values 0 (no
// lease), huge ones `max_lease`. nullopt when absent or not a number.
inline std::optional<std::chrono::seconds> as_seconds(const json* v) noexcept {
  if (v == nullptr || !v->is_number()) return std::nullopt;
  const auto max = max_lease.count();
  if (v->is_number_unsigned())
    return std::chrono::seconds(
        std::min<std::uint64_t>(v->get<std::uint64_t>(), static_cast<std::uint64_t>(max)));
  if (v->is_number_integer())
    return std::chrono::seconds(std::clamp<std::int64_t>(v->get<std::int64_t>(), 0, max));
  const double d = v->get<double>();
  if (!(d > 0)) return std::chrono::seconds(0);  // negative, zero or NaN
  if (d >= static_cast<double>(max)) return max_lease;
  return std::chrono::seconds(static_cast<std::int64_t>(d));
}

inline std::string as_text(const json* v) {
  return v != nullptr && v->is_string() ? v->get_ref<const std::string&>() : std::string();
}

inline bool as_flag(const json* v) noexcept {
  return v != nullptr && v->is_boolean() && v->get<bool>();
}

inline kv2_version version_info(const json& meta, std::uint64_t version) {
  return kv2_version{version, as_text(field(meta, "created_time")),
                     as_text(field(meta, "deletion_time")), as_flag(field(meta, "destroyed"))};
}

// A read of `data/{path}`: the string values, the keys whose value is not a string (so the
// caller can name them), and whether the version still has data.
struct kv2_read {
  kv2_secret value;
  bool has_data = false;
};

inline result<kv2_read> parse_kv2_read(const json& doc, std::string_view what) {
  const json* data = field(doc, "data");
  if (data == nullptr || !data->is_object())
    return fail(errc::malformed, fmt::format("{}: the response has no data object", what));
  const json* values = field(*data, "data");
  const json* meta = field(*data, "metadata");
  if (values == nullptr || meta == nullptr || !meta->is_object())
    return fail(errc::malformed,
                fmt::format("{}: not a KV version 2 response (no data.data and data.metadata; "
                            "is the mount KV version 1?)",
                            what));
  const auto version = as_count(field(*meta, "version"));
  if (!version)
    return fail(errc::malformed,
                fmt::format("{}: data.metadata.version is missing or not a count", what));
  kv2_read out;
  out.value.metadata = version_info(*meta, *version);
  if (values->is_null()) return out;
  if (!values->is_object())
    return fail(errc::malformed, fmt::format("{}: data.data is not an object", what));
  out.has_data = true;
  for (const auto& [key, value] : values->items()) {
    if (value.is_string())
      out.value.values.emplace(key, secret(std::string_view(value.get_ref<const std::string&>())));
    else
      out.value.other_types.push_back(key);
  }
  return out;
}

inline result<kv2_metadata> parse_kv2_metadata(const json& doc, std::string_view what) {
  const json* data = field(doc, "data");
  if (data == nullptr || !data->is_object())
    return fail(errc::malformed, fmt::format("{}: the response has no data object", what));
  const auto current = as_count(field(*data, "current_version"));
  if (!current)
    return fail(errc::malformed,
                fmt::format("{}: data.current_version is missing or not a count", what));
  kv2_metadata out;
  out.current_version = *current;
  out.oldest_version = as_count(field(*data, "oldest_version")).value_or(0);
  out.max_versions = as_count(field(*data, "max_versions")).value_or(0);
  out.cas_required = as_flag(field(*data, "cas_required"));
  if (const json* versions = field(*data, "versions"); versions && versions->is_object()) {
    for (const auto& [key, meta] : versions->items()) {
      std::uint64_t n = 0;
      const char* end = key.data() + key.size();
      const auto [ptr, ec] = std::from_chars(key.data(), end, n);
      if (ec != std::errc() || ptr != end || !meta.is_object()) continue;  // not a version entry
      out.versions.emplace(n, version_info(meta, n));
    }
  }
  return out;
}

// The answer to a write: `data` is the new version's metadata.
inline result<kv2_version> parse_kv2_write(const json& doc, std::string_view what) {
  const json* data = field(doc, "data");
  const auto version = data ? as_count(field(*data, "version")) : std::nullopt;
  if (!version)
    return fail(errc::malformed, fmt::format("{}: the write response has no data.version", what));
  return version_info(*data, *version);
}

// A token from a login or a renewal, and how long it lives.
struct vault_lease {
  secret token;
  std::chrono::seconds lease_duration{0};
  bool renewable = false;
};

inline result<vault_lease> parse_auth(const json& doc, std::string_view what) {
  const json* auth = field(doc, "auth");
  const json* token = auth ? field(*auth, "client_token") : nullptr;
  if (token == nullptr || !token->is_string() || token->get_ref<const std::string&>().empty())
    return fail(errc::malformed, fmt::format("{}: the response has no auth.client_token", what));
  vault_lease out;
  out.token = secret(std::string_view(token->get_ref<const std::string&>()));
  out.lease_duration = as_seconds(field(*auth, "lease_duration")).value_or(std::chrono::seconds(0));
  out.renewable = as_flag(field(*auth, "renewable"));
  return out;
}

// `auth/token/lookup-self`: what is left of the token's life.
struct vault_token_info {
  std::chrono::seconds ttl{0};  ///< 0: never expires (a root token)
  bool renewable = false;
};

inline result<vault_token_info> parse_lookup_self(const json& doc, std::string_view what) {
  const json* data = field(doc, "data");
  const auto ttl = data ? as_seconds(field(*data, "ttl")) : std::nullopt;
  if (!ttl) return fail(errc::malformed, fmt::format("{}: the response has no data.ttl", what));
  return vault_token_info{*ttl, as_flag(field(*data, "renewable"))};
}

// Vault's `errors` strings for a detail: each redacted while still raw (folding its whitespace
// or cutting it short could split a secret so that it no longer matches), then put on one
// line, joined, and cut short.
inline std::string error_messages(const json& doc, std::span<const std::string_view> secrets = {}) {
  const json* errors = field(doc, "errors");
  std::string out;
  if (errors == nullptr || !errors->is_array()) return out;
  for (const auto& e : *errors) {
    if (!e.is_string()) continue;
    std::string raw = dualcred::detail::redact(e.get<std::string>(), secrets);
    std::string one;
    bool space = false;
    for (const char c : raw) {
      const bool blank = c == ' ' || c == '\n' || c == '\t' || c == '\r';
      if (blank) {
        space = !one.empty();
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x20) continue;
      if (space) one += ' ';
      space = false;
      one += c;
    }
    raw.resize(raw.capacity());  // redaction shifted text left: zero the stale tail too
    dualcred::detail::secure_zero(raw.data(), raw.size());
    if (one.empty()) continue;
    if (!out.empty()) out += "; ";
    out += one;
  }
  constexpr std::size_t limit = 300;
  if (out.size() > limit) {
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
    out = out.substr(0, cut) + "...";
  }
  return out;
}

inline bool mentions(const json& doc, std::string_view needle) {
  return error_messages(doc).find(needle) != std::string::npos;
}

// The error for a non-success status. By status code, never by text; the text of Vault's
// `errors` is only quoted in the detail. `doc` is null when the body was not JSON.
inline error status_error(int status, const json* doc, std::string_view what,
                          std::span<const std::string_view> secrets = {}) {
  const std::string why = doc ? error_messages(*doc, secrets) : std::string();
  const std::string suffix = why.empty() ? std::string() : ": " + why;
  if (status == 404) {
    const json* data = doc ? field(*doc, "data") : nullptr;
    const json* meta = data ? field(*data, "metadata") : nullptr;
    const json* values = data ? field(*data, "data") : nullptr;
    if (meta && meta->is_object() && values && values->is_null()) {
      const auto v = version_info(*meta, as_count(field(*meta, "version")).value_or(0));
      return error(errc::not_found, fmt::format("{}: version {} is {} (HTTP 404)", what, v.version,
                                                v.destroyed ? "destroyed" : "deleted"));
    }
    return error(errc::not_found, fmt::format("{}: not found (HTTP 404){}", what, suffix));
  }
  if (status == 401 || status == 403)
    return error(errc::permission_denied,
                 fmt::format("{}: permission denied (HTTP {}){}", what, status, suffix));
  if (status == 412)
    return error(errc::provider_unavailable,
                 fmt::format("{}: Vault has not caught up with the requested state yet (HTTP "
                             "412){}",
                             what, suffix));
  if (status == 429)
    return error(errc::provider_unavailable,
                 fmt::format("{}: rate limited by Vault (HTTP 429){}", what, suffix));
  if (status >= 500)
    return error(errc::provider_unavailable,
                 fmt::format("{}: Vault failed (HTTP {}){}", what, status, suffix));
  if (status >= 400)
    return error(errc::invalid_argument,
                 fmt::format("{}: request refused (HTTP {}){}", what, status, suffix));
  return error(errc::provider_unavailable,
               fmt::format("{}: unexpected HTTP status {}{}", what, status, suffix));
}

}  // namespace dualcred::provider::vault::detail
