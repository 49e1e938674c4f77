"""The report's schema: strict JSON and the adaptive section's typed entry (the Markdown
tables for the README: ``live_nst.bench.markdown``; plots: ``live_nst.bench.plots``; the
numbers the style pack's model cards take from a report: ``live_nst.export.pack_report``)."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = "live-nst-bench/1"


def label(size) -> str:
    """A size as WxH."""
    return f"{size[0]}x{size[1]}"


def finite(value) -> bool:
    """A number that JSON can hold (not NaN nor infinite)."""
    return isinstance(value, (int, float)) and math.isfinite(value)


# --- JSON ---------------------------------------------------------------------------
def _clean(value):
    """NaN and infinity become null: the report stays strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(report: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def ok(report: dict, section: str) -> dict | None:
    data = report.get("sections", {}).get(section)
    return data if data and data.get("status") == "ok" else None


# --- the adaptive section ----------------------------------------------------------
def _wh(size) -> tuple[int, int]:
    return int(size[0]), int(size[1])


@dataclass(frozen=True)
class SizeChangeAt:
    """A processing-size decision of the quality controller, ``t_s`` into the run:
    ``old`` -> ``new`` because the frames needed ``frame_ms`` (window median) of ``budget_ms``."""

    t_s: float
    old: tuple[int, int]
    new: tuple[int, int]
    frame_ms: float
    budget_ms: float

    @classmethod
    def from_json(cls, data: dict) -> SizeChangeAt:
        return cls(float(data["t_s"]), _wh(data["old"]), _wh(data["new"]), float(data["frame_ms"]),
                   float(data["budget_ms"]))


@dataclass(frozen=True)
class SizeUse:
    """How many of the steady state's frames went out at one processing size."""

    size: tuple[int, int]
    frames: int
    share: float

    @classmethod
    def from_json(cls, data: dict) -> SizeUse:
        return cls(_wh(data["size"]), int(data["frames"]), float(data["share"]))


@dataclass(frozen=True)
class SecondOfRun:
    """One second of the run from ``t_s``: frames sent per second, the processing size
    chosen at its end (None before the first frame) and the frames' median need, ms."""

    t_s: float
    fps: float
    proc_size: tuple[int, int] | None
    frame_ms: float | None

    @classmethod
    def from_json(cls, data: dict) -> SecondOfRun:
        size = data.get("proc_size")
        return cls(float(data["t_s"]), float(data["fps"]), _wh(size) if size else None,
                   _number(data.get("frame_ms")))


@dataclass(frozen=True)
class BusyCore:
    """The load: a spinning process, pinned to ``core`` (None: unpinned, ``note`` says why)."""

    pid: int
    core: int | None
    note: str

    @classmethod
    def from_json(cls, data: dict) -> BusyCore:
        core = data.get("core")
        return cls(int(data["pid"]), None if core is None else int(core), str(data["note"]))


@dataclass(frozen=True)
class AdaptiveRun:
    """The adaptive section: the live loop on a starved machine, fps against the target."""

    device: str
    provider: str
    painters: int
    ort_threads: int
    clip: str
    input_size: tuple[int, int]
    largest_size: tuple[int, int]  # the configured processing size, top of the ladder
    ladder: tuple[tuple[int, int], ...]  # the sizes the controller may choose, largest first
    target_fps: float
    run_s: float
    settle_s: float  # not counted in achieved_fps and sizes
    achieved_fps: float | None
    ratio: float | None  # achieved / target
    bar: float  # the ratio to hold
    frames: int  # sent in the steady state
    sizes: tuple[SizeUse, ...]
    changes: tuple[SizeChangeAt, ...]
    timeline: tuple[SecondOfRun, ...]
    busy: BusyCore

    @property
    def holds_target(self) -> bool:
        return self.ratio is not None and self.ratio >= self.bar

    def to_json(self) -> dict:
        return {**asdict(self), "holds_target": self.holds_target}

    @classmethod
    def from_json(cls, data: dict) -> AdaptiveRun:
        return cls(
            device=str(data["device"]), provider=str(data["provider"]), painters=int(data["painters"]),
            ort_threads=int(data["ort_threads"]), clip=str(data["clip"]), input_size=_wh(data["input_size"]),
            largest_size=_wh(data["largest_size"]), ladder=tuple(_wh(size) for size in data["ladder"]),
            target_fps=float(data["target_fps"]), run_s=float(data["run_s"]), settle_s=float(data["settle_s"]),
            achieved_fps=_number(data.get("achieved_fps")), ratio=_number(data.get("ratio")),
            bar=float(data["bar"]), frames=int(data["frames"]),
            sizes=tuple(SizeUse.from_json(use) for use in data["sizes"]),
            changes=tuple(SizeChangeAt.from_json(change) for change in data["changes"]),
            timeline=tuple(SecondOfRun.from_json(second) for second in data["timeline"]),
            busy=BusyCore.from_json(data["busy"]))


# The numbers the style pack's model cards take from a report are read by
# export/pack_report.py; the rest of the report is for people (tables, plots) and stays
# a plain dict.
def _number(value) -> float | None:
    return float(value) if finite(value) else None
