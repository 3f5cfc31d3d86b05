#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs the whole test suite:
#   install packages -> build -> ctest (unit, golden, media, e2e).
# Tests read ../shared (golden fixtures and media) next to the repository.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "${SMOLVID_BUILD_DIR:-$root/build}"
ctest --output-on-failure -j "${SMOLVID_TEST_JOBS:-2}" "$@"
