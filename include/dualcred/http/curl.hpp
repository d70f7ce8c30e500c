#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <curl/curl.h>
#include <fmt/format.h>

#include "../detail/secure_zero.hpp"
#include "../error.hpp"
#include "types.hpp"

namespace dualcred {

/// How a `curl_transport` connects. Every field has a safe default.
struct curl_options {
  /// Verify the server's certificate and host name. Turn off only against a test server.
  bool verify_tls = true;
  std::string ca_file;  ///< a PEM bundle to trust instead of the system's (CURLOPT_CAINFO)
  std::string ca_path;  ///< a directory of hashed CA certificates (CURLOPT_CAPATH)
  /// A proxy to send every request through (`http://proxy:3128`); empty: none.
  std::string proxy;
  /// Take the proxy from the environment (`https_proxy`, `http_proxy`, `ALL_PROXY`,
  /// `NO_PROXY`) as the curl command does. Off by default: requests carry the Vault token, and
  /// whoever sets a process's environment should not choose where the token goes.
  bool proxy_from_env = false;
  std::chrono::milliseconds connect_timeout{5000};
  /// The whole exchange, connecting included.
  std::chrono::milliseconds timeout{15000};
  /// A longer body is refused (`errc::malformed`) before it is all read.
  std::size_t max_response_bytes = std::size_t{4} << 20;
  /// Idle handles (each with its open connections) kept for reuse.
  std::size_t max_idle_handles = 8;
};

/// `base` with the Vault CLI's TLS environment: `VAULT_CACERT` (a PEM bundle) as `ca_file` and
/// `VAULT_CAPATH` (a directory of CA certificates) as `ca_path`, each when set and not empty.
/// `VAULT_SKIP_VERIFY` is deliberately not read: turning verification off takes code
/// (`verify_tls = false`), not an environment variable.
///
/// **Example**
///
///     dualcred::curl_transport http(dualcred::curl_options_from_vault_env());
[[nodiscard]] inline curl_options curl_options_from_vault_env(curl_options base = {}) {
  if (const char* v = std::getenv("VAULT_CACERT"); v != nullptr && *v != '\0') base.ca_file = v;
  if (const char* v = std::getenv("VAULT_CAPATH"); v != nullptr && *v != '\0') base.ca_path = v;
  return base;
}

namespace detail {

// libcurl's global state is set up once, on first use, and never torn down: cleanup while
// another library still uses curl is unsafe, and the process exit reclaims it anyway.
inline bool curl_ready() noexcept {
  static const bool ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return ready;
}

// Easy handles kept between calls. A handle keeps its connection cache across
// `curl_easy_reset`, so reusing handles reuses connections; one call uses one handle, so
// threads never share one.
class curl_handle_pool {
 public:
  explicit curl_handle_pool(std::size_t max_idle) : max_idle_(max_idle) {}
  curl_handle_pool(const curl_handle_pool&) = delete;
  curl_handle_pool& operator=(const curl_handle_pool&) = delete;
  ~curl_handle_pool() {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }

  CURL* take() {
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }
  void give(CURL* h) noexcept {
    {
      std::lock_guard lock(mutex_);
      if (idle_.size() < max_idle_) {
        idle_.push_back(h);
        return;
      }
    }
    curl_easy_cleanup(h);
  }

 private:
  std::mutex mutex_;
  std::vector<CURL*> idle_;
  std::size_t max_idle_;
};

// Collects the body, growing it by hand so no copy of it is left in freed memory.
struct curl_body_sink {
  std::string body;
  std::size_t limit = 0;
  bool over_limit = false;

