"""GET /dashboard in headless Chromium (Debian's chromium, chromium-driver and python3-selenium) under load, on a
stack of two frontends with API tokens: the page itself needs no token and is opened as /dashboard#token=<token>;
its numbers are there and move, it shows the whole pipeline (both frontend replicas, events, both backend
services), its failures link to GET /task/{id}, and the browser's console has no error. GET /dashboard/stats needs
the token. A screenshot goes to $TASKBUS_SCREENSHOT (default <build>/dashboard.png); docs/dashboard.png is one.

Without chromium or chromedriver the test fails and says what to install: it never skips."""
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402

BUILD = harness.build_dir_from_argv()
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOT = os.environ.get("TASKBUS_SCREENSHOT") or os.path.join(BUILD, "dashboard.png")
TOKEN = "dashboard-test.token_1"
WAIT_S = 45


def require_browser():
    """Selenium's webdriver, or a clear failure naming what is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        from selenium import webdriver  # noqa: F401
    except ImportError:
        missing.append("python3-selenium")
    if missing:
        raise RuntimeError("test_dashboard needs headless Chromium: missing " + ", ".join(missing) +
                           " (apt-get install chromium chromium-driver python3-selenium; scripts/deps.sh does)")


def call(port, method, path, body=None, token=TOKEN, timeout=30):
    """One request with the bearer token (none when 'token' is None): (status, headers, parsed JSON or text)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body.encode() if body else None,
                                 method=method)
    if body:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, headers, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    try:
        return status, headers, json.loads(raw)
    except ValueError:
        return status, headers, raw.decode(errors="replace")


