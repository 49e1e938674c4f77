"""The live loop: source -> pipeline -> sink, with hotkeys applied between frames.

Devices, threads and clocks live here; the pipeline stays pure. The stages overlap
(:mod:`live_nst.overlap`): the next frames are read, prepared and painted on worker
threads while this thread finishes and sends the current one. Hotkey commands are
drained here and handed to the preparing thread as calls of the pipeline's intent
methods; so are the control page's changes (:mod:`live_nst.remote`), and the processing
size the quality controller (:mod:`live_nst.quality`) chooses. With ``--control``, the
loop publishes what it shows (looks, fps, processing size) for the control server to read.
One bad frame never ends the stream: the error is logged (at a limited rate) and the last
good frame is sent again.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from tqdm import tqdm

from live_nst.config import RunConfig, parse_output
from live_nst.controls import Change, Command, CommandQueue, GlobalHotkeys, KeyMap, Order, SnapshotRequest
from live_nst.errors import ConfigError, OutputError
from live_nst.outputs import check_folder_writable, expand_user, refuse_overwriting_inputs
from live_nst.overlap import Ready, StageOverlap, auto_painters, network_threads
from live_nst.pipeline import BACKGROUND, PERSON, FramePipeline, build_pipeline
from live_nst.quality import QualityController, SizeChange
from live_nst.remote import start_control
from live_nst.remote.state import LiveState, Looks, StateBoard, StyleView, styles_of
from live_nst.sinks import FileSink, NullSink, PreviewSink, Sink, open_sink_with_fallback
from live_nst.sources import Frame, Source, WebcamSource, open_source
from live_nst.stopping import EXIT_INTERRUPTED, StopRequest
from live_nst.video import check_output_path

log = logging.getLogger(__name__)

STRENGTH_STEP = 0.1  # one press of the strength keys
STYLES_POLL_S = 1.0  # how often the style folders are checked for new or changed files
FPS_PUBLISHED_EVERY_S = 1.0  # the control page's fps: news once a second, not every frame
HELP_KEYS = ("h", "?")  # show (or hide) the key help in the preview window
HELP_SHOWN_S = 6.0  # for this long, and at the start
# The share of the cores a pipeline that cannot keep up keeps busy (measured on 2 cores:
# 0.84-0.93 over the processing sizes), so CPU time / (cores * CPU_SHARE) is the wall
# time a frame takes when the source does not hold it back: within 5% at every size measured.
CPU_SHARE = 0.9
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


def frame_time_ms(now: float, cpu: float, index: int, last: tuple[float, float, int],
                  cores: int | None = None) -> float:
    """What a frame took, from the wall and process CPU clocks (s) and the source's frame
    index now and at the last frame sent: this process's CPU time over the share of the
    cores it can use; when the source had to skip frames (something else may be holding
    the cores), at least the wall time between the two frames."""
    last_now, last_cpu, last_index = last
    cores = cores or os.cpu_count() or 1
    needed = (cpu - last_cpu) * 1000.0 / (cores * CPU_SHARE)
    if index - last_index > 1:
        needed = max(needed, (now - last_now) * 1000.0)
    return needed


def exit_code(stats: LoopStats, stopped_by_user: bool) -> int:
    """``live-nst run``'s exit code: 1 (EXIT_NOTHING_PAINTED) when not one frame could be
    painted and sent: every frame failed, or the source ended before delivering one.
    A stream the user stopped with the quit key before any frame arrived is not a
    failure (nothing was tried): 0, as is every stream with at least one painted frame.
    (Ctrl-C and SIGTERM give 130 whatever came before: see ``run_live``.)"""
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
                 keymap: KeyMap, snapshot_dir: Path = Path("."), painters: int | None = None,
                 quality: QualityController | None = None, stop: StopRequest | None = None,
                 clock: Callable[[], float] = time.monotonic, board: StateBoard | None = None) -> None:
        """``painters``: style-network threads (see StageOverlap; None: the config's, else
        auto). ``quality``: the processing-size controller (None: one from the config).
        ``stop``: polled between frames (Ctrl-C and SIGTERM set it in ``run_live``).
        ``clock``: when the key help was asked for (the overlay's). ``board``: where the
        state on show is published for the control server (none: not published)."""
        self.source, self.pipeline, self.sink = source, pipeline, sink
        self.commands, self.keymap = commands, keymap
        self.snapshot_dir = snapshot_dir
        self.stats = LoopStats()
        self.last_good: np.ndarray | None = None
        self.running = False
        self.stopped_by_user = False  # the quit key, or Ctrl-C as the caller reports it
        self.stop = stop or StopRequest()
        self.clock = clock
        self._help_until = clock() + HELP_SHOWN_S  # the key help shows at the start
        self._errors = RateLimitedLog()
        config = pipeline.config
        if painters is None:
            painters = config.painters if config.painters is not None else auto_painters(pipeline.providers)
        # Wait at most two frame periods, so a lost camera's card still goes out at a
        # steady rate and video apps keep showing a live picture.
        self.runner = StageOverlap(source, pipeline, painters, read_timeout=2.0 / config.fps)
        self.quality = quality or QualityController(config.proc_size_wh, config.fps, enabled=config.adaptive)
        self.shown_proc_wh: tuple[int, int] | None = None  # the processing size of the frame on show
        self._last_sent: tuple[float, float, int] | None = None  # wall s, CPU s, source index
        self._styles_checked = time.monotonic()
        self.board = board
        self._styles: tuple[object, tuple[StyleView, ...]] | None = None  # (catalog, its styles) last seen
        self._serial = 0  # looks taken so far
        self.looks = self._take_looks(pipeline)
        self._fps_published = (-float("inf"), 0.0)  # when, and what
        self._publish()

    def run(self, max_frames: int | None = None, on_frame: Callable[[], object] | None = None) -> LoopStats:
        """Send frames until the source ends, ``max_frames`` are sent, the quit key, or a
        stop request; ``on_frame`` is called after each frame sent (progress)."""
        self.running = True
        self.runner.start()
        try:
            while self.running and (max_frames is None or self.stats.frames < max_frames):
                self._handle_commands()
                self._watch_styles()
                self._publish()
                if not self.running or self.stop.check():
                    break
                ready = self.runner.take(timeout=2.0 / self.pipeline.config.fps)
                if ready is None:
                    continue
                if ready.frame is None:
                    if ready.ended:
                        break
                    if ready.lost:
                        self.sink.send(lost_card(self.last_good, self.pipeline.config.size_wh), self.overlay())
                    continue
                self.sink.send(self._paint(ready), self.overlay())
                self._count(ready.frame)
                if on_frame is not None:
                    on_frame()
        finally:
            self.runner.stop()  # also applies the commands still waiting
        return self.stats

    def _paint(self, ready: Ready) -> np.ndarray:
        frame = ready.frame
        if frame is None:
            raise ValueError("_paint needs a Ready that carries a frame")
        try:
            if ready.error is not None:
                raise ready.error
            if ready.prepared is None:
                raise ValueError("a frame arrived neither prepared nor failed")
            self.last_good = self.pipeline.finish(ready.prepared)
            self.shown_proc_wh = ready.prepared.proc.shape[1::-1]
        except Exception as exc:  # noqa: BLE001 - the stream must survive any one frame
            self.stats.errors += 1
            self.pipeline.abandon(ready.prepared)
            self._errors.warning("frame %d failed, resending the last good frame: %s", self.stats.frames, exc)
            if self.last_good is None:
                w, h = self.pipeline.config.size_wh
                image = frame.image
                self.last_good = cv2.resize(image, (w, h)) if image.ndim == 3 else np.zeros((h, w, 3), np.uint8)
        return self.last_good

    def _count(self, frame: Frame) -> None:
        """Statistics, and what a frame took for the quality controller."""
        now, cpu = time.monotonic(), time.process_time()
        self.stats.count(now, (now - frame.timestamp) * 1000.0, self.shown_proc_wh)
        if self._last_sent is not None:
            change = self.quality.observe(frame_time_ms(now, cpu, frame.index, self._last_sent))
            if change is not None:
                self._resize(change)
        self._last_sent = (now, cpu, frame.index)

    def _resize(self, change: SizeChange) -> None:
        log.info("processing size %dx%d -> %dx%d: frames needed %.0f ms, %.0f ms allowed at %.0f fps",
                 *change.old, *change.new, change.frame_ms, change.budget_ms, self.pipeline.config.fps)
        self._submit(lambda pipeline: pipeline.set_proc_size(change.new))

    def _watch_styles(self) -> None:
        """Pick up style files added, replaced or removed while running (add-style's, say)."""
        now = time.monotonic()
        if now - self._styles_checked < STYLES_POLL_S:
            return
        self._styles_checked = now
        fresh = self.pipeline.catalog.reloaded()
        if fresh is None:
            return
        added = sorted(set(fresh.entries) - set(self.pipeline.catalog.entries))
        log.info("style folder changed%s", f": new styles {', '.join(added)}" if added else "")
        self._submit(lambda pipeline: pipeline.set_catalog(fresh))

    def _handle_commands(self) -> None:
        pending: list[Order] = self.commands.drain()
        for key in self.sink.keys():
            if key in self.keymap:
                pending.append(self.keymap[key])
            elif key in HELP_KEYS:
                self.toggle_help()
        for command in pending:
            self.handle(command)

    def handle(self, command: Order) -> None:
        now = time.monotonic()
        if isinstance(command, Change):
            self._submit(lambda pipeline: _apply_change(pipeline, command, now), command)
        elif isinstance(command, SnapshotRequest):
            command.reply.set_result(self.snapshot())
        elif command is Command.QUIT:
            self.running = False
            self.stopped_by_user = True
        elif command is Command.SNAPSHOT:
            self.snapshot()
        else:
            self._submit(lambda pipeline: _apply_intent(pipeline, command, now))

    def _submit(self, intent: Callable[[FramePipeline], object], change: Change | None = None) -> None:
        """Have the preparing thread apply ``intent`` between two frames, then take the
        looks it left there (where the pipeline is not changing under it) and tell
        whoever queued ``change`` how it went."""
        def apply(pipeline: FramePipeline) -> None:
            ok = False
            try:
                ok = intent(pipeline) is not False
            finally:
                self.looks = self._take_looks(pipeline)
                if change is not None:
                    change.finish(ok, self._serial)
        self.runner.submit(apply)

    def _take_looks(self, pipeline: FramePipeline) -> Looks:
        if self._styles is None or self._styles[0] is not pipeline.catalog:
            self._styles = (pipeline.catalog, styles_of(pipeline.catalog))
        self._serial += 1
        return Looks.of(pipeline, self._styles[1], self._serial)

    def _publish(self) -> None:
        """Show the control server the state of the moment (the board ignores no news)."""
        if self.board is None:
            return
        now = time.monotonic()
        if now - self._fps_published[0] >= FPS_PUBLISHED_EVERY_S:
            self._fps_published = (now, round(self.stats.fps, 1))
        self.board.publish(LiveState(self.looks, self._fps_published[1],
                                     self.shown_proc_wh or self.pipeline.config.proc_size_wh))

    def snapshot(self) -> Path | None:
        if self.last_good is None:
            return None
        ok, png = cv2.imencode(".png", cv2.cvtColor(self.last_good, cv2.COLOR_RGB2BGR))
        path = None
        try:
            path, handle = _new_file(self.snapshot_dir, time.strftime("live-nst-%Y%m%d-%H%M%S"), ".png")
            with handle:
                handle.write(png.tobytes())
        except OSError as exc:
            if path is not None:
                path.unlink(missing_ok=True)
            log.error("could not write the snapshot in %s: %s (folder missing or disk full?)", self.snapshot_dir,
                      exc.strerror or exc)
            return None
        log.info("snapshot saved to %s", path)
        return path

    def overlay(self) -> list[str]:
        """What the preview window shows over the picture: one status line, and the key
        help for HELP_SHOWN_S at the start and after 'h' or '?' (which also hide it)."""
        p = self.pipeline
        proc_w, proc_h = self.shown_proc_wh or p.config.proc_size_wh
        help_keys = [key for key in HELP_KEYS if key not in self.keymap]  # a key bound to an action is its
        adaptive = " (adaptive)" if self.quality.enabled else ""
        status = (f"{self.stats.fps:4.1f} fps  processing {proc_w}x{proc_h}{adaptive}  person {p.person.look} "
                  f"{p.person.strength:.1f}  background {p.background.look} {p.background.strength:.1f}"
                  + (f"  {help_keys[0]}: keys" if help_keys else ""))
        if self.clock() >= self._help_until:
            return [status]
        return [status, *self.keymap.help_lines(), *([f"{' / '.join(help_keys)}  show or hide these keys"]
                                                     if help_keys else [])]

    def toggle_help(self) -> None:
        now = self.clock()
        self._help_until = now + HELP_SHOWN_S if now >= self._help_until else now


def _apply_intent(pipeline: FramePipeline, command: Command, now: float) -> None:
    """A hotkey's action, or the same one sent to POST /api/command: one INFO line each."""
    PIPELINE_INTENTS[command](pipeline, now)
    log.info("%s -> %s", command.value, _looks_line(pipeline))


def _apply_change(pipeline: FramePipeline, change: Change, now: float) -> bool:
    ok = change.apply(pipeline, now)
    log.info("control page: %s -> %s", change.description, _looks_line(pipeline))
    return ok


def _looks_line(pipeline: FramePipeline) -> str:
    """What the picture shows now, for the log line of each change."""
    off = "".join(f", {name} off" for name, on in (("segmentation", pipeline.segmentation_on),
                                                  ("styling", pipeline.styling_on)) if not on)
    return (f"person {pipeline.person.look} {pipeline.person.strength:.2f}, background {pipeline.background.look} "
            f"{pipeline.background.strength:.2f}{off}")


def run_live(config: RunConfig, max_frames: int | None = None) -> int:
    """``live-nst run``: returns the process exit code (see :func:`exit_code`; 130 when
    Ctrl-C or SIGTERM stopped it, after the same clean shutdown as the quit key)."""
    if config.source.startswith("file:"):
        raise ConfigError("--source takes webcam:N, sample, auto or a video path (no 'file:' prefix)")
    inputs = check_outputs(config)
    # Bad styles or models stop here, before any device opens. The network's threads
    # share the cores with the other stages, so they sleep when idle instead of spinning.
    threads = network_threads(config.painters if config.painters is not None else auto_painters([]))
    pipeline = build_pipeline(config, threads=threads, spinning=False)
    hotkeys = GlobalHotkeys(config.keys, CommandQueue())
    stop = StopRequest()
    loop: LiveLoop | None = None
    board = StateBoard() if config.control else None
    control = None
    try:
        if config.control and board is not None:  # before any device opens: a port in use stops it here
            control = start_control(config.control, board, hotkeys.commands)
        with stop.from_signals():
            loop = _stream(config, pipeline, hotkeys, stop, inputs, max_frames, board)
    except KeyboardInterrupt:  # while a device was opening
        stop.request("SIGINT")
    finally:  # Ctrl-C or an error: the camera and the virtual camera are released in _stream
        if control is not None:
            control.stop()
        hotkeys.stop()
        pipeline.close()
    stats = loop.stats if loop is not None else LoopStats()
    log.info("%s", stats.summary())
    if stop.requested:
        return EXIT_INTERRUPTED
    code = exit_code(stats, loop is not None and loop.stopped_by_user)
    if code != EXIT_OK:
        log.error("not one frame could be painted: %s", f"all {stats.frames} failed" if stats.frames
                  else "the source ended before delivering one")
    return code


def _stream(config: RunConfig, pipeline: FramePipeline, hotkeys: GlobalHotkeys, stop: StopRequest,
            inputs: list[Path], max_frames: int | None, board: StateBoard | None = None) -> LiveLoop:
    """Open the source and the sink, run the loop, close both (whatever happens).

    Into a file, a source that is not a camera (the sample, a video) goes frame by frame
    instead of by the clock, and adaptive quality is off: the file plays at true speed
    however long each frame takes, and a bar shows the progress."""
    to_file = parse_output(config.output.strip())[0] == "file"
    with open_source(config.source, config.size_wh, config.fps, loop=True, paced=not to_file) as source, \
            open_sink_with_fallback(config.output, config.size_wh, source.fps if to_file else config.fps,
                                    backend=config.virtualcam_backend, device=config.virtualcam_device,
                                    inputs=inputs, crf=config.crf) as sink:
        by_frame = to_file and not isinstance(source, WebcamSource)
        hotkeys_on = config.keys.global_hotkeys and hotkeys.start(quiet=isinstance(sink, (FileSink, NullSink)))
        quality = QualityController(config.proc_size_wh, config.fps, enabled=config.adaptive and not by_frame)
        loop = LiveLoop(source, pipeline, sink, hotkeys.commands, KeyMap.from_config(config.keys), quality=quality,
                        stop=stop, board=board)
        log.info("live: person %s, background %s; %s", pipeline.person.look, pipeline.background.look,
                 how_to_stop(config, hotkeys_on, isinstance(sink, PreviewSink)))
        progress = tqdm(total=max_frames, desc="recording", unit="frame", disable=not isinstance(sink, FileSink))
        try:
            loop.run(max_frames, on_frame=progress.update)
        except KeyboardInterrupt:  # a second Ctrl-C, or one that came outside the loop's polling
            stop.request("SIGINT")
        finally:
            progress.close()
    return loop


def _new_file(folder: Path, stem: str, suffix: str) -> tuple[Path, BinaryIO]:
    """A file made here and now (never one that exists): ``stem``, else ``stem-2``, ``-3``...
    (snapshots taken within one second get names of their own)."""
    for number in range(1, 1000):
        path = folder / f"{stem}{'' if number == 1 else f'-{number}'}{suffix}"
        try:
            return path, open(path, "xb")  # noqa: SIM115 - the caller closes it
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder / stem}-*{suffix} all exist")


def check_outputs(config: RunConfig, snapshot_dir: Path = Path(".")) -> list[Path]:
    """Before any work: a file output must be writable and must not be the video source
    (compared as files); snapshots need a folder that takes files (a warning if not).
    Returns the files the run reads, for the sink to check again."""
    source = config.source.strip()
    inputs = [] if source in ("auto", "sample") or source.startswith("webcam:") else [expand_user(source)]
    kind, path = parse_output(config.output.strip())
    if path is not None:
        refuse_overwriting_inputs(path, inputs, ConfigError)
        check_output_path(path)
    try:
        check_folder_writable(snapshot_dir.resolve(), "snapshots")
    except OutputError as exc:
        log.warning("snapshots (key %s) will not be saved: %s", config.keys.bindings["snapshot"], exc)
    return inputs


def how_to_stop(config: RunConfig, hotkeys_on: bool, preview: bool) -> str:
    """The start-up line's hint, naming only the ways that work in this session."""
    quit_key = config.keys.bindings["quit"]
    if hotkeys_on:
        return f"press {config.keys.modifier}+{quit_key} (or Ctrl-C) to quit"
    if preview:
        return f"press {quit_key} in the preview window (or Ctrl-C) to quit"
    return "press Ctrl-C to stop"
