#pragma once

// Fleet discovery through DNS, with c-ares (the `cares` part): every address of a name (a
// Kubernetes headless Service has one A/AAAA record per ready pod), or every target of its
// SRV records, as the status URLs an `http_check` asks (`http_check::discover`). Resolved
// again on every call, so the check follows pods that come and go.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ares.h>
#include <fmt/format.h>

#include "../../error.hpp"

namespace dualcred::rotation::fleet {

/// The instances behind a DNS name, as URLs `scheme://ADDRESS:PORT/path`.
///
/// A `name` starting with `_` (`_http._tcp.api.prod.svc.cluster.local`) is looked up as SRV:
/// each target's addresses on the port its record gives. Any other name is looked up as A and
/// AAAA, each address on `port`. `dns_server` (`HOST:PORT`, e.g. `127.0.0.1:5353`) asks that
/// server only; empty, the system's resolver configuration (/etc/resolv.conf, /etc/hosts).
///
/// Errors: `errc::invalid_argument` for a missing port or a bad server, `errc::not_found`
/// when the name has no such record, `errc::timeout` when no answer came within `timeout`,
/// `errc::provider_unavailable` for any other resolver failure. Each names the DNS name.
struct dns_instances {
  std::string name;
  int port = 0;  ///< for A/AAAA names; SRV records carry their own
  std::string scheme = "http";
  std::string path = "/health";
  std::string dns_server;
  std::chrono::milliseconds timeout{5000};

  [[nodiscard]] result<std::vector<std::string>> operator()() const;
};

namespace detail {

inline bool ares_ready() noexcept {
  static const bool ready = ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS;
  return ready;
}

struct ares_channel_deleter {
  void operator()(ares_channel c) const noexcept { ares_destroy(c); }
};
using ares_channel_ptr = std::unique_ptr<std::remove_pointer_t<ares_channel>, ares_channel_deleter>;

// One pass of lookups over one channel: the URLs found, the first failure, and how many
// queries are still out.
struct dns_pass {
  const dns_instances* spec = nullptr;
  ares_channel channel = nullptr;
  std::vector<std::string> urls;
  int failure = ARES_SUCCESS;
  int pending = 0;
};

// What an address lookup needs back in its callback.
struct dns_host_query {
  dns_pass* pass;
  int port;
};

inline std::string dns_url(const dns_instances& spec, const sockaddr* a, int port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr, text, sizeof text);
    return fmt::format("{}://[{}]:{}{}", spec.scheme, text, port, spec.path);
  }
  inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, text, sizeof text);
  return fmt::format("{}://{}:{}{}", spec.scheme, text, port, spec.path);
}

inline void on_addresses(void* arg, int status, int, ares_addrinfo* res) {
  std::unique_ptr<dns_host_query> q(static_cast<dns_host_query*>(arg));
  --q->pass->pending;
  if (status != ARES_SUCCESS) {
    if (q->pass->failure == ARES_SUCCESS) q->pass->failure = status;
    return;
  }
  for (const ares_addrinfo_node* n = res->nodes; n != nullptr; n = n->ai_next)
    if (n->ai_family == AF_INET || n->ai_family == AF_INET6)
      q->pass->urls.push_back(dns_url(*q->pass->spec, n->ai_addr, q->port));
  ares_freeaddrinfo(res);
}

inline void look_up_host(dns_pass& pass, const char* host, int port) {
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  ++pass.pending;
  ares_getaddrinfo(pass.channel, host, nullptr, &hints, &on_addresses,
                   new dns_host_query{&pass, port});
}

inline void on_srv(void* arg, int status, int, unsigned char* answer, int length) {
  auto& pass = *static_cast<dns_pass*>(arg);
  --pass.pending;
  ares_srv_reply* srv = nullptr;
  if (status == ARES_SUCCESS) status = ares_parse_srv_reply(answer, length, &srv);
  if (status != ARES_SUCCESS) {
    if (pass.failure == ARES_SUCCESS) pass.failure = status;
    return;
  }
  for (const ares_srv_reply* r = srv; r != nullptr; r = r->next)
    look_up_host(pass, r->host, r->port);
  ares_free_data(srv);
}

