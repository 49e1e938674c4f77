"""The processing core: one frame in, one painted frame out. Pure: no devices, no
threads, no clocks (the caller passes each frame's timestamp), state in this object.

frame -> processing size -> person mask (segment + refine) -> style weights -> one ONNX
pass per model file -> compose the looks -> temporal blend -> output size.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from live_nst.catalog import StyleCatalog
from live_nst.compose import BUILT_IN_LOOKS, ORIGINAL, RegionLook, blend_layers, blurred, look_maps
from live_nst.config import RunConfig
from live_nst.errors import LiveNSTError
from live_nst.framing import SizeWH, crop_to_aspect, fit_size
from live_nst.inference import StyleModel
from live_nst.mask import MaskRefiner
from live_nst.segment import MediaPipeSegmenter, Segmenter, resolve_segmentation_model
from live_nst.temporal import TemporalBlender

log = logging.getLogger(__name__)

# The stages StageTimer reports, in order (the benchmark reads them by these names).
PIPELINE_STAGES = ("resize_in", "segment", "stylize", "compose", "temporal", "resize_out")
RESIZE_IN, SEGMENT, STYLIZE, COMPOSE, TEMPORAL, RESIZE_OUT = PIPELINE_STAGES
WEIGHTS_DOWNSCALE = 4  # style weights are smooth: the network takes them at 1/4 size
PERSON, BACKGROUND = "person", "background"
REGIONS = (PERSON, BACKGROUND)


@dataclass
class RegionState:
    """A region's look, with the look it is cross-fading from."""

    look: str
    strength: float
    previous: str | None = None
    fade_start: float = 0.0

    def switch(self, look: str, now: float) -> None:
        if look != self.look:
            self.previous, self.look, self.fade_start = self.look, look, now

    def region_look(self, now: float, duration: float) -> RegionLook:
        if self.previous is None or duration <= 0:
            return RegionLook(((self.look, 1.0),), self.strength)
        t = (now - self.fade_start) / duration
        if t >= 1.0:
            self.previous = None
            return RegionLook(((self.look, 1.0),), self.strength)
        t = t * t * (3 - 2 * t)  # smoothstep: no visible jump at either end
        return RegionLook(((self.previous, 1.0 - t), (self.look, t)), self.strength)


@dataclass
class StageTimer:
    """Milliseconds per stage of the last frame."""

    ms: dict[str, float] = field(default_factory=dict)
    _start: float = 0.0

    def start(self) -> None:
        self.ms = {}
        self._start = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.ms[stage] = self.ms.get(stage, 0.0) + (now - self._start) * 1000.0
        self._start = now


