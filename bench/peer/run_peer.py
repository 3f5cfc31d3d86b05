#!/usr/bin/python3
"""smolvid vs llama.cpp, side by side on the same work (called by bench/peer/llamacpp.sh; see README.md).

Every measurement runs in a fresh process of its program, the two programs alternating (smolvid
first in odd passes, llama.cpp first in even ones). Before each step the CPUs must be idle (the
/proc/stat busy share over 1 s at most --max-busy); otherwise the run stops without a table, or with
--force goes on and marks the table NOISY. Prints one table of smolvid/llama.cpp ratios (> 1:
smolvid faster; for memory, > 1: smolvid smaller) and, as its last line, one JSON object.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time


def fail(msg):
    print(f"run_peer: {msg}", file=sys.stderr)
    sys.exit(1)


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return idle, sum(v[:8])


def busy_share(seconds=1.0):
    """Share of all CPUs' time that was not idle over `seconds` (0..1)."""
    i0, t0 = cpu_times()
    time.sleep(seconds)
    i1, t1 = cpu_times()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


class Runner:
    def __init__(self, args):
        self.a = args
        self.noisy = []  # (step, busy share) of steps that started on a busy machine
        self.log = open(os.path.join(args.work, "run_peer.log"), "a")

    def check_idle(self, step):
        b = busy_share()
        if b > self.a.max_busy:
            if not self.a.force:
                fail(f"the CPUs are {b:.0%} busy before step '{step}' (at most {self.a.max_busy:.0%} allowed): another "
                     f"process is using them, so no ratios are reported. Stop it and run again (or --force for a dry "
                     f"run whose table is marked NOISY). Load average: {os.getloadavg()[0]:.2f}")
            self.noisy.append((step, b))
        return b

    def run(self, step, cmd, env=None):
        """Runs cmd after the idle check; returns (stdout, stderr, wall seconds, peak RSS in GB)."""
        self.check_idle(step)
        out_path = os.path.join(self.a.work, "last.out")
        err_path = os.path.join(self.a.work, "last.err")
        print(f"  [{step}] {' '.join(shlex.quote(c) for c in cmd)}", file=sys.stderr, flush=True)
        self.log.write(f"== {step}: {' '.join(shlex.quote(c) for c in cmd)}\n")
        with open(out_path, "w") as fo, open(err_path, "w") as fe:
            t0 = time.monotonic()
            p = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env)
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.monotonic() - t0
        out, err = open(out_path).read(), open(err_path, errors="replace").read()
        self.log.write(out + err + "\n")
        self.log.flush()
        rc = os.waitstatus_to_exitcode(status)
        if rc != 0:
            raise StepFailed(f"step '{step}' failed (exit {rc}): {cmd[0]}\n{err.strip()[-2000:]}")
        return out, err, wall, ru.ru_maxrss / 1024.0 / 1024.0  # ru_maxrss is in KiB


class StepFailed(Exception):
    pass


