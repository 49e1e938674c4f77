"""``live-nst render``: the live pipeline over a video file, as fast as it goes.

The frames go through the same runner as ``live-nst run`` (:mod:`live_nst.runner`: the
stages overlapped, painters as ``run`` picks them), from a source that hands every frame
of the file in order and reads the next one only when there is room for it, so none is
skipped. Timestamps come from the frame index and the file's frame rate, not the wall
clock, so a render is reproducible. A frame that fails ends the render with its error
(a file must not hold a repeated frame in its place). The output keeps the input's sound,
frame rate and upright orientation (``live_nst.encode`` writes it); it is written beside
its final name and renamed into place, also when Ctrl-C or SIGTERM stops the render (with
the frames painted so far) or a write fails (with the frames written before).
"""

from __future__ import annotations

import logging
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


class WriterSink:
    """The runner's sink for a render: each frame written to the file, the progress bar moved on."""

    def __init__(self, writer: VideoWriter, progress: tqdm) -> None:
        self.writer, self.progress = writer, progress

    def send(self, frame: np.ndarray, overlay: Sequence[str] = ()) -> None:
        self.writer.write(frame)
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
                    writer = VideoWriter(output_path, info.size_wh, info.fps, crf=config.crf, preset="fast",
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
    runner = FrameRunner(EveryFrame(reader), pipeline, WriterSink(writer, bar), resend_on_error=False, stop=stop)
    try:
        runner.run()
    except KeyboardInterrupt:  # a second Ctrl-C: stop now, keep what is written
        stop.request("SIGINT")
    finally:
        bar.close()
    return runner.stats.average_fps
