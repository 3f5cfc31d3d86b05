#!/usr/bin/env bash
# scripts/gpu-check.sh: builds model/ against the machine's pip-installed PyTorch (libtorch 2.x, CUDA)
# with SMOLVID_MODEL_ONLY, runs the golden fixtures in float32 and bfloat16 on CUDA, and times a
# 64-frame video prompt (vision tower over 64 random frames + prefill of ~4,500 tokens + the first
# token) on a full-size random SmolVLM-256M checkpoint that the same build writes, sampling
# nvidia-smi for the GPU memory. Needs: python3 with torch (CUDA build), cmake >= 3.18, a C++17
# compiler, nvidia-smi, and .gpu/ made by scripts/gpu-prepare.sh (no Debian packages are used).
#
#   scripts/gpu-check.sh [DEVICE [GPU_CHECK_ARGS...]]   # DEVICE: cuda (default) or cuda:N
#   scripts/gpu-check.sh cuda --dtypes bfloat16 --golden ""   # one dtype's video run alone (its own GPU memory peak)
#   SMOLVID_GPU_CMAKE_ARGS="-DCMAKE_CXX_STANDARD=20" scripts/gpu-check.sh   # extra configure arguments
#
# Prints the golden results, one line per video run, the GPU memory peak, and a last JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
device=${1:-cuda}
shift $(( $# > 0 ? 1 : 0 ))  # the rest go to gpu_check, e.g. --dtypes bfloat16 --golden ""
gpu=$root/.gpu
sys=$gpu/sysroot
if [ ! -d "$sys/usr/include" ] || [ ! -d "$gpu/golden" ]; then
  echo "gpu-check: $gpu is missing or incomplete: run scripts/gpu-prepare.sh where apt-get works and carry .gpu" >&2
  exit 2
fi
for tool in python3 cmake nvidia-smi; do
  command -v "$tool" >/dev/null || { echo "gpu-check: $tool not found" >&2; exit 2; }
done
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), "cxx11 abi", torch.compiled_with_cxx11_abi())'
multiarch=$sys/usr/lib/x86_64-linux-gnu
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

# fmt header-only: no compiled fmt library crosses the C++ ABI of the pip torch (which may be the
# pre-C++11 string ABI); PCRE2 is C and is linked from the unpacked package.
cmake -S . -B build-gpu "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DSMOLVID_MODEL_ONLY=ON \
  -DSMOLVID_BUILD_TESTS=OFF -DCMAKE_PREFIX_PATH="$torch_prefix;$sys/usr;$multiarch/cmake" \
  -DCMAKE_CXX_FLAGS="-DFMT_HEADER_ONLY" -DPCRE2_INCLUDE_DIR="$sys/usr/include" \
  -DPCRE2_LIBRARY="$multiarch/libpcre2-8.so.0" ${SMOLVID_GPU_CMAKE_ARGS:-}
cmake --build build-gpu -j"$(nproc)" --target gpu_check

export LD_LIBRARY_PATH=$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
index=0
[[ $device == cuda:* ]] && index=${device#cuda:}
base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$index" | head -1)
samples=$(mktemp)
(while true; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$index" >>"$samples" 2>/dev/null; sleep 0.1; done) &
sampler=$!
trap 'kill $sampler 2>/dev/null || true; rm -f "$samples"' EXIT
cfg=$gpu/configs/SmolVLM-256M-Instruct
status=0
build-gpu/bench/gpu_check --device "$device" --golden "$gpu/golden" --config "$cfg/config.json" \
  --tensors "$cfg/tensors.json" --work "$gpu/work" --frames 64 "$@" || status=$?
kill $sampler 2>/dev/null || true
peak=$(sort -n "$samples" | tail -1)
echo "GPU memory: peak $peak MiB used on device $index while gpu_check ran (before: $base MiB; the process's share ~ $((peak - base)) MiB, all runs of the process together)"
exit $status
