"""Frame sources: a webcam, a video file, or the built-in sample. Every source hands out
RGB frames; a camera's capture thread keeps only the newest frame, so a slow consumer
skips frames instead of falling behind.
"""

from __future__ import annotations

import logging
import math
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from live_nst.closing import Closing
from live_nst.errors import ConfigError, SourceError
from live_nst.video import VideoReader, bgr_to_rgb, is_plausible_fps

log = logging.getLogger(__name__)

Opener = Callable[[int], Any]  # index -> object with cv2.VideoCapture's isOpened/read/set/get/release


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # (H, W, 3) uint8 RGB, C-contiguous
    timestamp: float  # time.monotonic() at capture
    index: int  # position in the stream; gaps mean frames were skipped


class Source(Protocol):
    size_wh: tuple[int, int]
    fps: float
    lost: bool  # True while a camera is gone and being reconnected
    ended: bool  # True once the stream is over (end of file, or closed)

    def read(self, timeout: float | None = None) -> Frame | None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Source: ...
    def __exit__(self, *exc: object) -> None: ...


class Pacer:
    """Releases frame slot n at start + n / fps on a monotonic clock. A consumer that
    comes late gets the newest due slot (the ones in between are skipped), as it would
    from a camera, so lag never builds up. ``wait(seconds) -> True`` means stop."""

    def __init__(self, fps: float, clock: Callable[[], float], wait: Callable[[float], bool]) -> None:
        self.fps, self.clock, self.wait = fps, clock, wait
        self.start: float | None = None
        self.next_slot = 0

    def next(self, timeout: float | None) -> int | None:
        """The slot to deliver now, or None on timeout or stop."""
        now = self.clock()
        if self.start is None:
            self.start = now
        due = self.start + self.next_slot / self.fps
        if now < due:
            delay = due - now
            if timeout is not None and delay > timeout:
                self.wait(timeout)
                return None
            if self.wait(delay):
                return None
            now = self.clock()
        slot = max(self.next_slot, math.floor((now - self.start) * self.fps + 1e-9))
        self.next_slot = slot + 1
        return slot


# --- webcam -------------------------------------------------------------------------


def default_opener(index: int) -> Any:
    if platform.system() == "Windows":  # DirectShow opens fast and honours MJPG
        return cv2.VideoCapture(index, cv2.CAP_DSHOW)
    return cv2.VideoCapture(index)


def _missing_camera_message(index: int, reason: str) -> str:
    how_to_list = {
        "Linux": "list cameras with `v4l2-ctl --list-devices` or `ls /dev/video*`",
        "Darwin": "list cameras in System Information > Camera, and allow camera access for "
                  "your terminal in System Settings > Privacy & Security > Camera",
        "Windows": "list cameras in Device Manager > Cameras, and check Settings > Privacy > Camera",
    }.get(platform.system(), "check which cameras your system lists")
    return (f"could not open camera {index} (webcam:{index}): {reason}. Expected a connected camera "
            f"that no other program is using; {how_to_list}, then pass --source webcam:N. "
            f"To try live-nst without a camera, use --source sample.")


