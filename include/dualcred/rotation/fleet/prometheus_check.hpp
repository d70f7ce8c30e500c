#pragma once

// The fleet check through Prometheus: the versions each instance exports
// (`dualcred_credential_info{version="..."}`, metric_families.hpp) as Prometheus last scraped
// them, read over its HTTP API (`GET /api/v1/query`), instead of asking every instance. An
// instance whose last scrape is older than a bound is stale, not trusted; one whose scrape
// fails (`up == 0`) is unreachable. Needs nlohmann_json, and a `fetch_function` such as
// `http_fetch(curl_transport{})`.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "../../error.hpp"
#include "../fleet.hpp"
#include "http_check.hpp"
#include "verdict.hpp"

namespace dualcred::rotation::fleet {

/// The query `prometheus_check` asks by default: when each instance's credential sets were
/// last scraped, with their `version` labels.
inline constexpr std::string_view default_prometheus_query = "timestamp(dualcred_credential_info)";

/// The fleet as Prometheus sees it, as a `fleet_check`.
///
/// `query` must return an instant vector whose series carry the labels `instance`, `job`
/// and `version`, each valued the Unix time of the sample (what `timestamp(...)` gives); an
/// instance is ready when every version it reports is at least the revision waited for and
/// its oldest sample is at most `max_age` older than the query's evaluation. Instances of the
/// jobs seen whose `up` is 0 are unreachable; those up without a series are a bad answer.
/// A query Prometheus refuses (HTTP 4xx) or an answer that is not its API's JSON fails the
/// check at once (`errc::malformed`); Prometheus not answering keeps the check waiting.
struct prometheus_check {
  std::string url;  ///< Prometheus's base URL, e.g. `http://prometheus:9090`
  std::string query = std::string(default_prometheus_query);
  std::chrono::milliseconds max_age{120'000};
  fetch_function fetch;
  std::chrono::milliseconds deadline{60'000};
  std::chrono::milliseconds poll_interval{1000};

  [[nodiscard]] result<void> operator()(const fleet_request& request) const;
};

namespace detail {

// A query as a URL query component: everything but RFC 3986's unreserved characters escaped.
inline std::string percent_encode(std::string_view text) {
  std::string out;
  for (const unsigned char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~';
    out += plain ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02X}", c);
  }
  return out;
}

// A PromQL string literal.
inline std::string promql_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// One series of an instant query: its labels, its value, and when the query was evaluated.
struct prometheus_sample {
  std::map<std::string, std::string> labels;
  double value = 0;
  double evaluated_at = 0;
};

inline result<std::vector<prometheus_sample>> read_prometheus_vector(std::string_view body) {
  const auto bad = [](std::string_view why) {
    return fail(errc::malformed, fmt::format("prometheus: the query answer {}", why));
  };
  const auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return bad("is not JSON");
  if (doc.value("status", "") != "success") return bad("is not a success");
  const auto data = doc.find("data");
  if (data == doc.end() || !data->is_object() || data->value("resultType", "") != "vector")
    return bad("is not an instant vector");
  std::vector<prometheus_sample> out;
  for (const auto& series : data->value("result", nlohmann::json::array())) {
    const auto metric = series.find("metric");
    const auto value = series.find("value");
    if (metric == series.end() || !metric->is_object() || value == series.end() ||
        !value->is_array() || value->size() != 2 || !(*value)[0].is_number() ||
        !(*value)[1].is_string())
      return bad("has a series without labels or value");
    prometheus_sample s;
    for (const auto& [k, v] : metric->items())
      if (v.is_string()) s.labels.emplace(k, v.get<std::string>());
    s.evaluated_at = (*value)[0].get<double>();
    const auto text = (*value)[1].get<std::string>();
    char* end = nullptr;
    s.value = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) return bad("has a value that is not a number");
    out.push_back(std::move(s));
  }
  return out;
}

inline result<std::vector<prometheus_sample>> prometheus_query(
    const prometheus_check& f, std::string_view query,
    std::chrono::steady_clock::time_point until) {
  using namespace std::chrono;
  const auto left = duration_cast<milliseconds>(until - steady_clock::now());
  if (left < milliseconds(1)) return fail(errc::timeout, "prometheus: the deadline passed");
  auto body = f.fetch(fmt::format("{}/api/v1/query?query={}", f.url, percent_encode(query)), left);
  if (!body) return boost::outcome_v2::failure(std::move(body).error());
  return read_prometheus_vector(body.value());
}

// Each instance of the version query: its versions and the age of its oldest sample.
struct prometheus_instance {
  std::vector<std::string> versions;
  double age_seconds = 0;
};

inline instance_verdict judge_scraped(const std::string& name, const prometheus_instance& p,
                                      std::uint64_t wanted, std::chrono::milliseconds max_age) {
  instance_verdict v{name, lag::none, "version"};
  bool all = true;
  for (std::size_t k = 0; k < p.versions.size(); ++k) {
    v.detail += (k == 0 ? " " : ",") + loggable_version(p.versions[k]);
    all = all && version_at_least(p.versions[k], wanted);
  }
  if (!all) v.state = lag::old_version;
  if (p.age_seconds * 1000 > static_cast<double>(max_age.count())) {
    v.state = lag::stale;
    v.detail = fmt::format("last scraped {:.0f} s ago, over the {} s bound ({})", p.age_seconds,
                           max_age.count() / 1000, v.detail);
  }
  return v;
}

// A refused query ends the check; Prometheus down is a problem of the round.
inline result<bool> prometheus_answered(const result<std::vector<prometheus_sample>>& r,
                                        round_result& out) {
  if (r) return true;
  if (r.error().is(errc::malformed))
    return fail(errc::malformed, fmt::format("prometheus: {}", r.error().detail));
  out.problem = fmt::format("prometheus: {}", r.error().detail);
  return false;
}

inline result<round_result> prometheus_round(const prometheus_check& f, std::uint64_t wanted,
                                             std::chrono::steady_clock::time_point until) {
  round_result out;
  auto seen = prometheus_query(f, f.query, until);
  DUALCRED_TRY(answered, prometheus_answered(seen, out));
  if (!answered) return out;
  std::map<std::string, prometheus_instance> scraped;
  std::set<std::string> jobs;
  for (const auto& s : seen.value()) {
    auto& p = scraped[s.labels.count("instance") ? s.labels.at("instance") : "(no instance label)"];
    p.versions.push_back(s.labels.count("version") ? s.labels.at("version") : "");
    p.age_seconds = std::max(p.age_seconds, s.evaluated_at - s.value);
    if (s.labels.count("job")) jobs.insert(s.labels.at("job"));
  }
  std::map<std::string, double> up;
  if (!jobs.empty()) {
    std::string q;
    for (const auto& j : jobs)
      q += fmt::format("{}up{{job={}}}", q.empty() ? "" : " or ", promql_string(j));
    auto ups = prometheus_query(f, q, until);
    DUALCRED_TRY(up_answered, prometheus_answered(ups, out));
    if (!up_answered) return out;
    for (const auto& s : ups.value())
      if (s.labels.count("instance")) up[s.labels.at("instance")] = s.value;
  }
  for (const auto& [name, p] : scraped)
    if (!up.count(name) || up.at(name) != 0)
      out.instances.push_back(judge_scraped(name, p, wanted, f.max_age));
  for (const auto& [name, value] : up) {
    if (value == 0)
      out.instances.push_back(
          {name, lag::unreachable, "Prometheus's last scrape of it failed (up 0)"});
    else if (!scraped.count(name))
      out.instances.push_back({name, lag::bad_answer, "no series of the query in its metrics"});
  }
  if (out.instances.empty()) out.problem = "prometheus: the query found no instance";
  return out;
}

}  // namespace detail

/// One round of `f` for revision `wanted`: every instance Prometheus knows and where it
/// stands (`lag::stale` for a scrape older than `max_age`).
[[nodiscard]] inline result<round_result> prometheus_verdicts(
    const prometheus_check& f, std::uint64_t wanted,
    std::chrono::steady_clock::time_point until = std::chrono::steady_clock::now() +
                                                  std::chrono::seconds(10)) {
  if (!f.fetch) return fail(errc::invalid_argument, "prometheus: no fetch function is set");
  return detail::prometheus_round(f, wanted, until);
}

inline result<void> prometheus_check::operator()(const fleet_request& request) const {
  if (!fetch) return fail(errc::invalid_argument, "prometheus: no fetch function is set");
  const round_function round = [this](std::uint64_t wanted,
                                      std::chrono::steady_clock::time_point until) {
    return detail::prometheus_round(*this, wanted, until);
  };
  return wait_rounds(round, request.revision, deadline, poll_interval, request.on_wait);
}

}  // namespace dualcred::rotation::fleet
