"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
JSON messages ending in a NUL byte, Chromium reading fd 3 and writing fd 4): open a page,
await a JavaScript promise there, click, take a screenshot, in real time (a video with
sound does not play under --virtual-time-budget, whose clock the audio does not follow)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from typing import Any


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class _Pipe:
    def __init__(self, write_fd: int, read_fd: int) -> None:
        self.out, self.inp = os.fdopen(write_fd, "wb"), os.fdopen(read_fd, "rb")
        self.buffer, self.last_id = b"", 0
        self.events: list[str] = []  # the names of the events that came, oldest first

    def _next(self, waiting_for: str) -> dict:
        while b"\0" not in self.buffer:
            chunk = self.inp.read1(65536)
            if not chunk:
                raise RuntimeError(f"Chromium closed the DevTools pipe while waiting for {waiting_for}")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message = json.loads(raw)
        if "method" in message:
            self.events.append(message["method"])
        return message

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.last_id += 1
        message: dict[str, Any] = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.out.write(json.dumps(message).encode() + b"\0")
        self.out.flush()
        while True:
            reply = self._next(method)
            if reply.get("id") == self.last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def wait_event(self, name: str) -> None:
        """Until the event ``name`` came (it may have come already); it is then forgotten."""
        while name not in self.events:
            self._next(name)
        self.events.remove(name)

    def close(self) -> None:
        self.out.close()
        self.inp.close()


class Browser:
    """One headless Chromium with one page, for ``with``: ``open`` a URL, ``evaluate``
    promises there, ``click`` like a mouse, ``screenshot`` it."""

    def __init__(self, executable: str, width: int = 800, height: int = 600) -> None:
        to_browser, from_browser = os.pipe(), os.pipe()

        def on_fds_3_and_4() -> None:
            reader, writer = os.dup(to_browser[0]), os.dup(from_browser[1])  # out of the way of 3 and 4 first
            os.dup2(reader, 3)
            os.dup2(writer, 4)

        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files", "--hide-scrollbars",
             "about:blank"], preexec_fn=on_fds_3_and_4, pass_fds=(3, 4),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser[0])
        os.close(from_browser[1])
        self.pipe = _Pipe(to_browser[1], from_browser[0])
        try:
            target = self.pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            self.resize(width, height)
        except BaseException:
            self.close()
            raise

    def call(self, method: str, params: dict | None = None) -> dict:
        return self.pipe.call(method, params, self.session)

    def resize(self, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})

    def open(self, url: str) -> None:
        """Go to ``url`` and wait until it has loaded (its load event)."""
        self.call("Page.enable")
        self.pipe.events.clear()
        self.call("Page.navigate", {"url": url})
        self.pipe.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """What ``expression`` (a promise is awaited) gives in the page, as JSON."""
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            why = details.get("exception", {}).get("description") or details.get("text")
            raise RuntimeError(f"the page's script failed: {why}")
        return result["result"].get("value")

    def click(self, x: float, y: float) -> None:
        """A left click at page coordinates (CSS pixels), as a mouse makes it."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                   "clickCount": 0 if kind == "mouseMoved" else 1})

    def screenshot(self) -> bytes:
        """The page as PNG bytes, at the size of the window."""
        return base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.pipe.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def evaluate(browser: str, url: str, expression: str) -> Any:
    """Open ``url`` and return what the promise ``expression`` resolves to there."""
    with Browser(browser) as page:
        page.open(url)
        return page.evaluate(expression)
