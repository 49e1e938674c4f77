"""Frame sinks: the virtual camera, a preview window, a video file, or nothing. Each
takes (H, W, 3) uint8 RGB frames; one of another size is centre-cropped to the sink's
aspect ratio and resized (as live_nst.framing frames the input: never stretched)."""

from __future__ import annotations

import logging
import os
import platform
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from live_nst.closing import Closing
from live_nst.config import FILE_OUTPUT_PREFIX, parse_output
from live_nst.encode import DEFAULT_CRF
from live_nst.errors import ConfigError, SinkError
from live_nst.framing import crop_to_aspect
from live_nst.video import VideoWriter
from live_nst.video4linux import LOAD, exclusive_caps_warning

log = logging.getLogger(__name__)

FALLBACK_FILE = "live-nst-output.mp4"


class Sink(Protocol):
    def send(self, frame: np.ndarray, overlay: Sequence[str] = ()) -> None: ...
    def keys(self) -> list[str]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Sink: ...
    def __exit__(self, *exc: object) -> None: ...


class VirtualCameraUnavailable(SinkError):
    """No virtual-camera driver (OBS Virtual Camera, Unity Capture, v4l2loopback) is usable.
    ``driver_says``: pyvirtualcam's own words, kept for -v rather than the message."""

    def __init__(self, message: str, driver_says: str = "") -> None:
        super().__init__(message)
        self.driver_says = driver_says


class _SinkBase(Closing):
    """A sink in a ``with`` block, with the no-window default for ``keys``."""

    def keys(self) -> list[str]:
        return []


def fit_frame(frame: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Check a frame is (H, W, 3) uint8 and return it at size_wh, C-contiguous; one of
    another aspect ratio is centre-cropped to size_wh's first."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        found = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise SinkError(f"a sink takes (H, W, 3) uint8 RGB frames, got {found}; this is a bug in the caller")
    width, height = size_wh
    if frame.shape[:2] != (height, width):
        frame = crop_to_aspect(frame, size_wh)
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA
                           if frame.shape[1] > width else cv2.INTER_LINEAR)
    return np.ascontiguousarray(frame)


# --- virtual camera -----------------------------------------------------------------


def virtual_camera_fix(system: str | None = None) -> str:
    """How to get a virtual camera on this operating system."""
    system = system or platform.system()
    if system == "Windows":
        return ("install OBS Studio 30 or newer and click 'Start Virtual Camera' once (then close OBS), "
                "or install Unity Capture")
    if system == "Darwin":
        return ("install OBS Studio 30 or newer (needs macOS 13 or newer), click 'Start Virtual Camera' "
                "once and allow the system extension in System Settings")
    return f"install and load v4l2loopback: `sudo apt install v4l2loopback-dkms` then `{LOAD}`"


class VirtualCameraSink(_SinkBase):
    """Sends frames to a pyvirtualcam camera. It does not pace: the source does."""

    def __init__(self, size_wh: tuple[int, int], fps: float, backend: str | None = None,
                 device: str | None = None) -> None:
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise SinkError(f"the virtual camera output needs pyvirtualcam, which did not import ({exc}); "
                            f"reinstall live-nst or run: pip install pyvirtualcam") from None
        self.size_wh = (int(size_wh[0]), int(size_wh[1]))
        if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
            raise ConfigError(f"virtual camera backend {backend!r} does not exist on this system; available: "
                              f"{sorted(pyvirtualcam.camera.BACKENDS)} (or leave it unset to try each)")
        try:
            self.camera = pyvirtualcam.Camera(self.size_wh[0], self.size_wh[1], fps,
                                              fmt=pyvirtualcam.PixelFormat.RGB, backend=backend, device=device)
        except RuntimeError as exc:
            # pyvirtualcam's text names every backend it tried: too long for a user, kept for -v.
            raise VirtualCameraUnavailable(f"no virtual camera could be started; to set one up, "
                                           f"{virtual_camera_fix()}", driver_says=str(exc).strip()) from None
        self._resize_noted = False
        log.info("virtual camera: %s (backend %s), %dx%d at %.0f fps", self.camera.device, self.camera.backend,
                 *self.size_wh, fps)
        unlisted = exclusive_caps_warning(self.camera.device) if self.camera.backend == "v4l2loopback" else None
        if unlisted:
            log.warning("%s", unlisted)

    def send(self, frame: np.ndarray, overlay: Sequence[str] = ()) -> None:
        fitted = fit_frame(frame, self.size_wh)
        if fitted.shape != frame.shape and not self._resize_noted:
            log.info("frames are %dx%d, the virtual camera %dx%d: cropping them to its shape and resizing",
                     frame.shape[1], frame.shape[0], *self.size_wh)
            self._resize_noted = True
        try:
            self.camera.send(fitted)
        except (RuntimeError, ValueError) as exc:
            raise SinkError(f"the virtual camera {self.camera.device} refused a frame: {exc}") from None

    def close(self) -> None:
        self.camera.close()


