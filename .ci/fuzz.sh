#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-Dfuzzing=enabled) and runs each listed target for
# FUZZ_SECONDS (default 12; about a minute for all). Seeds come from each target's corpus
# directory; new inputs go to a temporary directory, so the repository is never written to.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-12}
# target:corpus (fuzz/corpus holds the Vault responses).
targets=(
  vault_response_fuzzer:fuzz/corpus
  dotenv_fuzzer:fuzz/corpus_dotenv
  secret_dir_value_fuzzer:fuzz/corpus_secret_dir_value
  rotate_args_fuzzer:fuzz/corpus_rotate_args
)
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$dir" -Dfuzzing=enabled -Dtests=disabled \
    -Dexamples=disabled -Dbenchmarks=disabled -Dlibpq=disabled -Dhiredis=disabled
fi
names=()
for entry in "${targets[@]}"; do names+=("fuzz/${entry%%:*}"); done
ninja -C "$dir" -j2 "${names[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for entry in "${targets[@]}"; do
  target=${entry%%:*}
  corpus=${entry#*:}
  mkdir "$work/$target"
  "$dir/fuzz/$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$dir/fuzz/" "$work/$target" "$corpus"
  echo "fuzz: $target ran ${seconds}s without a finding"
done
