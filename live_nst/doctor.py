"""``live-nst doctor``: what live-nst can use on this machine, and the fix for what it cannot.

One function per check, each returning a :class:`Check`: a status (ok, missing or
broken), what was found, and the fix in one line. The checks try the real thing where
that is quick and harmless (a test run of the style network on each provider, a frame
from each camera, the virtual camera opened and closed again) and read what the system
shows elsewhere (sysfs for v4l2loopback, the asset cache). None of them raises, and a
camera that never answers costs a few seconds, not a hang.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from live_nst.errors import LiveNSTError, first_line
from live_nst.video4linux import EXCLUSIVE_CAPS_FIX, RELOAD, SYSFS, capture_nodes, describe_loopback, loopback_devices

log = logging.getLogger(__name__)

STATUSES = ("ok", "missing", "broken")
CAMERA_TIMEOUT_S = 3.0  # for one camera to open and deliver a frame
MAX_CAMERAS = 4  # camera indices probed at the most
CAMERA_FIX = "connect a camera, or try live-nst without one: --source sample (an animated portrait)"
BUSY_CAMERA_FIX = ("close the program that holds the camera (a video call, a browser tab, OBS) and check again, "
                   "or choose another camera with --source webcam:N")
CAMERA_ACCESS_FIX = {
    "Linux": "add yourself to the video group (sudo usermod -aG video $USER, then log in again)",
    "Darwin": "allow camera access for your terminal in System Settings > Privacy & Security > Camera",
    "Windows": "allow camera access in Settings > Privacy & security > Camera",
}
REINSTALL_FIX = "reinstall live-nst: pip install --force-reinstall live-nst"
T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    status: str  # one of STATUSES
    detail: str  # what was found
    fix: str = ""  # one line: what to do about it ("" when nothing is to be done)
    data: dict[str, Any] = field(default_factory=dict)  # the findings, for --json

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"a check's status is one of {STATUSES}, got {self.status!r}")

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "detail": self.detail, "fix": self.fix, **self.data}


def _within(seconds: float, work: Callable[[], T]) -> T | None:
    """``work()`` on a daemon thread; None when it has not returned within ``seconds``
    (a driver stuck in a call: the thread is left behind, the doctor goes on)."""
    results: list[T] = []
    thread = threading.Thread(target=lambda: results.append(work()), name="live-nst-doctor-probe", daemon=True)
    thread.start()
    thread.join(seconds)
    return results[0] if results else None


# --- execution providers ------------------------------------------------------------


def check_providers(model: Path | None = None) -> Check:
    """Every provider onnxruntime offers, tried with a test run of the shipped pack (or ``model``)."""
    import onnxruntime as ort

    from live_nst import providers
    from live_nst.catalog import packaged_styles_dir
    from live_nst.inference import StyleModel

    model = model or packaged_styles_dir() / "pack.onnx"
    available = ort.get_available_providers()
    usable: list[str] = []
    not_usable: dict[str, str] = {}
    for name, provider in providers.PROVIDERS.items():
        if provider not in available:
            continue
        try:
            StyleModel(model, name, threads=1)
            usable.append(provider)
        except providers.DeviceUnusable as exc:
            not_usable[provider] = exc.reason
        except LiveNSTError as exc:
            not_usable[provider] = str(exc)
    chosen = usable[0] if usable else None
    build = providers.onnxruntime_build()
    driver = providers.nvidia_driver_present()
    data = {"available": available, "usable": usable, "chosen": chosen, "not_usable": not_usable,
            "onnxruntime": build, "nvidia_driver": driver}
    why = "".join(f"; {provider}: {reason}" for provider, reason in not_usable.items())
    if chosen is None:
        return Check("broken", f"no provider could run the style network ({build}){why}",
                     providers.DEVICE_FIXES["cpu"], data)
    detail = f"{chosen} chosen, its test run passed ({build}){why}"
    if driver and chosen not in providers.NVIDIA_PROVIDERS:
        cuda = providers.PROVIDERS["cuda"]
        libraries_missing = cuda not in available or providers.missing_library(cuda) is not None
        return Check("missing" if libraries_missing else "broken", f"an NVIDIA driver is installed, but {detail}",
                     providers.CUDA_FIX, data)
    return Check("ok", detail, "", data)


# --- cameras ------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraProbe:
    index: int
    name: str
    opened: bool
    frame_wh: tuple[int, int] | None  # the size of the frame it delivered
    answered: bool = True  # False: it did not open and deliver within the timeout

    def describe(self) -> str:
        label = f"webcam:{self.index}" + (f" '{self.name}'" if self.name else "")
        if not self.answered:
            return f"{label} did not answer within {CAMERA_TIMEOUT_S:g} s"
        if self.frame_wh:
            return f"{label} delivers {self.frame_wh[0]}x{self.frame_wh[1]}"
        return f"{label} opens but delivers no frame" if self.opened else f"{label} does not open"


def probe_camera(index: int, name: str = "", opener: Callable[[int], Any] | None = None,
                 timeout_s: float = CAMERA_TIMEOUT_S) -> CameraProbe:
    """Open camera ``index`` and read one frame, within ``timeout_s``; it is released again."""
    from live_nst.sources import default_opener

    def attempt() -> CameraProbe:
        try:
            capture = (opener or default_opener)(index)
        except Exception:  # noqa: BLE001 - a backend's own errors: the camera does not open
            return CameraProbe(index, name, False, None)
        try:
            if not capture.isOpened():
                return CameraProbe(index, name, False, None)
            ok, image = capture.read()
            shape: tuple[int, ...] = tuple(getattr(image, "shape", ()))
            return CameraProbe(index, name, True, (shape[1], shape[0]) if ok and len(shape) >= 2 else None)
        except Exception:  # noqa: BLE001
            return CameraProbe(index, name, True, None)
        finally:
            capture.release()

    return _within(timeout_s, attempt) or CameraProbe(index, name, False, None, answered=False)


def check_cameras(system: str | None = None, sys_root: Path = SYSFS, opener: Callable[[int], Any] | None = None,
                  timeout_s: float = CAMERA_TIMEOUT_S) -> Check:
    """Each camera opened and asked for a frame. On Linux the capture nodes sysfs lists;
    elsewhere the indices in turn, until one does not open."""
    system = system or platform.system()
    probes: list[CameraProbe] = []
    if system == "Linux":
        nodes = capture_nodes(sys_root)[:MAX_CAMERAS]
        probes = [probe_camera(index, name, opener, timeout_s) for index, name in nodes]
    else:
        for index in range(MAX_CAMERAS):
            probes.append(probe_camera(index, "", opener, timeout_s))
            if not probes[-1].opened:
                break
    data = {"cameras": [{"source": f"webcam:{p.index}", "name": p.name, "opens": p.opened, "frame_wh": p.frame_wh,
                         "answered": p.answered} for p in probes]}
    found = "; ".join(probe.describe() for probe in probes)
    if any(probe.frame_wh for probe in probes):
        return Check("ok", found, "", data)
    if not probes:
        return Check("missing", f"no camera found ({sys_root / 'class' / 'video4linux'} lists none)", CAMERA_FIX, data)
    if system != "Linux" and not probes[0].opened and probes[0].answered:
        return Check("missing", f"no camera found ({found})",
                     f"{CAMERA_FIX}; if one is connected, {CAMERA_ACCESS_FIX.get(system, BUSY_CAMERA_FIX)}", data)
    if any(probe.opened or not probe.answered for probe in probes):
        return Check("broken", found, BUSY_CAMERA_FIX, data)
    return Check("broken", found, CAMERA_ACCESS_FIX.get(system, BUSY_CAMERA_FIX), data)


# --- the virtual camera -------------------------------------------------------------


def check_virtual_camera(system: str | None = None, sys_root: Path = SYSFS,
                         backends: Sequence[str] | None = None) -> Check:
    """Linux: the v4l2loopback devices in sysfs and their exclusive_caps. Windows and
    macOS: the OBS (or Unity Capture) camera opened and closed again through pyvirtualcam."""
    from live_nst.sinks import virtual_camera_fix

    system = system or platform.system()
    if system == "Linux" and backends is None:
        return _check_v4l2loopback(sys_root)
    try:
        import pyvirtualcam
    except ImportError as exc:
        return Check("broken", f"pyvirtualcam does not import ({first_line(exc)})", REINSTALL_FIX)
    names = list(backends) if backends is not None else [b for b in ("obs", "unitycapture")
                                                          if b in pyvirtualcam.camera.BACKENDS]
    problems = []
    for backend in names:
        try:
            with pyvirtualcam.Camera(640, 480, 30, backend=backend) as camera:
                return Check("ok", f"{camera.device} (backend {backend}) opens", "", {"backend": backend,
                                                                                   "device": camera.device})
        except (RuntimeError, ValueError) as exc:
            problems.append(f"{backend}: {first_line(exc)}")
    return Check("missing", "no virtual camera opens" + (f" ({'; '.join(problems)})" if problems else ""),
                 virtual_camera_fix(system), {"problems": problems})


def _check_v4l2loopback(sys_root: Path) -> Check:
    from live_nst.sinks import virtual_camera_fix

    devices = loopback_devices(sys_root)
    if devices is None:
        return Check("missing", "the v4l2loopback kernel module is not loaded", virtual_camera_fix("Linux"),
                     {"devices": []})
    data = {"devices": [{"device": d.path, "name": d.name, "exclusive_caps": d.exclusive_caps} for d in devices]}
    if not devices:
        return Check("missing", "v4l2loopback is loaded but made no device", f"reload it with a device: {RELOAD}",
                     data)
    found = "; ".join(describe_loopback(device) for device in devices)
    listed = [device for device in devices if device.exclusive_caps is not False]
    if not listed:
        return Check("broken", f"{found}: Chrome and Zoom do not list a device without exclusive_caps",
                     EXCLUSIVE_CAPS_FIX, data)
    several = f"; pass --virtualcam-device {listed[0].path}" if len(listed) < len(devices) else ""
    return Check("ok", found + several, "", data)


# --- global hotkeys -----------------------------------------------------------------


def check_hotkeys(system: str | None = None) -> Check:
    """The desktop-wide hotkeys, registered for real and released again."""
    from live_nst.config import KeysConfig
    from live_nst.controls import WAYLAND_HOTKEYS_FIX, CommandQueue, GlobalHotkeys, hotkeys_fix
    from live_nst.sinks import display_available

    system = system or platform.system()
    if system == "Linux":
        if os.environ.get("XDG_SESSION_TYPE") == "wayland" or os.environ.get("WAYLAND_DISPLAY"):
            return Check("broken", "a Wayland session: Ctrl+Alt hotkeys reach live-nst only while an X11 "
                         "(XWayland) window has the focus", WAYLAND_HOTKEYS_FIX, {"session": "wayland"})
        if not display_available():
            return Check("missing", "no X11 display (DISPLAY is unset, or no X server answers there)",
                         hotkeys_fix(system, has_display=False), {"session": None})
    hotkeys = GlobalHotkeys(KeysConfig(), CommandQueue())
    started = hotkeys.start(quiet=True)
    hotkeys.stop()
    session = {"Linux": f"X11 {os.environ.get('DISPLAY', '')}"}.get(system, system)
    if started:
        return Check("ok", f"Ctrl+Alt hotkeys register ({session})", "", {"session": session})
    return Check("broken", f"global hotkeys do not start: {hotkeys.problem}", hotkeys_fix(system),
                 {"session": session})


# --- models -------------------------------------------------------------------------


def check_assets(cache: Path | None = None, styles_dir: str | Path | None = None) -> Check:
    """The MediaPipe models in the asset cache (sha256-checked), the shipped style pack and
    the user styles; what the first run would fetch."""
    from live_nst.assets import cache_dir, sha256_of
    from live_nst.catalog import StyleCatalog, packaged_styles_dir, user_styles_dir
    from live_nst.faces import FACE_MODEL
    from live_nst.segment import LANDSCAPE_MODEL, MEDIAPIPE_WHEEL, SQUARE_MODEL

    cache = cache or cache_dir()
    needed = {"person segmentation": LANDSCAPE_MODEL, "face detector": FACE_MODEL}
    files: dict[str, str] = {}
    for asset in (LANDSCAPE_MODEL, FACE_MODEL, SQUARE_MODEL):
        path = cache / asset.filename
        files[asset.filename] = ("not cached" if not path.is_file()
                                 else "verified" if sha256_of(path) == asset.sha256 else "corrupt")
    fetch = [asset for asset in needed.values() if files[asset.filename] != "verified"]
    catalog = StyleCatalog.default(styles_dir)
    pack = [e.name for e in catalog.entries.values() if e.path.parent == packaged_styles_dir()]
    user = [e.name for e in catalog.entries.values() if e.path.parent != packaged_styles_dir()]
    data = {"cache": str(cache), "files": files, "would_fetch": [a.filename for a in fetch], "pack_styles": pack,
            "user_styles": user, "user_styles_dir": str(user_styles_dir()),
            "problems": {str(path): problem for path, problem in catalog.problems.items()}}
    detail = (f"{', '.join(f'{name} {files[a.filename]}' for name, a in needed.items())} in {cache}; "
              f"shipped pack: {len(pack)} styles; user styles: {len(user)}")
    corrupt = [cache / name for name, state in files.items() if state == "corrupt"]
    if corrupt:
        return Check("broken", f"{detail}; {', '.join(map(str, corrupt))} fails its sha256",
                     f"delete {' '.join(map(str, corrupt))}: the next run fetches a fresh copy", data)
    if not pack:
        return Check("broken", f"{detail}; the shipped style pack is missing from {packaged_styles_dir()}",
                     REINSTALL_FIX, data)
    if catalog.problems:
        broken = ", ".join(path.name for path in catalog.problems)
        return Check("broken", f"{detail}; skipped style files: {broken} ('live-nst styles' says why)",
                     "re-export them with 'live-nst export', or remove them from the styles folder", data)
    if fetch:
        size = sum(asset.size for asset in fetch) // 1000
        return Check("missing", f"{detail}; the first run fetches {', '.join(a.filename for a in fetch)}",
                     f"nothing to do with a network: the first run fetches them ({size} kB, from MediaPipe's model "
                     f"storage or else the {MEDIAPIPE_WHEEL} wheel through pip); offline, pass "
                     f"--segmentation-model PATH and --face-ease 0", data)
    return Check("ok", detail, "", data)


# --- audio --------------------------------------------------------------------------


def check_audio() -> Check:
    """PyAV's FFmpeg and the encoders live-nst writes video files and their sound with."""
    from live_nst.encode import FORMATS

    try:
        import av
    except ImportError as exc:
        return Check("missing", f"PyAV does not import ({first_line(exc)})", "pip install --force-reinstall av")
    wanted = sorted({codec for fmt in FORMATS.values() for codec in (fmt.audio_codec, fmt.video_codec) if codec})
    missing = []
    for codec in wanted:
        try:
            av.codec.Codec(codec, "w")
        except ValueError:
            missing.append(codec)
    data = {"pyav": av.__version__, "ffmpeg": getattr(av, "ffmpeg_version_info", None), "encoders": wanted,
            "missing_encoders": missing}
    found = f"PyAV {av.__version__} (FFmpeg {data['ffmpeg'] or 'unknown'})"
    if missing:
        return Check("broken", f"{found} lacks the encoders {', '.join(missing)}",
                     "pip install --force-reinstall av (its wheels carry every encoder live-nst uses)", data)
    sound = sorted({fmt.audio_codec for fmt in FORMATS.values() if fmt.audio_codec})
    return Check("ok", f"{found} encodes the sound of renders ({', '.join(sound)}) and their video", "", data)


