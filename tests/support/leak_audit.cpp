// The secret-leak policy behind testing/include/dualcred_testing/leak_audit.hpp.
#include <dualcred_testing/leak_audit.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace dualcred_testing {
namespace {

struct audit_state {
  std::mutex mutex;
  std::set<std::string, std::less<>> secrets;
  std::set<std::string, std::less<>> public_values;  // never counted as secrets
  std::string current_test = "(outside any test case)";
  std::vector<std::string> leaks;  // "test case: masked detail"
};

audit_state& state() {
  static auto* s = new audit_state;  // never destroyed: details are made until exit
  return *s;
}

// Reports which test case each leak happened in.
struct test_case_tracker : doctest::IReporter {
  explicit test_case_tracker(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData& in) override {
    std::lock_guard lock(state().mutex);
    state().current_test = in.m_name;
  }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("leak_audit", 1, test_case_tracker);

}  // namespace

void audit_secret(std::string_view bytes) noexcept {
  if (bytes.size() < min_audited_secret) return;
  try {
    std::lock_guard lock(state().mutex);
    if (!state().public_values.contains(bytes)) state().secrets.emplace(bytes);
  } catch (...) {
  }
}

void audit_error_detail(std::string_view text) noexcept {
  try {
    std::lock_guard lock(state().mutex);
    for (const std::string& s : state().secrets) {
      const auto at = text.find(s);
      if (at == std::string_view::npos) continue;
      std::string masked(text);
      for (auto pos = masked.find(s); pos != std::string::npos; pos = masked.find(s, pos))
        masked.replace(pos, s.size(), "<a secret of the test>");
      state().leaks.push_back(state().current_test + ": " + masked);
    }
  } catch (...) {
  }
}

void audit_public(std::string_view bytes) noexcept {
  try {
    std::lock_guard lock(state().mutex);
    state().public_values.emplace(bytes);
    if (const auto it = state().secrets.find(bytes); it != state().secrets.end())
      state().secrets.erase(it);
  } catch (...) {
  }
}

std::size_t report_leaks() noexcept {
  std::lock_guard lock(state().mutex);
  for (const std::string& leak : state().leaks)
    std::fprintf(stderr, "secret leak: an error detail held a secret: %s\n", leak.c_str());
  return state().leaks.size();
}

}  // namespace dualcred_testing