// Runs the channel's queries until none is left or `until` passes; false on the deadline.
inline bool dns_drive(dns_pass& pass, std::chrono::steady_clock::time_point until) {
  using namespace std::chrono;
  while (pass.pending > 0) {
    const auto left = duration_cast<milliseconds>(until - steady_clock::now());
    if (left <= milliseconds(0)) return false;
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    const int mask = ares_getsock(pass.channel, socks, ARES_GETSOCK_MAXNUM);
    std::vector<pollfd> fds;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(mask, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(mask, i)) events |= POLLOUT;
      if (events != 0) fds.push_back(pollfd{socks[i], events, 0});
    }
    timeval most{static_cast<long>(left.count() / 1000),
                 static_cast<long>(left.count() % 1000) * 1000};
    timeval wait{};
    ares_timeout(pass.channel, &most, &wait);
    const int ms = static_cast<int>(wait.tv_sec * 1000 + wait.tv_usec / 1000);
    const int n = ::poll(fds.data(), fds.size(), std::max(ms, 1));
    if (n <= 0) {
      ares_process_fd(pass.channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // resends, timeouts
      continue;
    }
    for (const auto& p : fds)
      ares_process_fd(pass.channel,
                      (p.revents & (POLLIN | POLLERR | POLLHUP)) ? p.fd : ARES_SOCKET_BAD,
                      (p.revents & POLLOUT) ? p.fd : ARES_SOCKET_BAD);
  }
  return true;
}

inline result<ares_channel_ptr> dns_channel(const dns_instances& spec) {
  if (!ares_ready()) return fail(errc::provider_unavailable, "dns: ares_library_init failed");
  ares_options opts{};
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  opts.timeout = static_cast<int>(std::clamp<long long>(spec.timeout.count() / 3, 100, 2000));
  opts.tries = 3;
  char lookups[] = "b";  // a server given: DNS only, /etc/hosts does not shadow its answers
  if (!spec.dns_server.empty()) {
    opts.lookups = lookups;
    mask |= ARES_OPT_LOOKUPS;
  }
  ares_channel raw = nullptr;
  if (ares_init_options(&raw, &opts, mask) != ARES_SUCCESS)
    return fail(errc::provider_unavailable,
                fmt::format("dns: {}: cannot set up the resolver", spec.name));
  ares_channel_ptr channel(raw);
  if (!spec.dns_server.empty() &&
      ares_set_servers_ports_csv(channel.get(), spec.dns_server.c_str()) != ARES_SUCCESS)
    return fail(errc::invalid_argument,
                fmt::format("dns: the DNS server {} is not HOST:PORT", spec.dns_server));
  return channel;
}

}  // namespace detail

inline result<std::vector<std::string>> dns_instances::operator()() const {
  const bool srv = name.starts_with('_');
  if (name.empty()) return fail(errc::invalid_argument, "dns: no name to look up");
  if (!srv && (port < 1 || port > 65535))
    return fail(errc::invalid_argument,
                fmt::format("dns: {} is not an SRV name (_service._proto.name) and no port is "
                            "given for its addresses",
                            name));
  DUALCRED_TRY(channel, detail::dns_channel(*this));
  detail::dns_pass pass{this, channel.get(), {}, ARES_SUCCESS, 0};
  if (srv) {
    ++pass.pending;
    ares_query(channel.get(), name.c_str(), 1 /* C_IN */, 33 /* T_SRV */, &detail::on_srv, &pass);
  } else {
    detail::look_up_host(pass, name.c_str(), port);
  }
  // Ends (and calls back) every query still out, so no callback outlives `pass`.
  const bool answered = detail::dns_drive(pass, std::chrono::steady_clock::now() + timeout);
  if (!answered) ares_cancel(channel.get());
  std::sort(pass.urls.begin(), pass.urls.end());
  pass.urls.erase(std::unique(pass.urls.begin(), pass.urls.end()), pass.urls.end());
  if (!pass.urls.empty()) return std::move(pass.urls);
  if (!answered)
    return fail(errc::timeout,
                fmt::format("dns: {}: no answer within {} ms", name, timeout.count()));
  if (pass.failure == ARES_ENOTFOUND || pass.failure == ARES_ENODATA)
    return fail(errc::not_found,
                fmt::format("dns: {}: no {} record", name, srv ? "SRV" : "A or AAAA"));
  return fail(
      errc::provider_unavailable,
      fmt::format("dns: {}: {}", name,
                  pass.failure == ARES_SUCCESS ? "no address" : ares_strerror(pass.failure)));
}

}  // namespace dualcred::rotation::fleet
