#!/usr/bin/env bash
# Runs the libFuzzer harnesses of tests/fuzz/ (ASan + UBSan, clang-14).
#   scripts/fuzz.sh                  every target, 60 s each
#   scripts/fuzz.sh chat_template 600
#   SMOLVID_FUZZ_JOBS=2 scripts/fuzz.sh decode 300   # libFuzzer -fork=2
# Builds $SMOLVID_FUZZ_BUILD_DIR (default build-fuzz, CC=clang-14 CXX=clang++-14, -DSMOLVID_FUZZ=ON)
# on first use. Each target grows its own corpus under out/fuzz/<target>/ starting from the seeds
# CTest replays (tests/fuzz/regressions, tests/fuzz/corpus, the ../shared links), and every failing
# input lands in tests/fuzz/regressions/<target>/ (crash-*, timeout-*, oom-*, leak-*): commit it
# with the fix, and CI replays it on every run (ctest -L fuzz). Prints the executions per target.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${SMOLVID_FUZZ_BUILD_DIR:-$root/build-fuzz}"
all=(safetensors config tokenizer chat_template manifest time outputs fts decode)
targets=("${1:-all}")
[ "${targets[0]}" = all ] && targets=("${all[@]}")
seconds="${2:-60}"

if [ ! -f "$build/CMakeCache.txt" ]; then
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSMOLVID_FUZZ=ON -DSMOLVID_BUILD_BENCH=OFF
fi
cmake --build "$build" -j "${SMOLVID_JOBS:-$(nproc)}" --target $(printf 'fuzz_%s ' "${targets[@]}")

summary=()
for t in "${targets[@]}"; do
  work="$root/out/fuzz/$t"
  regressions="$root/tests/fuzz/regressions/$t"
  mkdir -p "$work" "$regressions"
  seeds=("$regressions")
  [ -d "$root/tests/fuzz/corpus/$t" ] && seeds+=("$root/tests/fuzz/corpus/$t")
  seeds+=("$build/tests/fuzz/seeds/$t")
  # Per-input bounds: the decode target reads media (bigger inputs, slower executions).
  limits=(-max_len=4096 -timeout=10 -rss_limit_mb=2048)
  [ "$t" = decode ] && limits=(-max_len=65536 -timeout=30 -rss_limit_mb=3072)
  fork=()
  [ -n "${SMOLVID_FUZZ_JOBS:-}" ] && fork=(-fork="$SMOLVID_FUZZ_JOBS" -ignore_crashes=1)
  log="$work/last-run.log"
  echo "fuzz $t: ${seconds} s (log: $log)"
  rc=0
  SMOLVID_SHARED="${SMOLVID_SHARED:-$root/../shared}" "$build/tests/fuzz/fuzz_$t" "$work" "${seeds[@]}" \
    "${limits[@]}" "${fork[@]}" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$regressions/" >"$log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s+=$2} END {print s+0}')
  if [ "$execs" = 0 ]; then  # fork mode prints no final stats: take the last progress line
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  fi
  status=clean
  [ "$rc" -ne 0 ] && status="FAILED (rc $rc, input in $regressions/)"
  summary+=("$(printf '%-14s %12s executions  %s' "$t" "${execs:-0}" "$status")")
done
printf '%s\n' "${summary[@]}"
