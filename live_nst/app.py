"""The live loop: source -> pipeline -> sink, with hotkeys applied between frames.

Devices, threads and clocks live here; the pipeline stays pure: hotkey commands are
drained here and become calls of the pipeline's intent methods. One bad frame never
ends the stream: the error is logged (at a limited rate) and the last good frame is
sent again.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from live_nst.config import RunConfig
from live_nst.controls import Command, CommandQueue, GlobalHotkeys, KeyMap
from live_nst.errors import ConfigError
from live_nst.pipeline import BACKGROUND, PERSON, FramePipeline, build_pipeline
from live_nst.sinks import Sink, open_sink_with_fallback
from live_nst.sources import Source, open_source

log = logging.getLogger(__name__)

STRENGTH_STEP = 0.1  # one press of the strength keys
EXIT_OK, EXIT_NOTHING_PAINTED = 0, 1

# What each hotkey asks of the pipeline (QUIT and SNAPSHOT are the loop's own).
PIPELINE_INTENTS: dict[Command, Callable[[FramePipeline, float], object]] = {
    Command.NEXT_PERSON_STYLE: lambda pipeline, now: pipeline.cycle_style(PERSON, 1, now),
    Command.PREV_PERSON_STYLE: lambda pipeline, now: pipeline.cycle_style(PERSON, -1, now),
    Command.NEXT_BACKGROUND_STYLE: lambda pipeline, now: pipeline.cycle_style(BACKGROUND, 1, now),
    Command.PREV_BACKGROUND_STYLE: lambda pipeline, now: pipeline.cycle_style(BACKGROUND, -1, now),
    Command.SWAP_STYLES: lambda pipeline, now: pipeline.swap_styles(now),
    Command.TOGGLE_SEGMENTATION: lambda pipeline, now: pipeline.toggle_segmentation(),
    Command.TOGGLE_STYLING: lambda pipeline, now: pipeline.toggle_styling(),
    Command.STRENGTH_UP: lambda pipeline, now: pipeline.change_strength(STRENGTH_STEP),
    Command.STRENGTH_DOWN: lambda pipeline, now: pipeline.change_strength(-STRENGTH_STEP),
}


class RateLimitedLog:
    """Log a recurring error at most once per ``interval`` seconds, with a count."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self.last = -float("inf")
        self.suppressed = 0

    def error(self, message: str, *args) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            self.suppressed += 1
            return
        extra = f" (and {self.suppressed} more since)" if self.suppressed else ""
        log.error(message + extra, *args)
        self.last, self.suppressed = now, 0


@dataclass
class LoopStats:
    """Bounded recent history: memory stays flat however long the stream runs."""

    frames: int = 0  # frames the source delivered (painted or not)
    errors: int = 0  # of those, the ones that failed (the last good frame went out instead)
    send_times: deque = field(default_factory=lambda: deque(maxlen=60))
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=60))

    @property
    def fps(self) -> float:
        if len(self.send_times) < 2:
            return 0.0
        return (len(self.send_times) - 1) / max(1e-6, self.send_times[-1] - self.send_times[0])

    @property
    def latency_ms(self) -> float:
        return float(np.median(self.latencies_ms)) if self.latencies_ms else 0.0

    @property
    def painted(self) -> int:
        return self.frames - self.errors


def exit_code(stats: LoopStats, stopped_by_user: bool) -> int:
    """``live-nst run``'s exit code: 1 (EXIT_NOTHING_PAINTED) when not one frame could be
    painted and sent: every frame failed, or the source ended before delivering one.
    A stream the user stopped (quit key, Ctrl-C) before any frame arrived is not a
    failure (nothing was tried): 0, as is every stream with at least one painted frame."""
    if stats.painted > 0 or (stats.frames == 0 and stopped_by_user):
        return EXIT_OK
    return EXIT_NOTHING_PAINTED