class WebcamSource(Closing):
    """A camera read by a daemon thread that keeps only the newest frame. When the camera
    disappears mid-stream, ``lost`` turns True and the thread reopens it with exponential
    backoff until it returns or the source is closed."""

    def __init__(self, index: int = 0, size_wh: tuple[int, int] = (1280, 720), fps: float = 30.0,
                 opener: Opener | None = None, *, retry_initial_s: float = 0.5, retry_max_s: float = 5.0) -> None:
        self.index = index
        self.requested_wh, self.requested_fps = (int(size_wh[0]), int(size_wh[1])), float(fps)
        self.size_wh, self.fps = self.requested_wh, self.requested_fps
        self.lost = False
        self.ended = False
        self._opener = opener or default_opener
        self._retry_initial, self._retry_max = retry_initial_s, retry_max_s
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._latest: Frame | None = None  # holds the BGR image; converted on read
        self._returned = -1
        self._captured = 0
        self._capture = self._open()
        log.info("camera %d open: %dx%d at %.0f fps", index, *self.size_wh, self.fps)
        self._thread = threading.Thread(target=self._run, name=f"live-nst-webcam-{index}", daemon=True)
        self._thread.start()

    def _open(self) -> Any:
        capture, reason = None, "the camera did not open"
        try:
            capture = self._opener(self.index)
        except (cv2.error, OSError, RuntimeError) as exc:
            reason = f"opening it failed ({exc})"
        if capture is None or not capture.isOpened():
            if capture is not None:
                capture.release()
            raise SourceError(_missing_camera_message(self.index, reason))
        self._configure(capture)
        return capture

    def _configure(self, capture: Any) -> None:
        # MJPG first: many USB cameras give 720p at 30 fps only compressed; a driver
        # that does not offer it ignores the request.
        capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.requested_wh[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.requested_wh[1])
        capture.set(cv2.CAP_PROP_FPS, self.requested_fps)
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        got_fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if width > 0 and height > 0:
            self.size_wh = (width, height)
        if is_plausible_fps(got_fps):
            self.fps = got_fps
        if self.size_wh != self.requested_wh:
            log.info("camera %d gives %dx%d instead of the requested %dx%d", self.index, *self.size_wh,
                     *self.requested_wh)

    def _run(self) -> None:
        capture = self._capture
        delay = self._retry_initial
        try:
            while not self._stop.is_set():
                image = self._grab(capture)
                if image is not None:
                    self._store(image)
                    delay = self._retry_initial
                    continue
                if self._stop.is_set():
                    return
                if not self.lost:
                    log.warning("camera %d stopped delivering frames; reconnecting", self.index)
                    with self._cond:
                        self.lost = True
                capture.release()
                capture = None
                # Backoff grows until a frame arrives, so a camera that opens but sends
                # nothing is not hammered (and does not flood the log).
                while capture is None and not self._stop.wait(delay):
                    capture = self._try_open()
                    delay = min(delay * 2.0, self._retry_max)
                self._capture = capture
        finally:
            if capture is not None:
                capture.release()

    def _store(self, image: np.ndarray) -> None:
        with self._cond:
            if self.lost:
                self.lost = False
                log.info("camera %d is back", self.index)
            self._latest = Frame(image, time.monotonic(), self._captured)
            self._captured += 1
            self._cond.notify_all()

    @staticmethod
    def _grab(capture: Any) -> np.ndarray | None:
        try:
            ok, image = capture.read()
        except cv2.error:
            return None
        return image if ok and image is not None and image.size else None

    def _try_open(self) -> Any:
        try:
            return self._open()
        except SourceError:
            log.debug("camera %d still gone", self.index)
            return None

    def read(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not returned before; None if none arrives within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._stop.is_set() and (self._latest is None or self._latest.index <= self._returned):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame = self._latest
            if self._stop.is_set() or frame is None:
                return None
            self._returned = frame.index
        return Frame(bgr_to_rgb(frame.image), frame.timestamp, frame.index)

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self.ended = True
            self._cond.notify_all()
        self._thread.join(timeout=2.0)
        if self._thread.is_alive():
            log.warning("camera %d's capture thread is stuck in the driver; leaving it behind", self.index)


# --- video file ---------------------------------------------------------------------


class VideoFileSource(Closing):
    """A video file read through :class:`live_nst.video.VideoReader` (so its frame-rate and
    rotation rules). ``paced`` delivers frames at the file's own fps (a late reader skips
    frames, like a camera); ``loop`` starts again at the end."""

    def __init__(self, path: str | Path, loop: bool = False, paced: bool = True, *,
                 clock: Callable[[], float] = time.monotonic, wait: Callable[[float], bool] | None = None) -> None:
        self.path = Path(path)
        self.loop, self.paced = loop, paced
        self.lost = False
        self.ended = False
        self._clock = clock
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._reader = VideoReader(self.path)
        self.size_wh, self.fps = self._reader.info.size_wh, self._reader.info.fps
        self._pacer = Pacer(self.fps, clock, wait or self._closing.wait) if paced else None
        self._next_index = 0

    def _step(self) -> bool:
        """Move to the next frame, wrapping around when looping; False at the end."""
        if self._reader.grab():
            return True
        if not self.loop:
            return False
        try:
            self._reader.rewind()
        except SourceError as exc:  # the file went away mid-stream: end it, do not crash the loop
            log.warning("%s", exc)
            return False
        return self._reader.grab()

    def read(self, timeout: float | None = None) -> Frame | None:
        if self.ended:
            return None
        slot = self._pacer.next(timeout) if self._pacer else self._next_index
        if slot is None:
            return None
        with self._lock:
            if self._closing.is_set():
                return None
            for _ in range(slot - self._next_index + 1):
                if not self._step():
                    self.ended = True
                    return None
            image = self._reader.retrieve()
        if image is None:
            self.ended = True
            log.warning("%s: frame %d could not be decoded; ending the stream", self.path, slot)
            return None
        self._next_index = slot + 1
        return Frame(image, self._clock(), slot)

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            self.ended = True
            self._reader.close()


# --- built-in sample ----------------------------------------------------------------


class SampleSource(Closing):
    """A person without a camera: the Grace Hopper portrait shipped with matplotlib,
    slowly panned, zoomed and swayed. Frame n depends only on n, fps and size_wh."""

    FACE_CENTRE_XY = (0.52, 0.38)  # of the portrait's width and height: frame the face
    PAN_XY = (0.035, 0.025)  # pan amplitude, fraction of the portrait's size
    SWAY_DEG = 3.0
    ZOOM = 0.08  # extra zoom on top of cover-fit, breathing between 1 and 1 + ZOOM

    def __init__(self, size_wh: tuple[int, int] = (1280, 720), fps: float = 30.0, paced: bool = True, *,
                 clock: Callable[[], float] = time.monotonic, wait: Callable[[float], bool] | None = None) -> None:
        self.size_wh, self.fps = (int(size_wh[0]), int(size_wh[1])), float(fps)
        self.lost = False
        self.ended = False
        self._clock = clock
        self._closing = threading.Event()
        self._portrait = load_portrait()
        self._pacer = Pacer(self.fps, clock, wait or self._closing.wait) if paced else None
        self._next_index = 0

    def frame_at(self, index: int) -> np.ndarray:
        """The image of frame ``index`` (RGB, size_wh)."""
        t = index / self.fps
        src_h, src_w = self._portrait.shape[0] - 1, self._portrait.shape[1] - 1  # pixel centres span 0..w-1
        out_w, out_h = self.size_wh
        angle = math.radians(self.SWAY_DEG * math.sin(2 * math.pi * t / 5.5))
        cx = src_w * (self.FACE_CENTRE_XY[0] + self.PAN_XY[0] * math.sin(2 * math.pi * t / 9.0))
        cy = src_h * (self.FACE_CENTRE_XY[1] + self.PAN_XY[1] * math.sin(2 * math.pi * t / 7.0 + 1.0))
        # Smallest scale at which the rotated output rectangle stays inside the portrait.
        cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
        cover = max((out_w * cos + out_h * sin) / (2 * min(cx, src_w - cx)),
                    (out_w * sin + out_h * cos) / (2 * min(cy, src_h - cy)))
        scale = cover * (1.0 + self.ZOOM * (0.5 - 0.5 * math.cos(2 * math.pi * t / 13.0)))
        matrix = cv2.getRotationMatrix2D((cx, cy), math.degrees(angle), scale)
        matrix[:, 2] += (out_w / 2 - cx, out_h / 2 - cy)  # the centre point lands mid-frame
        return cv2.warpAffine(self._portrait, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))

    def read(self, timeout: float | None = None) -> Frame | None:
        if self.ended:
            return None
        slot = self._pacer.next(timeout) if self._pacer else self._next_index
        if slot is None or self._closing.is_set():
            return None
        self._next_index = slot + 1
        return Frame(self.frame_at(slot), self._clock(), slot)

    def close(self) -> None:
        self._closing.set()
        self.ended = True


