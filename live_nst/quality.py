"""Adaptive quality: the processing size that holds the output frame rate.

When frames need more time than the frame rate allows (a slower CPU, another app busy),
the processing size steps down; when there is headroom again, back up, never above the
configured size nor below a floor. Pure: measured frame times in, size decisions out;
time is counted in frames (settling: in the frames' own measured time), so tests feed it
synthetic frame times.

Against oscillation: the step down needs a short window's frames, on average, over the
budget, frames many times slower than the rest left out (a hiccup is not a slow
machine). The mean, not the median: it is what sets the frame rate, and with frames
painted two at a time they go out in pairs, a short wait after a long one, whose median
says little. The step up needs the predicted time at the larger size (this
size's time scaled by the pixel count, which overestimates, as some costs do not grow
with the size) well under the budget for seconds on end; every change is followed by
a settling time whose frames are not judged; and a larger size that had to be left
again soon after stepping up to it waits twice as long before the next try.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from live_nst.framing import SIDE_MULTIPLE, SizeWH

FLOOR_WH = (320, 180)
SIDE_STEP = 1 / 8  # each level is this much of the largest size's sides smaller than the last
DOWN_LOAD = 1.05  # step down when the frames need this much of the budget (mean over the window)
HICCUP = 3.0  # a frame this many times the window's mean is a hiccup, left out of the mean
TARGET_LOAD = 0.85  # step down far enough that the predicted load is this or less
UP_LOAD = 0.8  # step up when the predicted load at the larger size is this or less ...
MAX_BACKOFF = 8  # at most this many times up_after_s before a failed size is tried again
MIN_SETTLE_FRAMES = 3  # settling lasts at least this many frames, however slow they are


@dataclass(frozen=True)
class QualityTiming:
    """How long things take, in seconds of frames (at the target frame rate)."""

    window_s: float = 0.5  # frames judged together
    up_after_s: float = 3.0  # headroom this long before a step up
    settle_s: float = 0.5  # not judged after a change: the first frames at a new size are slow
    startup_s: float = 2.0  # likewise at the start (models, threads and caches warming up)
    probation_s: float = 10.0  # a step down this soon after a step up marks that step up a failure


@dataclass(frozen=True)
class SizeChange:
    """A decision: the processing size goes from ``old`` to ``new``; ``frame_ms`` is what
    the frames needed (the window's mean, hiccups aside) against ``budget_ms`` allowed."""

    old: SizeWH
    new: SizeWH
    frame_ms: float
    budget_ms: float

    @property
    def down(self) -> bool:
        return self.new[0] * self.new[1] < self.old[0] * self.old[1]


def size_ladder(largest_wh: SizeWH, floor_wh: SizeWH = FLOOR_WH) -> list[SizeWH]:
    """Processing sizes from ``largest_wh`` down, in steps of SIDE_STEP of its sides,
    to the floor's pixel count (never below it; the largest alone when it is smaller)."""
    width, height = largest_wh
    floor_pixels = floor_wh[0] * floor_wh[1]
    ladder = [(int(width), int(height))]
    level = 1
    while True:
        scale = 1.0 - level * SIDE_STEP
        size = (_side(width * scale), _side(height * scale))
        if scale <= 0 or size[0] * size[1] < floor_pixels:
            break
        ladder.append(size)
        level += 1
    ratio = (floor_pixels / (width * height)) ** 0.5
    floor = (_side(width * ratio), _side(height * ratio))
    if ratio < 1 and floor not in ladder and floor[0] * floor[1] < ladder[-1][0] * ladder[-1][1]:
        ladder.append(floor)  # the floor itself, in the largest size's aspect ratio
    return ladder


def _mean_without_hiccups(frame_ms) -> float:
    """What the frames need on average (what sets the frame rate), hiccups aside."""
    mean = sum(frame_ms) / len(frame_ms)
    kept = [ms for ms in frame_ms if ms <= HICCUP * mean]
    return sum(kept) / len(kept)


def _side(length: float) -> int:
    return max(16, int(round(length / SIDE_MULTIPLE)) * SIDE_MULTIPLE)


class QualityController:
    """Feed it each frame's time with :meth:`observe`; it answers with a
    :class:`SizeChange` when the processing size should change, else None."""

    def __init__(self, largest_wh: SizeWH, fps: float, floor_wh: SizeWH = FLOOR_WH, enabled: bool = True,
                 timing: QualityTiming = QualityTiming()) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.enabled = enabled
        largest = (int(largest_wh[0]), int(largest_wh[1]))
        self.ladder = size_ladder(largest, floor_wh) if enabled else [largest]
        self.level = 0  # index into the ladder
        self.budget_ms = 1000.0 / fps
        frames = lambda seconds: max(0, round(seconds * fps))  # noqa: E731
        self._window: deque[float] = deque(maxlen=max(3, frames(timing.window_s)))
        self._up_frames = max(1, frames(timing.up_after_s))
        self._settle_ms = 1000.0 * timing.settle_s
        self._probation_frames = frames(timing.probation_s)
        # Settling is counted in the frames' measured time, not in frames at the target
        # rate: on a machine at a quarter of the rate, a 2 s start-up would last 8 s.
        self._settling_ms, self._settling_frames = 1000.0 * timing.startup_s, MIN_SETTLE_FRAMES
        self._headroom = 0  # frames in a row with room for the next size up
        self._backoff: dict[int, int] = {}  # level -> multiple of the up wait, after failed tries
        self._since_up: int | None = None  # frames since the last step up

    @property
    def size_wh(self) -> SizeWH:
        return self.ladder[self.level]

    def observe(self, frame_ms: float) -> SizeChange | None:
        """One frame's time: from the moment it was wanted to the moment it went out,
        waits for the source not counted."""
        if len(self.ladder) < 2:
            return None
        if self._since_up is not None:
            self._since_up += 1
        if self._settling_ms > 0 or self._settling_frames > 0:
            self._settling_ms -= frame_ms
            self._settling_frames -= 1
            return None
        self._window.append(float(frame_ms))
        if len(self._window) < self._window.maxlen:  # type: ignore[operator]  # maxlen is set
            return None
        needed = _mean_without_hiccups(self._window)
        load = needed / self.budget_ms
        if load > DOWN_LOAD and self.level < len(self.ladder) - 1:
            return self._step_down(needed, load)
        return self._maybe_step_up(needed, load)

    def _step_down(self, needed: float, load: float) -> SizeChange:
        if self._since_up is not None and self._since_up <= self._probation_frames:
            self._backoff[self.level] = min(MAX_BACKOFF, 2 * self._backoff.get(self.level, 1))
        target = self.level + 1
        while target < len(self.ladder) - 1 and load * self._pixels(target) / self._pixels(self.level) > TARGET_LOAD:
            target += 1
        return self._change(target, needed)

    def _maybe_step_up(self, needed: float, load: float) -> SizeChange | None:
        up = self.level - 1
        if up < 0 or load * self._pixels(up) / self._pixels(self.level) > UP_LOAD:
            self._headroom = 0
            return None
        self._headroom += 1
        if self._headroom < self._up_frames * self._backoff.get(up, 1):
            return None
        change = self._change(up, needed)
        self._since_up = 0
        return change

    def _change(self, level: int, needed: float) -> SizeChange:
        change = SizeChange(self.size_wh, self.ladder[level], needed, self.budget_ms)
        self.level = level
        self._window.clear()
        self._settling_ms, self._settling_frames = self._settle_ms, MIN_SETTLE_FRAMES
        self._headroom, self._since_up = 0, None
        return change

    def _pixels(self, level: int) -> int:
        width, height = self.ladder[level]
        return width * height
