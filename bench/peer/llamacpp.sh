#!/usr/bin/env bash
# smolvid vs llama.cpp side by side on this machine (issue 14; see bench/peer/README.md). Never run by tests.
#
#   bench/peer/llamacpp.sh LLAMA_CPP_SRC MODEL_DIR [--work DIR] [--llama-build DIR] [--smolvid-build DIR]
#                          [--threads N] [--passes N] [--only ROW,ROW] [--max-busy F] [--force]
#
# 1. builds llama.cpp's llama-mtmd-cli, llama-bench and llama-quantize from LLAMA_CPP_SRC (Release,
#    GGML_NATIVE=ON, no curl/OpenSSL, 2 jobs, nice 19) into --llama-build DIR (default WORK/llama-build);
#    a DIR that already holds the three binaries (in DIR/bin) is used as it is;
# 2. converts MODEL_DIR (what `smolvid debug random-checkpoint` writes) to GGUF with smolvlm_to_gguf.py
#    (text model + idefics3 mmproj, f32 and bf16) and makes q8_0 with llama-quantize (WORK/gguf);
# 3. runs run_peer.py: both programs on the same work, 2 threads, alternating, each step only on idle
#    CPUs; prints the ratio table and, last, one JSON line.
set -euo pipefail

usage() {
  sed -n '4,5p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() {
  echo "llamacpp.sh: $*" >&2
  exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work="${TMPDIR:-/tmp}/smolvid-peer"
llama_build=""
smolvid_build="$repo/build"
peer_args=()
pos=()
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work=$2; shift 2 ;;
    --llama-build) llama_build=$2; shift 2 ;;
    --smolvid-build) smolvid_build=$2; shift 2 ;;
    --threads|--passes|--only|--max-busy) peer_args+=("$1" "$2"); shift 2 ;;
    --force) peer_args+=(--force); shift ;;
    -h|--help) usage ;;
    -*) echo "llamacpp.sh: unknown option $1" >&2; usage ;;
    *) pos+=("$1"); shift ;;
  esac
done
[ ${#pos[@]} -eq 2 ] || usage
src=$(cd "${pos[0]}" 2>/dev/null && pwd) || die "${pos[0]}: no such directory (the llama.cpp source tree)"
model=$(cd "${pos[1]}" 2>/dev/null && pwd) || die "${pos[1]}: no such directory (the model checkpoint)"
[ -f "$src/CMakeLists.txt" ] && [ -d "$src/tools/mtmd" ] && [ -d "$src/gguf-py/gguf" ] ||
  die "$src: not a llama.cpp source tree (needs CMakeLists.txt, tools/mtmd, gguf-py)"
[ -f "$model/config.json" ] || die "$model: no config.json (make one with: smolvid debug random-checkpoint)"
/usr/bin/python3 -c 'import numpy' 2>/dev/null || die "/usr/bin/python3 cannot import numpy (apt-get install python3-numpy)"
command -v ffmpeg >/dev/null || die "ffmpeg not found (it draws the test images)"
for b in cli/smolvid bench/bench_model; do
  [ -x "$smolvid_build/$b" ] || die "$smolvid_build/$b: missing (cmake --build build --target smolvid bench_model)"
done
case "$work" in "$repo"|"$repo"/*) die "--work $work is inside the repository; use a directory outside it" ;; esac
mkdir -p "$work"
work=$(cd "$work" && pwd)
[ -n "$llama_build" ] || llama_build="$work/llama-build"
case "$llama_build" in "$repo"|"$repo"/*) die "--llama-build $llama_build is inside the repository" ;; esac

# 1. llama.cpp
bins=(llama-mtmd-cli llama-bench llama-quantize)
have_all=1
for b in "${bins[@]}"; do [ -x "$llama_build/bin/$b" ] || have_all=0; done
if [ $have_all -eq 1 ]; then
  echo "llamacpp.sh: using the llama.cpp build in $llama_build" >&2
else
  echo "llamacpp.sh: building llama.cpp from $src in $llama_build (2 jobs, nice 19; ~8 min on an idle 2-core machine)" >&2
  mkdir -p "$llama_build"
  if [ ! -f "$llama_build/CMakeCache.txt" ]; then
    nice -n 19 cmake -S "$src" -B "$llama_build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
      -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_BUILD_TOOLS=ON >"$llama_build/configure.log" 2>&1 ||
      die "configuring llama.cpp failed; see $llama_build/configure.log"
  fi
  nice -n 19 cmake --build "$llama_build" -j2 --target "${bins[@]}" >"$llama_build/build.log" 2>&1 ||
    die "building llama.cpp failed; see $llama_build/build.log"
fi

# 2. GGUF files (remade when the checkpoint changes)
gguf="$work/gguf"
stamp="$gguf/.source"
want="$model $(stat -c %Y "$model"/*.safetensors | tr '\n' ' ')"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  rm -rf "$gguf"
  mkdir -p "$gguf"
  for d in f32 bf16; do
    PYTHONPATH="$src/gguf-py" nice -n 10 /usr/bin/python3 "$here/smolvlm_to_gguf.py" "$model" "$gguf" --dtype "$d" >&2 ||
      die "converting $model to GGUF ($d) failed"
  done
  nice -n 10 "$llama_build/bin/llama-quantize" "$gguf/text-bf16.gguf" "$gguf/text-q8_0.gguf" q8_0 >"$gguf/quantize.log" 2>&1 ||
    die "llama-quantize to q8_0 failed; see $gguf/quantize.log"
  echo "$want" >"$stamp"
fi

# 3. side by side
exec /usr/bin/python3 "$here/run_peer.py" --smolvid "$smolvid_build/cli/smolvid" \
  --bench-model "$smolvid_build/bench/bench_model" --llama-bin "$llama_build/bin" --gguf "$gguf" --model "$model" \
  --work "$work" "${peer_args[@]}"