  static std::size_t write(char* data, std::size_t size, std::size_t n, void* self) {
    auto& sink = *static_cast<curl_body_sink*>(self);
    const std::size_t len = size * n;
    if (sink.body.size() + len > sink.limit) {
      sink.over_limit = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    if (sink.body.size() + len > sink.body.capacity()) {
      std::string bigger;
      bigger.reserve(
          std::max({sink.body.capacity() * 2, sink.body.size() + len, std::size_t{4096}}));
      bigger.append(sink.body);
      secure_zero(sink.body.data(), sink.body.size());
      sink.body.swap(bigger);
    }
    sink.body.append(data, len);
    return len;
  }
};

inline std::size_t curl_header_line(char* data, std::size_t size, std::size_t n, void* self) {
  auto& headers = *static_cast<http_headers*>(self);
  const std::size_t len = size * n;
  std::string_view line(data, len);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.substr(0, 5) == "HTTP/") {
    headers.clear();  // a new response (after `100 Continue` or a retry): start over
  } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return len;
}

// Frees a header list after zeroing it: it holds the token.
struct curl_slist_scrubber {
  void operator()(curl_slist* list) const noexcept {
    for (curl_slist* p = list; p != nullptr; p = p->next)
      if (p->data != nullptr) secure_zero(p->data, std::char_traits<char>::length(p->data));
    curl_slist_free_all(list);
  }
};

}  // namespace detail

namespace detail {

using curl_header_ptr = std::unique_ptr<curl_slist, curl_slist_scrubber>;

// The request's headers as a curl list, each line scrubbed once copied into it.
inline result<curl_header_ptr> curl_header_list(const http_request& req, const std::string& where) {
  curl_header_ptr headers;
  for (const auto& [name, value] : req.headers) {
    std::string line;
    line.reserve(name.size() + value.size() + 2);
    line.append(name).append(": ").append(value);
    curl_slist* grown = curl_slist_append(headers.get(), line.c_str());
    secure_zero(line.data(), line.size());
    if (grown == nullptr) return fail(errc::provider_unavailable, where + ": out of memory");
    (void)headers.release();
    headers.reset(grown);
  }
  // No `Expect: 100-continue` round trip on larger bodies.
  if (curl_slist* grown = curl_slist_append(headers.get(), "Expect:")) {
    (void)headers.release();
    headers.reset(grown);
  }
  return headers;
}

inline void curl_set_method(CURL* h, const http_request& req) {
  if (req.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else {
    if (req.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());  // not copied: no stray copy
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
  }
}

// One request's state while curl runs it, on an easy handle of its own (the easy interface
// or a multi handle): what curl writes into, and what error messages name. Its address is
// given to curl, so it does not move while the transfer runs.
struct curl_exchange {
  std::string where;  // "METHOD url" without user info or query
  curl_body_sink sink;
  http_response resp;
  curl_header_ptr headers;
  std::chrono::milliseconds total{0};
  bool over_limit() const noexcept { return sink.over_limit; }
};

// The request's own limit when it is shorter than the transport's.
inline std::chrono::milliseconds curl_limit_for(const curl_options& o,
                                                const http_request& req) noexcept {
  const bool own = req.timeout.count() > 0 && req.timeout < o.timeout;
  return own ? req.timeout : o.timeout;
}

// Sets every option of one transfer on a fresh or reset handle: the one place a request
// becomes curl options, for the easy and the multi interface alike.
inline result<void> curl_prepare(CURL* h, const curl_options& o, const http_request& req,
                                 curl_exchange& x) {
  x.where = fmt::format("{} {}", req.method, loggable_url(req.url));
  auto headers = curl_header_list(req, x.where);
  if (!headers) return boost::outcome_v2::failure(std::move(headers).error());
  x.headers = std::move(headers).value();
  x.sink.limit = o.max_response_bytes;
  x.sink.body.reserve(std::min<std::size_t>(16 * 1024, x.sink.limit));
  x.total = curl_limit_for(o, req);
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  // A 30x is returned to the caller as it is: following it would send the token on.
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  // "" turns off libcurl's reading of the proxy variables.
  if (!o.proxy_from_env || !o.proxy.empty()) curl_easy_setopt(h, CURLOPT_PROXY, o.proxy.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(o.connect_timeout, x.total).count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(x.total.count()));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o.verify_tls ? 2L : 0L);
  if (!o.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.ca_path.empty()) curl_easy_setopt(h, CURLOPT_CAPATH, o.ca_path.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, x.headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &curl_body_sink::write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &x.sink);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &curl_header_line);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &x.resp.headers);
  curl_set_method(h, req);
  return boost::outcome_v2::success();
}

