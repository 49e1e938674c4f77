"""Video files in and out: the one place live-nst reads or writes a video file (reading
through OpenCV, writing through :mod:`live_nst.encode`).

Reading gives (H, W, 3) uint8 RGB C-contiguous frames, upright: a container that asks
for a rotation (a phone clip filmed upright) is shown rotated, by OpenCV where it can,
else here. Two rules hold for every caller:

- Frame rate: a file reporting a frame rate outside 1-240 fps (0, NaN, 1000 from a
  broken header) is read at ``DEFAULT_FPS`` and a warning says so.
- Size: ``size_wh`` is the size of the frames as delivered (after rotation), taken
  from the first decoded frame rather than from the header.
"""

from __future__ import annotations

import itertools
import logging
import math
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from live_nst.closing import Closing
from live_nst.encode import CRF_RANGE, DEFAULT_CRF, Encoder, Format, format_for, playable_frames
from live_nst.errors import LiveNSTError, SinkError, SourceError
from live_nst.outputs import PartialFile, check_file_output, expand_user, refuse_overwriting_inputs

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
PLAUSIBLE_FPS = (1.0, 240.0)  # the range RunConfig accepts, too
MIN_FREE_BYTES = 200 * 1024 * 1024
MIN_SIDE, MAX_SIDE = 2, 16384  # what libx264 and libvpx take
# Clockwise display rotation (degrees) -> the cv2.rotate code that applies it.
_ROTATE_CODES = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass(frozen=True)
class VideoInfo:
    """What live-nst knows about a video file before painting it."""

    path: Path
    size_wh: tuple[int, int]  # of the frames as read, i.e. after rotation
    fps: float  # always plausible: the file's own, or DEFAULT_FPS
    frame_count: int | None  # as the container reports it (may be an estimate); None if unknown
    rotation: int  # clockwise degrees the container asks for (0, 90, 180, 270); already applied


def is_plausible_fps(fps: float) -> bool:
    return math.isfinite(fps) and PLAUSIBLE_FPS[0] <= fps <= PLAUSIBLE_FPS[1]


def plausible_fps(reported: float, path: str | Path) -> float:
    """The frame rate to use for a file that reports ``reported`` fps."""
    if is_plausible_fps(reported):
        return float(reported)
    log.warning("%s reports %.3g fps, outside the plausible %g-%g; using %g fps", path, reported,
                *PLAUSIBLE_FPS, DEFAULT_FPS)
    return DEFAULT_FPS


def bgr_to_rgb(image: np.ndarray) -> np.ndarray:
    """An OpenCV-decoded image (BGR, or grey) as a C-contiguous RGB frame."""
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB if image.ndim == 2 else cv2.COLOR_BGR2RGB)


def _open_capture(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise SourceError(f"video file {path} does not exist (or is not a file); check the path")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"OpenCV could not open the video {path}; expected a video file (mp4, avi, mov, ...) "
                          f"in a codec FFmpeg reads. Try converting it with ffmpeg, e.g. "
                          f"`ffmpeg -i {path.name} -c:v libx264 fixed.mp4`.")
    # Ask the backend to apply the container's rotation; _rotation_to_apply checks it did.
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def _container_rotation(capture: cv2.VideoCapture) -> int:
    degrees = capture.get(cv2.CAP_PROP_ORIENTATION_META)
    if not math.isfinite(degrees):
        return 0
    degrees = int(round(degrees)) % 360
    return degrees if degrees in _ROTATE_CODES else 0


def _rotation_to_apply(capture: cv2.VideoCapture, rotation: int) -> int | None:
    """The cv2.rotate code still to apply, or None when OpenCV rotates (or nothing to do)."""
    if rotation == 0 or capture.get(cv2.CAP_PROP_ORIENTATION_AUTO) == 1:
        return None
    return _ROTATE_CODES[rotation]


