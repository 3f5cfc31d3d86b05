"""The HTTP contract of `smolvid serve` with Python's http.client: OpenAI error objects and limits,
range requests on event clips, events and summaries against the CLI's own output, Prometheus
metrics, and draining on SIGTERM."""
import http.client
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import jsonschema

sys.path.insert(0, os.path.dirname(__file__))
import serve_util as su  # noqa: E402

TINY_OPTS = ["--model", su.TINY, "--max-new-tokens", "6", "--threads", "1"]


def request(url, method, path, body=None, headers=None):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        headers = dict(headers or {}, **{"Content-Type": "application/json"})
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def error_of(status_body, status):
    s, _, body = status_body
    assert s == status, (s, body)
    e = json.loads(body)["error"]
    assert set(e) == {"message", "type", "param", "code"}, e
    return e


class Http(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.media = os.path.join(cls.tmp, "media")
        os.makedirs(cls.media)
        cls.video = os.path.join(cls.media, "short.mp4")
        shutil.copy(su.media("realshort.mp4"), cls.video)
        with open(os.path.join(cls.media, "broken.mp4"), "wb") as f:
            f.write(b"this is not a video" * 50)
        cls.db = os.path.join(cls.tmp, "events.sqlite")
        cls.clip_source = su.media("bottle-detection.mp4")
        su.run([su.SMOLVID, "index", cls.clip_source, "--db", cls.db, *TINY_OPTS])
        cls.server = su.Server("--media-dir", cls.media, "--db", cls.db, "--max-body", "200000", "--max-new-tokens", "6")
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def chat(self, content, **extra):
        return request(self.url, "POST", "/v1/chat/completions", dict({"messages": [{"role": "user", "content": content}]}, **extra))

    def test_errors_are_openai_error_objects(self):
        self.assertEqual(error_of(request(self.url, "POST", "/v1/chat/completions", "{not json"), 400)["type"], "invalid_request_error")
        self.assertEqual(error_of(self.chat("hi", max_tokens="ten"), 400)["param"], "max_tokens")
        self.assertEqual(error_of(self.chat("hi", n=2), 400)["param"], "n")
        e = error_of(self.chat([{"type": "video_url", "video_url": {"url": "/etc/passwd"}}]), 403)
        self.assertEqual(e["type"], "permission_error")
        self.assertIn("outside the media folders", e["message"])
        e = error_of(self.chat([{"type": "video_url", "video_url": {"url": "file://" + self.media + "/../events.sqlite"}}]), 403)
        self.assertIn("outside", e["message"])
        e = error_of(self.chat([{"type": "video_url", "video_url": {"url": "missing.mp4"}}]), 404)
        self.assertIn("no such file", e["message"])
        e = error_of(self.chat([{"type": "image_url", "image_url": {"url": "http://example.com/a.jpg"}}]), 400)
        self.assertIn("does not fetch", e["message"])
        e = error_of(self.chat([{"type": "video_url", "video_url": {"url": "broken.mp4"}}, {"type": "text", "text": "?"}]), 400)
        self.assertIn("broken.mp4", e["message"])
        self.assertIn("cannot decode the video", e["message"])
        e = error_of(self.chat("hi", model="no-such-model"), 404)
        self.assertEqual(e["code"], "model_not_found")
        e = error_of(request(self.url, "POST", "/v1/chat/completions", "x" * 300000, {"Content-Type": "application/json"}), 413)
        self.assertIn("--max-body", e["message"])
        error_of(request(self.url, "GET", "/v1/nothing-here"), 404)

    def test_stop_sequence_ends_the_text_before_it(self):
        _, _, body = self.chat("hello", max_tokens=20)
        full = json.loads(body)["choices"][0]["message"]["content"]
        self.assertGreater(len(full), 3)
        stop = full[2:4]
        _, _, body = self.chat("hello", max_tokens=20, stop=[stop])
        r = json.loads(body)["choices"][0]
        self.assertEqual(r["message"]["content"], full[: full.index(stop)])
        self.assertEqual(r["finish_reason"], "stop")

    def test_events_match_the_cli_search_and_clips_serve_ranges(self):
        cli = json.loads(su.run([su.SMOLVID, "search", self.db, "--json", "--limit", "100"]))["results"]
        s, _, body = request(self.url, "GET", "/v1/events?limit=100")
        self.assertEqual(s, 200)
        served = json.loads(body)["results"]
        self.assertEqual([(r["event_id"], r["caption"], r["start_s"]) for r in served], [(r["event_id"], r["caption"], r["start_s"]) for r in cli])
        con = sqlite3.connect(self.db)
        for r in served:
            s, h, jpg = request(self.url, "GET", r["thumbnail_url"])
            self.assertEqual((s, h["content-type"]), (200, "image/jpeg"))
            self.assertEqual(jpg, con.execute("SELECT thumbnail FROM events WHERE id = ?", (r["event_id"],)).fetchone()[0])
            self.assertTrue(r["clip_url"].endswith("#t=%.3f,%.3f" % (r["start_s"], r["end_s"])), r["clip_url"])
        con.close()
        clip = served[0]["clip_url"].split("#")[0]
        data = su.read(self.clip_source)
        s, h, whole = request(self.url, "GET", clip)
        self.assertEqual((s, whole), (200, data))
        self.assertEqual(h["accept-ranges"], "bytes")
        s, h, part = request(self.url, "GET", clip, headers={"Range": "bytes=1000-1999"})
        self.assertEqual((s, h["content-range"], part), (206, "bytes 1000-1999/%d" % len(data), data[1000:2000]))
        s, h, tail = request(self.url, "GET", clip, headers={"Range": "bytes=-500"})
        self.assertEqual((s, tail), (206, data[-500:]))
        error_of(request(self.url, "GET", "/v1/events/999999/clip"), 404)
        self.assertEqual(error_of(request(self.url, "GET", "/v1/events?from=yesterday"), 400)["param"], "from")

    def test_summarize_matches_the_cli(self):
        out = os.path.join(self.tmp, "cli.json")
        su.run([su.SMOLVID, "summarize", self.video, "--format", "json", "--out", out, "--frames-per-segment", "2", *TINY_OPTS])
        cli = json.loads(su.read(out, "r"))
        s, _, body = request(self.url, "POST", "/v1/summarize", {"video": self.video, "frames_per_segment": 2, "max_tokens": 6})
        self.assertEqual(s, 200, body)
        doc = json.loads(body)
        jsonschema.validate(doc, json.loads(su.read(os.path.join(su.SOURCE, "pipeline", "summary.schema.json"), "r")))
        self.assertEqual(doc["segments"], cli["segments"])
        self.assertEqual(doc["summary"], cli["summary"])
        # Streamed: one progress event per segment plus the summary, then the document itself.
        s, h, body = request(self.url, "POST", "/v1/summarize", {"video": "short.mp4", "frames_per_segment": 2, "max_tokens": 6, "stream": True})
        self.assertEqual((s, h["content-type"]), (200, "text/event-stream"))
        events = [(b.split("\n")[0][7:], json.loads(b.split("\n")[1][6:])) for b in body.decode().strip().split("\n\n") if b.startswith("event: ")]
        progress = [d for name, d in events if name == "progress"]
        self.assertEqual([p["done"] for p in progress], list(range(1, len(cli["segments"]) + 2)))
        final = [d for name, d in events if name == "summary"][0]
        self.assertEqual([g["caption"] for g in final["summary"]["segments"]], [g["caption"] for g in cli["segments"]])
        self.assertEqual(len(final["thumbnails"]), len(cli["segments"]))
        self.assertTrue(final["thumbnails"][0].startswith("data:image/jpeg;base64,"))
        # An upload (multipart) gives the same captions.
        boundary = "smolvidboundary"
        video = su.read(self.video)
        form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"frames_per_segment\"\r\n\r\n2\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"max_tokens\"\r\n\r\n6\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.mp4\"\r\n"
                "Content-Type: video/mp4\r\n\r\n").encode() + video + f"\r\n--{boundary}--\r\n".encode()
        s, _, body = request(self.url, "POST", "/v1/summarize", form, {"Content-Type": "multipart/form-data; boundary=" + boundary})
        self.assertEqual(s, 200, body)
        up = json.loads(body)
        self.assertEqual(up["video"]["path"], "clip.mp4")
        self.assertEqual([g["caption"] for g in up["segments"]], [g["caption"] for g in cli["segments"]])

    def test_metrics_count_what_happened(self):
        def count(text, route, status):
            key = 'smolvid_requests_total{route="%s",status="%d"} ' % (route, status)
            return sum(int(l.split()[-1]) for l in text.splitlines() if l.startswith(key))
        before = request(self.url, "GET", "/metrics")[2].decode()
        for _ in range(3):
            self.chat("hi", temperature=-1)
        s, _, body = self.chat("hi", max_tokens=5)
        self.assertEqual(s, 200)
        after = request(self.url, "GET", "/metrics")[2].decode()
        self.assertEqual(count(after, "/v1/chat/completions", 400) - count(before, "/v1/chat/completions", 400), 3)
        self.assertEqual(count(after, "/v1/chat/completions", 200) - count(before, "/v1/chat/completions", 200), 1)
        tokens = lambda t: int(float([l for l in t.splitlines() if l.startswith("smolvid_generated_tokens_total ")][0].split()[1]))
        self.assertEqual(tokens(after) - tokens(before), json.loads(body)["usage"]["completion_tokens"])
        for name in ("smolvid_queue_depth", "smolvid_model_load_seconds", "smolvid_tokens_per_second"):
            self.assertIn("# TYPE " + name + " gauge", after)


class Drain(unittest.TestCase):
    def test_sigterm_finishes_streams_in_flight_then_exits_0(self):
        server = su.Server()
        got = {}

        def stream():
            got["r"] = request(server.url, "POST", "/v1/chat/completions",
                               {"messages": [{"role": "user", "content": "go"}], "max_tokens": 4000, "stream": True})

        t = threading.Thread(target=stream)
        t.start()
        while json.loads(request(server.url, "GET", "/health")[2])["busy"] is False:
            time.sleep(0.02)
        rc, err = server.stop()
        t.join()
        self.assertEqual(rc, 0, err)
        s, _, body = got["r"]
        chunks = [json.loads(l[6:]) for l in body.decode().splitlines() if l.startswith("data: {")]
        self.assertEqual(s, 200)
        self.assertTrue(body.decode().rstrip().endswith("data: [DONE]"))
        self.assertIn(chunks[-1]["choices"][0]["finish_reason"], ("length", "stop"))
        self.assertIn("finishing 1 request(s) in flight", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