// The response of a finished transfer, or its error: `CURLE_OPERATION_TIMEDOUT` is
// `errc::timeout`, a body over the limit `errc::malformed`, anything else
// `errc::provider_unavailable`.
inline result<http_response> curl_finish(CURL* h, const curl_options& o, CURLcode rc,
                                         curl_exchange& x) {
  if (rc != CURLE_OK) {
    secure_zero(x.sink.body.data(), x.sink.body.size());
    if (rc == CURLE_WRITE_ERROR && x.over_limit())
      return fail(errc::malformed, fmt::format("{}: the response body is over {} bytes", x.where,
                                               o.max_response_bytes));
    if (rc == CURLE_OPERATION_TIMEDOUT)
      return fail(errc::timeout,
                  fmt::format("{}: timed out (connect limit {} ms, total {} ms; curl error {})",
                              x.where, std::min(o.connect_timeout, x.total).count(),
                              x.total.count(), static_cast<int>(rc)));
    return fail(errc::provider_unavailable,
                fmt::format("{}: {} (curl error {})", x.where, curl_easy_strerror(rc),
                            static_cast<int>(rc)));
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  x.resp.status = static_cast<int>(status);
  x.resp.body = std::move(x.sink.body);
  return std::move(x.resp);
}

}  // namespace detail

/// An HTTP callable over libcurl, ready for `vault_kv2_provider`.
///
/// TLS is verified by default. Copies share one pool of handles, so connections are reused
/// across calls and copies; calls from several threads at once are safe (each takes its own
/// handle). It never logs: header values, which carry the token, appear nowhere, and error
/// details name the URL without user info or query. Redirects are not followed (a 30x comes
/// back as the response), and no proxy is used unless `proxy` or `proxy_from_env` says so,
/// so a token is never sent to a host the caller did not name.
///
/// Errors: `CURLE_OPERATION_TIMEDOUT` is `errc::timeout`; a body over `max_response_bytes`
/// `errc::malformed`; every other failure (resolve, connect, TLS, a dropped connection)
/// `errc::provider_unavailable`. libcurl's and the TLS library's own receive buffers are
/// outside this class's reach and are not scrubbed.
class curl_transport {
 public:
  curl_transport() : curl_transport(curl_options{}) {}
  explicit curl_transport(curl_options o)
      : opts_(std::make_shared<const curl_options>(std::move(o))),
        pool_(std::make_shared<detail::curl_handle_pool>(opts_->max_idle_handles)) {}

  [[nodiscard]] result<http_response> operator()(const http_request& req) const {
    if (!detail::curl_ready())
      return fail(
          errc::provider_unavailable,
          fmt::format("{} {}: curl_global_init failed", req.method, detail::loggable_url(req.url)));
    CURL* h = pool_->take();
    if (h == nullptr)
      return fail(
          errc::provider_unavailable,
          fmt::format("{} {}: curl_easy_init failed", req.method, detail::loggable_url(req.url)));
    struct give_back {
      detail::curl_handle_pool& pool;
      CURL* h;
      ~give_back() { pool.give(h); }
    } back{*pool_, h};
    curl_easy_reset(h);  // drops the previous call's options, keeps its connections
    detail::curl_exchange x;
    DUALCRED_TRY(detail::curl_prepare(h, *opts_, req, x));
    return detail::curl_finish(h, *opts_, curl_easy_perform(h), x);
  }

  [[nodiscard]] const curl_options& config() const noexcept { return *opts_; }

 private:
  std::shared_ptr<const curl_options> opts_;
  std::shared_ptr<detail::curl_handle_pool> pool_;
};

}  // namespace dualcred