class FramePipeline:
    def __init__(self, config: RunConfig, catalog: StyleCatalog, segmenter: Segmenter | None,
                 threads: int = 0) -> None:
        self.config = config
        self.catalog = catalog
        self.segmenter = segmenter
        self.refiner = MaskRefiner(config.segmentation)
        self.blender = TemporalBlender(config.temporal)
        self.threads = threads
        self.models: dict[Path, StyleModel] = {}
        self.broken: set[str] = set()
        self.person = RegionState(catalog.validate(config.person.style), config.person.strength)
        self.background = RegionState(catalog.validate(config.background.style), config.background.strength)
        self.segmentation_on = config.segmentation.enabled and segmenter is not None
        self.styling_on = True
        self.temporal_on = config.temporal.enabled
        self.timer = StageTimer()
        self.last_mask: np.ndarray | None = None
        for look in (self.person.look, self.background.look):
            self._model_for(look)  # a broken model fails at start, not mid-stream

    # --- intents: the app loop calls these between frames (hotkeys, for one) -----------
    def set_style(self, region: str, look: str, now: float) -> bool:
        """Switch a region to ``look``; False (and the region unchanged) if it cannot load."""
        state = self._region(region)
        try:
            self.catalog.validate(look)
            self._model_for(look)
        except LiveNSTError as exc:
            log.error("cannot switch the %s to %r, staying on %r: %s", region, look, state.look, exc)
            self.broken.add(look)
            return False
        state.switch(look, now)
        self.blender.reset()
        return True

    def cycle_style(self, region: str, step: int, now: float) -> None:
        """Move a region ``step`` places along the catalog's cycle, skipping looks that fail to load."""
        state = self._region(region)
        cycle = [name for name in self.catalog.cycle() if name not in self.broken]
        index = cycle.index(state.look) if state.look in cycle else 0
        for offset in range(1, len(cycle)):
            if self.set_style(region, cycle[(index + step * offset) % len(cycle)], now):
                return

    def swap_styles(self, now: float) -> None:
        """The person takes the background's look and the other way round."""
        person_look = self.person.look
        self.person.switch(self.background.look, now)
        self.background.switch(person_look, now)
        self.blender.reset()

    def toggle_segmentation(self) -> None:
        """Off: the person's look covers the whole frame. It cannot go on without a segmenter."""
        self.segmentation_on = not self.segmentation_on and self.segmenter is not None

    def toggle_styling(self) -> None:
        """Off: the frames go out unpainted."""
        self.styling_on = not self.styling_on
        self.blender.reset()

    def change_strength(self, delta: float) -> None:
        """Add ``delta`` to both regions' strength, kept within 0..1."""
        for region in (self.person, self.background):
            region.strength = round(min(1.0, max(0.0, region.strength + delta)), 2)

    def _region(self, region: str) -> RegionState:
        if region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
        return self.person if region == PERSON else self.background

    def _model_for(self, look: str) -> StyleModel | None:
        if look in BUILT_IN_LOOKS:
            return None
        return self._model_at(self.catalog.get(look).path)

    def _model_at(self, path: Path) -> StyleModel:
        if path not in self.models:
            self.models[path] = StyleModel(path, self.config.device, self.threads)
        return self.models[path]

    def close(self) -> None:
        """Release the segmenter (MediaPipe complains at exit about tasks left open)."""
        if self.segmenter is not None:
            self.segmenter.close()

    # --- frames -----------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all frame history (a new source, a seek)."""
        self.refiner.reset()
        self.blender.reset()
        if self.segmenter is not None:
            self.segmenter.reset()

    def process(self, frame: np.ndarray, timestamp: float) -> np.ndarray:
        """frame (H, W, 3) uint8 RGB at any size -> painted frame at the output size.

        A frame of another shape than the output is centre-cropped to the output's
        aspect ratio first; nothing is stretched."""
        self.timer.start()
        framed = crop_to_aspect(frame, self.config.size_wh)
        proc = _resize(framed, self.proc_size_for(framed.shape[:2]), cv2.INTER_AREA)
        self.timer.lap(RESIZE_IN)
        person, background = self._region_looks(timestamp)
        mask = self._mask(proc, timestamp, person, background)
        self.timer.lap(SEGMENT)
        layers = self._stylized_layers(proc, mask, person, background)
        self.timer.lap(STYLIZE)
        composed = blend_layers(layers)
        self.timer.lap(COMPOSE)
        if self.temporal_on and self.styling_on:
            composed = self.blender.blend(composed, proc)
        self.timer.lap(TEMPORAL)
        out = _resize(composed, self.config.size_wh, cv2.INTER_LINEAR)
        self.timer.lap(RESIZE_OUT)
        return out

    def proc_size_for(self, shape_hw: tuple[int, int]) -> SizeWH:
        """Where the networks run for frames of ``shape_hw``: the configured processing
        size's pixel count in the frame's own aspect ratio."""
        return fit_size((shape_hw[1], shape_hw[0]), self.config.proc_size_wh)

    def _region_looks(self, now: float) -> tuple[RegionLook, RegionLook]:
        if not self.styling_on:
            plain = RegionLook(((ORIGINAL, 1.0),))
            return plain, plain
        duration = self.config.crossfade_s
        return self.person.region_look(now, duration), self.background.region_look(now, duration)

    def _mask(self, proc: np.ndarray, now: float, person: RegionLook, background: RegionLook) -> np.ndarray | None:
        if not self.segmentation_on or self.segmenter is None or person == background:
            self.last_mask = None
            return None
        raw = self.segmenter.segment(proc, int(now * 1000))
        self.last_mask = self.refiner.refine(raw, proc)
        return self.last_mask

    def _stylized_layers(self, proc, mask, person, background) -> list[tuple[np.ndarray, np.ndarray | float]]:
        small_mask = None if mask is None else cv2.resize(
            mask, (max(1, proc.shape[1] // WEIGHTS_DOWNSCALE), max(1, proc.shape[0] // WEIGHTS_DOWNSCALE)),
            interpolation=cv2.INTER_AREA)
        small_maps = look_maps(small_mask, person, background)
        by_model: dict[Path, list[str]] = defaultdict(list)
        for look in small_maps:
            if look not in BUILT_IN_LOOKS:
                by_model[self.catalog.get(look).path].append(look)
        specials = [look for look in BUILT_IN_LOOKS if look in small_maps]
        # One layer covers the frame alone: its weight map is never used, so skip it.
        maps = small_maps if len(by_model) + len(specials) == 1 else look_maps(mask, person, background)
        layers: list[tuple[np.ndarray, np.ndarray | float]] = []
        for path, looks in by_model.items():
            model = self._model_at(path)
            weights = self._style_weights(model, looks, small_maps, small_mask, proc.shape[:2])
            layers.append((model.run(proc, weights), sum(maps[look] for look in looks)))
        for look in specials:
            layers.append((proc if look == ORIGINAL else blurred(proc), maps[look]))
        return layers

    def _style_weights(self, model: StyleModel, looks: list[str], small_maps, small_mask, shape_hw) -> np.ndarray:
        """(S, h, w) weights over the model's styles, normalised where the model is used."""
        shape = small_mask.shape if small_mask is not None else (
            max(1, shape_hw[0] // WEIGHTS_DOWNSCALE), max(1, shape_hw[1] // WEIGHTS_DOWNSCALE))
        weights = np.zeros((model.num_styles, *shape), np.float32)
        for look in looks:
            weights[self.catalog.get(look).index] += small_maps[look]
        total = weights.sum(axis=0, keepdims=True)
        uncovered = total[0] < 1e-6
        weights[self.catalog.get(looks[0]).index][uncovered] = 1.0  # unused there; keeps the sum 1
        return weights / np.maximum(weights.sum(axis=0, keepdims=True), 1e-6)


def build_pipeline(config: RunConfig, catalog: StyleCatalog | None = None, threads: int = 0) -> FramePipeline:
    """The pipeline ``config`` describes: the installed styles (or ``catalog``), and a
    MediaPipe segmenter when segmentation is on. Bad styles or models fail here; the
    segmenter is then closed again."""
    if catalog is None:
        catalog = StyleCatalog.default(config.styles_dir)
    segmenter = None
    if config.segmentation.enabled:
        segmenter = MediaPipeSegmenter(resolve_segmentation_model(config.segmentation.model))
    try:
        return FramePipeline(config, catalog, segmenter, threads)
    except BaseException:
        if segmenter is not None:
            segmenter.close()
        raise


def _resize(image: np.ndarray, size_wh: tuple[int, int], interpolation: int) -> np.ndarray:
    if (image.shape[1], image.shape[0]) == tuple(size_wh):
        return image
    return cv2.resize(image, tuple(size_wh), interpolation=interpolation)
