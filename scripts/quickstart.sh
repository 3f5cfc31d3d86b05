#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs the main job on the sample clip:
# probe it, then pick its frames with the shot detector and draw a contact sheet.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" >/dev/null
smolvid="${SMOLVID_BUILD_DIR:-$root/build}/cli/smolvid"
clip="$root/samples/oa4_launch.webm"
out="${SMOLVID_OUT:-$root/out}"
mkdir -p "$out"
"$smolvid" probe "$clip"
"$smolvid" frames "$clip" --strategy scenes --max-frames 8 --out "$out/frames" --contact-sheet "$out/contact-sheet.jpg"
echo "quickstart: frames in $out/frames, contact sheet in $out/contact-sheet.jpg"
