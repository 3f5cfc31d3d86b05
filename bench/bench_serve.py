#!/usr/bin/env python3
"""bench_serve: `smolvid serve` against the CLI's in-process path, and under 4 concurrent streams.

  bench/bench_serve.py [--smolvid build/cli/smolvid] [--model DIR] [--tokens 48] [--clients 4]

Without --model it writes the full-size SmolVLM2-256M random checkpoint (smolvid debug
random-checkpoint, from ../shared/reference/configs) into a temp folder. Measures, in one run:
  1. time to first token (TTFT) and decode tokens/s of one request (a 1-frame video question; each
     request asks about another second of the video, so no run reuses cached frame features),
     through the CLI (`smolvid ask --json` timings: everything before the first token; tokens after
     the first over their decode time) and through the server (client clock: request sent -> first
     content chunk; tokens after the first over first -> last content chunk). Best of --repeat.
  2. --clients streaming requests at once (the queue serves them one after another) while a poller
     asks GET /health every 50 ms: /health latency percentiles and the total throughput against one
     client's.
The CLI pays its process's first-call costs in every run (a fresh process per request); the server
pays them once, in the warm-up request. Prints ratios; run it niced on a quiet machine for numbers that mean something.
"""
import argparse
import http.client
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("SMOLVID_SHARED", os.path.join(HERE, "..", "..", "shared"))
QUESTION = "What is on the windowsill?"


def random_checkpoint(smolvid, out):
    cfg = os.path.join(SHARED, "reference", "configs", "SmolVLM2-256M-Video-Instruct", "reconstructed")
    subprocess.run([smolvid, "debug", "random-checkpoint", "--config", os.path.join(cfg, "config.json"), "--tensors",
                    os.path.join(cfg, "tensors.json"), "--extra-files", os.path.join(SHARED, "reference", "configs", "SmolVLM-256M-Instruct"),
                    "--out", out], check=True, capture_output=True)
    return out


def cli_once(a, video, start):
    out = subprocess.run([a.smolvid, "ask", video, QUESTION, "--start", str(start), "--max-frames", "1", "--max-new-tokens", str(a.tokens), "--json",
                          "--model", a.model, "--threads", str(a.threads)], check=True, capture_output=True, text=True).stdout
    d = json.loads(out)
    ans = d["answers"][0]
    ttft = d["timings_s"]["total"] - ans["timings_s"]["decode"]
    return ttft, (ans["generated_tokens"] - 1) / ans["timings_s"]["decode"], ans["generated_tokens"]


def stream_once(url, video, tokens, start):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = {"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": video}}, {"type": "text", "text": QUESTION}]}],
            "max_tokens": tokens, "stream": True, "stream_options": {"include_usage": True}, "smolvid": {"max_frames": 1, "start": start}}
    t0 = time.perf_counter()
    c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    first = last = None
    usage = None
    buf = b""
    while True:
        chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            line = ev.decode("utf-8", "replace")
            if not line.startswith("data: {"):
                continue
            d = json.loads(line[6:])
            if d.get("usage"):
                usage = d["usage"]
            if d["choices"] and d["choices"][0]["delta"].get("content"):
                now = time.perf_counter()
                first = first or now
                last = now
    c.close()
    n = usage["completion_tokens"]
    return first - t0, (n - 1) / (last - first) if last > first else float("nan"), n, time.perf_counter() - t0


def health_ms(url):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    t0 = time.perf_counter()
    c.request("GET", "/health")
    c.getresponse().read()
    c.close()
    return (time.perf_counter() - t0) * 1000


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smolvid", default=os.path.join(HERE, "..", "build", "cli", "smolvid"))
    p.add_argument("--model", default="")
    p.add_argument("--video", default=os.path.join(SHARED, "media", "bottle-detection.mp4"))
    p.add_argument("--tokens", type=int, default=48)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args()
    tmp = tempfile.TemporaryDirectory()
    if not a.model:
        a.model = random_checkpoint(a.smolvid, os.path.join(tmp.name, "smolvlm2-256m-random"))
    video = os.path.realpath(a.video)

    cli = [cli_once(a, video, 1 + i) for i in range(a.repeat)]
    proc = subprocess.Popen([a.smolvid, "serve", "--port", "0", "--model", a.model, "--threads", str(a.threads), "--media-dir",
                             os.path.dirname(video), "--queue", str(a.clients), "--max-new-tokens", str(a.tokens)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split("listening on ")[1].split()[0]
    try:
        stream_once(url, video, a.tokens, 0)  # warm-up (first allocations)
        srv = [stream_once(url, video, a.tokens, 1 + i) for i in range(a.repeat)]
        cli_ttft, cli_tps = min(r[0] for r in cli), max(r[1] for r in cli)
        srv_ttft, srv_tps = min(r[0] for r in srv), max(r[1] for r in srv)
        one_client_tps = max(r[2] / r[3] for r in srv)  # whole-request throughput, one client
        print(f"model {a.model}, {a.tokens} new tokens, 1 frame of {os.path.basename(video)}")
        print(f"TTFT      cli {cli_ttft*1000:8.1f} ms   server {srv_ttft*1000:8.1f} ms   server/cli {srv_ttft/cli_ttft:5.3f}")
        print(f"tokens/s  cli {cli_tps:8.2f}      server {srv_tps:8.2f}      server/cli {srv_tps/cli_tps:5.3f}")

        results, lat, stop = [], [], threading.Event()

        def client(k):
            results.append(stream_once(url, video, a.tokens, 10 + k))

        def poll():
            while not stop.is_set():
                lat.append(health_ms(url))
                time.sleep(0.05)

        poller = threading.Thread(target=poll)
        poller.start()
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        stop.set()
        poller.join()
        lat.sort()
        total_tps = sum(r[2] for r in results) / wall
        print(f"{a.clients} concurrent streams: {len(lat)} /health calls, p50 {lat[len(lat)//2]:.1f} ms, p99 {lat[int(len(lat)*0.99)]:.1f} ms, max {lat[-1]:.1f} ms")
        print(f"throughput  {a.clients} clients {total_tps:.2f} tokens/s (whole requests)   1 client {one_client_tps:.2f}   ratio {total_tps/one_client_tps:5.3f}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


if __name__ == "__main__":
    main()
