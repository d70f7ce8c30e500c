#pragma once

// What the file-layer tests share: a file's bytes, a directory's names, a child process.

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <dualcred_testing/temp_dir.hpp>

namespace test_file_helpers {

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The names in `dir`, sorted: a test says what is there and so that nothing else was left.
inline std::vector<std::string> names(const dualcred::testing::temp_dir& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Runs `body` in a forked child (for limits or a user that must not reach the test
// process) and returns its exit code, -1 if it did not exit. `body` returns the code.
template <class F>
int exit_code_in_child(F body) {
  const pid_t child = ::fork();
  if (child < 0) return -1;
  if (child == 0) ::_exit(body());
  int status = 0;
  if (::waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

}  // namespace test_file_helpers