# --- all of them --------------------------------------------------------------------

CHECKS: dict[str, Callable[[], Check]] = {
    "providers": check_providers,
    "cameras": check_cameras,
    "virtual_camera": check_virtual_camera,
    "hotkeys": check_hotkeys,
    "assets": check_assets,
    "audio": check_audio,
}


def run_checks(checks: dict[str, Callable[[], Check]] | None = None) -> dict[str, Check]:
    """Every check; one that fails unexpectedly is reported as broken, and the others still run."""
    results = {}
    for name, check in (checks or CHECKS).items():
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - the doctor reports, whatever happens in one check
            log.debug("the %s check failed", name, exc_info=True)
            results[name] = Check("broken", f"the check itself failed: {type(exc).__name__}: {first_line(exc)}",
                                  "this is a bug in live-nst: run 'live-nst -v doctor' and report what it prints")
    return results


def report_text(results: dict[str, Check]) -> str:
    """One line per check (status, name, what was found), its fix on the next."""
    width = max(len(name) for name in results)
    lines = []
    for name, check in results.items():
        lines.append(f"{check.status:<8} {name:<{width}}  {check.detail}")
        if check.fix:
            lines.append(f"{'':<8} {'':<{width}}  fix: {check.fix}")
    counts = ", ".join(f"{sum(c.status == s for c in results.values())} {s}" for s in STATUSES)
    lines.append(f"{counts}; 'live-nst doctor --json' gives the same for scripts")
    return "\n".join(lines)
