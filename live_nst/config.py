"""Configuration: frozen dataclasses, read from a TOML file, with CLI flags on top.

Every value is validated when the configuration is built, so a bad value stops the
program at start with a message naming the key, not halfway through a stream.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from live_nst.errors import ConfigError
from live_nst.outputs import expand_user

log = logging.getLogger(__name__)

OUTPUT_KINDS = ("virtualcam", "preview", "null")  # and "file:PATH"
FILE_OUTPUT_PREFIX = "file:"
# The video files live-nst writes (live_nst.video has the codec of each).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")


def parse_output(spec: str) -> tuple[str, Path | None]:
    """An output spec -> (kind, path): ("virtualcam", None) ... or ("file", PATH) for
    "file:PATH" or a bare path ending in a video suffix ("out.mp4"); ``~`` is expanded."""
    if spec in OUTPUT_KINDS:
        return spec, None
    if isinstance(spec, str) and spec.startswith(FILE_OUTPUT_PREFIX) and spec.removeprefix(FILE_OUTPUT_PREFIX):
        return "file", expand_user(spec.removeprefix(FILE_OUTPUT_PREFIX))
    if isinstance(spec, str) and Path(spec).suffix.lower() in VIDEO_SUFFIXES:
        return "file", expand_user(spec)
    raise ConfigError(f"output must be virtualcam, preview, null, or a video file (file:PATH, or a path ending in "
                      f"{', '.join(VIDEO_SUFFIXES)}), got {spec!r}")


def parse_size(text: str, what: str = "size") -> tuple[int, int]:
    """'1280x720' -> (1280, 720), as (width, height)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not match:
        raise ConfigError(f"{what} must look like WIDTHxHEIGHT (e.g. 1280x720), got {text!r}")
    width, height = int(match[1]), int(match[2])
    if not (16 <= width <= 7680 and 16 <= height <= 4320):
        raise ConfigError(f"{what} {width}x{height} is out of range: each side must be 16..7680 px")
    return width, height


def parse_output_size(text: str, what: str = "size") -> tuple[int, int]:
    """An output size, as ``parse_size``, with odd sides rounded down to even ones and a
    note saying so: virtual cameras send I420 (and video files are 4:2:0), which needs
    even sides, and Chrome refuses an odd width from v4l2loopback."""
    width, height = parse_size(text, what)
    even = (width - width % 2, height - height % 2)
    if even != (width, height):
        log.info("%s %dx%d rounded to %dx%d: virtual cameras and video files need even sides", what, width, height,
                 *even)
    return even


LOOPBACK_HOST = "127.0.0.1"  # where the control server listens unless a HOST is given


def parse_control(spec: str, what: str = "control") -> tuple[str, int]:
    """``--control [HOST:]PORT`` -> (host, port): "8765" -> ("127.0.0.1", 8765); an IPv6
    HOST goes in brackets ("[::1]:8765"); PORT 0 lets the system pick a free one."""
    match = re.fullmatch(r"(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):)?(\d{1,5})", str(spec).strip())
    if not match or int(match[2]) > 65535:
        raise ConfigError(f"{what} must be [HOST:]PORT with PORT a number from 0 to 65535, e.g. 8765 or "
                          f"0.0.0.0:8765 (IPv6 in brackets: [::1]:8765), got {spec!r}")
    host = (match[1] or LOOPBACK_HOST).strip("[]")
    return host, int(match[2])


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not isinstance(value, (int, float)) or not (low <= value <= high):
        raise ConfigError(f"{name} must be a number from {low} to {high}, got {value!r}")


@dataclass(frozen=True)
class RegionConfig:
    """What one region (person or background) looks like."""

    style: str
    strength: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.style, str) or not self.style:
            raise ConfigError(f"a region's style must be a style name, 'original' or 'blur', got {self.style!r}")
        _check_range("strength", self.strength, 0.0, 1.0)


