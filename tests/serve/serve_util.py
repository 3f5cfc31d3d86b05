"""Helpers shared by the `smolvid serve` tests: paths, running the CLI, starting and stopping a server
on loopback, installing the npm test clients into the build folder."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

SOURCE = os.environ["SMOLVID_SOURCE_DIR"]
BINARY = os.environ["SMOLVID_BINARY_DIR"]
SHARED = os.environ.get("SMOLVID_SHARED", os.path.join(SOURCE, "..", "shared"))
SMOLVID = os.path.join(BINARY, "cli", "smolvid")
TINY = os.path.join(SHARED, "golden", "tiny-smolvlm")
MEDIA = os.path.join(SHARED, "media")
ARTIFACTS = os.path.join(BINARY, "tests", "serve", "artifacts")


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def media(name):
    return os.path.realpath(os.path.join(MEDIA, name))


def run(args, **kw):
    """Runs a command; raises with its stderr when it fails."""
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{args[:3]} exited {r.returncode}: {r.stderr[-2000:]}")
    return r.stdout


def ask_json(path, question, max_tokens):
    """The CLI's in-process answer (`smolvid ask --json`), the reference for the server's."""
    out = run([SMOLVID, "ask", path, question, "--json", "--model", TINY, "--max-new-tokens", str(max_tokens), "--threads", "1"])
    doc = json.loads(out)
    return dict(doc["answers"][0], model=doc["model"])


class Server:
    """`smolvid serve` on 127.0.0.1, any free port, tiny model, one thread."""

    def __init__(self, *extra, key=None):
        args = [SMOLVID, "serve", "--port", "0", "--model", TINY, "--threads", "1", *extra]
        if key:
            args += ["--api-key", key]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening on " not in line:
            self.proc.kill()
            raise AssertionError(f"serve did not start: {line!r} {self.proc.stderr.read()[-2000:]}")
        self.url = line.split("listening on ")[1].split()[0]

    def get(self, path, headers=None):
        req = urllib.request.Request(self.url + path, headers=headers or {})
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()

    def stop(self, timeout=60):
        """SIGTERM, then the exit status and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("serve did not exit within %d s of SIGTERM" % timeout)
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode, err


def npm_clients():
    """node_modules for tests/serve/package.json, installed with `npm ci` into the build folder once
    per lockfile."""
    dest = os.path.join(BINARY, "tests", "serve", "node")
    lock = os.path.join(SOURCE, "tests", "serve", "package-lock.json")
    stamp = os.path.join(dest, "node_modules", ".package-lock.json")
    os.makedirs(dest, exist_ok=True)
    installed = os.path.join(dest, "package-lock.json")
    if not (os.path.exists(stamp) and os.path.exists(installed) and read(installed) == read(lock)):
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(SOURCE, "tests", "serve", f), dest)
        run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=dest)
    return dest
