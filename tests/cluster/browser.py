"""browser.py — a headless Chromium driven over the DevTools protocol, for the dashboard's tests.

Debian's `chromium` runs headless with remote debugging on a port it picks itself (it writes
the port to DevToolsActivePort in its profile directory); we open the page's DevTools websocket
with python3-websocket and send protocol commands: Page.navigate, Runtime.evaluate (to read the
DOM and to click, as a person's click would: element.click() dispatches the same click event),
Page.captureScreenshot. No package from the internet, no WebDriver.

Failure modes: every wait is bounded and raises BrowserError with what was awaited; close()
kills the browser's whole process group and removes its profile, also when a test failed.
Chromium runs with --no-sandbox (tests run as root in CI) and without GPU or extensions.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import websocket

CHROMIUM = os.environ.get("RAFTKV_CHROMIUM", "/usr/bin/chromium")
START_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 20.0
WINDOW = (1400, 1000)


class BrowserError(Exception):
    pass


def available():
    return os.access(CHROMIUM, os.X_OK)


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="raftkv-chromium-")
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-extensions", "--no-first-run", "--no-default-browser-check",
             "--disable-background-networking", "--disable-dev-shm-usage",
             "--hide-scrollbars", "--remote-debugging-port=0",
             "--remote-allow-origins=*",
             "--user-data-dir=%s" % self.profile,
             "--window-size=%d,%d" % WINDOW, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.profile, "chromium.log"), "wb"),
            # its own temporary directories (org.chromium.*) go with the profile
            env=dict(os.environ, TMPDIR=self.profile),
            start_new_session=True)
        self.socket = None
        self.next_id = 0
        try:
            self._attach()
        except Exception:
            self.close()
            raise

    def _attach(self):
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + START_TIMEOUT_S
        port = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError("chromium exited with %s: %s"
                                   % (self.process.returncode, self.log_tail()))
            try:
                with open(port_file) as f:
                    port = int(f.readline().strip())
                break
            except (OSError, ValueError):
                time.sleep(0.1)
        if port is None:
            raise BrowserError("chromium did not open its debugging port within %.0f s"
                               % START_TIMEOUT_S)
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
            targets = json.load(r)
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            raise BrowserError("chromium shows no page target: %s" % targets)
        self.socket = websocket.create_connection(pages[0]["webSocketDebuggerUrl"],
                                                  timeout=COMMAND_TIMEOUT_S,
                                                  suppress_origin=True)
        self.command("Page.enable")
        self.command("Runtime.enable")

    def log_tail(self, lines=20):
        try:
            with open(os.path.join(self.profile, "chromium.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def command(self, method, **params):
        """Sends one protocol command and returns its result, skipping the events between."""
        self.next_id += 1
        request_id = self.next_id
        self.socket.send(json.dumps({"id": request_id, "method": method, "params": params}))
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv())
            if message.get("id") == request_id:
                if "error" in message:
                    raise BrowserError("%s failed: %s" % (method, message["error"]))
                return message.get("result", {})
        raise BrowserError("%s: no answer within %.0f s" % (method, COMMAND_TIMEOUT_S))

    def navigate(self, url):
        self.command("Page.navigate", url=url)

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-able values only)."""
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True,
                              awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError("%s threw: %s" % (expression, result["exceptionDetails"]))
        return result["result"].get("value")

    def wait_for(self, expression, timeout_s, what):
        """Polls a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        value = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except BrowserError:
                value = None
            if value:
                return value
            time.sleep(0.1)
        raise BrowserError("the page did not show %s within %.0f s (last: %r)"
                           % (what, timeout_s, value))

    def screenshot(self, path):
        data = self.command("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        if self.socket is not None:
            try:
                self.socket.close()
            except Exception:
                pass
            self.socket = None
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)