class VideoReader(Closing):
    """Frames of one video file, in order. Opening it decodes the first frame, so a file
    that opens is known to hold at least one frame.

    ``read()`` gives the next frame or None at the end; iterating gives them all.
    ``grab()`` + ``retrieve()`` split a read, so skipped frames are never converted.
    ``rewind()`` starts again at the first frame (for looping)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._capture = _open_capture(self.path)
        try:
            first = self._open_first_frame()
            capture = self._capture
            self.info = VideoInfo(
                path=self.path,
                size_wh=(first.shape[1], first.shape[0]),
                fps=plausible_fps(float(capture.get(cv2.CAP_PROP_FPS) or 0.0), self.path),
                frame_count=_frame_count(capture),
                rotation=self._rotation,
            )
        except BaseException:
            self._capture.release()
            raise

    def _open_first_frame(self) -> np.ndarray:
        """Decode frame 0 (held until the first grab) and learn how to rotate."""
        self._rotation = _container_rotation(self._capture)
        self._rotate_code = _rotation_to_apply(self._capture, self._rotation)
        self._held: np.ndarray | None = None
        self._first_pending = False
        if self._capture.grab():
            self._held = self.retrieve()
        if self._held is None:
            raise SourceError(f"the video {self.path} has no readable frames; is it a complete video file? "
                              f"Try re-encoding it with ffmpeg.")
        self._first_pending = True  # the next grab() hands out frame 0, which is decoded already
        return self._held

    def grab(self) -> bool:
        """Move to the next frame without decoding it; False at the end of the file."""
        if self._first_pending:
            self._first_pending = False
            return True
        self._held = None
        return bool(self._capture.grab())

    def retrieve(self) -> np.ndarray | None:
        """The frame the last grab moved to, as RGB; None if it cannot be decoded."""
        if self._held is not None:
            return self._held
        ok, image = self._capture.retrieve()
        if not ok or image is None or not image.size:
            return None
        if self._rotate_code is not None:
            image = cv2.rotate(image, self._rotate_code)
        return bgr_to_rgb(image)

    def read(self) -> np.ndarray | None:
        """The next frame, or None at the end (or at an undecodable frame)."""
        return self.retrieve() if self.grab() else None

    def rewind(self) -> None:
        """Start again at the first frame (reopens the file: seeking is unreliable)."""
        self._capture.release()
        self._capture = _open_capture(self.path)
        self._open_first_frame()

    def close(self) -> None:
        self._capture.release()
        self._held = None

    def __iter__(self) -> Iterator[np.ndarray]:
        while (frame := self.read()) is not None:
            yield frame


def _frame_count(capture: cv2.VideoCapture) -> int | None:
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(count) if math.isfinite(count) and count > 0 else None


def probe(path: str | Path) -> VideoInfo:
    """Size, frame rate, frame count and rotation of a video file (decodes one frame)."""
    with VideoReader(path) as reader:
        return reader.info


def read_frames(path: str | Path, limit: int | None = None) -> Iterator[np.ndarray]:
    """The frames of a video file (the first ``limit`` of them, if given). The file is
    opened now, so a bad path fails here rather than at the first frame."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be None or >= 0, got {limit}")
    reader = VideoReader(path)

    def frames() -> Iterator[np.ndarray]:
        with reader:
            yield from itertools.islice(reader, limit)

    return frames()


def check_output_path(path: str | Path) -> Format:
    """The format a video file at ``path`` is written in, after checking its file type,
    that its folder exists and takes files, and that the folder has room; a ``SinkError``
    says which is wrong. Nothing is created."""
    path = Path(path)
    fmt = format_for(path)
    check_file_output(path, "the video", SinkError)
    free = shutil.disk_usage(path.parent).free
    if free < MIN_FREE_BYTES:
        raise SinkError(f"cannot write {path}: only {free / 2**20:.0f} MB free in {path.parent}, need at "
                        f"least {MIN_FREE_BYTES / 2**20:.0f} MB; free some space or write elsewhere")
    return fmt


