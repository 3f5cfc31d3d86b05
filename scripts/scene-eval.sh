#!/usr/bin/env bash
# Prints the scenes policy's precision/recall table against tests/sampler/data/scene_cuts.json:
# makes the generated flat-colour/transition clips (tests/sampler/data/make_flat_clips.sh) in a
# temporary folder, then runs bench_scenes from the build folder over them and ../shared/media.
#   scripts/scene-eval.sh            (after building: cmake --build build --target bench_scenes)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${SMOLVID_BUILD_DIR:-$root/build}"
media="${SMOLVID_SHARED:-$root/../shared}/media"
[ -x "$build/bench/bench_scenes" ] || { echo "scene-eval: $build/bench/bench_scenes is missing; build it: cmake --build $build --target bench_scenes" >&2; exit 1; }
clips=$(mktemp -d)
trap 'rm -rf "$clips"' EXIT
bash "$root/tests/sampler/data/make_flat_clips.sh" "$clips" "$media"
cd "$root"
"$build/bench/bench_scenes" --generated "$clips" --media "$media" --reference "$root/tests/sampler/data/scene_cuts.json"
