"""What passes between a frame's stages (:class:`live_nst.pipeline.FramePipeline`'s
``prepare``, ``paint`` and ``finish``, which may run on different threads): the prepared
frame, its networks' jobs, and the time each stage took."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from live_nst.temporal import Motion

# The stages StageTimer reports, in order (the benchmark reads them by these names):
# "flow" is the optical flow (prepare's), "plan" the style weights and the networks' jobs,
# "stylize" the networks' passes, "temporal" the blend with the last output (finish's).
PIPELINE_STAGES = ("resize_in", "flow", "segment", "faces", "plan", "stylize", "compose", "temporal", "resize_out")
RESIZE_IN, FLOW, SEGMENT, FACES, PLAN, STYLIZE, COMPOSE, TEMPORAL, RESIZE_OUT = PIPELINE_STAGES


@dataclass
class StageTimer:
    """Milliseconds per stage of the last frame."""

    ms: dict[str, float] = field(default_factory=dict)
    _start: float = 0.0

    def start(self) -> None:
        self.ms = {}
        self.resume()

    def resume(self) -> None:
        """Go on timing after a pause (another thread's work, a wait), keeping the laps."""
        self._start = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.ms[stage] = self.ms.get(stage, 0.0) + (now - self._start) * 1000.0
        self._start = now


Layer = tuple[np.ndarray, np.ndarray | float]  # an image and its weight map (or one weight)


@dataclass
class StyleJob:
    """One pass of one model: its per-pixel style weights and the layer weight map."""

    path: Path
    weights: np.ndarray  # (S, h, w) float32
    layer_weight: np.ndarray | float


@dataclass
class PreparedFrame:
    """A frame through :meth:`FramePipeline.prepare`: everything painting it needs."""

    proc: np.ndarray  # the frame at the processing size
    jobs: list[StyleJob]
    fixed_layers: list[Layer]  # the 'original' and 'blur' looks
    motion: Motion | None  # from the previous prepared frame
    blend: bool  # temporal blending for this frame
    reset_history: bool  # the blend history ends before this frame
    timer: StageTimer
    layers: list[Layer] | None = None  # the painted layers, once painted
    face_detail: np.ndarray | None = None  # the face guard's ease, where it carries the photo's detail