def lost_card(last: np.ndarray | None, size_wh: tuple[int, int]) -> np.ndarray:
    """What viewers see while the camera is gone: the last frame, dimmed, with a note."""
    w, h = size_wh
    card = np.zeros((h, w, 3), np.uint8) if last is None else (last // 3)
    text = "camera lost - reconnecting..."
    scale = max(0.6, w / 900)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(card, text, ((w - tw) // 2, (h + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 2, cv2.LINE_AA)
    return card


class LiveLoop:
    def __init__(self, source: Source, pipeline: FramePipeline, sink: Sink, commands: CommandQueue,
                 keymap: KeyMap, snapshot_dir: Path = Path(".")) -> None:
        self.source, self.pipeline, self.sink = source, pipeline, sink
        self.commands, self.keymap = commands, keymap
        self.snapshot_dir = snapshot_dir
        self.stats = LoopStats()
        self.last_good: np.ndarray | None = None
        self.running = False
        self.stopped_by_user = False  # the quit key, or Ctrl-C as the caller reports it
        self._errors = RateLimitedLog()

    def run(self, max_frames: int | None = None) -> LoopStats:
        self.running = True
        # Wait at most two frame periods, so a lost camera's card still goes out at a
        # steady rate and video apps keep showing a live picture.
        timeout = 2.0 / self.pipeline.config.fps
        while self.running and (max_frames is None or self.stats.frames < max_frames):
            self._handle_commands()
            if not self.running:
                break
            frame = self.source.read(timeout=timeout)
            if frame is None:
                if self.source.ended:
                    break
                if self.source.lost:
                    self.sink.send(lost_card(self.last_good, self.pipeline.config.size_wh), self.overlay())
                continue
            self.sink.send(self._paint(frame.image, frame.timestamp), self.overlay())
            self.stats.frames += 1
            self.stats.send_times.append(time.monotonic())
            self.stats.latencies_ms.append((time.monotonic() - frame.timestamp) * 1000.0)
        return self.stats

    def _paint(self, image: np.ndarray, timestamp: float) -> np.ndarray:
        try:
            self.last_good = self.pipeline.process(image, timestamp)
        except Exception as exc:  # noqa: BLE001 - the stream must survive any one frame
            self.stats.errors += 1
            self._errors.error("frame %d failed, resending the last good frame: %s", self.stats.frames, exc)
            if self.last_good is None:
                w, h = self.pipeline.config.size_wh
                self.last_good = cv2.resize(image, (w, h)) if image.ndim == 3 else np.zeros((h, w, 3), np.uint8)
        return self.last_good

    def _handle_commands(self) -> None:
        pending = self.commands.drain()
        pending += [self.keymap[key] for key in self.sink.keys() if key in self.keymap]
        for command in pending:
            self.handle(command)

    def handle(self, command: Command) -> None:
        if command is Command.QUIT:
            self.running = False
            self.stopped_by_user = True
        elif command is Command.SNAPSHOT:
            self.snapshot()
        else:
            PIPELINE_INTENTS[command](self.pipeline, time.monotonic())
            log.info("%s -> person %s, background %s", command.value, self.pipeline.person.look,
                     self.pipeline.background.look)

    def snapshot(self) -> Path | None:
        if self.last_good is None:
            return None
        path = self.snapshot_dir / time.strftime("live-nst-%Y%m%d-%H%M%S.png")
        if not cv2.imwrite(str(path), cv2.cvtColor(self.last_good, cv2.COLOR_RGB2BGR)):
            log.error("could not write the snapshot %s (folder missing or disk full?)", path)
            return None
        log.info("snapshot saved to %s", path)
        return path

    def overlay(self) -> list[str]:
        p = self.pipeline
        return [
            f"{self.stats.fps:4.1f} fps  latency {self.stats.latency_ms:4.0f} ms",
            f"person: {p.person.look} ({p.person.strength:.1f})   background: {p.background.look} "
            f"({p.background.strength:.1f})",
            *self.keymap.help_lines(),
        ]


def run_live(config: RunConfig, max_frames: int | None = None) -> int:
    """``live-nst run``: returns the process exit code (see :func:`exit_code`)."""
    if config.source.startswith("file:"):
        raise ConfigError("--source takes webcam:N, sample, auto or a video path (no 'file:' prefix)")
    pipeline = build_pipeline(config)  # bad styles or models stop here, before any device opens
    commands = CommandQueue()
    hotkeys = GlobalHotkeys(config.keys, commands)
    try:
        with open_source(config.source, config.size_wh, config.fps, loop=True, paced=True) as source, \
                open_sink_with_fallback(config.output, config.size_wh, config.fps,
                                        backend=config.virtualcam_backend, device=config.virtualcam_device) as sink:
            if config.keys.global_hotkeys:
                hotkeys.start()
            loop = LiveLoop(source, pipeline, sink, commands, KeyMap.from_config(config.keys))
            log.info("live: person %s, background %s; press %s+%s to quit", pipeline.person.look,
                     pipeline.background.look, config.keys.modifier, config.keys.bindings["quit"])
            try:
                loop.run(max_frames)
            except KeyboardInterrupt:
                log.info("interrupted")
                loop.stopped_by_user = True
    finally:  # Ctrl-C or an error: the camera and the virtual camera are released above
        hotkeys.stop()
        pipeline.close()
    stats = loop.stats
    log.info("sent %d frames at %.1f fps (%d frame errors)", stats.frames, stats.fps, stats.errors)
    code = exit_code(stats, loop.stopped_by_user)
    if code != EXIT_OK:
        log.error("not one frame could be painted: %s", f"all {stats.frames} failed" if stats.frames
                  else "the source ended before delivering one")
    return code