# --- preview window -----------------------------------------------------------------


def _x_display_reachable(display: str) -> bool:
    """Whether an X server answers at DISPLAY. OpenCV's Qt aborts the whole process when
    it cannot connect, so this is checked before any window is made."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host not in ("", "unix"):
        return True  # a remote display (ssh -X): trust it
    if not hasattr(socket, "AF_UNIX"):
        return True
    for address in (f"/tmp/.X11-unix/X{number}", f"\0/tmp/.X11-unix/X{number}"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect(address)
                return True
            except OSError:
                continue
    return False


def display_available() -> bool:
    """Whether a window can be shown. On Linux, OpenCV's Qt windows need an X server
    (a Wayland session provides one through XWayland in DISPLAY)."""
    if platform.system() in ("Windows", "Darwin"):
        return True
    display = os.environ.get("DISPLAY", "")
    return bool(display) and _x_display_reachable(display)


def draw_overlay(image: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """A copy of ``image`` with ``lines`` as white text on a dark translucent box, top left."""
    out = image.copy()
    if not lines:
        return out
    height, width = out.shape[:2]
    scale = max(0.4, min(1.0, height / 900))
    thickness = 1 if scale < 0.7 else 2
    sizes = [cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0] for line in lines]
    line_h = max(h for _, h in sizes) + int(10 * scale) + 4
    pad = int(8 * scale) + 2
    box_w = min(width, max(w for w, _ in sizes) + 2 * pad)
    box_h = min(height, line_h * len(lines) + pad)
    region = out[:box_h, :box_w]
    region[:] = cv2.addWeighted(region, 0.35, np.zeros_like(region), 0.65, 0.0)
    for row, line in enumerate(lines):
        baseline = pad + line_h * row + sizes[row][1]
        cv2.putText(out, line, (pad, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness,
                    cv2.LINE_AA)
    return out


class PreviewSink(_SinkBase):
    """An OpenCV window showing the output with the overlay; keys pressed in it come back
    from ``keys()``."""

    def __init__(self, size_wh: tuple[int, int], title: str = "live-nst") -> None:
        self.size_wh = (int(size_wh[0]), int(size_wh[1]))
        self.title = title
        if not display_available():
            raise SinkError("the preview window needs a display, and none was found (DISPLAY is unset or no X "
                            "server answers there). Use --output file:out.mp4 or --output null on a machine "
                            "without a screen, or run under xvfb-run.")
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
            cv2.resizeWindow(title, *self.size_wh)
        except cv2.error as exc:
            raise SinkError(f"OpenCV could not open a window ({exc.err}); this OpenCV build may have no GUI "
                            f"(opencv-python-headless). Use --output file:out.mp4 instead.") from None
        self._pending: list[str] = []
        self._open = True

    def _poll(self) -> None:
        code = cv2.waitKey(1)
        if code >= 0 and 32 <= (code & 0xFF) < 127:
            self._pending.append(chr(code & 0xFF))

    def send(self, frame: np.ndarray, overlay: Sequence[str] = ()) -> None:
        shown = draw_overlay(fit_frame(frame, self.size_wh), overlay)
        cv2.imshow(self.title, cv2.cvtColor(shown, cv2.COLOR_RGB2BGR))
        self._poll()  # waitKey also lets the window paint

    def keys(self) -> list[str]:
        self._poll()
        pressed, self._pending = self._pending, []
        return pressed

    def close(self) -> None:
        if self._open:
            self._open = False
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)


# --- file ---------------------------------------------------------------------------


class FileSink(_SinkBase):
    """Writes frames to a video file through ``live_nst.video.VideoWriter`` (its formats,
    checks and partial file renamed into place on close), each fitted to the sink's size."""

    def __init__(self, path: str | Path, size_wh: tuple[int, int], fps: float,
                 inputs: Sequence[str | Path] = (), crf: int = DEFAULT_CRF) -> None:
        """``inputs``: files being read (a video source), which the output must not be.
        ``crf``: the quality (see live_nst.encode)."""
        self._writer = VideoWriter(path, size_wh, fps, inputs=inputs, crf=crf)
        self.path, self.size_wh = self._writer.path, self._writer.size_wh

    @property
    def frames(self) -> int:
        return self._writer.frames

    def send(self, frame: np.ndarray, overlay: Sequence[str] = ()) -> None:
        self._writer.write(fit_frame(frame, self.size_wh))

    def close(self) -> None:
        self._writer.close()


