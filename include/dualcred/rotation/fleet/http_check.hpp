#pragma once

// The fleet check over HTTP: polls each instance's status JSON (a dual_credential's `status`,
// or a health endpoint holding several) until every one has read the store revision the
// rotator waits for. Needs nlohmann_json (the `dualcred-vault` dependency) and an
// `http_client` such as `curl_transport`; the rotator itself only sees a `fleet_check`.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../../error.hpp"
#include "../../http/types.hpp"
#include "../detail/decimal.hpp"
#include "../fleet.hpp"
#include "verdict.hpp"

namespace dualcred::rotation::fleet {

/// Fetches one health endpoint's body, giving up after `timeout` (the time left of the
/// check's deadline, so a silent instance cannot hold the check past it). Any callable of this
/// shape will do; `http_fetch` makes one from an `http_client` such as `curl_transport`.
using fetch_function =
    std::function<result<std::string>(const std::string& url, std::chrono::milliseconds timeout)>;

namespace detail {
// Collects the `version` and `oldest_version_in_use` strings of every object in a status
// body, without building a tree. The body comes from an instance over the network: nothing
// of it reaches an error but its byte offsets, and nesting is bounded.
class status_reader {
 public:
  static constexpr std::size_t max_depth = 32;
  using json = nlohmann::json;

  bool null() { return value("null"); }
  bool boolean(bool) { return value("a boolean"); }
  bool number_integer(json::number_integer_t) { return value("a number"); }
  bool number_unsigned(json::number_unsigned_t) { return value("a number"); }
  bool number_float(json::number_float_t, const json::string_t&) { return value("a number"); }
  bool binary(json::binary_t&) { return value("binary"); }
  bool string(json::string_t& v) {
    if (depth_ == 0) return refuse("is not a JSON object");
    if (wanted_ != nullptr) versions.push_back(std::move(v));
    wanted_ = nullptr;
    return true;
  }
  bool key(json::string_t& k) {
    wanted_ = nullptr;
    for (const std::string_view name : {"version", "oldest_version_in_use"})
      if (k == name) wanted_ = name.data();
    return true;
  }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  template <class Exception>
  bool parse_error(std::size_t position, const std::string&, const Exception&) {
    if (problem.empty()) problem = fmt::format("is not valid JSON (at byte {})", position);
    return false;
  }

  std::vector<std::string> versions;
  std::string problem;  // empty: the body was read

 private:
  bool value(std::string_view what) {
    if (depth_ == 0) return refuse("is not a JSON object");
    if (wanted_ == nullptr) return true;
    return refuse(fmt::format(R"(has "{}" as {}, not a string)", wanted_, what));
  }
  bool open(bool object) {
    if (wanted_ != nullptr) return value(object ? "an object" : "an array");
    if (depth_ == 0 && !object) return refuse("is not a JSON object");
    if (++depth_ > max_depth) return refuse(fmt::format("nests deeper than {}", max_depth));
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }
  bool refuse(std::string why) {
    problem = std::move(why);
    return false;
  }