@dataclass(frozen=True)
class SegmentationConfig:
    enabled: bool = True
    model: str = "auto"  # "auto", "landscape", "square" or a .tflite path
    temporal_smoothing: float = 0.5  # 0 = none; weight of the previous mask where nothing moved
    feather_px: int = 4  # edge-aware feather radius at processing resolution
    # Run the segmenter on one frame in ``every``; in between, the last mask is carried
    # along the optical flow (which temporal blending computes anyway).
    every: int = 2

    def __post_init__(self) -> None:
        _check_range("segmentation.temporal_smoothing", self.temporal_smoothing, 0.0, 0.95)
        _check_range("segmentation.feather_px", self.feather_px, 0, 64)
        if not isinstance(self.every, int) or isinstance(self.every, bool) or not 1 <= self.every <= 8:
            raise ConfigError(f"segmentation.every must be a whole number from 1 to 8, got {self.every!r}")


@dataclass(frozen=True)
class TemporalConfig:
    enabled: bool = True
    blend: float = 0.7  # weight of the warped previous output where motion is consistent
    # Mean abs frame difference (0..1) that counts as a cut; measured on the clips here:
    # 0.14-0.33 at cuts, at most 0.08 between consecutive frames of one shot.
    scene_cut: float = 0.12

    def __post_init__(self) -> None:
        _check_range("temporal.blend", self.blend, 0.0, 0.95)
        _check_range("temporal.scene_cut", self.scene_cut, 0.01, 1.0)


@dataclass(frozen=True)
class FacesConfig:
    """Face guard: the style eases off on faces so eyes and mouths stay readable.

    MediaPipe's face detector runs on one frame in ``every``; in between, the face mask
    is carried along the optical flow. On the face, ``ease`` of each style's share goes
    back to the photo (0: no easing), and ``detail`` of the paint's fine lightness detail
    gives way to the photo's (the eyes, lids and lips a viewer reads a face by, under the
    paint's colours)."""

    enabled: bool = True
    # Chosen on 14 tuning portraits with a face (the shipped pack, 8 styles): faces kept /
    # face-over-body paint 0.88 / 0.47 with ease 0.6 and no detail (the old guard), 0.86 / 0.61
    # with 0.4 and detail 1, 0.79 / 0.77 with 0.2, 0.73 / 0.92 with detail alone.
    ease: float = 0.4
    every: int = 4
    detail: float = 1.0

    def __post_init__(self) -> None:
        _check_range("faces.ease", self.ease, 0.0, 1.0)
        _check_range("faces.detail", self.detail, 0.0, 1.0)
        if not isinstance(self.every, int) or isinstance(self.every, bool) or not 1 <= self.every <= 30:
            raise ConfigError(f"faces.every must be a whole number from 1 to 30, got {self.every!r}")


DEFAULT_KEYS = {
    "next_person_style": "]",
    "prev_person_style": "[",
    "next_background_style": "'",
    "prev_background_style": ";",
    "swap_styles": "s",
    "toggle_segmentation": "m",
    "toggle_styling": "t",
    "strength_up": "=",
    "strength_down": "-",
    "snapshot": "p",
    "quit": "q",
}


@dataclass(frozen=True)
class KeysConfig:
    """Key bindings. Global hotkeys use ``modifier`` + key (pynput syntax, e.g.
    '<ctrl>+<alt>'), so they do not fire while typing in a meeting chat; the preview
    window takes the bare key."""

    bindings: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    modifier: str = "<ctrl>+<alt>"
    global_hotkeys: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.bindings) - set(DEFAULT_KEYS))
        if unknown:
            raise ConfigError(f"unknown key actions {unknown}; known actions: {sorted(DEFAULT_KEYS)}")
        keys = list(self.bindings.values())
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ConfigError(f"keys {dupes} are bound to more than one action in [keys]")
        bad = [k for k in keys if not isinstance(k, str) or len(k) != 1]
        if bad:
            raise ConfigError(f"each key must be a single character, got {bad}")


