"""``live-nst render``: the live pipeline over a video file, as fast as it goes.

The frames go through the same runner as ``live-nst run`` (:mod:`live_nst.runner`: the
stages overlapped, painters as ``run`` picks them), from a source that hands every frame
of the file in order and reads the next one only when there is room for it, so none is
skipped; a thread of its own encodes them while the next ones are painted (in order,
through a small queue). Timestamps come from the frame index and the file's frame rate,
not the wall clock, so a render is reproducible. A frame that fails ends the render with its error
(a file must not hold a repeated frame in its place). The output keeps the input's sound,
frame rate and upright orientation (``live_nst.encode`` writes it); it is written beside
its final name and renamed into place, also when Ctrl-C or SIGTERM stops the render (with
the frames painted so far) or a write fails (with the frames written before).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from live_nst.config import RunConfig
from live_nst.errors import SinkError
from live_nst.outputs import expand_user, refuse_overwriting_inputs
from live_nst.pipeline import FramePipeline
from live_nst.runner import FrameRunner, build_running_pipeline
from live_nst.sources import Frame
from live_nst.stopping import StopRequest
from live_nst.video import VideoReader, VideoWriter, check_output_path

log = logging.getLogger(__name__)

QUEUE_FRAMES = 4  # painted frames waiting for the writer thread


@dataclass(frozen=True)
class RenderResult:
    frames: int  # painted and written (those that play, when the file could not be finished)
    path: Path | None  # where they are: the output, or its kept partial file; None: nothing kept
    interrupted: bool  # Ctrl-C or SIGTERM stopped it: the file holds the frames before
    fps: float = 0.0  # frames painted and written per second, from the first frame written to the last


class EveryFrame:
    """Every frame of a video file in order, stamped ``index / fps`` (the runner's source).
    Nothing is skipped: the runner reads a frame only when it has room for it."""

    lost = False  # a file is never lost, only ended

    def __init__(self, reader: VideoReader) -> None:
        self.reader, self.fps = reader, reader.info.fps
        self.ended = False
        self._index = 0

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame (``timeout`` is a camera's: a file's frame is always there), None at the end."""
        image = None if self.ended else self.reader.read()
        if image is None:
            self.ended = True
            return None
        frame = Frame(image, self._index / self.fps, self._index)
        self._index += 1
        return frame


class QueuedWriter:
    """The runner's sink for a render: the frames written to the file by a thread of their
    own, so encoding overlaps painting. They go through a queue of ``depth`` frames, in
    order (the runner waits while it is full); the progress bar counts frames written. A
    write that fails ends the writing (the frames still queued are dropped): its
    ``SinkError``, as the writer gave it, is raised by the next :meth:`send` or by
    :meth:`raise_error`. :meth:`finish` must be called before the writer is closed."""

    def __init__(self, writer: VideoWriter, progress: tqdm, depth: int = QUEUE_FRAMES) -> None:
        self.writer, self.progress = writer, progress
        self.error: BaseException | None = None
        self.written = 0
        self._first_s: float | None = None  # monotonic: when the first frame was written
        self._last_s = 0.0
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
        self._dropping = threading.Event()
        self._ended = False
        self._thread = threading.Thread(target=self._write_all, name="live-nst-writer", daemon=True)
        self._thread.start()

    def send(self, frame: np.ndarray, overlay: Sequence[str] = ()) -> None:
        self.raise_error()
        self._queue.put(frame)

    def raise_error(self) -> None:
        """The failed write's error, if one failed."""
        if self.error is not None:
            raise self.error

    def drop(self) -> None:
        """Write no more of the queued frames (a second Ctrl-C): the one in hand is finished."""
        self._dropping.set()

    @property
    def fps(self) -> float:
        """Frames written per second, from the first frame written to the last."""
        if self._first_s is None or self.written < 2:
            return 0.0
        return (self.written - 1) / max(1e-6, self._last_s - self._first_s)

    def finish(self) -> None:
        """Wait until the queued frames are written (or dropped) and the thread has ended.
        A KeyboardInterrupt while waiting (a second Ctrl-C) drops the rest and is raised
        once the thread has ended, so the writer is never closed while it writes."""
        interrupted: KeyboardInterrupt | None = None
        while True:
            try:
                if not self._ended:
                    self._queue.put(None)  # the end: the thread stops when it comes to it
                    self._ended = True
                self._thread.join()
                break
            except KeyboardInterrupt as exc:
                self.drop()
                interrupted = exc
        if interrupted is not None:
            raise interrupted

    def _write_all(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self.error is not None or self._dropping.is_set():
                continue  # taken off the queue so the runner never waits on a thread that has stopped writing
            try:
                self.writer.write(frame)
            except BaseException as exc:  # noqa: BLE001 - raised on the runner's thread
                self.error = exc
                continue
            self._last_s = time.monotonic()
            self._first_s = self._last_s if self._first_s is None else self._first_s
            self.written += 1
            self.progress.update(1)


def render(input_path: Path, output_path: Path, config: RunConfig, progress: bool = True,
           stop: StopRequest | None = None) -> RenderResult:
    """Paint every frame of ``input_path`` into ``output_path`` (at ``config.crf``). ``stop``
    (Ctrl-C and SIGTERM set it while this runs) ends the render after the frame in hand."""
    input_path, output_path = Path(input_path), expand_user(output_path)
    # The output is compared with the input as files, before anything is opened for writing.
    refuse_overwriting_inputs(output_path, [input_path], SinkError)
    with VideoReader(input_path) as reader:
        # Before any model loads or the partial file is made beside the output.
        check_output_path(output_path)
        info = reader.info
        pipeline = build_running_pipeline(replace(config, size_wh=info.size_wh, fps=info.fps))
        stop = stop or StopRequest()
        writer: VideoWriter | None = None
        fps = 0.0
        try:
            with stop.from_signals():
                try:
                    writer = VideoWriter(output_path, info.size_wh, info.fps, crf=config.crf,
                                         audio_from=input_path, inputs=[input_path])
                    with writer:
                        fps = _paint(reader, pipeline, writer, progress, stop)
                finally:
                    pipeline.close()
        except KeyboardInterrupt:  # a second Ctrl-C while finishing: the writer kept what plays
            if writer is None:
                raise
            stop.request("SIGINT")
    return RenderResult(writer.frames, writer.kept, stop.requested, fps)


def _paint(reader: VideoReader, pipeline: FramePipeline, writer: VideoWriter, progress: bool,
           stop: StopRequest) -> float:
    """Every frame through the runner into ``writer``; the frames per second it achieved."""
    bar = tqdm(total=reader.info.frame_count, desc="render", unit="frame", disable=not progress)
    sink = QueuedWriter(writer, bar)
    runner = FrameRunner(EveryFrame(reader), pipeline, sink, resend_on_error=False, stop=stop)
    try:
        try:
            runner.run()
        except KeyboardInterrupt:
            sink.drop()
            raise
        finally:
            sink.finish()  # the frames painted before a stop or a failed frame are written
        sink.raise_error()
    except KeyboardInterrupt:  # a second Ctrl-C: stop now, keep what is written
        stop.request("SIGINT")
    finally:
        bar.close()
    return sink.fps
