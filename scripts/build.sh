#!/usr/bin/env bash
# Configures and builds smolvid in build/ (Release, Ninja when available). Extra arguments go to
# CMake's configure step, e.g. scripts/build.sh -DSMOLVID_ASAN=ON.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${SMOLVID_BUILD_DIR:-$root/build}"
jobs="${SMOLVID_JOBS:-$(nproc)}"
generator=()
if command -v ninja >/dev/null 2>&1 && [ ! -f "$build/Makefile" ]; then generator=(-G Ninja); fi
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j "$jobs"
