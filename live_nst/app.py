"""The live loop: source -> pipeline -> sink, with hotkeys applied between frames.

Devices, threads and clocks live here; the pipeline stays pure. The frames go through
the one runner (:mod:`live_nst.runner`: the stages overlapped, as ``render`` and the
bench run them); the loop adds what live use needs between frames. Hotkey commands are
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
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from live_nst.config import RunConfig, parse_output
from live_nst.controls import Change, Command, CommandQueue, GlobalHotkeys, KeyMap, Order, SnapshotRequest
from live_nst.errors import ConfigError, OutputError
from live_nst.framing import SizeWH
from live_nst.outputs import check_folder_writable, expand_user, refuse_overwriting_inputs
from live_nst.overlap import Ready
from live_nst.overlay import HELP_KEYS, KeyHelp, status_line
from live_nst.pipeline import BACKGROUND, PERSON, FramePipeline
from live_nst.publishing import LooksPublisher
from live_nst.quality import QualityController, SizeChange
from live_nst.remote import start_control
from live_nst.remote.state import StateBoard
from live_nst.runner import FrameRunner, LoopStats, build_running_pipeline
from live_nst.sinks import FileSink, NullSink, PreviewSink, Sink, open_sink_with_fallback
from live_nst.snapshots import Snapshots
from live_nst.sources import Frame, Source, WebcamSource, open_source
from live_nst.stopping import EXIT_INTERRUPTED, StopRequest
from live_nst.style_watch import StyleFolderWatch
from live_nst.video import check_output_path

log = logging.getLogger(__name__)

STRENGTH_STEP = 0.1  # one press of the strength keys
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


class LiveLoop:
    """The runner (:class:`live_nst.runner.FrameRunner`) with what live use adds between
    frames: hotkeys and the control page's changes, the key help, the style folders
    watched, the state published, snapshots, and the processing size the quality
    controller picks."""

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
        self.runner = FrameRunner(source, pipeline, sink, painters, stop=stop)
        config = pipeline.config
        self.quality = quality or QualityController(config.proc_size_wh, config.fps, enabled=config.adaptive)
        self.stopped_by_user = False  # the quit key, or Ctrl-C as the caller reports it
        self.key_help = KeyHelp(keymap, clock)
        self.snapshots = Snapshots(snapshot_dir)
        self.style_watch = StyleFolderWatch()
        self.publisher = LooksPublisher(pipeline, board)
        self._last_sent: tuple[float, float, int] | None = None  # wall s, CPU s, source index
        self._publish()

    # What the runner holds, under the names the callers (the bench, tests) read.
    @property
    def stats(self) -> LoopStats:
        return self.runner.stats

    @property
    def stop(self) -> StopRequest:
        return self.runner.stop

    @property
    def shown_proc_wh(self) -> SizeWH | None:
        return self.runner.shown_proc_wh

    @property
    def last_good(self) -> np.ndarray | None:
        return self.runner.last_good

    @last_good.setter
    def last_good(self, image: np.ndarray | None) -> None:
        self.runner.last_good = image

    def run(self, max_frames: int | None = None, on_frame: Callable[[], object] | None = None) -> LoopStats:
        """Send frames until the source ends, ``max_frames`` are sent, the quit key, or a
        stop request; ``on_frame`` is called after each frame sent (progress)."""
        def sent(ready: Ready) -> None:
            if ready.frame is not None:
                self._observe(ready.frame)
            if on_frame is not None:
                on_frame()
        return self.runner.run(max_frames, between_frames=self._between_frames, overlay=self.overlay, on_sent=sent)

    def _between_frames(self) -> None:
        self._handle_commands()
        self._watch_styles()
        self._publish()

    def _observe(self, frame: Frame) -> None:
        """What the frame sent took, for the quality controller."""
        now, cpu = time.monotonic(), time.process_time()
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
        fresh = self.style_watch.changed(self.pipeline.catalog)
        if fresh is not None:
            self._submit(lambda pipeline: pipeline.set_catalog(fresh))

    def _handle_commands(self) -> None:
        pending: list[Order] = self.commands.drain()
        for key in self.sink.keys():
            if key in self.keymap:
                pending.append(self.keymap[key])
            elif key in HELP_KEYS:
                self.key_help.toggle()
        for command in pending:
            self.handle(command)

    def handle(self, command: Order) -> None:
        now = time.monotonic()
        if isinstance(command, Change):
            self._submit(lambda pipeline: _apply_change(pipeline, command, now), command)
        elif isinstance(command, SnapshotRequest):
            command.reply.set_result(self.snapshot())
        elif command is Command.QUIT:
            self.runner.quit()
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
                self.publisher.take_looks(pipeline)
                if change is not None:
                    change.finish(ok, self.publisher.serial)
        self.runner.submit(apply)

    def _publish(self) -> None:
        self.publisher.publish(self.stats.fps, self.shown_proc_wh or self.pipeline.config.proc_size_wh)

    def snapshot(self) -> Path | None:
        return self.snapshots.save(self.last_good)

    def overlay(self) -> list[str]:
        """What the preview window shows over the picture (see live_nst.overlay)."""
        proc_wh = self.shown_proc_wh or self.pipeline.config.proc_size_wh
        help_key = self.key_help.keys[0] if self.key_help.keys else None
        return self.key_help.lines(status_line(self.pipeline, self.stats.fps, proc_wh, self.quality.enabled,
                                               help_key))

    def toggle_help(self) -> None:
        self.key_help.toggle()


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
    pipeline = build_running_pipeline(config)  # bad styles or models stop here, before any device opens
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
