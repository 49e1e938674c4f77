"""The one runner behind ``live-nst run``, ``live-nst render`` and the bench's live runs:
source -> pipeline (stages overlapped, painters as ``run`` picks them) -> sink.

The stages overlap (:mod:`live_nst.overlap`): the next frames are read, prepared and
painted on worker threads while this thread finishes and sends the current one. What
the runner is given decides how the frames come: a camera (or a paced clip) keeps only
its newest frame, so a slow pipeline skips frames; a render's file source hands every
frame, in order, and the front reads the next one only when there is room for it
(backpressure), so nothing is skipped.

A bad frame either resends the last good one (live: the stream must go on) or ends the
run with its error (a render: a file must not hold a repeated frame in its place).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from live_nst.catalog import StyleCatalog
from live_nst.config import RunConfig
from live_nst.framing import SizeWH
from live_nst.overlap import FrameSource, Intent, Ready, StageOverlap, auto_painters, network_threads
from live_nst.pipeline import FramePipeline, build_pipeline
from live_nst.sources import Frame
from live_nst.stopping import StopRequest

log = logging.getLogger(__name__)


def painters_for(config: RunConfig, providers: Sequence[str] = ()) -> int:
    """Style-network threads: the config's, else as many as suit ``providers`` (see auto_painters)."""
    return config.painters if config.painters is not None else auto_painters(list(providers))


def build_running_pipeline(config: RunConfig, catalog: StyleCatalog | None = None, threads: int = 0) -> FramePipeline:
    """The pipeline as ``run`` builds it for the runner: the cores shared out among the
    painters (``threads``: ONNX Runtime's per painter, 0: shared out). The network's
    threads share the cores with the other stages, so they sleep when idle instead of
    spinning. Bad styles or models fail here, before any device opens."""
    threads = threads or network_threads(painters_for(config))
    return build_pipeline(config, catalog, threads=threads, spinning=False)


