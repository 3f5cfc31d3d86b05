#!/usr/bin/env bash
# A real Slurm job array over deploy/slurm-array.sh: starts munged, slurmctld and slurmd for one
# node in a temporary folder (own ports, own state, loopback only), submits a 4-task array over a
# 16-item manifest with the tiny golden model, cancels one array task while it is running and
# requeues it, then merges the shards with `smolvid batch merge --manifest` and checks that every
# manifest item is in the merged results exactly once and that no shard file holds a duplicate or
# a partial line. Everything started here is stopped on exit.
#   slurm_array_test.sh SMOLVID_BINARY SHARED_DIR SLURM_ARRAY_SCRIPT
set -euo pipefail
smolvid=$(readlink -f "$1")
shared=$(readlink -f "$2")
script=$(readlink -f "$3")
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "the cluster test starts slurmd, which must run as root (run ctest -L cluster as root)"
for tool in munged slurmctld slurmd sbatch squeue scontrol scancel sacct; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || fail "$tool not found: scripts/install-deps.sh installs slurm-wlm and munge"
done
export PATH="$PATH:/usr/sbin"

tmp=$(mktemp -d /tmp/smolvid-slurm-XXXXXX)
chmod 755 "$tmp"
pids=()
job=""
cleanup() {
  # This test's job first (its steps belong to our slurmd), then the daemons we started.
  [ -n "$job" ] && scancel "$job" 2>/dev/null && sleep 1
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ -n "${KEEP_SLURM_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ctld_port=$(free_port)
slurmd_port=$(free_port)
node=$(hostname -s)
mkdir -p "$tmp/state" "$tmp/spool" "$tmp/munge" "$tmp/work" "$tmp/log"

# munge: a fresh key and socket of our own (the system munged, if any, is left alone).
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
munged --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.socket" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/log/munged.log" --seed-file="$tmp/munge/seed" --foreground \
  2>>"$tmp/log/munged.out" &
pids+=($!)
for _ in $(seq 50); do [ -S "$tmp/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$tmp/munge/munge.socket" ] || fail "munged did not start: $(cat "$tmp/log/munged.log" 2>/dev/null)"

cat >"$tmp/slurm.conf" <<CONF
ClusterName=smolvidtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=600
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$tmp/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$node" -f "$SLURM_CONF" >"$tmp/log/slurmd.out" 2>&1 &
pids+=($!)
up=""
for _ in $(seq 150); do
  if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then up=1; break; fi
  sleep 0.2
done
[ -n "$up" ] || fail "the node never became idle: $(sinfo -N 2>&1; tail -5 "$tmp/log/slurmctld.log" "$tmp/log/slurmd.log" 2>&1)"

# 16 ask items over two short clips; each shard gets a few (ids hash to shards).
clips=("$shared/media/realshort.mp4" "$shared/media/edge/one_frame.mp4")
manifest="$tmp/work/manifest.jsonl"
for i in $(seq -w 1 16); do
  printf '{"id": "item-%s", "video": "%s", "question": "What is shown?"}\n' "$i" "${clips[$((10#$i % 2))]}"
done >"$manifest"

# The array script finds smolvid on PATH, as on a cluster with a module or an install prefix.
mkdir -p "$tmp/bin"
ln -s "$smolvid" "$tmp/bin/smolvid"
export PATH="$tmp/bin:$PATH" HF_HUB_OFFLINE=1 SMOLVID_MODEL="$shared/golden/tiny-smolvlm"
cd "$tmp/work"
# 2 CPUs on this node: one CPU and little memory per task (the script's defaults ask for 4 CPUs).
job=$(sbatch --parsable --array=0-3 --cpus-per-task=1 --mem=400M "$script" "$manifest" "$tmp/work/results" \
  --max-frames 2 --max-new-tokens 3 --progress never)
job=${job%%;*}
echo "submitted array job $job"

# Wait until task 1 is running and has written at least one line, but not all of its items.
shard_items() { python3 - "$manifest" "$1" 4 <<'PY'
import json, sys
def fnv(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h
k, n = int(sys.argv[2]), int(sys.argv[3])
print(sum(1 for l in open(sys.argv[1]) if fnv(json.loads(l)["id"]) % n == k))
PY
}
target=1
want=$(shard_items $target)
[ "$want" -ge 2 ] || fail "shard $target has only $want items; cannot cancel it midway"
shard_file="$tmp/work/results/shard-$target-of-4.jsonl"
cancelled=""
for _ in $(seq 1200); do
  state=$(squeue -h -j "${job}_$target" -o '%T' 2>/dev/null || true)
  lines=$( [ -f "$shard_file" ] && wc -l <"$shard_file" || echo 0)
  if [ "$state" = RUNNING ] && [ "$lines" -ge 1 ] && [ "$lines" -lt "$want" ]; then
    scancel "${job}_$target"
    cancelled=$lines
    break
  fi
  [ -z "$state" ] && [ "$lines" -ge "$want" ] && fail "task $target finished before it could be cancelled"
  sleep 0.05
done
[ -n "$cancelled" ] || fail "task $target never reached the middle of its shard"
echo "cancelled task ${job}_$target after $cancelled of $want items"
for _ in $(seq 300); do
  state=$(sacct -n -X -j "${job}_$target" -o State 2>/dev/null | head -1 | tr -d ' ' || true)
  [ -z "$(squeue -h -j "${job}_$target" 2>/dev/null)" ] && break
  sleep 0.1
done
scontrol requeue "${job}_$target" || fail "scontrol requeue ${job}_$target was refused"
echo "requeued task ${job}_$target"

# Wait for the whole array (requeued task included) to leave the queue.
for _ in $(seq 3000); do
  [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
  sleep 0.2
done
[ -z "$(squeue -h -j "$job" 2>/dev/null)" ] || fail "the array job did not finish: $(squeue -j "$job")"
scontrol show job "$job" | grep -E 'JobId|JobState|Restarts|ExitCode' || true

results=("$tmp"/work/results/shard-*-of-4.jsonl)
[ "${#results[@]}" -eq 4 ] || fail "expected 4 shard files, got ${#results[@]}: ${results[*]}"
smolvid batch merge --out "$tmp/work/merged.jsonl" "${results[@]}" --manifest "$manifest" \
  || fail "smolvid batch merge --manifest reported missing items"

python3 - "$manifest" "$tmp/work/merged.jsonl" "${results[@]}" <<'PY'
import collections, json, sys
manifest, merged, shards = sys.argv[1], sys.argv[2], sys.argv[3:]
want = [json.loads(l)["id"] for l in open(manifest)]
def ids(path):
    text = open(path).read()
    assert text == "" or text.endswith("\n"), f"{path} ends with a partial line"
    out = []
    for line in text.splitlines():
        j = json.loads(line)
        assert j["status"] in ("ok", "error"), line
        out.append(j["id"])
    return out
for s in shards:
    dup = [i for i, n in collections.Counter(ids(s)).items() if n > 1]
    assert not dup, f"{s}: ids written twice: {dup}"
got = collections.Counter(ids(merged))
missing = [i for i in want if got[i] == 0]
twice = [i for i, n in got.items() if n > 1]
extra = [i for i in got if i not in want]
assert not missing and not twice and not extra, f"missing {missing}, twice {twice}, unknown {extra}"
ok = sum(1 for l in open(merged) if json.loads(l)["status"] == "ok")
print(f"merged: {len(got)} of {len(want)} items exactly once ({ok} ok)")
assert ok == len(want), "every item of this manifest is answerable"
PY
echo "PASS: Slurm array of 4 tasks, task $target cancelled after $cancelled/$want items and requeued; every item exactly once"
