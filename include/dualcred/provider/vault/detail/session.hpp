#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
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
#include "../../../file/read.hpp"
#include "../../../http/types.hpp"
#include "../../../secret.hpp"
#include "../config.hpp"
#include "body.hpp"
#include "response.hpp"
#include "scrubbed_json.hpp"

namespace dualcred::provider::vault::detail {

// Zeroes a string when it goes out of scope: response bodies and request bodies that held
// secrets.
class scrub_on_exit {
 public:
  explicit scrub_on_exit(std::string& s) noexcept : s_(s) {}
  scrub_on_exit(const scrub_on_exit&) = delete;
  scrub_on_exit& operator=(const scrub_on_exit&) = delete;
  ~scrub_on_exit() { dualcred::detail::secure_zero(s_.data(), s_.size()); }

 private:
  std::string& s_;
};

inline void scrub_request(http_request& r) noexcept {
  for (auto& [name, value] : r.headers) dualcred::detail::secure_zero(value.data(), value.size());
  dualcred::detail::secure_zero(r.body.data(), r.body.size());
}

// Percent-encodes each segment of a `/`-separated Vault path. Empty, `.` and `..` segments
// are refused: they would let a configured path reach outside its mount.
inline result<std::string> encode_vault_path(std::string_view path, std::string_view what) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return fail(errc::invalid_argument, fmt::format("the Vault {} is empty", what));
  std::string out;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view seg = path.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..")
      return fail(errc::invalid_argument,
                  fmt::format("the Vault {} '{}' has an empty, '.' or '..' segment", what, path));
    if (!out.empty()) out += '/';
    for (const char c : seg) {
      const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
      if (plain)
        out += c;
      else
        out += fmt::format("%{:02X}", static_cast<unsigned>(static_cast<unsigned char>(c)));
    }
    start = end + 1;
  }
  return out;
}

// `https://host:8200/` -> `https://host:8200`; refuses other schemes and user info, which
// would put a credential in every URL and so in transport errors.
inline result<std::string> normalize_address(std::string_view address) {
  while (!address.empty() && address.back() == '/') address.remove_suffix(1);
  const bool http = address.substr(0, 7) == "http://";
  const bool https = address.substr(0, 8) == "https://";
  if (!http && !https)
    return fail(errc::invalid_argument, "the Vault address must start with http:// or https://");
  const std::string_view rest = address.substr(https ? 8 : 7);
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty()) return fail(errc::invalid_argument, "the Vault address has no host");
  if (authority.find('@') != std::string_view::npos)
    return fail(errc::invalid_argument, "the Vault address must not hold user info");
  return std::string(address);
}

// A token or JWT kept in a file: the whole file (the one secret-file reader's rules) minus
// trailing whitespace, which editors and `echo` add.
inline result<secret> read_token_file(const std::string& file, std::string_view what) {
  auto read = file::read_secret_file(file, file::read_limits{});
  if (!read) {
    error e = std::move(read).error();
    e.detail = fmt::format("the {} file: {}", what, e.detail);
    return boost::outcome_v2::failure(std::move(e));
  }
  if (!read.value())
    return fail(errc::not_found, fmt::format("the {} file {} does not exist", what, file));
  const std::string_view bytes = read.value()->reveal();
  const auto end = bytes.find_last_not_of(" \t\r\n");
  if (end == std::string_view::npos)
    return fail(errc::malformed, fmt::format("the {} file {} is empty", what, file));
  if (end + 1 == bytes.size()) return std::move(*read.value());
  return secret(bytes.substr(0, end + 1));
}

// Checks a response's size, parses its body and maps a status other than `ok_status` to an
// error, with `secrets` redacted from any text of the server's that it quotes. The caller
// keeps `resp.body` scrubbed (scrub_on_exit).
inline result<void> check_response(const http_response& resp, scrubbed_json& doc,
                                   std::string_view what, std::size_t max_bytes,
                                   std::span<const std::string_view> secrets = {},
                                   int ok_status = 200) {
  if (resp.body.size() > max_bytes)
    return fail(errc::malformed, fmt::format("{}: the response body ({} bytes) is over the "
                                             "{}-byte limit (HTTP {})",
                                             what, resp.body.size(), max_bytes, resp.status));
  const bool is_json = !resp.body.empty() && doc.parse(resp.body);
  if (resp.status != ok_status)
    return boost::outcome_v2::failure(
        status_error(resp.status, is_json ? &doc.value() : nullptr, what, secrets));
  if (!is_json) {
    if (resp.body.empty())
      return fail(errc::malformed, fmt::format("{}: the response body is empty", what));
    return fail(errc::malformed,
                fmt::format("{}: the response body is not JSON{} (stopped at byte {} of {})", what,
                            doc.too_deep() ? " nested this deep" : "", doc.error_offset(),
                            resp.body.size()));
  }
  return boost::outcome_v2::success();
}