class RateLimitedLog:
    """Log a recurring (recovered) problem at most once per ``interval`` seconds, with a count."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self.last = -float("inf")
        self.suppressed = 0

    def warning(self, message: str, *args) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            self.suppressed += 1
            return
        extra = f" (and {self.suppressed} more since)" if self.suppressed else ""
        log.warning(message + extra, *args)
        self.last, self.suppressed = now, 0


@dataclass
class LoopStats:
    """Bounded recent history: memory stays flat however long the stream runs."""

    frames: int = 0  # frames the source delivered (painted or not)
    errors: int = 0  # of those, the ones that failed (the last good frame went out instead)
    send_times: deque = field(default_factory=lambda: deque(maxlen=60))
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=60))
    first_sent: float | None = None  # monotonic s: the whole run's fps
    proc_sizes: Counter = field(default_factory=Counter)  # (w, h) -> frames painted at it, in order of use

    def count(self, now: float, latency_ms: float, proc_wh: tuple[int, int] | None) -> None:
        self.frames += 1
        self.first_sent = now if self.first_sent is None else self.first_sent
        self.send_times.append(now)
        self.latencies_ms.append(latency_ms)
        if proc_wh is not None:
            self.proc_sizes[tuple(proc_wh)] += 1

    @property
    def fps(self) -> float:
        if len(self.send_times) < 2:
            return 0.0
        return (len(self.send_times) - 1) / max(1e-6, self.send_times[-1] - self.send_times[0])

    @property
    def average_fps(self) -> float:
        """Over the whole run (``fps`` is the last couple of seconds')."""
        if self.first_sent is None or self.frames < 2:
            return 0.0
        return (self.frames - 1) / max(1e-6, self.send_times[-1] - self.first_sent)

    def summary(self) -> str:
        """The closing line: what was achieved, and at which processing sizes."""
        sizes = ", ".join(f"{w}x{h} for {n}" for (w, h), n in self.proc_sizes.items())
        return (f"sent {self.frames} frames at {self.average_fps:.1f} fps ({self.errors} frame errors)"
                + (f"; processing size {sizes} frames" if sizes else ""))

    @property
    def latency_ms(self) -> float:
        return float(np.median(self.latencies_ms)) if self.latencies_ms else 0.0

    @property
    def painted(self) -> int:
        return self.frames - self.errors


def lost_card(last: np.ndarray | None, size_wh: SizeWH) -> np.ndarray:
    """What viewers see while the camera is gone: the last frame, dimmed, with a note."""
    w, h = size_wh
    card = np.zeros((h, w, 3), np.uint8) if last is None else (last // 3)
    text = "camera lost - reconnecting..."
    scale = max(0.6, w / 900)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(card, text, ((w - tw) // 2, (h + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 2, cv2.LINE_AA)
    return card


class FrameSink(Protocol):
    """Where the runner sends frames: a live sink (live_nst.sinks), or a render's file."""

    def send(self, frame: np.ndarray, overlay: Sequence[str] = ()) -> None: ...


def no_overlay() -> Sequence[str]:
    return ()


class FrameRunner:
    """Sends the source's frames, painted, to the sink, in order, until the source ends,
    ``max_frames`` are sent, :meth:`quit`, or a stop request (polled between frames)."""

    def __init__(self, source: FrameSource, pipeline: FramePipeline, sink: FrameSink, painters: int | None = None, *,
                 wait_s: float | None = None, resend_on_error: bool = True, stop: StopRequest | None = None) -> None:
        """``painters``: style-network threads (None: the config's, else auto). ``wait_s``:
        how long one read (and one wait for a painted frame) may take before the loop
        looks round (None: two frame periods, so a lost camera's card still goes out at a
        steady rate and video apps keep showing a live picture). ``resend_on_error``
        False: a frame that fails ends the run with its error."""
        self.source, self.pipeline, self.sink = source, pipeline, sink
        if painters is None:
            painters = painters_for(pipeline.config, pipeline.providers)
        self.wait_s = wait_s if wait_s is not None else 2.0 / pipeline.config.fps
        self.overlap = StageOverlap(source, pipeline, painters, read_timeout=self.wait_s)
        self.resend_on_error = resend_on_error
        self.stop = stop or StopRequest()
        self.stats = LoopStats()
        self.last_good: np.ndarray | None = None
        self.shown_proc_wh: SizeWH | None = None  # the processing size of the frame on show
        self.running = False
        self._errors = RateLimitedLog()

    @property
    def painters(self) -> int:
        return self.overlap.painters

    def submit(self, intent: Intent) -> None:
        """Have ``intent(pipeline)`` applied between two frames, by the preparing thread."""
        self.overlap.submit(intent)

    def quit(self) -> None:
        """End the run before the next frame."""
        self.running = False

    def run(self, max_frames: int | None = None, *, between_frames: Callable[[], object] | None = None,
            overlay: Callable[[], Sequence[str]] = no_overlay,
            on_sent: Callable[[Ready], object] | None = None) -> LoopStats:
        """``between_frames`` runs before each frame is taken (commands, watching);
        ``overlay`` gives the lines sent with each frame; ``on_sent`` is given the record
        of each frame sent (its ``frame``, and the stages' times: the quality controller,
        progress, the bench)."""
        self.running = True
        self.overlap.start()
        try:
            while self.running and (max_frames is None or self.stats.frames < max_frames):
                if between_frames is not None:
                    between_frames()
                if not self.running or self.stop.check():
                    break
                ready = self.overlap.take(timeout=self.wait_s)
                if ready is None:
                    continue
                if ready.frame is None:
                    if ready.ended:
                        break
                    if ready.lost:
                        self.sink.send(lost_card(self.last_good, self.pipeline.config.size_wh), overlay())
                    continue
                self.sink.send(self._finish(ready, ready.frame), overlay())
                now = time.monotonic()
                self.stats.count(now, (now - ready.frame.timestamp) * 1000.0, self.shown_proc_wh)
                if on_sent is not None:
                    on_sent(ready)
        finally:
            self.overlap.stop()  # also applies the intents still waiting
        return self.stats

    def _finish(self, ready: Ready, frame: Frame) -> np.ndarray:
        """The frame painted to the end, or (live) the last good one when it failed."""
        try:
            if ready.error is not None:
                raise ready.error
            if ready.prepared is None:
                raise ValueError("a frame arrived neither prepared nor failed")
            self.last_good = self.pipeline.finish(ready.prepared)
            self.shown_proc_wh = ready.prepared.proc.shape[1::-1]
        except Exception as exc:  # noqa: BLE001 - live, the stream must survive any one frame
            self.pipeline.abandon()
            if not self.resend_on_error:
                raise
            self.stats.errors += 1
            self._errors.warning("frame %d failed, resending the last good frame: %s", self.stats.frames, exc)
            if self.last_good is None:
                self.last_good = self._stand_in(frame)
        return self.last_good

    def _stand_in(self, frame: Frame) -> np.ndarray:
        """What goes out for a failed first frame: the photo at the output size (black if unreadable)."""
        w, h = self.pipeline.config.size_wh
        image = frame.image
        return cv2.resize(image, (w, h)) if image.ndim == 3 else np.zeros((h, w, 3), np.uint8)