# --- null ---------------------------------------------------------------------------


class NullSink(_SinkBase):
    """Counts frames and keeps the last one (by reference): for benchmarks and tests."""

    def __init__(self, size_wh: tuple[int, int] | None = None, fps: float | None = None) -> None:
        self.size_wh, self.fps = size_wh, fps
        self.frames = 0
        self.last: np.ndarray | None = None
        self.last_overlay: list[str] = []

    def send(self, frame: np.ndarray, overlay: Sequence[str] = ()) -> None:
        self.frames += 1
        self.last, self.last_overlay = frame, list(overlay)

    def close(self) -> None:
        pass


# --- choosing a sink ----------------------------------------------------------------


def open_sink(spec: str, size_wh: tuple[int, int], fps: float, *, backend: str | None = None,
              device: str | None = None, inputs: Sequence[str | Path] = (), crf: int = DEFAULT_CRF) -> Sink:
    """spec: "virtualcam", "preview", "file:PATH" or "null" (``config.parse_output``).
    ``inputs``: files being read, which a file output must not be; ``crf``: its quality."""
    kind, path = parse_output(spec.strip())
    if kind == "virtualcam":
        return VirtualCameraSink(size_wh, fps, backend=backend, device=device)
    if kind == "preview":
        return PreviewSink(size_wh, "live-nst")
    if kind == "null":
        return NullSink(size_wh, fps)
    if path is None:  # parse_output gives every file: output its path
        raise ConfigError(f"--output {spec!r} names no file; use file:PATH")
    return FileSink(path, size_wh, fps, inputs=inputs, crf=crf)


def fallback_spec(has_display: bool) -> str:
    """Where the output goes when the virtual camera is missing."""
    return "preview" if has_display else f"{FILE_OUTPUT_PREFIX}{FALLBACK_FILE}"


def open_sink_with_fallback(spec: str, size_wh: tuple[int, int], fps: float, *, backend: str | None = None,
                            device: str | None = None, inputs: Sequence[str | Path] = (),
                            crf: int = DEFAULT_CRF) -> Sink:
    """Like open_sink, but a missing virtual-camera driver falls back to the preview window
    (or, without a display, to a file) instead of stopping."""
    try:
        return open_sink(spec, size_wh, fps, backend=backend, device=device, inputs=inputs, crf=crf)
    except VirtualCameraUnavailable as exc:
        problem = exc  # recovered below: a warning, not an error
    fallback = fallback_spec(display_available())
    log.debug("virtual camera: %s; %s", problem.driver_says, problem)
    log.warning("%s", fallback_warning(fallback))
    return open_sink(fallback, size_wh, fps, inputs=inputs, crf=crf)


def fallback_warning(fallback: str) -> str:
    """One short line: where the frames go instead, and only choices that work here (the
    fallback is the preview exactly when a display answers, so preview is never offered
    without one). The fix itself is long and per-OS: `live-nst doctor` gives it."""
    where = "a preview window" if fallback == "preview" else f"{Path(FALLBACK_FILE).resolve()}"
    return (f"no virtual camera, so frames go to {where}; `live-nst doctor` says how to set one up "
            f"(or choose --output file:PATH or --output null)")
