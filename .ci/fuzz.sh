#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-Dfuzzing=enabled) and runs each for FUZZ_SECONDS
# (default 12 each). New inputs go to a temporary directory: the repository is never written.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-12}
# Every fuzz/NAME_fuzzer.cpp runs, seeded from fuzz/corpus_NAME: a new target cannot be left
# out of CI by forgetting to list it.
targets=()
for src in fuzz/*_fuzzer.cpp; do
  target=$(basename "$src" .cpp)
  corpus=fuzz/corpus_${target%_fuzzer}
  [[ -d $corpus ]] || { echo "fuzz: $target has no seed corpus $corpus" >&2; exit 1; }
  targets+=("$target:$corpus")
done
if [ ! -f "$dir/build.ninja" ]; then
  # Line tables, so a finding's stack names file and line.
  CC=clang CXX=clang++ meson setup "$dir" -Dfuzzing=enabled -Dtests=disabled \
    -Dexamples=disabled -Dbenchmarks=disabled -Dlibpq=disabled -Dhiredis=disabled \
    -Dcpp_args=-gline-tables-only
fi
names=()
for entry in "${targets[@]}"; do names+=("fuzz/${entry%%:*}"); done
ninja -C "$dir" -j2 "${names[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One fuzzer per core at a time (FUZZ_JOBS), each with its own log, printed when it ends.
jobs=${FUZZ_JOBS:-$(nproc)}
run_one() {
  local target=$1 corpus=$2
  mkdir "$work/$target"
  if "$dir/fuzz/$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$dir/fuzz/" "$work/$target" "$corpus" \
    >"$work/$target.log" 2>&1; then
    tail -n 12 "$work/$target.log"
    echo "fuzz: $target ran ${seconds}s without a finding"
  else
    cat "$work/$target.log"
    echo "fuzz: $target FOUND A CRASH (input in $dir/fuzz/)"
    return 1
  fi
}
failed=0
running=0
for entry in "${targets[@]}"; do
  run_one "${entry%%:*}" "${entry#*:}" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while ((running > 0)); do
  wait -n || failed=1
  running=$((running - 1))
done
exit "$failed"