class VideoWriter(Closing):
    """Writes RGB frames of exactly ``size_wh`` to a video file (formats: ``live_nst.encode``).

    Before anything is opened it checks the path (``check_output_path``), the size (what
    the encoder takes) and that it is none of ``inputs`` (compared as files). Frames go to
    a partial file beside the output (``NAME.partial-XXXXXXXX.EXT``) that :meth:`close`
    renames into place only once it is finished, so an earlier file of that name is
    replaced by a complete one or not at all. When a write or the finish fails (a full
    disk) the partial file is kept under its partial name if a decoder gets frames back
    from it (else removed), and the ``SinkError`` says how many and where; ``frames`` and
    ``kept`` then say the same. ``audio_from``: a file whose audio goes along."""

    def __init__(self, path: str | Path, size_wh: tuple[int, int], fps: float, *, crf: int = DEFAULT_CRF,
                 audio_from: str | Path | None = None, inputs: Sequence[str | Path] = (),
                 preset: str = "veryfast") -> None:
        self.path = expand_user(path)
        self.size_wh = (int(size_wh[0]), int(size_wh[1]))
        self.fps = float(fps)
        self.kept: Path | None = None  # after close: where the frames are (None: nothing kept)
        self._frames_kept = 0
        check_output_path(self.path)
        refuse_overwriting_inputs(self.path, inputs, SinkError)
        _check_size(self.path, self.size_wh)
        if not is_plausible_fps(self.fps):
            raise SinkError(f"cannot write {self.path} at {fps} fps; expected {PLAUSIBLE_FPS[0]:g}-"
                            f"{PLAUSIBLE_FPS[1]:g} fps (read the input with live_nst.video, which picks one)")
        if not CRF_RANGE[0] <= crf <= CRF_RANGE[1]:
            raise SinkError(f"the quality (CRF) must be {CRF_RANGE[0]}-{CRF_RANGE[1]}, got {crf}")
        self._replaces = self.path.exists()
        self._partial: PartialFile | None = PartialFile(self.path)
        try:
            self._encoder: Encoder | None = Encoder(
                self._partial.path, self.size_wh, self.fps, container_suffix=self.path.suffix.lower(), crf=crf,
                preset=preset, audio_from=Path(audio_from) if audio_from else None, shown_as=self.path)
        except BaseException:
            self._partial.discard()
            raise
        log.info("writing %s (%dx%d at %.3g fps)", self.path, *self.size_wh, self.fps)
        log.debug("frames go to %s until the end", self._partial.path)

    @property
    def frames(self) -> int:
        """Frames written so far; after close, those in the file (a decoder's count after a failure)."""
        return self._encoder.frames if self._encoder is not None else self._frames_kept

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame of size_wh."""
        if self._encoder is None:
            raise SinkError(f"{self.path} is already closed; no more frames can be written")
        expected = (self.size_wh[1], self.size_wh[0], 3)
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != expected:
            found = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise SinkError(f"{self.path} takes uint8 RGB frames of shape {expected}, got {found}; resize "
                            f"frames to the writer's size_wh before writing")
        try:
            self._encoder.write(frame)
        except SinkError as exc:
            self._give_up(flush=False)
            raise SinkError(f"{exc}. {self.kept_note()}") from None

    def close(self) -> None:
        """Finish the file and rename it into place; with no frame written, nothing is left.
        A failure (or a second Ctrl-C) while finishing keeps what plays, as ``write`` does."""
        encoder, partial = self._encoder, self._partial
        if encoder is None or partial is None:
            return
        try:
            encoder.close()
            if encoder.frames:
                partial.commit()
            else:
                partial.discard()
        except LiveNSTError as exc:
            self._give_up(flush=False)
            raise SinkError(f"{exc}. {self.kept_note()}") from None
        except BaseException:
            self._give_up(flush=False)
            raise
        self._encoder = self._partial = None
        self._frames_kept, self.kept = encoder.frames, (self.path if encoder.frames else None)

    def _give_up(self, flush: bool) -> None:
        """Close without finishing; keep the partial file if it plays (renamed nowhere)."""
        encoder, partial, self._encoder, self._partial = self._encoder, self._partial, None, None
        if encoder is None or partial is None:
            return
        encoder.close(flush=flush)
        self._frames_kept = playable_frames(partial.path) if partial.path.exists() else 0
        if self._frames_kept:
            self.kept = partial.path
        else:
            partial.discard()

    def kept_note(self) -> str:
        """Where the frames of a failed file are, in a sentence."""
        earlier = f"the earlier {self.path.name} is unchanged" if self._replaces else f"{self.path.name} was not made"
        if self.kept is None:
            return f"No frame could be kept ({earlier}); free some space or write elsewhere"
        return (f"The {self._frames_kept} frames that play are kept in {self.kept} ({earlier}); free some space "
                f"or write elsewhere")


def _check_size(path: Path, size_wh: tuple[int, int]) -> None:
    """The encoders take 2x2 up to 16384x16384 pixels (4:2:0 drops an odd last row or column)."""
    width, height = size_wh
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_SIDE:
        raise SinkError(f"cannot write {path} at {width}x{height}: video files take {MIN_SIDE}x{MIN_SIDE} up to "
                        f"{MAX_SIDE}x{MAX_SIDE} pixels; give a video (or --size) within that")
