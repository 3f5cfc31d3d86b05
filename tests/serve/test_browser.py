"""The web page in a real browser: headless Chromium driven by Selenium loads it from `smolvid serve`,
searches an index built here with `smolvid index`, opens an event and plays its clip, streams an
answer, and leaves a screenshot in build/tests/serve/artifacts/serve_page.png."""
import json
import os
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import serve_util as su  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CLIP = "oa4_launch.webm"  # VP8/VP9 WebM: Chromium plays it without proprietary codecs


def chromium(profile):
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
              "--window-size=1100,1400", "--user-data-dir=" + profile):
        o.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


class WebPage(unittest.TestCase):
    def test_search_play_ask(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "events.sqlite")
            su.run([su.SMOLVID, "index", su.media(CLIP), "--db", db, "--camera", "launch", "--model", su.TINY, "--max-new-tokens", "6", "--threads", "1"])
            # What the page must show comes from the database itself.
            con = sqlite3.connect(db)
            events = con.execute("SELECT id, caption, start_s, end_s FROM events ORDER BY start_s").fetchall()
            con.close()
            self.assertGreater(len(events), 0, "the index found no event to search")
            server = su.Server("--db", db, "--media-dir", su.MEDIA)
            driver = chromium(os.path.join(tmp, "profile"))
            wait = WebDriverWait(driver, 60)
            try:
                driver.get(server.url + "/")
                wait.until(lambda d: "ready" in d.find_element(By.ID, "status").text)
                # Search: every event of the camera, each card a thumbnail, times and its caption.
                driver.find_element(By.ID, "search-camera").send_keys("launch")
                driver.find_element(By.ID, "search-button").click()
                wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#search-results button.event")) == len(events))
                cards = driver.find_elements(By.CSS_SELECTOR, "#search-results button.event")
                shown = sorted(c.find_element(By.CSS_SELECTOR, ".caption").text for c in cards)
                self.assertEqual(shown, sorted(e[1].strip() for e in events))
                img = cards[0].find_element(By.TAG_NAME, "img")
                wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0)
                # Open the first event: its clip plays in the <video> from the event's start.
                cards[0].send_keys("\n")  # keyboard: Enter on the focused card
                video = wait.until(EC.visibility_of_element_located((By.ID, "event-video")))
                wait.until(lambda d: d.execute_script("return arguments[0].currentTime", video) > 0.3 + 0)
                state = driver.execute_script("const v = arguments[0]; return {t: v.currentTime, err: v.error && v.error.code, src: v.currentSrc, rs: v.readyState}", video)
                self.assertIsNone(state["err"], state)
                event_id = int(cards[0].get_attribute("data-event-id"))
                start = [e for e in events if e[0] == event_id][0][2]
                self.assertGreaterEqual(state["t"], start - 0.5, state)
                self.assertIn("/v1/events/%d/clip" % event_id, state["src"])
                driver.find_element(By.ID, "event-close").click()
                # Ask: the answer streams into the page and equals the CLI's in-process answer.
                expected = su.ask_json(su.media("realshort.mp4"), "What happens in this video?", 256)["answer"]
                driver.execute_script("const s = document.getElementById('ask-media'); s.value = arguments[0];", su.media("realshort.mp4"))
                driver.find_element(By.ID, "ask-button").click()
                wait.until(lambda d: d.find_element(By.ID, "ask-answer").get_attribute("data-done") == "true")
                self.assertEqual(driver.find_element(By.ID, "ask-answer").text.strip(), expected.strip())
                os.makedirs(su.ARTIFACTS, exist_ok=True)
                driver.save_screenshot(os.path.join(su.ARTIFACTS, "serve_page.png"))
            finally:
                driver.quit()
                rc, err = server.stop()
            self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
