#!/bin/bash
# smolvid batch as a Slurm job array: one array task per shard.
#
#   sbatch --array=0-7 deploy/slurm-array.sh /data/manifest.jsonl /data/results [BATCH OPTIONS...]
#   # after all tasks finish: merge (deploy/README.md, "Merging shards"), e.g. as a dependent job:
#   sbatch --dependency=afterok:<array job id> --wrap 'smolvid batch merge --out /data/results.jsonl \
#       /data/results/shard-*.jsonl --manifest /data/manifest.jsonl'
# Arguments after RESULTS_DIR go to `smolvid batch` (e.g. --max-frames 8). Options given to sbatch
# override the #SBATCH lines below (e.g. --cpus-per-task=2 on smaller nodes).
#
# smolvid reads SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT, so the
# shard is (ID - MIN)/COUNT; use a contiguous range (--array=0-7 or 1-8, not 0-7:2). A requeued
# or re-submitted task resumes its own results file.
#SBATCH --job-name=smolvid-batch
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --output=smolvid-%A_%a.log
# A requeued task (node failure, preemption, scontrol requeue) writes the same log file: append, so
# the first attempt's messages are kept (Slurm truncates by default).
#SBATCH --open-mode=append
set -euo pipefail

manifest=${1:?usage: sbatch --array=0-N deploy/slurm-array.sh MANIFEST RESULTS_DIR}
results=${2:?usage: sbatch --array=0-N deploy/slurm-array.sh MANIFEST RESULTS_DIR}
mkdir -p "$results"

# A model cache on shared storage: the first task downloads, the others wait on its file lock.
export HF_HOME=${HF_HOME:-$HOME/.cache/huggingface}

srun smolvid batch "$manifest" \
  --out "$results/shard-{shard}-of-{shards}.jsonl" \
  --resume \
  --item-timeout 900s \
  --model "${SMOLVID_MODEL:-HuggingFaceTB/SmolVLM2-256M-Video-Instruct}" \
  --threads "${SLURM_CPUS_PER_TASK:-4}" \
  "${@:3}"
