#pragma once

// Many requests at once through libcurl's multi interface, on one thread: each transfer is
// set up exactly as `curl_transport` sets up its own (detail::curl_prepare), so TLS, proxy,
// redirect and size rules are the same.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include <curl/curl.h>
#include <fmt/format.h>

#include "../error.hpp"
#include "curl.hpp"
#include "types.hpp"

namespace dualcred {

namespace detail {

// One request in flight: its easy handle and what curl writes into.
struct curl_multi_slot {
  std::size_t index = 0;
  CURL* easy = nullptr;
  curl_exchange exchange;
};

struct curl_multi_deleter {
  void operator()(CURLM* m) const noexcept { curl_multi_cleanup(m); }
};

// Runs one batch: starts transfers while fewer than `parallel` are in flight, collects those
// that finish, and gives every one still running at `until` the deadline's error.
class curl_multi_batch {
 public:
  curl_multi_batch(const curl_options& o, std::span<const http_request> reqs,
                   std::vector<result<http_response>>& out)
      : opts_(o), reqs_(reqs), out_(out) {}
  curl_multi_batch(const curl_multi_batch&) = delete;
  curl_multi_batch& operator=(const curl_multi_batch&) = delete;
  ~curl_multi_batch() {
    for (auto& s : running_) drop(*s);
  }

  void run(CURLM* multi, std::size_t parallel, std::chrono::steady_clock::time_point until) {
    using namespace std::chrono;
    multi_ = multi;
    for (;;) {
      start_more(parallel, until);
      if (running_.empty() && next_ == reqs_.size()) return;
      if (running_.empty()) break;  // the deadline came before the rest could start
      const auto left = duration_cast<milliseconds>(until - steady_clock::now());
      if (left <= milliseconds(0)) break;
      int still = 0;
      curl_multi_perform(multi_, &still);
      collect();
      if (running_.empty() && next_ == reqs_.size()) return;
      curl_multi_poll(multi_, nullptr, 0,
                      static_cast<int>(std::min(left, milliseconds(200)).count()), nullptr);
    }
    for (auto& s : running_) {
      out_[s->index] =
          fail(errc::timeout, fmt::format("{}: no answer before the deadline", s->exchange.where));
      drop(*s);
    }
    running_.clear();
    for (; next_ < reqs_.size(); ++next_)
      out_[next_] =
          fail(errc::timeout, fmt::format("{} {}: not asked before the deadline",
                                          reqs_[next_].method, loggable_url(reqs_[next_].url)));
  }

 private:
  void start_more(std::size_t parallel, std::chrono::steady_clock::time_point until) {
    using namespace std::chrono;
    while (running_.size() < parallel && next_ < reqs_.size()) {
      const auto left = duration_cast<milliseconds>(until - steady_clock::now());
      if (left < milliseconds(1)) return;  // zero would mean "no limit" to curl
      http_request req = reqs_[next_];
      req.timeout = req.timeout.count() > 0 ? std::min(req.timeout, left) : left;
      auto slot = std::make_unique<curl_multi_slot>();
      slot->index = next_++;
      slot->easy = curl_easy_init();
      if (slot->easy == nullptr) {
        out_[slot->index] = fail(errc::provider_unavailable, "curl_easy_init failed");
        continue;
      }
      if (auto set = curl_prepare(slot->easy, opts_, req, slot->exchange); !set) {
        out_[slot->index] = boost::outcome_v2::failure(std::move(set).error());
        curl_easy_cleanup(slot->easy);
        continue;
      }
      curl_easy_setopt(slot->easy, CURLOPT_PRIVATE, slot.get());
      curl_multi_add_handle(multi_, slot->easy);
      running_.push_back(std::move(slot));
    }
  }

  void collect() {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      void* priv = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
      auto* slot = static_cast<curl_multi_slot*>(priv);
      out_[slot->index] = curl_finish(slot->easy, opts_, msg->data.result, slot->exchange);
      drop(*slot);
      std::erase_if(running_, [slot](const auto& s) { return s.get() == slot; });
    }
  }

  void drop(curl_multi_slot& s) noexcept {
    if (s.easy == nullptr) return;
    curl_multi_remove_handle(multi_, s.easy);
    curl_easy_cleanup(s.easy);
    s.easy = nullptr;
    secure_zero(s.exchange.sink.body.data(), s.exchange.sink.body.size());
  }

  const curl_options& opts_;
  std::span<const http_request> reqs_;
  std::vector<result<http_response>>& out_;
  CURLM* multi_ = nullptr;
  std::size_t next_ = 0;
  std::vector<std::unique_ptr<curl_multi_slot>> running_;
};

}  // namespace detail

/// Runs a batch of HTTP requests at once over libcurl's multi interface, on the calling
/// thread, with `curl_transport`'s rules (TLS verified, no redirects followed, no proxy unless
/// asked, bodies bounded, nothing logged).
///
/// At most `max_parallel` transfers are open at a time, so a batch of thousands does not run
/// out of file descriptors. Each request is bounded by its own `timeout` (else the options'),
/// and the whole batch by `until`: a transfer still running then ends with `errc::timeout`,
/// and a request not yet started is not sent and is `errc::timeout` too. The answers come back
/// in the requests' order; errors are `curl_transport`'s. Calls from several threads at once
/// are safe: each call has its own multi handle.
class curl_multi_transport {
 public:
  curl_multi_transport() : curl_multi_transport(curl_options{}) {}
  explicit curl_multi_transport(curl_options o, std::size_t max_parallel = 256)
      : opts_(std::make_shared<const curl_options>(std::move(o))),
        max_parallel_(std::max<std::size_t>(max_parallel, 1)) {}

  [[nodiscard]] std::vector<result<http_response>> operator()(
      std::span<const http_request> reqs, std::chrono::steady_clock::time_point until) const {
    std::vector<result<http_response>> out(
        reqs.size(), result<http_response>(fail(errc::provider_unavailable, "not run")));
    if (reqs.empty()) return out;
    std::unique_ptr<CURLM, detail::curl_multi_deleter> multi(
        detail::curl_ready() ? curl_multi_init() : nullptr);
    if (!multi) {
      for (auto& r : out) r = fail(errc::provider_unavailable, "curl_multi_init failed");
      return out;
    }
    detail::curl_multi_batch batch(*opts_, reqs, out);
    batch.run(multi.get(), max_parallel_, until);
    return out;
  }

  [[nodiscard]] const curl_options& config() const noexcept { return *opts_; }
  [[nodiscard]] std::size_t max_parallel() const noexcept { return max_parallel_; }

 private:
  std::shared_ptr<const curl_options> opts_;
  std::size_t max_parallel_;
};

}  // namespace dualcred
