#!/usr/bin/env bash
# scripts/gpu-prepare.sh: fills .gpu/ (ignored by git) with what scripts/gpu-check.sh needs on a CUDA
# machine that has a pip-installed PyTorch 2.x, a C++ compiler and CMake, but none of the Debian
# packages the model build uses:
#   .gpu/sysroot/   libfmt-dev + libfmt9, nlohmann-json3-dev, libpcre2-dev + libpcre2-8-0 unpacked
#                   (apt-get download + dpkg -x; headers, CMake configs, shared objects)
#   .gpu/golden/    the tiny golden fixtures (../shared/golden/tiny-*)
#   .gpu/configs/   SmolVLM-256M-Instruct config.json, tensors.json and model side files (gpu_check
#                   writes the full-size random checkpoint from them on the GPU machine)
# Run it here (Debian 12), then carry .gpu with the working tree (about 20 MB):
#   scripts/gpu-prepare.sh && du -sh .gpu
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared=${SMOLVID_SHARED:-$root/../shared}
out=$root/.gpu
rm -rf "$out"
mkdir -p "$out/debs" "$out/sysroot" "$out/golden" "$out/configs"

(cd "$out/debs" && apt-get download libfmt-dev libfmt9 nlohmann-json3-dev libpcre2-dev libpcre2-8-0 >/dev/null)
for deb in "$out"/debs/*.deb; do dpkg -x "$deb" "$out/sysroot"; done
rm -rf "$out/debs"

for fixture in tiny-idefics3 tiny-idefics3-sf4 tiny-smolvlm tiny-smolvlm-sf4; do
  cp -r "$shared/golden/$fixture" "$out/golden/"
done

src=$shared/reference/configs/SmolVLM-256M-Instruct
mkdir -p "$out/configs/SmolVLM-256M-Instruct"
for f in config.json tensors.json generation_config.json preprocessor_config.json processor_config.json \
         chat_template.json special_tokens_map.json tokenizer_config.json tokenizer.json added_tokens.json; do
  if [ -e "$src/$f" ]; then cp "$src/$f" "$out/configs/SmolVLM-256M-Instruct/"; fi
done

echo "prepared $out ($(du -sh "$out" | cut -f1)):"
ls "$out/sysroot/usr/include" "$out/golden" "$out/configs/SmolVLM-256M-Instruct"