// Everything the Vault provider and store share: the base URL, the headers, and the token,
// obtained by logging in or from the configuration and renewed before it expires.
// `send` is safe from several threads when `Http` is.
template <class Http>
class vault_session {
  using clock = std::chrono::steady_clock;

 public:
  vault_session(Http http, vault_config config)
      : http_(std::move(http)), config_(std::move(config)), state_(std::make_unique<state>()) {
    auto base = normalize_address(config_.address);
    if (!base) {
      config_error_ = base.error();
      return;
    }
    base_ = std::move(base).value();
    if (!config_.namespace_.empty()) {
      auto ns = encode_vault_path(config_.namespace_, "namespace");
      if (!ns) config_error_ = ns.error();
    }
  }

  [[nodiscard]] const vault_config& config() const noexcept { return config_; }
  [[nodiscard]] Http& http() noexcept { return http_; }

  // `check_response` with every credential this session holds, and `extra`, redacted from
  // the server's text, in case it quotes one back.
  result<void> check(const http_response& resp, scrubbed_json& doc, std::string_view what,
                     std::span<const std::string_view> extra = {}) {
    if (resp.status == 200) return check_response(resp, doc, what, config_.max_response_bytes);
    secret current;  // a copy: a login on another thread may replace the session's token
    {
      std::lock_guard lock(state_->mutex);
      current = state_->token;
    }
    std::vector<std::string_view> secrets(extra.begin(), extra.end());
    secrets.push_back(config_.token.reveal());
    secrets.push_back(current.reveal());
    if (config_.approle) secrets.push_back(config_.approle->secret_id.reveal());
    return check_response(resp, doc, what, config_.max_response_bytes, secrets);
  }

  // `method /v1/{api_path}` with the token. Any HTTP status is a success here. With a login
  // method, a 403 logs in again once and retries (the token may have been revoked).
  result<http_response> send(std::string_view method, std::string_view api_path,
                             std::string body = {}) {
    scrub_on_exit guard(body);
    if (config_error_) return boost::outcome_v2::failure(*config_error_);
    DUALCRED_TRY(token, token_for_request(false));
    auto r = exchange(method, api_path, &token, body);
    if (r && r.value().status == 403 && has_login()) {
      dualcred::detail::secure_zero(r.value().body.data(), r.value().body.size());
      DUALCRED_TRY(fresh, token_for_request(true));
      r = exchange(method, api_path, &fresh, body);
    }
    return r;
  }

 private:
  struct state {
    std::mutex mutex;
    secret token;
    bool have = false;
    bool from_login = false;
    bool looked_up = false;
    bool managed = false;  // the token's TTL is known: renew_at and expires_at hold
    bool renewable = false;
    std::chrono::seconds first_lease{0};
    clock::time_point renew_at{};
    clock::time_point expires_at{};
  };

  [[nodiscard]] bool has_login() const noexcept {
    return config_.approle.has_value() || config_.kubernetes.has_value();
  }

  result<http_response> exchange(std::string_view method, std::string_view api_path,
                                 const secret* token, const std::string& body) {
    http_request req;
    req.method = std::string(method);
    req.url = fmt::format("{}/v1/{}", base_, api_path);
    if (token != nullptr) req.headers.emplace_back("X-Vault-Token", std::string(token->reveal()));
    if (!config_.namespace_.empty())
      req.headers.emplace_back("X-Vault-Namespace", config_.namespace_);
    req.headers.emplace_back("X-Vault-Request", "true");
    if (!body.empty()) {
      req.headers.emplace_back("Content-Type", "application/json");
      req.body.reserve(body.size());
      req.body.append(body);
    }
    auto r = http_(std::as_const(req));
    scrub_request(req);
    if (!r) {
      // A transport never sees the token outside a header, but a careless one could echo it.
      error e = std::move(r).error();
      e.detail = dualcred::detail::redact(std::move(e.detail),
                                          {token ? token->reveal() : std::string_view()});
      return boost::outcome_v2::failure(std::move(e));
    }
    return r;
  }

