"""Adaptive quality under load: does the live loop hold its frame rate on a starved machine?

The real live loop (``live_nst.bench.liverun``: LiveLoop with the real pipeline, ONNX
Runtime, MediaPipe, painters and threads as ``live-nst run`` has them) reads the clip
paced at its own frame rate, as a camera delivers it (that is the target: 30 fps for the
default clip and the sample), with adaptive quality on and a null sink, for
``adaptive_seconds``, while a busy process (a pure-Python spin loop) takes one core: pinned
to the last usable core with ``os.sched_setaffinity`` where the OS has it (Linux), else
unpinned, which the report says. The busy process is stopped however the run ends
(Ctrl-C included), and ends itself when the benchmark's process is gone.

Recorded per frame through the loop's own quality controller (a subclass that notes what
it is told): when the frame went out, what it needed, the processing size chosen; and
every size change with its time. Reported: the target fps, the fps achieved after a
settle time (a quarter of the run, at most 10 s: the start-up and the first steps down),
its ratio to the target against the bar (90%), the sizes used in that steady state, every
size change, and a per-second timeline (fps, size) for the plot.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from live_nst.bench.context import BenchOptions, run_config, size_label, video_fps
from live_nst.bench.liverun import live_loop, run_for
from live_nst.bench.report import AdaptiveRun, BusyCore, SecondOfRun, SizeChangeAt, SizeUse
from live_nst.framing import SizeWH
from live_nst.quality import QualityController, SizeChange

log = logging.getLogger(__name__)

BAR = 0.9  # the bar: the achieved frame rate at least this share of the target
SETTLE_SHARE, SETTLE_MAX_S = 0.25, 10.0  # the start of the run not counted: this share of it, at most
STOP_WAIT_S = 5.0
# The busy process: spins until told to stop, or until its parent (the benchmark) is gone.
SPIN = """\
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(100_000):
        pass
"""


class FrameNote(NamedTuple):
    at: float  # time.monotonic() when the frame had gone out
    frame_ms: float  # what it needed, as the controller judges it
    size: SizeWH  # the processing size chosen after it


class RecordingQuality(QualityController):
    """The live loop's quality controller, noting every frame it is told about and every
    change it decides (time.monotonic() times)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.notes: list[FrameNote] = []
        self.changes: list[tuple[float, SizeChange]] = []

    def observe(self, frame_ms: float) -> SizeChange | None:
        change = super().observe(frame_ms)
        now = time.monotonic()
        if change is not None:
            self.changes.append((now, change))
        self.notes.append(FrameNote(now, float(frame_ms), self.size_wh))
        return change


# --- the load -------------------------------------------------------------------------
@contextmanager
def busy_core() -> Iterator[BusyCore]:
    """A process spinning on one core while the block runs; stopped on the way out."""
    process = subprocess.Popen([sys.executable, "-I", "-S", "-c", SPIN, str(os.getpid())],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        core, note = _pin(process.pid)
        log.info("busy process %d: %s", process.pid, note)
        yield BusyCore(process.pid, core, note)
    finally:
        _stop(process)


def _pin(pid: int) -> tuple[int | None, str]:
    """Pin ``pid`` to the last core this process may use: (core, note), or (None, why not)."""
    if not (hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity")):
        return None, "unpinned (os.sched_setaffinity is Linux only)"
    cores = sorted(os.sched_getaffinity(0))
    try:
        os.sched_setaffinity(pid, {cores[-1]})
    except OSError as exc:
        return None, f"unpinned (pinning failed: {exc})"
    return cores[-1], f"pinned to core {cores[-1]} of {len(cores)}"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the run ----------------------------------------------------------------------------
def settle_seconds(run_s: float) -> float:
    return round(min(SETTLE_MAX_S, SETTLE_SHARE * run_s), 2)


def measure_adaptive(options: BenchOptions, catalog, looks: tuple[str, str], device: str) -> dict:
    """The adaptive section: the live loop for ``options.adaptive_seconds`` with one core busy,
    from the first of ``options.proc_sizes`` down as the quality controller decides."""
    target = video_fps(options.clip)
    config = dataclasses.replace(run_config(looks, device, options.proc_sizes[0], options.input_size),
                                 fps=target, adaptive=True)
    quality = RecordingQuality(config.proc_size_wh, config.fps)
    with live_loop(config, catalog, options.clip, options.input_size, options.threads, quality) as loop:
        with busy_core() as busy:
            started = time.monotonic()
            run_for(loop, options.adaptive_seconds)
        pipeline = loop.pipeline
        provider = next(iter(pipeline.models.values())).provider
        painters, threads = loop.runner.painters, pipeline.threads
    run = summarise(quality, started, options.adaptive_seconds, target, busy, device=device, provider=provider,
                    painters=painters, ort_threads=threads, clip=str(options.clip),
                    input_size=tuple(options.input_size))
    log.info("adaptive %s: %s fps of %.0f (%s) with one core busy, sizes %s, %d changes", device,
             "-" if run.achieved_fps is None else f"{run.achieved_fps:.1f}", target,
             "-" if run.ratio is None else f"{100 * run.ratio:.0f}%",
             ", ".join(size_label(use.size) for use in run.sizes), len(run.changes))
    return {"status": "ok", **run.to_json()}


def summarise(quality: RecordingQuality, started: float, run_s: float, target_fps: float, busy: BusyCore,
              **setup) -> AdaptiveRun:
    """The run's numbers from what the controller noted (``setup``: AdaptiveRun's other fields)."""
    settle = settle_seconds(run_s)
    notes = [note._replace(at=note.at - started) for note in quality.notes if note.at - started <= run_s]
    steady = [note for note in notes if note.at >= settle]
    span = steady[-1].at - steady[0].at if len(steady) > 1 else 0.0
    achieved = (len(steady) - 1) / span if span > 0 else None
    counts = Counter(note.size for note in steady)
    sizes = tuple(SizeUse(size, n, round(n / len(steady), 4))
                  for size, n in sorted(counts.items(), key=lambda item: -item[0][0] * item[0][1]))
    changes = tuple(SizeChangeAt(round(at - started, 3), change.old, change.new, round(change.frame_ms, 2),
                                 round(change.budget_ms, 2)) for at, change in quality.changes)
    return AdaptiveRun(
        **setup, largest_size=quality.ladder[0], ladder=tuple(quality.ladder), target_fps=target_fps,
        run_s=run_s, settle_s=settle, achieved_fps=None if achieved is None else round(achieved, 3),
        ratio=None if achieved is None else round(achieved / target_fps, 4), bar=BAR, frames=len(steady),
        sizes=sizes, changes=changes, timeline=timeline(notes, run_s), busy=busy)


def timeline(notes: list[FrameNote], run_s: float) -> tuple[SecondOfRun, ...]:
    """Second by second (``at`` from the start of the run): frames per second, the size
    chosen at the end of each second, the frames' median need."""
    seconds = []
    size: SizeWH | None = None
    for start in np.arange(0.0, run_s, 1.0):
        length = min(1.0, run_s - start)
        inside = [note for note in notes if start <= note.at < start + length]
        size = inside[-1].size if inside else size
        need = round(float(np.median([note.frame_ms for note in inside])), 2) if inside else None
        seconds.append(SecondOfRun(float(start), round(len(inside) / length, 3), size, need))
    return tuple(seconds)