def json_line(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") or line.startswith("["):
            return json.loads(line)
    raise StepFailed(f"no JSON in output:\n{text[-1000:]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smolvid", required=True, help="the smolvid binary")
    ap.add_argument("--bench-model", required=True, help="build/bench/bench_model")
    ap.add_argument("--llama-bin", required=True, help="directory with llama-bench and llama-mtmd-cli")
    ap.add_argument("--gguf", required=True, help="directory with text-{f32,bf16,q8_0}.gguf, mmproj-{f32,bf16}.gguf")
    ap.add_argument("--model", required=True, help="the safetensors checkpoint the GGUF files were made from")
    ap.add_argument("--work", required=True, help="scratch directory (images, logs)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--passes", type=int, default=2, help="times each step runs per program; the best counts")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--max-busy", type=float, default=0.10, help="largest CPU busy share allowed before a step")
    ap.add_argument("--force", action="store_true", help="run on a busy machine anyway; the table is marked NOISY")
    ap.add_argument("--only", default="", help="comma-separated row names to run (default: all)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    lb = lambda n: os.path.join(a.llama_bin, n)
    for p in (a.smolvid, a.bench_model, lb("llama-bench"), lb("llama-mtmd-cli")):
        if not os.access(p, os.X_OK):
            fail(f"{p}: not an executable")
    for n in ("text-f32.gguf", "text-bf16.gguf", "text-q8_0.gguf", "mmproj-f32.gguf", "mmproj-bf16.gguf"):
        if not os.path.exists(os.path.join(a.gguf, n)):
            fail(f"{os.path.join(a.gguf, n)}: missing (bench/peer/llamacpp.sh writes it)")
    r = Runner(a)
    T = str(a.threads)
    g = lambda n: os.path.join(a.gguf, n)

    # Images: one 512x512 tile, and 2048x1536 = 4x3 tiles + the global image = 13 x 64 = 832 image tokens
    # (both programs resize the longest edge to 2048 and cut 512x512 tiles).
    images = {}
    for name, size in (("tile", "512x512"), ("13tile", "2048x1536")):
        path = os.path.join(a.work, f"{name}.jpg")
        if not os.path.exists(path):
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=1",
                            "-frames:v", "1", "-q:v", "3", path], check=True)
        images[name] = path
    question = "Describe this image in detail."

    # Each row: (name, what, smolvid step, llama.cpp step, unit); a step returns its figure (higher =
    # better for speeds; seconds or GB where `lower` says so) and optional extras.
    def bm(work, dtype, **kw):
        cmd = [a.bench_model, "--only", work, "--dtype", dtype, "--dir", a.model, "--threads", T,
               "--decode-threads", T]
        for k, v in kw.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        return cmd

    def lbench(model, p, n, d):
        return [lb("llama-bench"), "-m", g(model), "-t", T, "-p", str(p), "-n", str(n), "-d", str(d), "-r", "2",
                "-o", "json"]

    def sv_decode(dtype, ctx):
        def f(step):
            out, _, _, _ = r.run(step, bm("decode", dtype, ctx=ctx, new_tokens=a.new_tokens))
            return json_line(out)["tok_s"]
        return f

    def ll_bench(model, p, n, d):
        def f(step):
            out, _, _, _ = r.run(step, lbench(model, p, n, d))
            rows = json.loads(out)
            return rows[-1]["avg_ts"]
        return f

    def sv_prefill(dtype):
        def f(step):
            out, _, _, _ = r.run(step, bm("prefill", dtype, ctx=512))
            return json_line(out)["tok_s"]
        return f

    def sv_tile(dtype):
        def f(step):
            out, _, _, _ = r.run(step, bm("tile", dtype))
            return json_line(out)["tile_s"]
        return f

    def mtmd_cmd(dtype, image, n):
        return [lb("llama-mtmd-cli"), "-m", g(f"text-{dtype}.gguf"), "--mmproj", g(f"mmproj-{dtype}.gguf"), "--image",
                image, "-p", question, "-n", str(n), "-t", T, "--temp", "0", "--ignore-eos", "-c", "2048"]

    def ll_tile(dtype):
        def f(step):
            out, err, _, _ = r.run(step, mtmd_cmd(dtype, images["tile"], 1))
            ms = [int(x) for x in re.findall(r"image slice encoded in (\d+) ms", out + err)]
            if not ms:
                raise StepFailed("llama-mtmd-cli printed no 'image slice encoded in N ms' line")
            return sum(ms) / len(ms) / 1000.0  # the overview and the one slice are both 512x512 tiles
        return f

    e2e_rss = {}
    warnings = []

    def sv_e2e(dtype):
        def f(step):
            long = {"bf16": "bfloat16", "f32": "float32"}[dtype]
            out, _, wall, rss = r.run(step, [a.smolvid, "ask", images["13tile"], question, "--model", a.model,
                                             "--dtype", long, "--threads", T, "--max-new-tokens", str(a.new_tokens),
                                             "--json"])
            ans = json.loads(out)["answers"][0]
            if ans["prompt_tokens"] < 832:
                raise StepFailed(f"smolvid ask used {ans['prompt_tokens']} prompt tokens, expected 832 image tokens + text")
            if ans["generated_tokens"] != a.new_tokens:  # llama.cpp runs with --ignore-eos; smolvid cannot
                warnings.append(f"{step}: smolvid generated {ans['generated_tokens']} tokens, not {a.new_tokens} "
                                f"({ans['stop_reason']})")
            e2e_rss.setdefault(f"e2e_13tile_{dtype}", {}).setdefault("smolvid", []).append(rss)
            return wall
        return f

    def ll_e2e(dtype):
        def f(step):
            out, err, wall, rss = r.run(step, mtmd_cmd(dtype, images["13tile"], a.new_tokens))
            n = len(re.findall(r"image slice encoded in", out + err))
            if n != 13:
                raise StepFailed(f"llama-mtmd-cli encoded {n} image slices, expected 13")
            e2e_rss.setdefault(f"e2e_13tile_{dtype}", {}).setdefault("llamacpp", []).append(rss)
            return wall
        return f

    nt = a.new_tokens
    rows = []  # name, label, smolvid fn, llama fn, unit, lower_is_better
    for dtype, sv, ll in (("bf16", "bfloat16", "text-bf16.gguf"), ("f32", "float32", "text-f32.gguf"),
                          ("int8", "int8", "text-q8_0.gguf")):
        for ctx in (1024, 4096):
            name = f"decode_{dtype}" + ("" if ctx == 1024 else "_4k")
            peer = "q8_0" if dtype == "int8" else dtype
            rows.append((name, f"decode {nt} tok at {ctx} ctx, {dtype} vs {peer}", sv_decode(sv, ctx),
                         ll_bench(ll, 0, nt, ctx), "tok/s", False))
    for dtype, sv in (("bf16", "bfloat16"), ("f32", "float32")):
        rows.append((f"prefill_{dtype}", f"prefill 512 tok, {dtype}", sv_prefill(sv),
                     ll_bench(f"text-{dtype}.gguf", 512, 0, 0), "tok/s", False))
    for dtype, sv in (("bf16", "bfloat16"), ("f32", "float32")):
        rows.append((f"tile_{dtype}", f"vision, one 512x512 tile, {dtype}", sv_tile(sv), ll_tile(dtype), "s", True))
    rows.append(("e2e_13tile", "13-tile image question, bf16, whole process", sv_e2e("bf16"), ll_e2e("bf16"), "s", True))
    rows.append(("e2e_13tile_f32", "13-tile image question, f32, whole process", sv_e2e("f32"), ll_e2e("f32"), "s",
                 True))
    if a.only:
        keep = set(a.only.split(","))
        unknown = keep - {row[0] for row in rows}
        if unknown:
            fail(f"--only: unknown rows {sorted(unknown)}; rows: {[row[0] for row in rows]}")
        rows = [row for row in rows if row[0] in keep]

    results = {}
    for name, label, sv, ll, unit, lower in rows:
        vals = {"smolvid": [], "llamacpp": []}
        note = ""
        for p in range(a.passes):
            order = [("smolvid", sv), ("llamacpp", ll)]
            if p % 2 == 1:
                order.reverse()
            for who, fn in order:
                try:
                    vals[who].append(fn(f"{name} {who} pass {p + 1}"))
                except StepFailed as e:
                    if name.startswith("decode_int8") and who == "smolvid":
                        note = "smolvid has no int8 mode"
                        print(f"run_peer: {name}: smolvid rejected --dtype int8 (n/a): {str(e).splitlines()[-1]}",
                              file=sys.stderr)
                        vals[who] = None
                        break
                    fail(str(e))
            if vals["smolvid"] is None:
                break
        if vals["smolvid"] is None:
            results[name] = {"label": label, "unit": unit, "smolvid": None, "llamacpp": None, "ratio": None,
                             "note": note}
            continue
        best = (min if lower else max)
        s, l = best(vals["smolvid"]), best(vals["llamacpp"])
        ratio = (l / s) if lower else (s / l)
        results[name] = {"label": label, "unit": unit, "smolvid": s, "llamacpp": l, "ratio": ratio,
                         "smolvid_all": vals["smolvid"], "llamacpp_all": vals["llamacpp"]}

    rss = {k: {who: min(v) for who, v in d.items()} for k, d in e2e_rss.items()}
    noisy = bool(r.noisy)
    title = f"smolvid vs llama.cpp, {a.threads} threads, best of {a.passes} pass(es)"
    if noisy:
        worst = max(b for _, b in r.noisy)
        title += f"  ** NOISY: {len(r.noisy)} step(s) started on busy CPUs (up to {worst:.0%}); not a measurement **"
    print(title)
    print(f"{'row':<16} {'work':<46} {'smolvid':>10} {'llama.cpp':>10} {'unit':>6} {'ratio':>7}")
    for name, res in results.items():
        if res["ratio"] is None:
            print(f"{name:<16} {res['label']:<46} {'n/a':>10} {'n/a':>10} {res['unit']:>6} {'n/a':>7}  ({res['note']})")
            continue
        print(f"{name:<16} {res['label']:<46} {res['smolvid']:>10.3f} {res['llamacpp']:>10.3f} {res['unit']:>6} "
              f"{res['ratio']:>6.2f}x")
    for k, d in rss.items():
        if "smolvid" in d and "llamacpp" in d:
            print(f"{'rss ' + k:<63} {d['smolvid']:>10.3f} {d['llamacpp']:>10.3f} {'GB':>6} "
                  f"{d['llamacpp'] / d['smolvid']:>6.2f}x (llama.cpp/smolvid: > 1 = smolvid smaller)")
    for w in warnings:
        print(f"warning: {w}")
    summary = {"ratios": {k: (None if v["ratio"] is None else round(v["ratio"], 3)) for k, v in results.items()},
               "rss_gb": {k: {who: round(x, 3) for who, x in d.items()} for k, d in rss.items()},
               "threads": a.threads, "passes": a.passes, "noisy": noisy}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
