#!/usr/bin/env bash
# Installs BUILD_DIR into a staging directory (DESTDIR) and builds and runs each consumer
# project in tests/consumers against it: a Meson project embedding dualcred as a subproject,
# a Makefile using pkg-config, and a CMake project using find_package. One line per consumer.
#
#   .ci/consumers.sh BUILD_DIR        # compilers: $CXX (default c++)
set -euo pipefail

build=$(realpath "${1:?usage: .ci/consumers.sh BUILD_DIR}")
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap '[[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT
export CXX=${CXX:-c++}

# Runs a step with its output in a log; prints the log if it fails.
run() {
  local log=$1
  shift
  if ! "$@" >>"$log" 2>&1; then
    echo "FAILED: $*" >&2
    tail -n 60 "$log" >&2
    exit 1
  fi
}

# The staged install.
stage=$work/stage
run "$work/install.log" env DESTDIR="$stage" meson install -C "$build" --no-rebuild
option() {
  meson introspect --buildoptions "$build" |
    python3 -c "import json, sys; print(next(o['value'] for o in json.load(sys.stdin) if o['name'] == '$1'))"
}
prefix=$(option prefix)
under_prefix() { [[ $1 = /* ]] && echo "$stage$1" || echo "$stage$prefix/$1"; }
root=$stage$prefix
includedir=$(under_prefix "$(option includedir)")
pcdir=$(under_prefix "$(option libdir)")/pkgconfig
[[ -f $includedir/dualcred/dualcred.hpp ]] || { echo "no headers in $includedir" >&2; exit 1; }
# The rotation tool is installed as a program and answers --help (exit 0).
bindir=$(under_prefix "$(option bindir)")
if meson introspect --targets "$build" | grep -q '"name": "dualcred-rotate"'; then
  [[ -x $bindir/dualcred-rotate ]] || { echo "no dualcred-rotate in $bindir" >&2; exit 1; }
  run "$work/tool.log" "$bindir/dualcred-rotate" --help
  echo "consumer: installed $bindir/dualcred-rotate --help ok" | sed "s|$stage||"
fi

# The optional parts to check: built into the install (a .pc file), with a public header
# and a check program. A new part needs only tests/consumers/common/<part>_check.cpp.
declare -A part_header=([rotation]=rotation.hpp [libpq]=backend/libpq.hpp
                        [hiredis]=backend/hiredis.hpp [hiredis_asio]=backend/hiredis_asio.hpp
                        [vault]=provider/vault.hpp
                        [curl]=http/curl.hpp [libpqxx]=backend/libpqxx.hpp
                        [soci]=backend/soci.hpp [prometheus]=metrics/prometheus_cpp.hpp
                        [cares]=rotation/fleet/dns.hpp [asio]=asio/connect.hpp
                        [libpq_asio]=backend/libpq_asio.hpp)
parts=()
for part in rotation libpq hiredis hiredis_asio vault curl libpqxx soci prometheus cares asio \
  libpq_asio; do
  if [[ -f $pcdir/dualcred-$part.pc && -f $includedir/dualcred/${part_header[$part]} &&
        -f $repo/tests/consumers/common/${part}_check.cpp ]]; then
    parts+=("$part")
  fi
done
checked="core${parts[*]:+ ${parts[*]}}"

cp -r "$repo/tests/consumers" "$work/consumers"

# 1. Meson, with dualcred as a subproject: the wrap file's directory is this checkout.
src=$work/consumers/meson_subproject
t0=$SECONDS
mkdir -p "$src/subprojects"
ln -s "$repo" "$src/subprojects/dualcred"
log=$work/meson.log
# Forced, so an installed dualcred elsewhere on the machine cannot stand in for it.
forced=dualcred
for part in "${parts[@]}"; do forced+=",dualcred-$part"; done
# Without debug information (Meson's default adds it), which doubles each check's compile.
run "$log" meson setup "$work/build-meson" "$src" "--force-fallback-for=$forced" \
  -Ddebug=false "-Dparts=$(IFS=,; echo "${parts[*]}")"
grep -q "^Dependency dualcred found: YES .*(overridden)" "$log" ||
  { echo "meson subproject: dualcred did not come from the subproject" >&2; exit 1; }
run "$log" ninja -C "$work/build-meson" -j2
run "$log" meson test -C "$work/build-meson" --print-errorlogs
echo "meson subproject:     ok ($checked), $((SECONDS - t0)) s"

# 2. A Makefile with pkg-config. The staged .pc files still name the configured prefix;
# point copies of them at the stage. (PKG_CONFIG_SYSROOT_DIR would also move libpq's
# /usr/include/postgresql, and --define-prefix misreads multiarch libdirs.)
t0=$SECONDS
mkdir -p "$work/pkgconfig"
for pc in "$pcdir"/dualcred*.pc; do
  sed "s|^prefix=.*|prefix=$root|" "$pc" >"$work/pkgconfig/${pc##*/}"
done
export PKG_CONFIG_PATH=$work/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
[[ $(pkg-config --variable=includedir dualcred) = "$includedir" ]] ||
  { echo "pkg-config: dualcred.pc does not point at the staged headers" >&2; exit 1; }
log=$work/make.log
run "$log" make -C "$work/consumers/pkgconfig_make" -j2 "PARTS=${parts[*]}" all
run "$log" make -C "$work/consumers/pkgconfig_make" "PARTS=${parts[*]}" check
echo "pkg-config Makefile:  ok ($checked), $((SECONDS - t0)) s"

# 3. CMake with find_package, asking for each part as a required COMPONENT.
log=$work/cmake.log
t0=$SECONDS
run "$log" cmake -S "$work/consumers/cmake_find_package" -B "$work/build-cmake" \
  "-DCMAKE_PREFIX_PATH=$root" "-DDUALCRED_PARTS=$(IFS=';'; echo "${parts[*]}")"
grep -q "^dualcred_DIR:PATH=$root/" "$work/build-cmake/CMakeCache.txt" ||
  { echo "cmake: dualcred was not found in the stage" >&2; exit 1; }
run "$log" cmake --build "$work/build-cmake" -j2
run "$log" ctest --test-dir "$work/build-cmake" --output-on-failure
# A component this install lacks must make find_package fail, naming it.
if cmake -S "$work/consumers/cmake_find_package" -B "$work/build-cmake-missing" \
  "-DCMAKE_PREFIX_PATH=$root" -DDUALCRED_PARTS=no_such_part >"$work/missing.log" 2>&1 ||
  ! grep -q "built without the no_such_part part" "$work/missing.log"; then
  echo "cmake: find_package(dualcred COMPONENTS no_such_part) should fail, naming the part" >&2
  tail -n 30 "$work/missing.log" >&2
  exit 1
fi
echo "cmake find_package:   ok ($checked), $((SECONDS - t0)) s"
