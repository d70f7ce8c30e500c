// libFuzzer target: any bytes as a Vault response body, through the parser and every reader of
// its result, and through the provider and store with each status that takes another path.
// Build with .ci/fuzz.sh (clang, -Dfuzzing=enabled).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <dualcred/provider/vault.hpp>
#include <dualcred/provider/vault/detail/response.hpp>
#include <dualcred/provider/vault/detail/scrubbed_json.hpp>
#include <dualcred/provider/vault/kv2_client.hpp>

namespace {

struct canned {
  int status;
  std::string_view body;
  dualcred::result<dualcred::http_response> operator()(const dualcred::http_request&) const {
    return dualcred::http_response{status, {}, std::string(body)};
  }
};

dualcred::vault_config config() {
  dualcred::vault_config c;
  c.address = "https://vault.example:8200";
  c.path = "mutt/prod";
  c.token = dualcred::secret("hvs.fuzz");
  c.renew_token = false;
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dualcred;
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  dualcred::provider::vault::detail::scrubbed_json doc;
  if (doc.parse(body)) {
    (void)dualcred::provider::vault::detail::parse_kv2_read(doc.value(), "f");
    (void)dualcred::provider::vault::detail::parse_kv2_metadata(doc.value(), "f");
    (void)dualcred::provider::vault::detail::parse_kv2_write(doc.value(), "f");
    (void)dualcred::provider::vault::detail::parse_auth(doc.value(), "f");
    (void)dualcred::provider::vault::detail::parse_lookup_self(doc.value(), "f");
    for (const int status : {400, 403, 404, 503})
      (void)dualcred::provider::vault::detail::status_error(status, &doc.value(), "f");
    // A secret taken from the input never survives into the quoted error text. (Without
    // blanks, control bytes or '*': folding and the `***` marks could make new text equal
    // to such a secret without it having been sent back.)
    if (size >= 4) {
      const std::string_view s = body.substr(0, 4 + static_cast<unsigned char>(body[0]) % 8);
      bool plain = true;
      for (const char c : s) plain = plain && static_cast<unsigned char>(c) > 0x20 && c != '*';
      const std::string why =
          dualcred::provider::vault::detail::error_messages(doc.value(), {&s, 1});
      if (plain && why.find(s) != std::string::npos) __builtin_trap();
    }
  }

  for (const int status : {200, 404}) {
    vault_kv2_provider db(canned{status, body}, config(), key_names::for_prefix("DB"));
    auto set = db.load();
    if (set && set.value().current.password.empty()) __builtin_trap();  // assemble forbids it
  }
  vault_kv2_client store(canned{200, body}, config());
  (void)store.read();
  (void)store.metadata();
  (void)store.write(secret_map{}, 1);
  secret_map any;  // the input as a value: UTF-8 validation and the body builder
  any.emplace("K", secret(body));
  (void)store.write(any, std::nullopt);
  return 0;
}
