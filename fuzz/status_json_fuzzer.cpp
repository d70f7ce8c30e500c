// libFuzzer target: any bytes as the status JSON an instance serves to the rotation's fleet
// check, through status_versions and the readiness test on each version it yields.
// Build with .ci/fuzz.sh (clang, -Dfuzzing=enabled); seeds in fuzz/corpus_status_json.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <dualcred/rotation/fleet/http_check.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dualcred::rotation::fleet;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto versions = status_versions(body);
  if (!versions) {
    // The detail quotes nothing from the body: short, printable ASCII only.
    const std::string_view why = versions.error().detail;
    if (!versions.error().is(dualcred::errc::malformed) || why.size() > 80) std::abort();
    for (const char c : why)
      if (c < 0x20 || c > 0x7e) std::abort();
    return 0;
  }
  for (const auto& v : versions.value()) {
    (void)version_at_least(v, 0);
    (void)version_at_least(v, UINT64_MAX);
    if (detail::loggable_version(v).size() > 64) std::abort();
  }
  return 0;
}