def load_portrait() -> np.ndarray:
    import matplotlib.cbook as cbook  # a core dependency: it ships the portrait

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SourceError(f"could not read matplotlib's sample portrait at {path}; reinstall matplotlib")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# --- choosing a source --------------------------------------------------------------


def open_source(spec: str, size_wh: tuple[int, int], fps: float, *, loop: bool = True, paced: bool = True,
                opener: Opener | None = None) -> Source:
    """spec: "auto" (camera 0, else the sample), "webcam:N", "sample", or a video path."""
    spec = spec.strip()
    if spec == "auto":
        try:
            return WebcamSource(0, size_wh, fps, opener=opener)
        except SourceError as exc:
            log.warning("no camera found (webcam:0 did not open), so live-nst shows its built-in sample video "
                        "instead; connect a camera, or choose one with --source webcam:N")
            log.debug("camera 0: %s", exc)
            return SampleSource(size_wh, fps, paced=paced)
    if spec == "sample":
        return SampleSource(size_wh, fps, paced=paced)
    if spec.startswith("webcam:"):
        number = spec.removeprefix("webcam:")
        if not number.isdigit():
            raise ConfigError(f"--source webcam:N takes a camera number such as webcam:0, got {spec!r}")
        return WebcamSource(int(number), size_wh, fps, opener=opener)
    if not spec:
        raise ConfigError("--source is empty; give auto, webcam:N, sample or a video path")
    return VideoFileSource(spec, loop=loop, paced=paced)
