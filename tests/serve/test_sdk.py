"""`smolvid serve` driven by the official OpenAI SDK for Node.js (tests/serve/sdk_test.mjs): answers
must match the CLI's in-process path token for token; errors must map onto the SDK's error types."""
import base64
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import serve_util as su  # noqa: E402

KEY = "test-key-0123456789"
QUESTION = "What is shown?"
MAX_TOKENS = 12


class OpenAiSdk(unittest.TestCase):
    def test_sdk_against_server(self):
        node_dir = su.npm_clients()
        with tempfile.TemporaryDirectory() as tmp:
            # Independent inputs: stills cut by the ffmpeg CLI. PNG for the exact comparison (both
            # paths decode it to the same pixels), JPEG snapshots as Frigate sends them.
            png = os.path.join(tmp, "still.png")
            su.run(["ffmpeg", "-v", "error", "-ss", "1", "-i", su.media("bottle-detection.mp4"), "-frames:v", "1", png])
            snaps = []
            for i, t in enumerate(("2", "4", "6")):
                jpg = os.path.join(tmp, f"snap{i}.jpg")
                su.run(["ffmpeg", "-v", "error", "-ss", t, "-i", su.media("bottle-detection.mp4"), "-frames:v", "1", "-q:v", "4", jpg])
                snaps.append(base64.b64encode(su.read(jpg)).decode())
            video = su.media("realshort.mp4")
            image_answer = su.ask_json(png, QUESTION, MAX_TOKENS)
            expect = {
                "model": image_answer["model"],
                "question": QUESTION,
                "max_tokens": MAX_TOKENS,
                "long_max_tokens": 2000,
                "image_b64": base64.b64encode(su.read(png)).decode(),
                "image_answer": image_answer,
                "video_path": video,
                "video_answer": su.ask_json(video, QUESTION, MAX_TOKENS),
                "snapshots_b64": snaps,
            }
            server = su.Server("--media-dir", su.MEDIA, "--queue", "0", key=KEY)
            try:
                expect_file = os.path.join(tmp, "expect.json")
                with open(expect_file, "w") as f:
                    json.dump(expect, f)
                env = dict(os.environ, SERVE_URL=server.url, SERVE_KEY=KEY, SERVE_EXPECT_FILE=expect_file,
                           NODE_PATH=os.path.join(node_dir, "node_modules"))
                script = os.path.join(node_dir, "sdk_test.mjs")
                with open(os.path.join(os.path.dirname(__file__), "sdk_test.mjs")) as src, open(script, "w") as dst:
                    dst.write(src.read())  # ESM resolves 'openai' from the script's own folder
                r = subprocess.run(["node", script], env=env, capture_output=True, text=True, timeout=300)
                print(r.stdout, r.stderr)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertEqual(r.stdout.count("ok "), 8, r.stdout)
            finally:
                rc, err = server.stop()
            self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
