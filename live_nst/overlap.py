"""Stage overlap for the live loop: the next frames are read, prepared and painted while
the caller finishes and sends the current one.

A frame's work splits in three (:meth:`FramePipeline.prepare`, ``paint`` and ``finish``).
A front thread reads the source and prepares; ``painters`` threads run the style
networks (two paint two frames at once, each with its own share of the cores);
the caller takes the frames in order, finishes and sends them. MediaPipe, ONNX Runtime
and OpenCV release the GIL, so the stages run on all cores at once. With no painters,
the caller paints too: two threads, for machines where the network has the cores to itself.

No queue of stale frames: at most ``painters + 1`` frames are between the source and
the caller, and the front reads a frame only when there is room, just in time (from
running averages of the stages' times) to be ready when a painter (or the caller) wants
it, so each frame is as fresh as it can be; the source keeps only its newest frame, so
a slow pipeline skips camera frames instead of falling behind. Intents (hotkeys, a new
processing size) are handed to the front, which applies them between two frames.
Start and stop are explicit; ``stop`` also applies the intents still waiting.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from live_nst.pipeline import FramePipeline
from live_nst.sources import Frame
from live_nst.stages import PreparedFrame

log = logging.getLogger(__name__)

Intent = Callable[[FramePipeline], object]
STOP_TIMEOUT_S = 5.0
EMA_WEIGHT = 0.2  # of the newest sample in the running averages of stage times
LEAD_MARGIN_MS = 4.0  # a prepared frame should be ready this long before it is wanted


# The front's niceness where threads have their own (Linux): its work has slack (it runs
# ahead of the painters), the painters' does not. Measured on 2 cores at 640x360 with two
# painters: the network's pass under load 57 ms instead of 69, latency p95 ~90 ms
# instead of ~115, the same frame rate.
FRONT_NICENESS = 19


def network_threads(painters: int, cores: int | None = None) -> int:
    """ONNX Runtime threads per painter: the cores shared out among the painters."""
    return max(1, (cores or os.cpu_count() or 2) // max(1, painters))


def auto_painters(providers: list[str], cores: int | None = None) -> int:
    """Two painters on a CPU of two cores or more (each pass on its share of the cores:
    a small network keeps one core busier than two), one when the networks run on a GPU
    (``providers``: the execution providers the style models got), none on one core."""
    from live_nst.providers import PROVIDERS

    cores = cores or os.cpu_count() or 1
    if cores < 2:
        return 0
    on_gpu = bool(providers) and PROVIDERS["cpu"] not in providers
    return 1 if on_gpu else 2


def lower_this_threads_priority(niceness: int) -> None:
    """Best effort: where the OS gives threads their own priority (Linux), this thread
    gets ``niceness`` (others keep theirs); elsewhere nothing changes."""
    if not sys.platform.startswith("linux") or niceness <= 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except OSError as exc:
        log.debug("could not lower the preparing thread's priority: %s", exc)


class FrameSource(Protocol):
    """What the front reads: a live source (live_nst.sources.Source) or anything alike."""

    lost: bool
    ended: bool

    def read(self, timeout: float | None = None) -> Frame | None: ...


@dataclass(eq=False)
class Ready:
    """A frame on its way through the stages, or news that none came."""

    frame: Frame | None = None  # None: no frame came (timeout, camera lost, end)
    prepared: PreparedFrame | None = None
    error: Exception | None = None  # preparing or painting this frame failed
    lost: bool = False  # the source's state when no frame came
    ended: bool = False
    read_ms: float = 0.0  # the front's time in source.read (decoding, for a file)
    prepare_ms: float = 0.0
    paint_ms: float = 0.0
    done: bool = False  # nothing left to do before the caller finishes it
    painting_since: float | None = None  # perf_counter s, once a painter took it

    @property
    def waiting_for_paint(self) -> bool:
        return not self.done and self.painting_since is None


class StageOverlap:
    """Runs the front and the painters on worker threads; the caller takes the frames in
    order with :meth:`take` and calls ``pipeline.finish`` itself (or ``abandon`` on an error)."""

    def __init__(self, source: FrameSource, pipeline: FramePipeline, painters: int = 1,
                 read_timeout: float | None = None, just_in_time: bool = True,
                 front_niceness: int = FRONT_NICENESS) -> None:
        """``painters``: threads running the style networks (0: the caller paints in
        ``finish``). ``just_in_time`` False: the front reads as soon as there is room.
        ``front_niceness``: the front thread's lower priority (see FRONT_NICENESS)."""
        if painters < 0:
            raise ValueError(f"painters must be 0 or more, got {painters}")
        self.source, self.pipeline, self.painters = source, pipeline, painters
        self.read_timeout = read_timeout
        self.just_in_time = just_in_time
        self.front_niceness = front_niceness
        self._cond = threading.Condition()
        self._window: deque[Ready] = deque()  # read and not yet taken, in order
        self._intents: list[Intent] = []
        self._fatal: BaseException | None = None  # what the front died of (source.read raised)
        self._front_alive = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._taken_at: float | None = None  # perf_counter s when the caller last got a frame
        self._caller_ms: float | None = None  # the caller's time from getting a frame to asking again
        self._front_ms: float | None = None  # read + prepare
        self._paint_ms: float | None = None

    # --- the caller's side --------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            raise RuntimeError("this StageOverlap is already running; stop() it first")
        self._stop.clear()
        self._window.clear()
        self._fatal, self._front_alive, self._taken_at = None, True, None
        self._threads = [threading.Thread(target=self._front, name="live-nst-prepare", daemon=True)]
        self._threads += [threading.Thread(target=self._painter, name=f"live-nst-paint-{n}", daemon=True)
                          for n in range(self.painters)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop the threads (each finishes the frame in hand), then apply the intents the
        front has not applied yet, so none is lost."""
        threads, self._threads = self._threads, []
        if not threads:
            return
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in threads):
            log.warning("a pipeline thread did not stop within %.0f s; leaving it behind", STOP_TIMEOUT_S)
            return
        self._window.clear()
        self._apply_intents()

    @property
    def running(self) -> bool:
        return bool(self._threads)

    def submit(self, intent: Intent) -> None:
        """Have ``intent(pipeline)`` applied between two frames (by the front)."""
        with self._cond:
            self._intents.append(intent)
        if not self._threads:  # nothing prepares frames: apply it now
            self._apply_intents()

    def take(self, timeout: float | None = None) -> Ready | None:
        """The next frame in order, prepared and painted (or news of none); None if
        nothing came within ``timeout``. Re-raises what the source raised in the front."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._taken_at is not None:
            self._caller_ms = _ema(self._caller_ms, (time.perf_counter() - self._taken_at) * 1e3)
        with self._cond:
            while not (self._window and self._window[0].done):
                if not self._window and self._fatal is not None:
                    fatal, self._fatal = self._fatal, None
                    raise fatal
                remaining = None if deadline is None else deadline - time.monotonic()
                if (remaining is not None and remaining <= 0) or (not self._window and not self._front_alive):
                    return None
                self._cond.wait(remaining)
            ready = self._window.popleft()
            self._taken_at = time.perf_counter()
            self._cond.notify_all()  # room for the front
        return ready

    # --- the front ----------------------------------------------------------------------
    def _front(self) -> None:
        lower_this_threads_priority(self.front_niceness)
        try:
            while self._wait_for_room() and self._wait_until_due():
                self._apply_intents()
                ready = self._read_and_prepare()
                if ready is None:
                    return
                self._front_ms = _ema(self._front_ms, ready.read_ms + ready.prepare_ms)
                with self._cond:
                    ready.done = ready.prepared is None or self.painters == 0
                    self._window.append(ready)
                    self._cond.notify_all()
                if ready.ended:
                    return
        finally:
            with self._cond:
                self._front_alive = False
                self._cond.notify_all()

    def _wait_for_room(self) -> bool:
        """Wait until fewer than ``painters + 1`` frames are on their way; False when stopping."""
        with self._cond:
            while len(self._window) > self.painters and not self._stop.is_set():
                self._cond.wait()
        return not self._stop.is_set()

    def _wait_until_due(self) -> bool:
        """Just in time: wait until a frame read and prepared now would be ready
        LEAD_MARGIN_MS before it is wanted. False when stopping."""
        wanted_at = self._next_wanted_at()
        if not self.just_in_time or wanted_at is None or self._front_ms is None:
            return not self._stop.is_set()
        delay = wanted_at - (self._front_ms + LEAD_MARGIN_MS) / 1e3 - time.perf_counter()
        return not (delay > 0 and self._stop.wait(delay)) and not self._stop.is_set()

    def _next_wanted_at(self) -> float | None:
        """When the next frame will be wanted (perf_counter s): when the caller asks for
        it, or when a painter is free for it; None when unknown."""
        if self.painters == 0:
            if self._taken_at is None or self._caller_ms is None:
                return None
            return self._taken_at + self._caller_ms / 1e3
        if self._paint_ms is None:
            return None
        now = time.perf_counter()
        with self._cond:
            busy = [r.painting_since for r in self._window if not r.done and r.painting_since is not None]
            waiting = sum(1 for r in self._window if r.waiting_for_paint)
        free_at = sorted([now] * (self.painters - len(busy)) + [since + self._paint_ms / 1e3 for since in busy])
        return free_at[waiting] if waiting < len(free_at) else None

    def _read_and_prepare(self) -> Ready | None:
        started = time.perf_counter()
        try:
            frame = self.source.read(timeout=self.read_timeout)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which re-raises it
            with self._cond:
                self._fatal = exc
                self._cond.notify_all()
            return None
        read_ms = (time.perf_counter() - started) * 1e3
        if frame is None:
            return Ready(lost=bool(self.source.lost), ended=bool(self.source.ended), read_ms=read_ms)
        started = time.perf_counter()
        try:
            prepared = self.pipeline.prepare(frame.image, frame.timestamp)
        except Exception as exc:  # noqa: BLE001 - one bad frame must not end the stream
            return Ready(frame, error=exc, read_ms=read_ms)
        return Ready(frame, prepared, read_ms=read_ms, prepare_ms=(time.perf_counter() - started) * 1e3)

    def _apply_intents(self) -> None:
        with self._cond:
            intents, self._intents = self._intents, []
        for intent in intents:
            try:
                intent(self.pipeline)
            except Exception:  # noqa: BLE001 - a failing hotkey must not end the stream
                log.exception("a command failed; the stream goes on")

    # --- the painters -------------------------------------------------------------------
    def _painter(self) -> None:
        while True:
            with self._cond:
                ready = next((r for r in self._window if r.waiting_for_paint), None)
                while ready is None and not self._stop.is_set():
                    self._cond.wait()
                    ready = next((r for r in self._window if r.waiting_for_paint), None)
                if ready is None:
                    return
                ready.painting_since = started = time.perf_counter()
            try:
                self.pipeline.paint(ready.prepared)  # type: ignore[arg-type]  # waiting_for_paint: prepared
            except Exception as exc:  # noqa: BLE001 - one bad frame must not end the stream
                ready.error = exc
            ready.paint_ms = (time.perf_counter() - started) * 1e3
            self._paint_ms = _ema(self._paint_ms, ready.paint_ms)
            with self._cond:
                ready.done = True
                self._cond.notify_all()


def _ema(average: float | None, sample: float) -> float:
    return sample if average is None else average + EMA_WEIGHT * (sample - average)