class Load(threading.Thread):
    """POST /task on both frontends from a few workers until stopped: good tasks, and one in six a division by zero
    (422, logged as failed). Counts the answers by status."""
    BODIES = ['{"a1": 5, "a2": 10}', '{"m1": 4, "m2": 7}', '{"c1": "x", "c2": "y"}', '{"s1": 9, "s2": 2}',
              '{"d1": 4, "d2": 8}', '{"d1": 1, "d2": 0}']

    def __init__(self, ports, workers=4):
        super().__init__(daemon=True)
        self.ports, self.workers = ports, workers
        self.stop_event = threading.Event()
        self.statuses = {}
        self.lock = threading.Lock()

    def worker(self, k):
        i = k
        while not self.stop_event.is_set():
            port = self.ports[i % len(self.ports)]
            try:
                status = call(port, "POST", "/task", self.BODIES[i % len(self.BODIES)])[0]
            except OSError:
                status = "error"
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
            i += self.workers

    def run(self):
        threads = [threading.Thread(target=self.worker, args=(k,), daemon=True) for k in range(self.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_browser()
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        cls.dir = tempfile.mkdtemp(prefix="taskbus-dashboard-")
        tokens = os.path.join(cls.dir, "tokens")
        with open(tokens, "w") as f:
            f.write(TOKEN + "\n")
        cls.stack = harness.Stack(BUILD, frontends=2, env={"API_TOKENS_FILE": tokens})
        cls.driver = cls.load = None
        try:
            cls.stack.start()
            cls.ports = cls.stack.frontend_ports
            cls.load = Load(cls.ports)
            cls.load.start()
            options = webdriver.ChromeOptions()
            options.binary_location = CHROMIUM
            for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                        "--window-size=1400,1300", "--user-data-dir=" + os.path.join(cls.dir, "chromium")):
                options.add_argument(arg)
            options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
            cls.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.load:
            cls.load.stop_event.set()
            cls.load.join(60)
        if cls.driver:
            cls.driver.quit()
        cls.stack.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def text(self, element_id):
        return self.driver.find_element("id", element_id).text

    def number(self, element_id):
        """The number an element shows ("1,234", "12.5"), or None while it shows none ("–")."""
        try:
            return float(self.text(element_id).replace(",", ""))
        except ValueError:
            return None

    def rows(self, table_id):
        """The rows of a table as dicts: 'service' and 'replica' (the row's data- attributes) and 'cells' (their
        texts). Read in one script, so a refresh of the page cannot replace the rows halfway (a stale element)."""
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0]), r => ({service: r.dataset.service, "
            "replica: r.dataset.replica, cells: Array.from(r.cells, c => c.textContent)}))", f"#{table_id} tbody tr")

    def first_failure_href(self):
        """The link of the newest failure listed, or None (read in one script, like rows)."""
        return self.driver.execute_script("const a = document.querySelector('#failures a'); return a && a.href")

    def test_routes_and_tokens(self):
        # The page is static and needs no token; its data does.
        status, headers, page = call(self.ports[0], "GET", "/dashboard", token=None)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        self.assertIn("connect-src 'self'", headers["Content-Security-Policy"])
        self.assertIn('id="rps"', page)
        self.assertNotIn("http://", page.replace("http://www.w3.org", ""), "the page loads nothing from elsewhere")
        self.assertEqual(call(self.ports[0], "HEAD", "/dashboard", token=None)[0], 200)
        self.assertEqual(call(self.ports[0], "GET", "/dashboard/stats", token=None)[0], 401)
        self.assertEqual(call(self.ports[0], "POST", "/dashboard", token=None)[0], 401)
        self.assertEqual(call(self.ports[0], "POST", "/dashboard")[0], 405)
        # Either frontend answers for the whole pipeline.
        frontends = set(self.stack.replica_ids("frontend"))
        self.assertEqual(len(frontends), 2)
        for port in self.ports:
            status, _, stats = call(port, "GET", "/dashboard/stats")
            self.assertEqual(status, 200, stats)
            harness.wait_until("both frontends' snapshots", lambda: frontends <= {
                r["replica"] for r in call(port, "GET", "/dashboard/stats")[2]["replicas"]}, WAIT_S)
            services = {r["service"] for r in call(port, "GET", "/dashboard/stats")[2]["replicas"]}
            self.assertTrue({"frontend", "events", "arithmetic", "string"} <= services, services)

    def test_page_under_load(self):
        d = self.driver
        d.get(f"http://127.0.0.1:{self.ports[0]}/dashboard#token={TOKEN}")
        harness.wait_until("requests per second > 0", lambda: (self.number("rps") or 0) > 0, WAIT_S)
        harness.wait_until("tasks per second > 0", lambda: (self.number("tps") or 0) > 0, WAIT_S)
        self.assertNotIn("token", d.current_url, "the token leaves the address bar")
        first = self.number("total-requests")
        harness.wait_until("the request total to grow", lambda: (self.number("total-requests") or 0) > first, WAIT_S)
        harness.wait_until("an end-to-end p99", lambda: self.text("p99").endswith("s"), WAIT_S)
        harness.wait_until("a store commit p99", lambda: self.text("store-p99").endswith("s"), WAIT_S)

        # The whole pipeline: every frontend replica of the registry, events, and both backend services.
        frontends = set(self.stack.replica_ids("frontend"))
        self.assertEqual(len(frontends), 2)

        def shown():
            return {(r["service"], r["replica"]) for r in self.rows("replicas")}
        harness.wait_until("both frontend replicas on the page",
                           lambda: frontends <= {rep for svc, rep in shown() if svc == "frontend"}, WAIT_S)
        self.assertTrue({"frontend", "events", "arithmetic", "string"} <= {svc for svc, _ in shown()}, shown())
        harness.wait_until("replica tasks/s", lambda: all(
            r["cells"][2].strip() not in ("–", "") for r in self.rows("replicas")), WAIT_S)

        # The latest failures link to their task, which answers 200 with the failure.
        href = harness.wait_until("a failure listed", self.first_failure_href, WAIT_S)
        path = "/" + href.split("/", 3)[3]
        self.assertRegex(path, r"^/task/[0-9a-f]{32}$")
        status, _, view = call(self.ports[1], "GET", path)
        self.assertEqual((status, view["status"], view["code"]), (200, "failed", 422), view)

        # Let the charts gather a few points, then keep a picture of it.
        time.sleep(8)
        harness.wait_until("the page to be live", lambda: (self.number("rps") or 0) > 0, WAIT_S)
        os.makedirs(os.path.dirname(os.path.abspath(SCREENSHOT)), exist_ok=True)
        self.assertTrue(d.save_screenshot(SCREENSHOT), SCREENSHOT)
        print(f"\nscreenshot: {SCREENSHOT}; load so far: {self.load.statuses}", file=sys.stderr)

        # With a token, a click shows the task below the list (a plain link could not send it).
        d.execute_script("document.querySelector('#failures a').click()")
        harness.wait_until("the task's view", lambda: '"status": "failed"' in self.text("detail"), WAIT_S)

        severe = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        self.assertEqual(severe, [], "errors in the browser's console")
        self.assertIn(200, self.load.statuses)
        self.assertIn(422, self.load.statuses)


if __name__ == "__main__":
    unittest.main(verbosity=2)
