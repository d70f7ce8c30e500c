// The status report (`status --json`, `status --prometheus`), byte for byte, without a store.
#include <chrono>
#include <string>

#include <doctest/doctest.h>
#include <dualcred/rotation/report.hpp>
#include <nlohmann/json.hpp>

// Everything below in one namespace: the test programs are built as unity files.
namespace test_report {

TEST_SUITE_BEGIN("rotation_report");

using namespace dualcred::rotation;
using std::chrono::seconds;

namespace {
rotation_status promoted_status() {
  rotation_status s;
  s.prefix = "DB";
  s.store = "file \"/run/a\\b\"\nx";  // every byte the label format escapes
  s.phase = phase::promoted;
  s.revision = 42;
  s.now = timestamp(seconds(1'800'000'000));
  s.phase_since = timestamp(seconds(1'800'000'000 - 75));
  s.rotated_at = timestamp(seconds(1'800'000'000 - 90));
  return s;
}
}  // namespace

TEST_CASE("to_prometheus: every family, labels escaped, ages when the store records them") {
  CHECK(to_prometheus(promoted_status()) ==
        "# HELP dualcred_rotation_phase 1 for the phase the credential rotation is in (idle: no "
        "rotation under way).\n"
        "# TYPE dualcred_rotation_phase gauge\n"
        "dualcred_rotation_phase{prefix=\"DB\",store=\"file "
        "\\\"/run/a\\\\b\\\"\\nx\",phase=\"idle\"} 0\n"
        "dualcred_rotation_phase{prefix=\"DB\",store=\"file "
        "\\\"/run/a\\\\b\\\"\\nx\",phase=\"applied\"} 0\n"
        "dualcred_rotation_phase{prefix=\"DB\",store=\"file "
        "\\\"/run/a\\\\b\\\"\\nx\",phase=\"promoted\"} 1\n"
        "dualcred_rotation_phase{prefix=\"DB\",store=\"file "
        "\\\"/run/a\\\\b\\\"\\nx\",phase=\"verified\"} 0\n"
        "dualcred_rotation_phase{prefix=\"DB\",store=\"file "
        "\\\"/run/a\\\\b\\\"\\nx\",phase=\"rolling_back\"} 0\n"
        "# HELP dualcred_rotation_phase_age_seconds Seconds the rotation has been in its phase.\n"
        "# TYPE dualcred_rotation_phase_age_seconds gauge\n"
        "dualcred_rotation_phase_age_seconds{prefix=\"DB\",store=\"file \\\"/run/a\\\\b\\\"\\nx\"} "
        "75\n"
        "# HELP dualcred_rotation_current_age_seconds Seconds since CURRENT was promoted.\n"
        "# TYPE dualcred_rotation_current_age_seconds gauge\n"
        "dualcred_rotation_current_age_seconds{prefix=\"DB\",store=\"file "
        "\\\"/run/a\\\\b\\\"\\nx\"} 90\n"
        "# HELP dualcred_rotation_revision The store revision the state was read at.\n"
        "# TYPE dualcred_rotation_revision gauge\n"
        "dualcred_rotation_revision{prefix=\"DB\",store=\"file \\\"/run/a\\\\b\\\"\\nx\"} 42\n"
        "# HELP dualcred_rotation_status_timestamp_seconds Unix time at which dualcred-rotate "
        "status read the store.\n"
        "# TYPE dualcred_rotation_status_timestamp_seconds gauge\n"
        "dualcred_rotation_status_timestamp_seconds{prefix=\"DB\",store=\"file "
        "\\\"/run/a\\\\b\\\"\\nx\"} 1800000000\n");

  rotation_status idle;
  idle.prefix = "REDIS";
  idle.store = "vault";
  idle.now = timestamp(seconds(5));
  CHECK(to_prometheus(idle) ==
        "# HELP dualcred_rotation_phase 1 for the phase the credential rotation is in (idle: no "
        "rotation under way).\n"
        "# TYPE dualcred_rotation_phase gauge\n"
        "dualcred_rotation_phase{prefix=\"REDIS\",store=\"vault\",phase=\"idle\"} 1\n"
        "dualcred_rotation_phase{prefix=\"REDIS\",store=\"vault\",phase=\"applied\"} 0\n"
        "dualcred_rotation_phase{prefix=\"REDIS\",store=\"vault\",phase=\"promoted\"} 0\n"
        "dualcred_rotation_phase{prefix=\"REDIS\",store=\"vault\",phase=\"verified\"} 0\n"
        "dualcred_rotation_phase{prefix=\"REDIS\",store=\"vault\",phase=\"rolling_back\"} 0\n"
        "# HELP dualcred_rotation_revision The store revision the state was read at.\n"
        "# TYPE dualcred_rotation_revision gauge\n"
        "dualcred_rotation_revision{prefix=\"REDIS\",store=\"vault\"} 0\n"
        "# HELP dualcred_rotation_status_timestamp_seconds Unix time at which dualcred-rotate "
        "status read the store.\n"
        "# TYPE dualcred_rotation_status_timestamp_seconds gauge\n"
        "dualcred_rotation_status_timestamp_seconds{prefix=\"REDIS\",store=\"vault\"} 5\n");
}

TEST_CASE("to_json: the phase, its age, the next step and stuck") {
  const auto j = nlohmann::json::parse(to_json(promoted_status(), seconds(60)));
  CHECK(j["phase"] == "promoted");
  CHECK(j["revision"] == 42);
  CHECK(j["phase_age_seconds"] == 75);
  CHECK(j["current_age_seconds"] == 90);
  CHECK(j["next_step"] == "verify");
  CHECK(j["stuck"] == true);
  CHECK(j["store"] == "file \"/run/a\\b\"\nx");
}

TEST_SUITE_END();

}  // namespace test_report