@dataclass(frozen=True)
class RunConfig:
    source: str = "auto"  # "auto", "webcam:N", "sample" or a video path
    output: str = "virtualcam"  # "virtualcam", "preview", "file:PATH", "null"
    size_wh: tuple[int, int] = (1280, 720)
    fps: float = 30.0
    proc_size_wh: tuple[int, int] = (640, 360)
    device: str = "auto"
    person: RegionConfig = RegionConfig("starry_night")
    background: RegionConfig = RegionConfig("great_wave")
    segmentation: SegmentationConfig = SegmentationConfig()
    temporal: TemporalConfig = TemporalConfig()
    faces: FacesConfig = FacesConfig()
    keys: KeysConfig = KeysConfig()
    virtualcam_backend: str | None = None  # None = auto
    virtualcam_device: str | None = None  # e.g. /dev/video10 on Linux
    styles_dir: str | None = None  # extra .onnx styles; default: the user config folder
    crossfade_s: float = 0.3
    # Adaptive quality: the processing size steps down (to 320x180 at the least) when the
    # machine cannot hold ``fps``, and back up to proc_size when it can; False: fixed.
    adaptive: bool = True
    # Threads running the style networks side by side (live); None: auto (2 on a CPU).
    painters: int | None = None
    crf: int = 23  # quality of a video file written: 0-51, lower is better and larger (x264's default)
    control: str | None = None  # "[HOST:]PORT": serve the control page and API there (live_nst.remote)

    def __post_init__(self) -> None:
        _check_range("fps", self.fps, 1, 240)
        _check_range("crossfade_s", self.crossfade_s, 0.0, 5.0)
        if not isinstance(self.adaptive, bool):
            raise ConfigError(f"adaptive must be true or false, got {self.adaptive!r}")
        if self.painters is not None and (isinstance(self.painters, bool) or not isinstance(self.painters, int)
                                          or not 0 <= self.painters <= 8):
            raise ConfigError(f"painters must be a whole number from 0 to 8 (or left out: auto), got {self.painters!r}")
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise ConfigError(f"crf must be a whole number from 0 to 51 (lower: better and larger), got {self.crf!r}")
        parse_output(self.output)
        if self.control is not None:
            parse_control(self.control)

    def with_overrides(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


BOOL, INT, NUMBER, TEXT = "true or false", "a whole number", "a number", "a string"
# Every key of the config file, by section, and the kind of TOML value it takes.
SCHEMA: dict[str, dict[str, str]] = {
    "run": {"source": TEXT, "output": TEXT, "size": TEXT, "proc_size": TEXT, "fps": NUMBER, "device": TEXT,
            "crossfade_s": NUMBER, "adaptive": BOOL, "painters": INT, "virtualcam_backend": TEXT,
            "virtualcam_device": TEXT, "styles_dir": TEXT, "crf": INT, "control": TEXT},
    "person": {"style": TEXT, "strength": NUMBER},
    "background": {"style": TEXT, "strength": NUMBER},
    "segmentation": {"enabled": BOOL, "model": TEXT, "temporal_smoothing": NUMBER, "feather_px": INT, "every": INT},
    "temporal": {"enabled": BOOL, "blend": NUMBER, "scene_cut": NUMBER},
    "faces": {"enabled": BOOL, "ease": NUMBER, "every": INT, "detail": NUMBER},
    "keys": {"modifier": TEXT, "global_hotkeys": BOOL, **{action: TEXT for action in DEFAULT_KEYS}},
}
_SECTIONS = {"person": RegionConfig, "background": RegionConfig, "segmentation": SegmentationConfig,
             "temporal": TemporalConfig, "faces": FacesConfig}


def load_config(path: str | Path | None) -> RunConfig:
    """Read a TOML config file (see README); None gives the defaults."""
    if path is None:
        return RunConfig()
    path = expand_user(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; check the path given to --config") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder; give the path of a .toml file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return config_from_dict(raw, origin=str(path))


def config_from_dict(raw: dict[str, Any], origin: str = "config") -> RunConfig:
    """A RunConfig from a parsed TOML document. Every key's type is checked before its
    value; a ConfigError names the file, the section and the key, and for an unknown
    name suggests the closest known one."""
    try:
        sections = {name: _section(name, value) for name, value in raw.items()}
        kwargs: dict[str, Any] = {}
        for name, cls in _SECTIONS.items():
            if name in sections:
                base = dataclasses.asdict(getattr(RunConfig(), name))
                kwargs[name] = _build(name, cls, **{**base, **sections[name]})
        if "keys" in sections:
            keys = dict(sections["keys"])
            settings = {k: keys.pop(k) for k in ("modifier", "global_hotkeys") if k in keys}
            kwargs["keys"] = _build("keys", KeysConfig, bindings={**DEFAULT_KEYS, **keys}, **settings)
        run = dict(sections.get("run", {}))
        for short, parse in (("size", parse_output_size), ("proc_size", parse_size)):
            if short in run:
                kwargs[f"{short}_wh"] = _build("run", parse, run.pop(short), short)
        return _build("run", RunConfig, **kwargs, **_expand_paths(run))
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def _section(name: str, value: Any) -> dict[str, Any]:
    """A section's keys after checking the section, each key's name and its value's type."""
    if name not in SCHEMA:
        raise ConfigError(f"[{name}] is not a section{_closest(name, SCHEMA)}; the sections are "
                          f"{', '.join(f'[{s}]' for s in SCHEMA)}")
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a section (a [{name}] line, then key = value lines), got "
                          f"{_describe(value)}")
    known = SCHEMA[name]
    for key, item in value.items():
        if key not in known:
            raise ConfigError(f"[{name}] {key} is not a setting{_closest(key, known)}; [{name}] takes "
                              f"{', '.join(known)}")
        kind = known[key]
        if not _is_kind(item, kind):
            raise ConfigError(f"[{name}] {key} must be {kind}, got {_describe(item)}{_quote_hint(item, kind)}")
    return dict(value)


def _build(section: str, make: Any, *args: Any, **kwargs: Any) -> Any:
    """``make(*args, **kwargs)``, its ConfigError naming the section."""
    try:
        return make(*args, **kwargs)
    except ConfigError as exc:
        message = str(exc).removeprefix(f"{section}.")  # "faces.every must..." -> "[faces] every must..."
        raise ConfigError(f"[{section}] {message}") from None


def _is_kind(value: Any, kind: str) -> bool:
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def _describe(value: Any) -> str:
    kinds = {bool: "a boolean", int: "a whole number", float: "a number", str: "a string", list: "a list",
             dict: "a table"}
    text = ("true" if value else "false") if isinstance(value, bool) else repr(value)
    return f"{text[:60]} ({kinds.get(type(value), type(value).__name__)})"


def _quote_hint(value: Any, kind: str) -> str:
    if isinstance(value, str) and kind in (BOOL, INT, NUMBER):
        return f"; write it without quotes, e.g. {value.strip().lower() if kind == BOOL else value.strip()}"
    return ""


def _closest(name: str, known: Any) -> str:
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _expand_paths(run: dict[str, Any]) -> dict[str, Any]:
    """``~`` in the [run] paths: styles_dir, a video source, a file: output."""
    run = dict(run)
    if "styles_dir" in run:
        run["styles_dir"] = str(expand_user(run["styles_dir"]))
    if str(run.get("source", "")).startswith("~"):
        run["source"] = str(expand_user(run["source"]))
    output = str(run.get("output", ""))
    if output.startswith(f"{FILE_OUTPUT_PREFIX}~"):
        run["output"] = FILE_OUTPUT_PREFIX + str(expand_user(output.removeprefix(FILE_OUTPUT_PREFIX)))
    return run
