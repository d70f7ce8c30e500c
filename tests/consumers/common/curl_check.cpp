// The curl part: its header and libcurl's own flags.
#include <cstdio>

#include <dualcred/dualcred.hpp>
#include <dualcred/http/curl.hpp>

static_assert(dualcred::http_client<dualcred::curl_transport>);

int main() {
  std::printf("%s\n", curl_version());
  return 0;
}
