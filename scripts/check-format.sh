#!/usr/bin/env bash
# Checks (or with --fix, applies) the project's formatting: every C++ file git tracks, formatted with
# .clang-format. Run by the test suite as build.format.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.hpp' '*.cpp' '*.h' '*.cc')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run -Werror "${files[@]}"
fi
