// libFuzzer target: any bytes as a Redis server's reply to the questions topology discovery
// asks (rotation/redis/replies.hpp): an INFO text and its replicas, CLUSTER NODES, a Sentinel
// entry's field/value list, and the allow list a discovered host is checked against. The
// first byte picks the parser. No input may crash, loop, or yield more than a cap allows;
// every address returned has a port from 1 to 65535; errors are printable ASCII.
// Build with .ci/fuzz.sh (clang, -Dfuzzing=enabled); seeds in fuzz/corpus_redis_reply.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <dualcred/rotation/redis/allow.hpp>
#include <dualcred/rotation/redis/replies.hpp>

namespace {

namespace rr = dualcred::rotation::redis;

// No control byte reaches a detail: server text is escaped (well-formed UTF-8 may stay).
void printable_or_abort(const std::string& detail) {
  for (const char c : detail)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f) std::abort();
}

void port_or_abort(int port) {
  if (port < 1 || port > 65535) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      (void)rr::replies::info_field(text, "role");
      (void)rr::replies::kv_field(text, "ip");
      auto r = rr::replies::info_replicas(text, "Redis fuzz:1");
      if (!r) {
        printable_or_abort(r.error().detail);
        return 0;
      }
      if (r.value().size() > rr::max_replicas) std::abort();
      for (const auto& a : r.value()) {
        if (a.host.empty()) std::abort();
        port_or_abort(a.port);
      }
      return 0;
    }
    case 1: {
      auto r = rr::replies::cluster_nodes(text, "Redis fuzz:1");
      if (!r) {
        printable_or_abort(r.error().detail);
        return 0;
      }
      if (r.value().empty() || r.value().size() > rr::max_cluster_nodes) std::abort();
      for (const auto& n : r.value()) port_or_abort(n.at.port);
      return 0;
    }
    case 2: {
      // A Sentinel entry: NUL-separated fields, as RESP bulk strings may hold any byte.
      std::vector<std::string_view> fields;
      std::size_t at = 0;
      for (;;) {
        const std::size_t end = text.find('\0', at);
        fields.push_back(text.substr(at, end == std::string_view::npos ? end : end - at));
        if (end == std::string_view::npos) break;
        at = end + 1;
      }
      if (const auto a = rr::replies::sentinel_entry(fields)) {
        if (a->host.empty()) std::abort();
        port_or_abort(a->port);
      }
      return 0;
    }
    default: {
      // An allow list, then a host checked against it: the first line is the list.
      const std::size_t nl = text.find('\n');
      const std::string_view spec = text.substr(0, nl);
      const std::string_view host =
          nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
      auto allow = rr::allow_list::parse(spec);
      if (!allow) {
        printable_or_abort(allow.error().detail);
        return 0;
      }
      const bool in = allow.value().contains(host);
      // Every entry as given is contained by the list it came from.
      if (spec.find_first_of(",/") == std::string_view::npos && !allow.value().contains(spec))
        std::abort();
      (void)in;
      (void)rr::replies::printable(host);
      return 0;
    }
  }
}
