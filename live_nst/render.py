"""``live-nst render``: the live pipeline over a video file, as fast as it goes.

Timestamps come from the frame index and the file's frame rate, not the wall clock, so
a render is reproducible. The output keeps the input's sound, frame rate and upright
orientation (``live_nst.encode`` writes it); it is written beside its final name and
renamed into place, also when Ctrl-C or SIGTERM stops the render (with the frames
painted so far) or a write fails (with the frames written before).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from live_nst.config import RunConfig
from live_nst.errors import SinkError
from live_nst.outputs import expand_user, refuse_overwriting_inputs
from live_nst.pipeline import FramePipeline, build_pipeline
from live_nst.stopping import StopRequest
from live_nst.video import VideoReader, VideoWriter, check_output_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderResult:
    frames: int  # painted and written (those that play, when the file could not be finished)
    path: Path | None  # where they are: the output, or its kept partial file; None: nothing kept
    interrupted: bool  # Ctrl-C or SIGTERM stopped it: the file holds the frames before


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
        pipeline = build_pipeline(replace(config, size_wh=info.size_wh, fps=info.fps))
        stop = stop or StopRequest()
        writer: VideoWriter | None = None
        try:
            with stop.from_signals():
                try:
                    writer = VideoWriter(output_path, info.size_wh, info.fps, crf=config.crf, preset="fast",
                                         audio_from=input_path, inputs=[input_path])
                    with writer:
                        _paint(reader, pipeline, writer, progress, stop)
                finally:
                    pipeline.close()
        except KeyboardInterrupt:  # a second Ctrl-C while finishing: the writer kept what plays
            if writer is None:
                raise
            stop.request("SIGINT")
    return RenderResult(writer.frames, writer.kept, stop.requested)


def _paint(reader: VideoReader, pipeline: FramePipeline, writer: VideoWriter, progress: bool,
           stop: StopRequest) -> None:
    info = reader.info
    frames = tqdm(reader, total=info.frame_count, desc="render", unit="frame", disable=not progress)
    try:
        for index, image in enumerate(frames):
            if stop.check():
                break
            writer.write(pipeline.process(image, index / info.fps))
    except KeyboardInterrupt:  # a second Ctrl-C: stop now, keep what is written
        stop.request("SIGINT")
    finally:
        frames.close()
