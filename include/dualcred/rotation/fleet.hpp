#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "../error.hpp"
#include "../http/types.hpp"

namespace dualcred::rotation {

/// Fetches one health endpoint's body. Any callable of this shape will do; `http_fetch`
/// makes one from an `http_client` such as `curl_transport`.
using fetch_function = std::function<result<std::string>(const std::string& url)>;

namespace detail {
// Appends each string value of `key` (quotes included) in `body` to `out`.
inline void append_string_values(std::string_view body, std::string_view key,
                                 std::vector<std::string>& out) {
  const auto skip_blanks = [&](std::size_t i) {
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n')) ++i;
    return i;
  };
  for (std::size_t at = body.find(key); at != std::string_view::npos;
       at = body.find(key, at + key.size())) {
    std::size_t i = skip_blanks(at + key.size());
    if (i >= body.size() || body[i] != ':') continue;
    i = skip_blanks(i + 1);
    if (i >= body.size() || body[i] != '"') continue;
    const std::size_t end = body.find('"', i + 1);
    if (end == std::string_view::npos) return;
    out.emplace_back(body.substr(i + 1, end - i - 1));
  }
}
}  // namespace detail

/// Every `"version":"..."` and `"oldest_version_in_use":"..."` string in a body: the
/// `status` JSON of one dual_credential, or an object holding several
/// (`{"db":{...},"redis":{...}}`). The second says which set a connect still in flight may
/// hold, so an instance counts as being at a revision only once no slow login is still
/// trying an older one.
[[nodiscard]] inline std::vector<std::string> status_versions(std::string_view body) {
  std::vector<std::string> out;
  detail::append_string_values(body, R"("version")", out);
  detail::append_string_values(body, R"("oldest_version_in_use")", out);
  return out;
}

/// Whether an instance reporting `reported` has read revision `wanted` or a later one:
/// both decimal, `reported >= wanted`. Anything else (an empty or non-numeric version) is
/// not there yet.
[[nodiscard]] inline bool version_at_least(std::string_view reported, std::uint64_t wanted) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(reported.data(), reported.data() + reported.size(), v);
  return ec == std::errc() && end == reported.data() + reported.size() && !reported.empty() &&
         v >= wanted;
}

/// The service instances that must have read the promoted credentials before the old
/// password is removed ("stagger removal until all instances confirm").
///
/// Each endpoint serves its dual_credential `status` JSON; an instance is ready when every
/// version in its body (including each `oldest_version_in_use`, the set a connect still in
/// flight may hold) is at least the store revision being waited for. That holds when
/// instances read through a provider whose `version` is the store's revision: the Vault
/// provider over a Vault store, or `store_provider` over any store.
struct fleet {
  std::vector<std::string> endpoints;
  fetch_function fetch;
  /// How long to wait for every instance before giving up with `errc::timeout`.
  std::chrono::milliseconds deadline{60'000};
  std::chrono::milliseconds poll_interval{500};
  /// Replaces `status_versions` to pick the versions out of a body of another shape.
  std::function<std::vector<std::string>(std::string_view body)> versions;
};

/// Adapts an `http_client` (e.g. `curl_transport`) into a `fetch_function`: a GET whose
/// non-2xx answer is `provider_unavailable`. The client is shared by the copies.
template <class Http>
requires http_client<Http>
[[nodiscard]] fetch_function http_fetch(Http http) {
  auto shared = std::make_shared<Http>(std::move(http));
  return [shared](const std::string& url) -> result<std::string> {
    http_request req{"GET", url, {}, {}};
    DUALCRED_TRY(resp, (*shared)(req));
    if (resp.status < 200 || resp.status >= 300)
      return fail(errc::provider_unavailable,
                  fmt::format("health endpoint {} answered HTTP {}", url, resp.status));
    return std::move(resp.body);
  };
}

/// Polls every endpoint until each reports revision `wanted` or later, or the deadline
/// passes (`errc::timeout`, naming the instances not there and what they last said).
/// `on_wait` is told, once per round, how many instances are ready.
[[nodiscard]] inline result<void> wait_for_fleet(
    const fleet& f, std::uint64_t wanted,
    const std::function<void(std::size_t ready, std::size_t total)>& on_wait = {}) {
  if (f.endpoints.empty()) return boost::outcome_v2::success();
  if (!f.fetch)
    return fail(errc::invalid_argument, "fleet: endpoints are set but no fetch function is");
  const auto until = std::chrono::steady_clock::now() + f.deadline;
  std::vector<bool> ready(f.endpoints.size(), false);
  std::vector<std::string> last(f.endpoints.size(), "no answer yet");
  for (;;) {
    std::size_t count = 0;
    for (std::size_t i = 0; i < f.endpoints.size(); ++i) {
      if (!ready[i]) {
        auto body = f.fetch(f.endpoints[i]);
        if (!body) {
          last[i] = body.error().detail;
        } else {
          const auto seen = f.versions ? f.versions(body.value()) : status_versions(body.value());
          bool all = !seen.empty();
          for (const auto& v : seen) all = all && version_at_least(v, wanted);
          ready[i] = all;
          last[i] = seen.empty() ? "no version in its status" : "version";
          for (std::size_t k = 0; k < seen.size(); ++k) last[i] += (k == 0 ? " " : ",") + seen[k];
        }
      }
      count += ready[i] ? 1 : 0;
    }
    if (on_wait) on_wait(count, f.endpoints.size());
    if (count == f.endpoints.size()) return boost::outcome_v2::success();
    if (std::chrono::steady_clock::now() + f.poll_interval > until) {
      std::string behind;
      for (std::size_t i = 0; i < f.endpoints.size(); ++i)
        if (!ready[i])
          behind += fmt::format("{}{} ({})", behind.empty() ? "" : "; ", f.endpoints[i], last[i]);
      return fail(errc::timeout,
                  fmt::format("fleet: {} of {} instances did not report version {} or later "
                              "within {} ms: {}",
                              f.endpoints.size() - count, f.endpoints.size(), wanted,
                              f.deadline.count(), behind));
    }
    std::this_thread::sleep_for(f.poll_interval);
  }
}

}  // namespace dualcred::rotation
