"""The part of a ``live-nst-bench`` report that the style pack's model cards are made of.

The bench writes the report (``live_nst.bench.report``: strict JSON, the numbers as plain
dicts); ``export/style_pack.py`` reads these typed numbers from it into the model cards and
the model's metadata. The schema lives here, below the bench, so that ``export/`` never
imports ``bench/`` (``tools/import_graph.py``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path


def _number(value) -> float | None:
    """A finite number as float, anything else (None, NaN, text) as None."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


@dataclass(frozen=True)
class NetworkTime:
    """live-nst's own network time at one processing size, from the peers section."""

    device: str
    proc_size_wh: tuple[int, int]
    median_ms: float | None
    p95_ms: float | None

    @classmethod
    def from_json(cls, run: dict) -> NetworkTime:
        width, height = run["proc_size"]
        return cls(run["device"], (int(width), int(height)), _number(run["network_ms"]["median"]),
                   _number(run["network_ms"]["p95"]))


@dataclass(frozen=True)
class FidelitySummary:
    """Gram style and content losses of the network beside a Gatys optimisation (means and
    geometric-mean ratios over the photos; None where a value was not finite)."""

    style_loss_network: float | None = None
    style_loss_gatys: float | None = None
    content_loss_network: float | None = None
    content_loss_gatys: float | None = None
    style_ratio: float | None = None
    content_ratio: float | None = None
    style_gap_closed: float | None = None

    @classmethod
    def from_json(cls, summary: dict) -> FidelitySummary:
        return cls(**{f.name: _number(summary.get(f.name)) for f in fields(cls)})


@dataclass(frozen=True)
class StyleFidelity:
    summary: FidelitySummary
    photos: tuple[str, ...]  # the photos it was measured on

    @classmethod
    def from_json(cls, entry: dict) -> StyleFidelity:
        return cls(FidelitySummary.from_json(entry.get("summary", {})),
                   tuple(str(pair["photo"]) for pair in entry.get("pairs", [])))


@dataclass(frozen=True)
class FidelitySetup:
    """How the fidelity section measured (None throughout when it did not run)."""

    size: int | None = None
    style_size: int | None = None
    gatys_steps: int | None = None
    style_layers: tuple[str, ...] | None = None
    content_layer: str | None = None

    @classmethod
    def from_json(cls, section: dict) -> FidelitySetup:
        layers = section.get("style_layers")
        return cls(section.get("size"), section.get("style_size"), section.get("gatys_steps"),
                   tuple(layers) if layers is not None else None, section.get("content_layer"))


_ALL_STYLES_KEYS = ("style_ratio", "content_ratio", "baseline_style_ratio", "baseline_content_ratio")


@dataclass(frozen=True)
class PackMeasures:
    """The part of a bench report that the style pack's model cards are made of."""

    machine: str
    network_times: tuple[NetworkTime, ...]
    fidelity_setup: FidelitySetup
    fidelity: dict[str, StyleFidelity]  # style name -> its numbers
    created: str = ""  # when the bench ran (ISO time)
    # all styles together: style and content ratios, and the baseline model's where it ran
    fidelity_all: dict[str, float | str | None] = field(default_factory=dict)

    @classmethod
    def from_json(cls, report: dict) -> PackMeasures:
        sections = report.get("sections", {})
        peers, fidelity = sections.get("peers", {}), sections.get("fidelity", {})
        times = tuple(NetworkTime.from_json(run) for run in peers.get("runs", [])
                      if run.get("model") == "live-nst" and "network_ms" in run)
        styles = {name: StyleFidelity.from_json(entry) for name, entry in fidelity.get("styles", {}).items()}
        overall = fidelity.get("summary") or {}
        together: dict[str, float | str | None] = {
            key: _number(overall.get(key)) for key in _ALL_STYLES_KEYS if key in overall}
        if fidelity.get("baseline_model"):
            together["baseline_model"] = Path(fidelity["baseline_model"]).name
        return cls(machine=report.get("machine", {}).get("label", ""), network_times=times,
                   fidelity_setup=FidelitySetup.from_json(fidelity), fidelity=styles,
                   created=report.get("created", ""), fidelity_all=together)

    @classmethod
    def read(cls, path: Path) -> PackMeasures:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
