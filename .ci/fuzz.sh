#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-Dfuzzing=enabled) and runs the Vault response
# fuzzer for FUZZ_SECONDS (default 30). Seeds come from fuzz/corpus; new inputs go to a
# temporary directory, so the repository is never written to.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-30}
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$dir" -Dfuzzing=enabled -Dtests=disabled \
    -Dexamples=disabled -Dbenchmarks=disabled -Dlibpq=disabled -Dhiredis=disabled
fi
ninja -C "$dir" -j2 fuzz/vault_response_fuzzer

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$dir/fuzz/vault_response_fuzzer" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$dir/fuzz/" "$work" fuzz/corpus
echo "fuzz: vault_response_fuzzer ran ${seconds}s without a finding"
