#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and summarizes the sample clip with the default
# model (HuggingFaceTB/SmolVLM2-256M-Video-Instruct, downloaded into the Hugging Face cache on first
# use). Offline, smolvid stops with one line saying how to point --model at a local copy.
#
#   scripts/quickstart.sh                                   # default model
#   SMOLVID_MODEL=/models/SmolVLM2-256M-Video-Instruct scripts/quickstart.sh   # a local copy
#   scripts/quickstart.sh --model /models/SmolVLM2-256M-Video-Instruct        # the same
# Extra arguments go to `smolvid summarize`. Outputs: $SMOLVID_OUT (default ./out).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" >/dev/null
smolvid="${SMOLVID_BUILD_DIR:-$root/build}/cli/smolvid"
clip="$root/samples/oa4_launch.webm"
out="${SMOLVID_OUT:-$root/out}"
mkdir -p "$out"
"$smolvid" probe "$clip"
echo
# One caption per shot with its time range, then an overall summary.
"$smolvid" summarize "$clip" --format text --out "$out/oa4_launch.summary.txt" "$@"
cat "$out/oa4_launch.summary.txt"
echo "quickstart: summary in $out/oa4_launch.summary.txt (other formats: smolvid summarize --format json|srt|vtt|chapters|html)"
