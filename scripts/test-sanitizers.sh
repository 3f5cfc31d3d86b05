#!/usr/bin/env bash
# The sanitizer stage of CI: builds smolvid with AddressSanitizer + UndefinedBehaviorSanitizer
# (gcc, -DSMOLVID_ASAN=ON -DSMOLVID_UBSAN=ON) into its own build directory and runs the whole test
# suite under them. Any sanitizer report fails the test that triggered it (halt_on_error, UBSan
# without recovery). Extra arguments go to ctest (e.g. -L unit).
#   SMOLVID_SAN_BUILD_DIR  build directory (default build-san)
#   SMOLVID_JOBS           build jobs (default: nproc)    SMOLVID_TEST_JOBS  ctest jobs (default 2)
# Prints the build and test wall times (seconds) at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${SMOLVID_SAN_BUILD_DIR:-$root/build-san}"
supp="$root/scripts/sanitizers"

t0=$(date +%s)
SMOLVID_BUILD_DIR="$build" SMOLVID_JOBS="${SMOLVID_JOBS:-$(nproc)}" "$root/scripts/build.sh" \
  -DSMOLVID_ASAN=ON -DSMOLVID_UBSAN=ON -DSMOLVID_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
t1=$(date +%s)

# Leaks are reported too (suppressions only for uninstrumented third-party code, see lsan.supp).
# libtorch, OpenBLAS and libgomp are not instrumented but run clean under these options (a matmul,
# softmax and bf16 round trip with 2 OpenMP threads: no report). Child processes (the CLI tests
# run cli/smolvid) inherit these settings.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
cd "$build"
rc=0
ctest --output-on-failure -j "${SMOLVID_TEST_JOBS:-2}" "$@" || rc=$?
t2=$(date +%s)
echo "sanitizers: build $((t1 - t0)) s, tests $((t2 - t1)) s (ASan+UBSan, $build)"
exit $rc
