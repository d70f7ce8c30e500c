#!/usr/bin/env python3
"""Fails when a test could vanish silently: a doctest suite in a test executable that no Meson
test runs, a registered suite with no test cases, or a test case outside every registered suite.

Usage: check_suites.py --exe PATH SUITE... [--exe PATH SUITE...]  (tests/meson.build passes it)
"""
import re
import subprocess
import sys


def doctest(exe, *args):
    out = subprocess.run([exe, *args], capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def main(argv):
    groups = []
    for arg in argv:
        if arg == "--exe":
            groups.append(None)
        elif groups and groups[-1] is None:
            groups[-1] = (arg, [])
        elif groups:
            groups[-1][1].append(arg)
    problems = []
    for exe, registered in groups:
        lines = doctest(exe, "--list-test-suites", "--no-version")
        listed = {l.strip() for l in lines
                  if l.strip() and not l.startswith("[doctest]") and not l.startswith("===")}
        for s in sorted(listed - set(registered)):
            problems.append(f"{exe}: suite '{s}' has no Meson test (tests/meson.build)")
        for s in sorted(set(registered) - listed):
            problems.append(f"{exe}: Meson test for suite '{s}' finds no test case")
        counted = doctest(exe, "--count", "--no-version",
                          "--test-suite-exclude=" + ",".join(registered))
        for l in counted:
            m = re.search(r"unskipped test cases passing the current filters: (\d+)", l)
            if m and int(m.group(1)) != 0:
                problems.append(f"{exe}: {m.group(1)} test case(s) outside every registered "
                                "suite (missing TEST_SUITE_BEGIN?)")
        print(f"{exe}: {len(listed)} suites listed, {len(registered)} registered")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems or not groups else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
