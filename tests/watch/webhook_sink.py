#!/usr/bin/python3
"""A loopback HTTP listener for the watch tests: appends the body of every POST to a file (one
line each) and answers 200. Prints "ready <port>" once it listens; runs until killed.

  webhook_sink.py --port 8080 --out posts.jsonl
"""
import argparse
import http.server


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with open(args.out, "ab") as f:
                f.write(body.rstrip(b"\n") + b"\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
    print("ready %d" % args.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
