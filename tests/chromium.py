"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
JSON messages ending in a NUL byte, Chromium reading fd 3 and writing fd 4): open a page
and await a JavaScript promise there, in real time (a video with sound does not play
under --virtual-time-budget, whose clock the audio does not follow)."""

from __future__ import annotations

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

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.last_id += 1
        message: dict[str, Any] = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.out.write(json.dumps(message).encode() + b"\0")
        self.out.flush()
        while True:
            while b"\0" not in self.buffer:
                chunk = self.inp.read1(65536)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the DevTools pipe during {method}")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def close(self) -> None:
        self.out.close()
        self.inp.close()


def evaluate(browser: str, url: str, expression: str) -> Any:
    """Open ``url`` and return what the promise ``expression`` resolves to there."""
    to_browser, from_browser = os.pipe(), os.pipe()

    def on_fds_3_and_4() -> None:
        reader, writer = os.dup(to_browser[0]), os.dup(from_browser[1])  # out of the way of 3 and 4 first
        os.dup2(reader, 3)
        os.dup2(writer, 4)

    process = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                                "--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files",
                                "about:blank"], preexec_fn=on_fds_3_and_4, pass_fds=(3, 4),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_browser[0])
    os.close(from_browser[1])
    pipe = _Pipe(to_browser[1], from_browser[0])
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        pipe.call("Page.navigate", {"url": url}, session)
        result = pipe.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"the page's script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")
    finally:
        process.kill()
        process.wait()
        pipe.close()
