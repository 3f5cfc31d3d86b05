#!/usr/bin/python3
"""bench_watch: speed and memory of `smolvid watch` (issue 12), every number measured in this run.

  smolvid debug random-checkpoint --config ../shared/reference/configs/SmolVLM2-256M-Video-Instruct/reconstructed/config.json \\
      --tensors .../reconstructed/tensors.json --extra-files ../shared/reference/configs/SmolVLM-256M-Instruct --out /tmp/m256
  bench/bench_watch.py --model /tmp/m256 [--smolvid build/cli/smolvid] [--threads 2] [--seconds 60]
                       [--max-cameras 4] [--backlog-cameras 2] [--soak-s 3600] [--only realtime,cameras,backlog,soak]

Input: one 720p H.264 25 fps fixed-camera stream: bottle-detection.mp4 (a hand moves bottles on a
table) scaled to 1280x720, re-encoded by the ffmpeg CLI (keyframe every 2 s, no B-frames, like an
IP camera) and looped to --seconds.

  realtime  one camera, motion analysis + captions with the model (bf16 by default), the file read
            as fast as watch can: stream seconds / camera wall seconds (>= 1.0: keeps up in real
            time while events are captioned on the same cores)
  cameras   N cameras (N = 1..--max-cameras) with analysis only (--no-captions), as fast as they go:
            the smallest per-camera ratio; sustained = the largest N whose every camera is >= 1.0
  backlog   --backlog-cameras cameras paced in real time (--realtime) with captions; events per
            minute per camera, seconds per caption, largest caption backlog, captions still pending
            at the end; capacity = captions the model finishes per minute / 2 events per minute
  soak      one camera over RTSP (tests/watch/rtsp_server.py on loopback) for --soak-s seconds with
            captions, counted from the connection (model loaded); peak RSS (VmHWM) at 1/12 of the run
            (5 min of an hour) and at the end
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def make_input(media, seconds, out):
    src = os.path.join(media, "bottle-detection.mp4")
    one = out + ".one.mp4"
    run(["ffmpeg", "-v", "error", "-y", "-i", src, "-an", "-vf", "scale=1280:720,fps=25", "-c:v", "libx264", "-preset", "veryfast",
         "-bf", "0", "-g", "50", "-pix_fmt", "yuv420p", one])
    run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", one, "-t", str(seconds), "-c", "copy", out])
    os.remove(one)


def watch(args, extra, cameras, db, realtime=False, captions=True, stop_after_s=None):
    """Runs watch to the end of its inputs; with stop_after_s, sends SIGTERM once the cameras have
    read their files and that many seconds have passed (queued captions then stay pending)."""
    cmd = ["nice", "-n", str(args.nice), args.smolvid, "watch"] + [f"c{i}={u}" for i, u in enumerate(cameras)] + ["--db", db]
    if realtime:
        cmd.append("--realtime")
    if captions:
        cmd += ["--model", args.model, "--threads", str(args.threads), "--dtype", args.dtype]
    else:
        cmd.append("--no-captions")
    cmd += extra
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    log_path = db + ".log"
    with open(log_path, "w") as log:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True, env=env)
        t0 = time.time()
        while p.poll() is None:
            time.sleep(0.5)
            if stop_after_s is not None and time.time() - t0 >= stop_after_s:
                with open(log_path) as f:
                    if f.read().count("end of file") >= len(cameras):
                        p.send_signal(signal.SIGTERM)
                        p.wait()
    with open(log_path) as f:
        err = f.read()
    if p.returncode != 0:
        sys.exit("bench_watch: watch failed:\n" + err)
    return "", err


CAM = re.compile(r"watch: (\S+): (\d+) events, ([\d.]+) s of stream in ([\d.]+) s")
CAPS = re.compile(r"captions: (\d+) done in ([\d.]+) s, (\d+) failed, (\d+) skipped \(backlog\), (\d+) pending; largest backlog (\d+)")


def parse(stderr):
    cams = [(m.group(1), int(m.group(2)), float(m.group(3)), float(m.group(4))) for m in CAM.finditer(stderr)]
    c = CAPS.search(stderr)
    caps = tuple(float(x) for x in c.groups()) if c else None
    return cams, caps


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--smolvid", default=os.path.join(ROOT, "build", "cli", "smolvid"))
    ap.add_argument("--media", default=os.path.join(ROOT, "..", "shared", "media"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-cameras", type=int, default=4)
    ap.add_argument("--backlog-cameras", type=int, default=2)
    ap.add_argument("--soak-s", type=float, default=3600)
    ap.add_argument("--nice", type=int, default=0)
    ap.add_argument("--only", default="realtime,cameras,backlog,soak")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-watch-")
    try:
        bench(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench(args, tmp):
    parts = set(args.only.split(","))
    clip = os.path.join(tmp, "cam720p.mp4")
    make_input(args.media, args.seconds, clip)
    print(f"input: {args.seconds:g} s of 1280x720 H.264 25 fps (bottle-detection.mp4 scaled and looped); model {args.model} "
          f"{args.dtype}, {args.threads} threads, {os.cpu_count()} cores visible")

    if "realtime" in parts:
        _, err = watch(args, [], [clip], os.path.join(tmp, "rt.sqlite"), stop_after_s=0)
        cams, caps = parse(err)
        name, events, stream_s, busy_s = cams[0]
        print(f"realtime: 1 camera + captions: {stream_s:.1f} s of stream in {busy_s:.1f} s -> real-time ratio {stream_s / busy_s:.2f}; "
              f"{events} events, {int(caps[0])} captioned in {caps[1]:.1f} s of model time while it ran")

    if "cameras" in parts:
        sustained = 0
        for n in range(1, args.max_cameras + 1):
            _, err = watch(args, [], [clip] * n, os.path.join(tmp, f"cams{n}.sqlite"), captions=False)
            cams, _ = parse(err)
            ratios = [s / b for (_, _, s, b) in cams]
            print(f"cameras: {n} with analysis only: per-camera ratio min {min(ratios):.2f}, max {max(ratios):.2f}")
            if min(ratios) >= 1.0:
                sustained = n
            else:
                break
        print(f"cameras: {sustained} sustained in real time with analysis only")

    if "backlog" in parts:
        k = args.backlog_cameras
        _, err = watch(args, [], [clip] * k, os.path.join(tmp, "backlog.sqlite"), realtime=True, stop_after_s=args.seconds)
        cams, caps = parse(err)
        events = sum(c[1] for c in cams)
        per_min = events / k / (args.seconds / 60.0)
        done, model_s, failed, skipped, pending, largest = caps
        per_caption = model_s / done if done else float("nan")
        capacity = 60.0 / per_caption if done else 0.0
        print(f"backlog: {k} cameras in real time: {per_min:.1f} events/min/camera, {per_caption:.1f} s per caption -> the model "
              f"captions {capacity:.1f} events/min = {capacity / 2.0:.1f} cameras at 2 events/min; largest backlog {int(largest)}, "
              f"{int(pending)} pending and {int(skipped)} skipped at the end")

    if "soak" in parts:
        soak_clip = os.path.join(tmp, "soak.mp4")
        run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", clip, "-t", str(args.soak_s + 30), "-c", "copy", soak_clip])
        port = free_port()
        server = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests", "watch", "rtsp_server.py"), "--port", str(port),
                                   "--mount", "/cam=" + soak_clip], stdout=subprocess.PIPE, text=True)
        server.stdout.readline()
        cmd = ["nice", "-n", str(args.nice), args.smolvid, "watch", f"cam=rtsp://127.0.0.1:{port}/cam", "--db",
               os.path.join(tmp, "soak.sqlite"), "--model", args.model, "--threads", str(args.threads), "--dtype", args.dtype]
        log_path = os.path.join(tmp, "soak.log")
        log = open(log_path, "w")
        w = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
        # The clock starts when the camera is connected (the model is loaded by then).
        while w.poll() is None and "connected" not in open(log_path).read():
            time.sleep(0.5)
        t0 = time.time()
        early_at = args.soak_s / 12.0
        early = None
        while time.time() - t0 < args.soak_s:
            time.sleep(1)
            if early is None and time.time() - t0 >= early_at:
                early = rss_kib(w.pid, "VmHWM")
        late = rss_kib(w.pid, "VmHWM")
        w.send_signal(signal.SIGTERM)
        w.wait()
        log.close()
        with open(log_path) as f:
            err = f.read()
        server.terminate()
        server.wait()
        cams, caps = parse(err)
        print(f"soak: {args.soak_s:g} s over RTSP: peak RSS {early / 1024:.0f} MiB at {early_at:.0f} s, {late / 1024:.0f} MiB at the end "
              f"({100.0 * (late - early) / early:+.1f} %); {cams[0][1] if cams else 0} events, exit {w.returncode}")


if __name__ == "__main__":
    main()