  std::size_t depth_ = 0;
  const char* wanted_ = nullptr;  // the key whose value is being read, if it is a version
};

// A version as it may appear in a message: the instance chose it, so only short printable
// ASCII is shown.
inline std::string loggable_version(std::string_view v) {
  const bool plain = v.size() <= 64 &&
                     std::all_of(v.begin(), v.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  return plain ? std::string(v) : std::string("(unprintable)");
}
}  // namespace detail

/// Largest status body `status_versions` reads.
inline constexpr std::size_t max_status_bytes = 1 << 20;

/// Every `"version"` and `"oldest_version_in_use"` string in a status body, in the order they
/// appear: the `status` JSON of one dual_credential, or an object holding several
/// (`health_json`'s `{"ok":true,"db":{...},"redis":{...}}`), at any depth. The second says
/// which set a connect still in flight may hold, so an instance counts as being at a
/// revision only once no slow login is still trying an older one.
///
/// Errors, `errc::malformed`, with a detail that quotes nothing from the body: not JSON (the
/// byte where it stops being JSON), not an object, one of those keys not holding a string,
/// nesting deeper than 32, or over `max_status_bytes`.
[[nodiscard]] inline result<std::vector<std::string>> status_versions(std::string_view body) {
  if (body.size() > max_status_bytes)
    return fail(errc::malformed, fmt::format("status is over {} bytes", max_status_bytes));
  detail::status_reader reader;
  const bool ok = nlohmann::json::sax_parse(body.begin(), body.end(), &reader);
  if (!ok || !reader.problem.empty())
    return fail(
        errc::malformed,
        fmt::format("status {}", reader.problem.empty() ? "is not valid JSON" : reader.problem));
  return std::move(reader.versions);
}

/// Whether an instance reporting `reported` has read revision `wanted` or a later one:
/// both decimal, `reported >= wanted`. Anything else (an empty or non-numeric version) is
/// not there yet.
[[nodiscard]] inline bool version_at_least(std::string_view reported, std::uint64_t wanted) {
  const auto v = rotation::detail::parse_decimal<std::uint64_t>(reported);
  return v && *v >= wanted;
}

/// Asks many instances at once: one answer per request, in order, none running past `until`
/// (`curl_multi_transport` is one).
using batch_fetch_function = std::function<std::vector<result<http_response>>(
    std::span<const http_request> requests, std::chrono::steady_clock::time_point until)>;

/// Endpoints found anew every round (`dns_instances` is one); an error is a problem of the
/// round that keeps the check from being done, not the end of it.
using discover_function = std::function<result<std::vector<std::string>>()>;

/// The service instances that must have read the promoted credentials before the old
/// password is removed, as a `fleet_check` (`rotator_options::instances = http_check{...}`).
///
/// Each endpoint serves its dual_credential `status` JSON; an instance is ready when every
/// version in its body (including each `oldest_version_in_use`, the set a connect still in
/// flight may hold) is at least the store revision being waited for. That holds when
/// instances read through a provider whose `version` is the store's revision: the Vault
/// provider over a Vault store, or `store_provider` over any store.
///
/// With `fetch_all` set every instance not yet ready is asked at once each round, each
/// within `instance_timeout`; otherwise one after another through `fetch`.
struct http_check {
  std::vector<std::string> endpoints;
  fetch_function fetch;
  /// How long to wait for every instance before giving up with `errc::timeout`. It bounds the
  /// whole check: each request gets at most what is left of it.
  std::chrono::milliseconds deadline{60'000};
  std::chrono::milliseconds poll_interval{500};
  /// Replaces `status_versions` to pick the versions out of a body of another shape.
  std::function<result<std::vector<std::string>>(std::string_view body)> versions;
  /// Asks the instances of a round at once; when set, `fetch` is not used.
  batch_fetch_function fetch_all{};
  /// One request's limit (and what is left of the deadline, when that is less).
  std::chrono::milliseconds instance_timeout{5000};
  /// More endpoints, found again every round; an instance no longer found is no longer
  /// waited for, a new one is asked. A failed lookup keeps the last list and keeps the check
  /// from passing that round.
  discover_function discover{};

  /// `wait(*this, request.revision, request.on_wait)`.
  [[nodiscard]] result<void> operator()(const fleet_request& request) const;
};

namespace detail {
// A status GET's body; a non-2xx answer is `errc::malformed` ("answered HTTP 503").
inline result<std::string> status_body(result<http_response> answer) {
  DUALCRED_TRY(resp, std::move(answer));
  if (resp.status < 200 || resp.status >= 300)
    return fail(errc::malformed, fmt::format("answered HTTP {}", resp.status));
  return std::move(resp.body);
}
}  // namespace detail

/// Adapts an `http_client` (e.g. `curl_transport`) into a `fetch_function`: a GET bounded by
/// the timeout it is given, whose non-2xx answer is `errc::malformed` ("answered HTTP 503").
/// The client is shared by the copies.
template <class Http>
requires http_client<Http>
[[nodiscard]] fetch_function http_fetch(Http http) {
  auto shared = std::make_shared<Http>(std::move(http));
  return
      [shared](const std::string& url, std::chrono::milliseconds timeout) -> result<std::string> {
        return detail::status_body((*shared)(http_request{"GET", url, {}, {}, timeout}));
      };
}

namespace detail {
// Where a failed request leaves its instance.
inline lag lag_of(const error& e) {
  if (e.is(errc::timeout)) return lag::timed_out;
  if (e.is(errc::malformed)) return lag::bad_answer;
  return lag::unreachable;
}

// Reads one instance's answer into its verdict: a failed request is why it lags, a body is
// read for its versions; an unreadable status is the error returned.
inline result<void> judge(const http_check& f, const std::string& url,
                          const result<std::string>& body, std::uint64_t wanted,
                          instance_verdict& v) {
  if (!body) {
    v.state = lag_of(body.error());
    v.detail = body.error().detail;
    return boost::outcome_v2::success();
  }
  auto seen = f.versions ? f.versions(body.value()) : status_versions(body.value());
  if (!seen)
    return boost::outcome_v2::failure(error(
        seen.error().code, fmt::format("fleet: instance {}: {}",
                                       dualcred::detail::loggable_url(url), seen.error().detail)));
  bool all = !seen.value().empty();
  for (const auto& s : seen.value()) all = all && version_at_least(s, wanted);
  v.state = all ? lag::none : lag::old_version;
  v.detail = seen.value().empty() ? "no version in its status" : "version";
  for (std::size_t k = 0; k < seen.value().size(); ++k)
    v.detail += (k == 0 ? " " : ",") + loggable_version(seen.value()[k]);
  if (seen.value().empty()) v.state = lag::bad_answer;
  return boost::outcome_v2::success();
}

// Asks each instance in `pending` (indexes into `urls`), at once or one after another.
inline result<void> ask(const http_check& f, const std::vector<std::string>& urls,
                        const std::vector<std::size_t>& pending, std::uint64_t wanted,
                        std::chrono::steady_clock::time_point until,
                        std::vector<instance_verdict>& out) {
  using namespace std::chrono;
  const auto limit = [&] {
    const auto left = duration_cast<milliseconds>(until - steady_clock::now());
    return std::min(left, f.instance_timeout.count() > 0 ? f.instance_timeout : left);
  };
  if (f.fetch_all) {
    std::vector<http_request> reqs;
    for (const auto i : pending) reqs.push_back(http_request{"GET", urls[i], {}, {}, limit()});
    auto answers = f.fetch_all(reqs, until);
    for (std::size_t k = 0; k < pending.size() && k < answers.size(); ++k) {
      DUALCRED_TRY(
          judge(f, urls[pending[k]], status_body(std::move(answers[k])), wanted, out[pending[k]]));
    }
    return boost::outcome_v2::success();
  }
  for (const auto i : pending) {
    const auto left = limit();
    if (left < milliseconds(1)) break;  // zero would mean "no limit" to a transport
    DUALCRED_TRY(judge(f, urls[i], f.fetch(urls[i], left), wanted, out[i]));
  }
  return boost::outcome_v2::success();
}
}  // namespace detail

/// The round function of `f`: this round's endpoints (the fixed ones, then those `discover`
/// finds), each one's last verdict remembered across rounds and a ready one not asked again.
[[nodiscard]] inline round_function http_rounds(const http_check& f) {
  // Each instance's last verdict, by name: a ready one is not asked again, and one the
  // deadline left unasked keeps what it said before.
  auto known = std::make_shared<std::unordered_map<std::string, instance_verdict>>();
  // What discovery last found: a failed lookup keeps asking those, and is the round's problem.
  auto found_before = std::make_shared<std::vector<std::string>>();
  return [&f, known, found_before](
             std::uint64_t wanted,
             std::chrono::steady_clock::time_point until) -> result<round_result> {
    round_result r;
    std::vector<std::string> urls = f.endpoints;
    if (f.discover) {
      auto found = f.discover();
      if (found)
        *found_before = std::move(found).value();
      else
        r.problem = found.error().detail;
      urls.insert(urls.end(), found_before->begin(), found_before->end());
    }
    std::sort(urls.begin(), urls.end());
    urls.erase(std::unique(urls.begin(), urls.end()), urls.end());
    std::vector<std::size_t> pending;
    for (std::size_t i = 0; i < urls.size(); ++i) {
      instance_verdict v{dualcred::detail::loggable_url(urls[i]), lag::timed_out,
                         "not asked before the deadline"};
      if (const auto it = known->find(v.instance); it != known->end()) v = it->second;
      if (!v.ready()) pending.push_back(i);
      r.instances.push_back(std::move(v));
    }
    if (urls.empty() && r.problem.empty()) r.problem = "no instance was found";
    DUALCRED_TRY(detail::ask(f, urls, pending, wanted, until, r.instances));
    for (const auto& v : r.instances) (*known)[v.instance] = v;
    return r;
  };
}

/// Polls every endpoint until each reports revision `wanted` or later, or the deadline
/// passes (`errc::timeout`, naming each instance not there and why: old version,
/// unreachable, timed out, bad answer). No request outlives the deadline: each is given at
/// most the time left, and an instance not yet asked when it runs out counts as not there.
/// An instance whose status cannot be read (`status_versions`' errors) fails the wait at
/// once with `errc::malformed`: that is a wrong endpoint, not a slow one. Instances are named
/// by URL without user info or query. `on_wait` is told, once per round, how many are ready.
[[nodiscard]] inline result<void> wait(
    const http_check& f, std::uint64_t wanted,
    const std::function<void(std::size_t ready, std::size_t total)>& on_wait = {}) {
  if (f.endpoints.empty() && !f.discover) return boost::outcome_v2::success();
  if (!f.fetch && !f.fetch_all)
    return fail(errc::invalid_argument, "fleet: endpoints are set but no fetch function is");
  return wait_rounds(http_rounds(f), wanted, f.deadline, f.poll_interval, on_wait);
}

inline result<void> http_check::operator()(const fleet_request& request) const {
  return wait(*this, request.revision, request.on_wait);
}

}  // namespace dualcred::rotation::fleet
