// The Vault part: its header and nlohmann_json's flags.
#include <cstdio>

#include <dualcred/dualcred.hpp>
#include <dualcred/provider/vault.hpp>

int main() {
  dualcred::vault_config config;
  if (config.mount != "secret") {
    std::fprintf(stderr, "vault_config's mount should default to \"secret\"\n");
    return 1;
  }
  std::printf("nlohmann_json %d.%d\n", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR);
  return 0;
}
