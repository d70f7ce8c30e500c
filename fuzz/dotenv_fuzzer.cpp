// libFuzzer target: any bytes as a dotenv file, through the one reader the file provider and
// the dotenv store share. What it accepts must survive the store's writer unchanged (written
// and read back, every key and value equal), and a refusal must quote no value.
// Build with .ci/fuzz.sh (clang, -Dfuzzing=enabled); seeds in fuzz/corpus_dotenv.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <dualcred/file/dotenv.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dualcred::file;
  using namespace dualcred::provider;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = dotenv_parser::parse(text, "f");
  if (!parsed) {
    if (!parsed.error().is(dualcred::errc::malformed)) std::abort();
    // Errors name the source, a line number and at most a key (letters, digits, _ . -),
    // so they are printable ASCII even when the values are not.
    for (const char c : parsed.error().detail)
      if (c < 0x20 || c > 0x7e) std::abort();
    return 0;
  }
  std::string written;
  for (const auto& [key, value] : parsed.value()) {
    if (!valid_key(key)) std::abort();  // the parser's keys are the stores' keys
    dotenv_writer::append(written, key, value.reveal());
  }
  auto back = dotenv_parser::parse(written, "f");
  if (!back || back.value().size() != parsed.value().size()) std::abort();
  for (const auto& [key, value] : parsed.value()) {
    const auto it = back.value().find(key);
    if (it == back.value().end() || !(it->second == value)) std::abort();
  }
  return 0;
}
