"""``live-nst render``: the live pipeline over a video file, as fast as it goes.

Timestamps come from the frame index and the file's frame rate, not the wall clock, so
a render is reproducible. The audio track is copied over when ffmpeg is available.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
from tqdm import tqdm

from live_nst.config import RunConfig
from live_nst.errors import SinkError, SourceError
from live_nst.pipeline import build_pipeline
from live_nst.sinks import FileSink

log = logging.getLogger(__name__)


def probe(path: Path) -> tuple[tuple[int, int], float, int]:
    """(size_wh, fps, frame count) of a video file."""
    if not path.is_file():
        raise SourceError(f"input video {path} does not exist")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise SourceError(f"cannot open {path} as a video; give a file OpenCV/FFmpeg can read (mp4, avi, mov)")
        size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    if size[0] <= 0 or size[1] <= 0:
        raise SourceError(f"{path} has no readable video stream")
    return size, fps, count


def iter_frames(path: Path):
    """RGB frames of a video file."""
    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def render(input_path: Path, output_path: Path, config: RunConfig, progress: bool = True) -> int:
    """Paint every frame of ``input_path`` into ``output_path``; returns the frame count."""
    size_wh, fps, count = probe(input_path)
    if output_path.resolve() == input_path.resolve():
        raise SinkError("the output would overwrite the input video; choose another output path")
    config = replace(config, size_wh=size_wh, fps=fps)
    pipeline = build_pipeline(config)
    keep_audio = shutil.which("ffmpeg") is not None
    target = output_path
    if keep_audio:
        tmp = tempfile.NamedTemporaryFile(suffix=output_path.suffix or ".mp4", dir=output_path.parent or ".",
                                          delete=False)
        tmp.close()
        target = Path(tmp.name)
    else:
        log.info("ffmpeg not found: the output will have no audio track")
    written = 0
    try:
        with FileSink(target, size_wh, fps) as sink:
            for index, image in enumerate(tqdm(iter_frames(input_path), total=count or None,
                                               desc="render", unit="frame", disable=not progress)):
                sink.send(pipeline.process(image, index / fps))
                written += 1
        if written == 0:
            raise SourceError(f"{input_path} yielded no frames")
        if keep_audio:
            _mux_audio(target, input_path, output_path)
    finally:
        pipeline.close()
        if keep_audio:
            target.unlink(missing_ok=True)
    return written


def _mux_audio(video: Path, audio_source: Path, output: Path) -> None:
    """Copy the painted video and the input's audio (if any) into ``output``."""
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-i", str(video), "-i", str(audio_source),
           "-map", "0:v:0", "-map", "1:a?", "-c:v", "copy", "-c:a", "aac", "-shortest", str(output)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        log.warning("ffmpeg could not copy the audio (%s); writing the video without it", done.stderr.strip()[-300:])
        shutil.copyfile(video, output)
