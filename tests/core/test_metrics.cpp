#include <dualcred/metrics.hpp>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <dualcred/provider/static.hpp>

#include "support/scripted.hpp"

TEST_SUITE_BEGIN("metrics");

using namespace dualcred;
using dualcred::testing::make_set;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The family a line belongs to: the name in `# HELP name ...` / `# TYPE name ...`, or the
// sample's name up to its labels.
std::string family_of(const std::string& line) {
  if (line.starts_with("# ")) {
    const auto start = line.find(' ', 2) + 1;
    return line.substr(start, line.find(' ', start) - start);
  }
  return line.substr(0, line.find('{'));
}

}  // namespace

TEST_CASE("metrics_text: the whole exposition for one instance") {
  status s;
  s.connects_via_current = 12;
  s.connects_via_next = 3;
  s.fallbacks = 2;
  s.all_rejected = 1;
  s.connects_since_all_rejected = 2;
  s.reloads = 4;
  s.reload_failures = 5;
  s.preferred = slot::next;
  s.version = "7";
  CHECK(metrics_text({{"postgres", s}}) ==
        "# HELP dualcred_connects_total Successful connects, by the slot whose credential "
        "worked.\n"
        "# TYPE dualcred_connects_total counter\n"
        "dualcred_connects_total{backend=\"postgres\",slot=\"current\"} 12\n"
        "dualcred_connects_total{backend=\"postgres\",slot=\"next\"} 3\n"
        "# HELP dualcred_fallbacks_total Connects where the preferred credential was refused and "
        "the other one worked.\n"
        "# TYPE dualcred_fallbacks_total counter\n"
        "dualcred_fallbacks_total{backend=\"postgres\"} 2\n"
        "# HELP dualcred_all_rejected_total Connects that failed because every credential was "
        "refused.\n"
        "# TYPE dualcred_all_rejected_total counter\n"
        "dualcred_all_rejected_total{backend=\"postgres\"} 1\n"
        "# HELP dualcred_reloads_total Successful reads of the secret provider.\n"
        "# TYPE dualcred_reloads_total counter\n"
        "dualcred_reloads_total{backend=\"postgres\"} 4\n"
        "# HELP dualcred_reload_failures_total Failed reads of the secret provider (the previous "
        "credentials stayed in use).\n"
        "# TYPE dualcred_reload_failures_total counter\n"
        "dualcred_reload_failures_total{backend=\"postgres\"} 5\n"
        "# HELP dualcred_preferred_slot 1 for the slot connects try first, 0 for the other.\n"
        "# TYPE dualcred_preferred_slot gauge\n"
        "dualcred_preferred_slot{backend=\"postgres\",slot=\"current\"} 0\n"
        "dualcred_preferred_slot{backend=\"postgres\",slot=\"next\"} 1\n"
        "# HELP dualcred_healthy 1 when a credential set is loaded and a connect has succeeded "
        "since every credential was last refused.\n"
        "# TYPE dualcred_healthy gauge\n"
        "dualcred_healthy{backend=\"postgres\"} 1\n"
        "# HELP dualcred_credential_info The version of the credential set in use, as a label.\n"
        "# TYPE dualcred_credential_info gauge\n"
        "dualcred_credential_info{backend=\"postgres\",version=\"7\"} 1\n");
}

TEST_CASE("each family is written once, with all instances' samples together") {
  status a, b;
  a.reloads = b.reloads = 1;
  const auto lines = lines_of(metrics_text({{"postgres", a}, {"redis", b}}));
  std::set<std::string> finished;
  std::string current;
  int helps = 0, types = 0, samples = 0;
  for (const auto& line : lines) {
    const std::string family = family_of(line);
    if (family != current) {
      CHECK_MESSAGE(finished.count(family) == 0, "family split: " << family);
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    if (line.starts_with("# HELP "))
      ++helps;
    else if (line.starts_with("# TYPE "))
      ++types;
    else
      ++samples;
  }
  CHECK(helps == 8);
  CHECK(types == 8);
  // connects and preferred_slot have two samples per instance, the other six have one.
  CHECK(samples == 2 * (2 + 2 + 6));
  CHECK(std::count(lines.begin(), lines.end(), "dualcred_healthy{backend=\"redis\"} 1") == 1);
}

TEST_CASE("label values escape backslash, double quote and newline") {
  status s;
  s.version = "v\"1\\2\n3";
  const std::string text = metrics_text({{"a\"b\\c\nd", s}});
  CHECK(text.find(R"(dualcred_credential_info{backend="a\"b\\c\nd",version="v\"1\\2\n3"} 1)") !=
        std::string::npos);
  // Every line is a comment or a sample: no raw newline escaped into a new line.
  for (const auto& line : lines_of(text))
    CHECK((line.starts_with("# ") || line.starts_with("dualcred_")));
  CHECK(text.ends_with("\n"));
}

TEST_CASE("an instance with nothing loaded reports unhealthy and an empty version") {
  const std::string text = metrics_text({{"db", status{}}});
  CHECK(text.find("dualcred_healthy{backend=\"db\"} 0\n") != std::string::npos);
  CHECK(text.find("dualcred_credential_info{backend=\"db\",version=\"\"} 1\n") !=
        std::string::npos);
  CHECK(prometheus_content_type.starts_with("text/plain; version=0.0.4"));
}

TEST_CASE("a live dual_credential's metrics count its connects and never show its passwords") {
  dualcred::testing::scripted_backend backend;
  backend.accept_only({"pw-old-Kx42"});
  auto dc = make_dual_credential(dualcred::testing::scripted_connector{&backend},
                                 static_provider(make_set("pw-old-Kx42", "pw-new-Zq81", "v3")));
  REQUIRE(dc);
  for (int i = 0; i < 3; ++i) REQUIRE(dc.value().connect());
  backend.accept_only({"pw-new-Zq81"});
  REQUIRE(dc.value().connect());
  const std::string text = metrics_text({{"db", dc.value().snapshot()}});
  CHECK(text.find("dualcred_connects_total{backend=\"db\",slot=\"current\"} 3\n") !=
        std::string::npos);
  CHECK(text.find("dualcred_connects_total{backend=\"db\",slot=\"next\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("dualcred_fallbacks_total{backend=\"db\"} 1\n") != std::string::npos);
  CHECK(text.find("dualcred_preferred_slot{backend=\"db\",slot=\"next\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("dualcred_credential_info{backend=\"db\",version=\"v3\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("pw-old-Kx42") == std::string::npos);
  CHECK(text.find("pw-new-Zq81") == std::string::npos);
}

TEST_SUITE_END();
