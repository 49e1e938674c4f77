"""``live-nst render``: the live pipeline over a video file, as fast as it goes.

Timestamps come from the frame index and the file's frame rate, not the wall clock, so
a render is reproducible. The audio track is copied over when ffmpeg is available.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from live_nst.config import RunConfig
from live_nst.errors import SinkError
from live_nst.pipeline import build_pipeline
from live_nst.stopping import StopRequest
from live_nst.video import VideoReader, VideoWriter, check_output_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderResult:
    frames: int  # painted and written
    path: Path  # where they are
    interrupted: bool  # Ctrl-C or SIGTERM stopped it: the file holds the frames before


def render(input_path: Path, output_path: Path, config: RunConfig, progress: bool = True,
           stop: StopRequest | None = None) -> RenderResult:
    """Paint every frame of ``input_path`` into ``output_path``. ``stop`` (Ctrl-C and
    SIGTERM set it while this runs) ends the render after the frame in hand."""
    with VideoReader(input_path) as reader:
        if output_path.resolve() == input_path.resolve():
            raise SinkError("the output would overwrite the input video; choose another output path")
        # Before any model loads or the temporary file is made beside the output.
        check_output_path(output_path)
        stop = stop or StopRequest()
        with stop.from_signals():
            frames = _paint(reader, output_path, config, progress, stop)
        return RenderResult(frames, output_path, stop.requested)


def _paint(reader: VideoReader, output_path: Path, config: RunConfig, progress: bool, stop: StopRequest) -> int:
    info = reader.info
    config = replace(config, size_wh=info.size_wh, fps=info.fps)
    pipeline = build_pipeline(config)
    keep_audio = shutil.which("ffmpeg") is not None
    target = output_path
    if keep_audio:
        tmp = tempfile.NamedTemporaryFile(suffix=output_path.suffix, dir=output_path.parent, delete=False)
        tmp.close()
        target = Path(tmp.name)
    else:
        log.info("ffmpeg not found: the output will have no audio track")
    try:
        with VideoWriter(target, info.size_wh, info.fps) as writer:
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
        if keep_audio:
            _mux_audio(target, info.path, output_path)
    finally:
        pipeline.close()
        if keep_audio:
            target.unlink(missing_ok=True)
    return writer.frames


def _mux_audio(video: Path, audio_source: Path, output: Path) -> None:
    """Copy the painted video and the input's audio (if any) into ``output``."""
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-i", str(video), "-i", str(audio_source),
           "-map", "0:v:0", "-map", "1:a?", "-c:v", "copy", "-c:a", "aac", "-shortest", str(output)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        log.warning("ffmpeg could not copy the audio (%s); writing the video without it", done.stderr.strip()[-300:])
        shutil.copyfile(video, output)
