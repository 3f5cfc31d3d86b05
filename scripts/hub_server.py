#!/usr/bin/env python3
"""A minimal stand-in for the Hugging Face Hub HTTP interface, for smolvid's download tests.

Serves the files of a local folder as one model repo:
  GET  /api/models/{repo}/revision/{rev}  -> {"id", "sha", "siblings": [{"rfilename"}]}
  HEAD/GET /{repo}/resolve/{rev}/{file}   -> non-LFS files (everything but *.safetensors): 200 with
                                             ETag = git blob sha1, X-Repo-Commit, Content-Length;
                                             LFS files: 302 to /cdn/{sha256} with X-Linked-Etag =
                                             sha256, X-Linked-Size, X-Repo-Commit
  GET  /cdn/{sha256}                      -> the LFS content, honouring "Range: bytes=N-" (206)

Options for fault injection: --token T (401 unless "Authorization: Bearer T" reaches the api and
resolve endpoints), --corrupt FILE (serve FILE with one byte changed, same advertised hash),
--drop-after N (the first GET of each LFS blob sends only N bytes, then closes the connection).
Every request is appended as one JSON line to --log (method, path, authorization, range).
On start it prints the port it listens on (use --port 0 for a free one) and flushes stdout.
"""
import argparse
import hashlib
import http.server
import json
import os
import re
import sys
import threading


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="folder whose files form the repo")
    ap.add_argument("--repo", required=True, help="repo id, e.g. test-org/tiny-smolvlm")
    ap.add_argument("--commit", default="0123456789abcdef0123456789abcdef01234567", help="commit hash of 'main'")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="", help="required bearer token (default: none)")
    ap.add_argument("--corrupt", default="", help="file to serve with one byte changed")
    ap.add_argument("--drop-after", type=int, default=-1, help="first GET of each LFS blob stops after N bytes")
    ap.add_argument("--log", default="", help="JSONL request log")
    args = ap.parse_args()

    files = {}
    for root, _, names in os.walk(args.dir):
        for name in names:
            full = os.path.join(root, name)
            files[os.path.relpath(full, args.dir).replace(os.sep, "/")] = open(full, "rb").read()
    lfs = {name: hashlib.sha256(data).hexdigest() for name, data in files.items() if name.endswith(".safetensors")}
    by_sha = {sha: name for name, sha in lfs.items()}
    dropped = set()
    lock = threading.Lock()

    def content(name):
        data = files[name]
        if name == args.corrupt and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        return data

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def record(self):
            if args.log:
                with lock, open(args.log, "a") as f:
                    f.write(json.dumps({"method": self.command, "path": self.path,
                                        "authorization": self.headers.get("Authorization"),
                                        "range": self.headers.get("Range")}) + "\n")

        def reply(self, status, headers, body=b""):
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def authorized(self):
            if not args.token or self.headers.get("Authorization") == "Bearer " + args.token:
                return True
            self.reply(401, {"Content-Type": "application/json"}, b'{"error":"Invalid credentials"}')
            return False

        def do_HEAD(self):
            self.handle_request()

        def do_GET(self):
            self.handle_request()

        def handle_request(self):
            self.record()
            path = self.path.split("?")[0]
            api = "/api/models/%s/revision/" % args.repo
            resolve = "/%s/resolve/" % args.repo
            if path.startswith(api):
                if not self.authorized():
                    return
                rev = path[len(api):]
                if rev not in ("main", args.commit):
                    return self.reply(404, {}, b'{"error":"Revision Not Found"}')
                body = json.dumps({"id": args.repo, "sha": args.commit,
                                   "siblings": [{"rfilename": n} for n in sorted(files)]}).encode()
                return self.reply(200, {"Content-Type": "application/json"}, body)
            if path.startswith(resolve):
                if not self.authorized():
                    return
                rev, _, name = path[len(resolve):].partition("/")
                if rev not in ("main", args.commit) or name not in files:
                    return self.reply(404, {"X-Error-Code": "EntryNotFound"}, b"Entry not found")
                if name in lfs:
                    return self.reply(302, {"Location": "/cdn/" + lfs[name], "X-Linked-Etag": '"%s"' % lfs[name],
                                            "X-Linked-Size": str(len(files[name])), "X-Repo-Commit": args.commit,
                                            "ETag": '"%s"' % git_blob_sha1(b"pointer " + name.encode())})
                data = content(name)
                return self.reply(200, {"ETag": '"%s"' % git_blob_sha1(files[name]), "X-Repo-Commit": args.commit,
                                        "Content-Type": "application/octet-stream"}, data)
            m = re.fullmatch(r"/cdn/([0-9a-f]{64})", path)
            if m and m.group(1) in by_sha:
                name = by_sha[m.group(1)]
                data = content(name)
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    rm = re.fullmatch(r"bytes=(\d+)-", rng.strip())
                    if not rm or int(rm.group(1)) >= len(data):
                        return self.reply(416, {"Content-Range": "bytes */%d" % len(data)})
                    start = int(rm.group(1))
                body = data[start:]
                headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
                           "Content-Length": str(len(body))}
                status = 200
                if rng:
                    status = 206
                    headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
                with lock:
                    drop = args.drop_after >= 0 and self.command == "GET" and name not in dropped
                    if drop:
                        dropped.add(name)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body[:args.drop_after] if drop else body)
                    if drop:
                        self.wfile.flush()
                        self.close_connection = True
                return
            self.reply(404, {}, b"not found")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