  result<secret> token_for_request(bool force_login) {
    state& st = *state_;
    std::lock_guard lock(st.mutex);
    const auto now = clock::now();
    if (has_login()) {
      if (force_login || !st.have || (st.managed && now >= st.expires_at)) {
        DUALCRED_TRY(login_locked(st));
      } else if (st.managed && now >= st.renew_at) {
        if (!st.renewable || !renew_locked(st)) {
          DUALCRED_TRY(login_locked(st));
        }
      }
      return st.token;
    }
    secret configured;
    if (!config_.token.empty()) {
      configured = config_.token;
    } else if (!config_.token_file.empty()) {
      DUALCRED_TRY(from_file, read_token_file(config_.token_file, "Vault token"));
      configured = std::move(from_file);
    } else {
      return fail(errc::invalid_argument,
                  "no Vault token configured (token, token_file, approle or kubernetes)");
    }
    if (!st.have || !(configured == st.token)) {
      st.token = std::move(configured);
      st.have = true;
      st.from_login = false;
      st.looked_up = false;
      st.managed = false;
    }
    if (config_.renew_token) {
      if (!st.looked_up) lookup_locked(st);
      if (st.managed && st.renewable && now >= st.renew_at && !renew_locked(st)) {
        // Keep using it until it expires; try again halfway there rather than every call.
        st.renew_at = now + (st.expires_at - now) / 2;
      }
    }
    return st.token;
  }

  void apply_lease(state& st, std::chrono::seconds lease, bool renewable) {
    const auto now = clock::now();
    st.renewable = renewable;
    st.managed = lease.count() > 0;
    if (st.managed) {
      st.expires_at = now + lease;
      st.renew_at = now + std::chrono::duration_cast<clock::duration>(lease) * 2 / 3;
    }
  }

  result<void> login_locked(state& st) {
    const bool approle = config_.approle.has_value();
    const std::string_view method = approle ? "approle" : "kubernetes";
    const std::string what = fmt::format("Vault {} login", method);
    std::string body;
    std::string mount;
    secret jwt;
    if (approle) {
      const auto& a = *config_.approle;
      mount = a.mount;
      body = json_object({{"role_id", a.role_id}, {"secret_id", a.secret_id.reveal()}});
    } else {
      const auto& k = *config_.kubernetes;
      mount = k.mount;
      DUALCRED_TRY(read, read_token_file(k.jwt_file, "Kubernetes service account token"));
      jwt = std::move(read);
      body = json_object({{"role", k.role}, {"jwt", jwt.reveal()}});
    }
    scrub_on_exit body_guard(body);
    DUALCRED_TRY(path, encode_vault_path(mount, "auth mount"));
    DUALCRED_TRY(resp, exchange("POST", fmt::format("auth/{}/login", path), nullptr, body));
    scrub_on_exit resp_guard(resp.body);
    scrubbed_json doc;
    const std::array<std::string_view, 2> sent{
        approle ? config_.approle->secret_id.reveal() : std::string_view(), jwt.reveal()};
    DUALCRED_TRY(check_response(resp, doc, what, config_.max_response_bytes, sent));
    DUALCRED_TRY(lease, parse_auth(doc.value(), what));
    st.token = std::move(lease.token);
    st.have = true;
    st.from_login = true;
    st.first_lease = lease.lease_duration;
    apply_lease(st, lease.lease_duration, lease.renewable);
    return boost::outcome_v2::success();
  }

  // True when renewed. A login token whose renewal came back much shorter than its first
  // lease is near its max TTL: false then, so the caller logs in again.
  bool renew_locked(state& st) {
    auto resp = exchange("POST", "auth/token/renew-self", &st.token, "{}");
    if (!resp) return false;
    scrub_on_exit guard(resp.value().body);
    scrubbed_json doc;
    const std::string_view token = st.token.reveal();
    if (!check_response(resp.value(), doc, "Vault token renewal", config_.max_response_bytes,
                        {&token, 1}))
      return false;
    auto lease = parse_auth(doc.value(), "Vault token renewal");
    if (!lease) return false;
    if (st.from_login && lease.value().lease_duration * 2 < st.first_lease) return false;
    apply_lease(st, lease.value().lease_duration, lease.value().renewable);
    return true;
  }

  // Learns a configured token's TTL. Failures leave it unmanaged; only a transport failure
  // is retried at the next request.
  void lookup_locked(state& st) {
    auto resp = exchange("GET", "auth/token/lookup-self", &st.token, std::string());
    if (!resp) return;
    st.looked_up = true;
    scrub_on_exit guard(resp.value().body);
    scrubbed_json doc;
    const std::string_view token = st.token.reveal();
    if (!check_response(resp.value(), doc, "Vault token lookup", config_.max_response_bytes,
                        {&token, 1}))
      return;
    auto info = parse_lookup_self(doc.value(), "Vault token lookup");
    if (!info) return;
    apply_lease(st, info.value().ttl, info.value().renewable);
  }

 private:
  Http http_;
  vault_config config_;
  std::string base_;
  std::optional<error> config_error_;
  std::unique_ptr<state> state_;
};

}  // namespace dualcred::provider::vault::detail
