#!/usr/bin/env bash
# Installs every Debian 12 package smolvid needs to build, test and benchmark. Idempotent: when
# everything is present it says so and touches nothing. Runs as root or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git python3
  # model/: libtorch 1.13 (CPU). Debian's libtorch links the generic libblas.so.3, which is the slow
  # reference BLAS unless an optimised one is installed: libopenblas0-pthread registers itself as
  # the libblas.so.3 alternative (measured: float32 matmul ~6 GFLOP/s with the reference BLAS,
  # ~350 GFLOP/s with OpenBLAS, 2 threads). The pthread flavour is chosen over -openmp because
  # libtorch already runs its own OpenMP pool; nested OpenMP pools oversubscribe the cores.
  libtorch-dev libopenblas0-pthread
  # decode/: FFmpeg 5.1 libraries, plus the ffmpeg CLI that tests use as an independent reference
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libavfilter-dev ffmpeg
  # sampler/: the smallest set of OpenCV 4.6 -dev packages that serves
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  # model/ text side: PCRE2 for the tokenizer's Unicode regex
  libpcre2-dev
  # pipeline/: SQLite (FTS5) for the index, libcurl for model downloads
  libsqlite3-dev libcurl4-openssl-dev libssl-dev
  # cli/, JSON, formatting
  libcli11-dev libfmt-dev nlohmann-json3-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # tests: JSON Schema validation of the summary output (run with /usr/bin/python3)
  python3-jsonschema
  # bench/peer/: smolvlm_to_gguf.py writes GGUF files with llama.cpp's gguf-py (run with /usr/bin/python3)
  python3-numpy
  # server/: HTTP (cpp-httplib); its tests drive it with the official OpenAI SDK (npm `openai`, on
  # Node.js) and a headless Chromium through Selenium
  libcpp-httplib-dev nodejs chromium chromium-driver python3-selenium
  # tests: jinja2, the reference renderer of chat templates (debug render-chat is compared with it)
  python3-jinja2
  # tests of `smolvid watch`: a real RTSP server on loopback (GStreamer's gst-rtsp-server through
  # PyGObject, tests/watch/rtsp_server.py) serving H.264 files
  gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0 python3-gi gstreamer1.0-tools
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  # tests/fuzz: libFuzzer harnesses (scripts/fuzz.sh builds them with clang-14)
  clang-14 libfuzzer-14-dev libclang-rt-14-dev
  # tests/cluster: a real single-node Slurm cluster for deploy/slurm-array.sh (label cluster)
  slurm-wlm munge
)
# Debian's nodejs ships npm separately; a Node.js from elsewhere (e.g. NodeSource) carries its own.
if ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
