"""The processing core: one frame in, one painted frame out. Pure: no devices, no
threads, no clocks (the caller passes each frame's timestamp), state in this object.

frame -> processing size -> motion from the previous frame (optical flow, once) ->
person mask (segment, or carry the last mask along the flow; refine) -> style weights
-> one ONNX pass per model file -> compose the looks -> temporal blend -> output size.

``process`` is ``finish(paint(prepare(frame)))``. The three keep apart state
(``prepare``: segmenter, mask and motion history; ``paint``: none, only the style
networks; ``finish``: the blend history), so a caller may prepare frame n+2 while
frames n+1 and n are painted, each on a thread of its own, as long as ``prepare`` and
``finish`` each see the frames in order. Intents (hotkeys) belong with ``prepare``:
call them between two ``prepare`` calls, never during one.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import numpy as np

from live_nst import stages
from live_nst.catalog import StyleCatalog
from live_nst.compose import (
    BUILT_IN_LOOKS,
    ORIGINAL,
    RegionLook,
    RegionState,
    blend_layers,
    blurred,
    carry_detail,
    ease_styles,
    look_maps,
)
from live_nst.config import RunConfig
from live_nst.errors import LiveNSTError
from live_nst.faces import FaceDetector, FaceTracker
from live_nst.framing import SizeWH, crop_to_aspect, fit_size
from live_nst.inference import StyleModel
from live_nst.mask import MaskRefiner
from live_nst.model_cache import ModelCache
from live_nst.segment import MediaPipeSegmenter, Segmenter, resolve_segmentation_model
from live_nst.stages import Layer, PreparedFrame, StageTimer, StyleJob
from live_nst.temporal import Motion, MotionEstimator, TemporalBlender

log = logging.getLogger(__name__)

WEIGHTS_DOWNSCALE = 4  # style weights are smooth: the network takes them at 1/4 size
PERSON, BACKGROUND = "person", "background"
EASE_FLOOR = 0.01  # a face mask fainter than this everywhere eases nothing (saves a layer)
REGIONS = (PERSON, BACKGROUND)


class FramePipeline:
    def __init__(self, config: RunConfig, catalog: StyleCatalog, segmenter: Segmenter | None,
                 threads: int = 0, spinning: bool = True, face_detector: FaceDetector | None = None) -> None:
        """``threads`` and ``spinning``: ONNX Runtime's, per style model (see StyleModel).
        ``face_detector``: the face guard's (none: the style does not ease off on faces)."""
        self.config = config
        self.catalog = catalog
        self.segmenter = segmenter
        self.faces = FaceTracker(face_detector, config.faces.every) if face_detector is not None else None
        self.refiner = MaskRefiner(config.segmentation)
        self.motion = MotionEstimator(config.temporal)  # prepare's
        self.blender = TemporalBlender(config.temporal)  # finish's
        self.cache = ModelCache(config.device, threads, spinning)
        self.broken: set[str] = set()
        self.person = RegionState(catalog.validate(config.person.style), config.person.strength)
        self.background = RegionState(catalog.validate(config.background.style), config.background.strength)
        self.segmentation_on = config.segmentation.enabled and segmenter is not None
        self.styling_on = True
        self.temporal_on = config.temporal.enabled
        self.timer = StageTimer()  # the last finished frame's
        self.last_mask: np.ndarray | None = None
        self.last_proc_wh: SizeWH | None = None
        self._raw_mask: np.ndarray | None = None  # the last segmented (or carried) mask
        self._carried = 0  # frames since the segmenter last ran
        self._history_reset = False  # finish() drops the blend history at the next prepared frame
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
            log.warning("cannot switch the %s to %r, staying on %r: %s", region, look, state.look, exc)
            self.broken.add(look)
            return False
        state.switch(look, now)
        self._forget_history()
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
        """The person takes the background's look and strength, and the other way round
        (a look's strength goes with it: swapping twice gives back the same picture)."""
        person_look, person_strength = self.person.look, self.person.strength
        self.person.switch(self.background.look, now)
        self.background.switch(person_look, now)
        self.person.strength, self.background.strength = self.background.strength, person_strength
        self._forget_history()

    def toggle_segmentation(self) -> None:
        self.set_segmentation(not self.segmentation_on)

    def set_segmentation(self, on: bool) -> bool:
        """Off: the person's look covers the whole frame. It cannot go on without a
        segmenter (False then)."""
        self.segmentation_on = on and self.segmenter is not None
        return self.segmentation_on == on

    def toggle_styling(self) -> None:
        self.set_styling(not self.styling_on)

    def set_styling(self, on: bool) -> None:
        """Off: the frames go out unpainted."""
        if on != self.styling_on:
            self.styling_on = on
            self._forget_history()

    def change_strength(self, delta: float) -> None:
        """Add ``delta`` to both regions' strength, kept within 0..1."""
        for region in REGIONS:
            self.set_strength(region, self._region(region).strength + delta)

    def set_strength(self, region: str, strength: float) -> None:
        """One region's strength, kept within 0..1 (to two decimals)."""
        self._region(region).strength = round(min(1.0, max(0.0, float(strength))), 2)

    def set_catalog(self, catalog: StyleCatalog) -> None:
        """Use a re-read style folder: new styles join the cycle, changed files are
        reloaded, and a region whose style is gone shows the original picture."""
        self.catalog = catalog
        self.cache.forget_changed(catalog)
        self.broken.clear()
        for name, state in ((PERSON, self.person), (BACKGROUND, self.background)):
            gone = state.drop_uninstalled(catalog.entries)
            if gone is not None:
                log.warning("style %r is no longer installed; the %s shows the original picture", gone, name)
        self._forget_history()

    def set_proc_size(self, size_wh: SizeWH) -> None:
        """Run the networks at about ``size_wh``'s pixel count from the next frame on."""
        size_wh = (int(size_wh[0]), int(size_wh[1]))
        if size_wh != self.config.proc_size_wh:
            self.config = dataclasses.replace(self.config, proc_size_wh=size_wh)

    def _forget_history(self) -> None:
        self.motion.reset()
        self._history_reset = True

    @property
    def providers(self) -> list[str]:
        """The ONNX Runtime execution providers the loaded style models run on."""
        return self.cache.providers

    @property
    def models(self) -> dict[Path, StyleModel]:
        """The style models loaded so far, by file."""
        return self.cache.models

    @property
    def threads(self) -> int:
        """ONNX Runtime's threads per style model."""
        return self.cache.threads

    def _region(self, region: str) -> RegionState:
        if region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
        return self.person if region == PERSON else self.background

    def _model_for(self, look: str) -> StyleModel | None:
        if look in BUILT_IN_LOOKS:
            return None
        return self.cache.get(self.catalog.get(look).path)

    def close(self) -> None:
        """Release the MediaPipe tasks (MediaPipe complains at exit about tasks left open)."""
        if self.segmenter is not None:
            self.segmenter.close()
        if self.faces is not None:
            self.faces.close()

    # --- frames -----------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all frame history (a new source, a seek)."""
        self.refiner.reset()
        self._forget_history()
        self._raw_mask = None
        if self.segmenter is not None:
            self.segmenter.reset()
        if self.faces is not None:
            self.faces.reset()

    def process(self, frame: np.ndarray, timestamp: float) -> np.ndarray:
        """frame (H, W, 3) uint8 RGB at any size -> painted frame at the output size.

        A frame of another shape than the output is centre-cropped to the output's
        aspect ratio first; nothing is stretched."""
        return self.finish(self.prepare(frame, timestamp))

    def prepare(self, frame: np.ndarray, timestamp: float) -> PreparedFrame:
        """The first half of :meth:`process`: everything up to the style networks."""
        try:
            return self._prepare(frame, timestamp)
        except BaseException:
            self._forget_history()  # the motion history may be this broken frame's
            raise

    def _prepare(self, frame: np.ndarray, timestamp: float) -> PreparedFrame:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"a frame must be an (H, W, 3) uint8 RGB image, got shape {frame.shape} "
                             f"dtype {frame.dtype}")
        timer = StageTimer()
        timer.start()
        framed = crop_to_aspect(frame, self.config.size_wh)
        proc = _resize(framed, self.proc_size_for(framed.shape[:2]), cv2.INTER_AREA)
        self.last_proc_wh = (proc.shape[1], proc.shape[0])
        timer.lap(stages.RESIZE_IN)
        person, background = self._advance_looks(timestamp)
        blend = self.temporal_on and self.styling_on
        wants_mask = self.segmentation_on and self.segmenter is not None and person != background
        wants_faces = self.faces is not None and self.styling_on and (self.config.faces.ease > 0
                                                                      or self.config.faces.detail > 0)
        carry = (wants_mask and self.config.segmentation.every > 1) or (wants_faces and self.config.faces.every > 1)
        # The frame at flow size serves the motion, the mask and the faces: MediaPipe's
        # models see 256x144 or less anyway, and the networks take the mask at 1/4 size.
        small = self.motion.shrink(proc) if blend or wants_mask or wants_faces else None
        motion = self.motion.estimate(proc, blending=blend, small=small) if blend or carry else None
        timer.lap(stages.FLOW)
        mask = None
        if small is not None and wants_mask:
            mask = self._mask(self.segmenter, small, timestamp, motion)
        else:
            self.last_mask = self._raw_mask = None
        timer.lap(stages.SEGMENT)
        ease = detail = None
        if small is not None and wants_faces and self.faces is not None:
            head = self.faces.track(small[0], motion)
            ease = head * np.float32(self.config.faces.ease)
            detail = head * np.float32(self.config.faces.detail) if self.config.faces.detail > 0 else None
        timer.lap(stages.FACES)
        jobs, fixed_layers = self._plan_layers(proc, mask, person, background, ease)
        timer.lap(stages.PLAN)
        reset, self._history_reset = self._history_reset, False
        return PreparedFrame(proc, jobs, fixed_layers, motion, blend, reset, timer, face_detail=detail)

    def paint(self, prepared: PreparedFrame) -> PreparedFrame:
        """The style networks' passes over a prepared frame (kept in ``prepared.layers``).
        Uses no other frame's state, so frames may be painted in any order, two at a time;
        it loads a style model into the shared cache on first use."""
        prepared.timer.resume()
        prepared.layers = [(self.cache.get(job.path).run(prepared.proc, job.weights), job.layer_weight)
                           for job in prepared.jobs]
        prepared.timer.lap(stages.STYLIZE)
        return prepared

    def finish(self, prepared: PreparedFrame) -> np.ndarray:
        """The last part of :meth:`process`: paint (unless done), compose, temporal blend
        and output size. Frames must come in the order :meth:`prepare` made them."""
        try:
            if prepared.layers is None:
                self.paint(prepared)
            timer = prepared.timer
            timer.resume()
            if prepared.reset_history:
                self.blender.reset()
            composed = blend_layers((prepared.layers or []) + prepared.fixed_layers)
            if prepared.face_detail is not None:
                composed = carry_detail(composed, prepared.proc, prepared.face_detail, EASE_FLOOR)
            timer.lap(stages.COMPOSE)
            if prepared.blend:
                composed = self.blender.apply(composed, prepared.motion)
            timer.lap(stages.TEMPORAL)
            out = _resize(composed, self.config.size_wh, cv2.INTER_LINEAR)
            timer.lap(stages.RESIZE_OUT)
        except BaseException:
            self.blender.reset()  # the next frame's motion is from this one, which has no output
            raise
        self.timer = timer
        return out

    def abandon(self) -> None:
        """A prepared frame will not be finished (painting it failed): the blend history
        ends here, where :meth:`finish` would have continued it."""
        self.blender.reset()

    def proc_size_for(self, shape_hw: tuple[int, int]) -> SizeWH:
        """Where the networks run for frames of ``shape_hw``: the configured processing
        size's pixel count in the frame's own aspect ratio."""
        return fit_size((shape_hw[1], shape_hw[0]), self.config.proc_size_wh)

    def _advance_looks(self, now: float) -> tuple[RegionLook, RegionLook]:
        if not self.styling_on:
            plain = RegionLook(((ORIGINAL, 1.0),))
            return plain, plain
        duration = self.config.crossfade_s
        return self.person.advance_look(now, duration), self.background.advance_look(now, duration)

    def _mask(self, segmenter: Segmenter | None, small: tuple[np.ndarray, np.ndarray], now: float,
              motion: Motion | None) -> np.ndarray:
        """Segment the frame, or (every ``segmentation.every`` frames but one) carry the
        last mask along the motion; then refine. At flow size (``small``: RGB, grey)."""
        rgb, grey = small
        if (motion is not None and self._raw_mask is not None
                and self._carried + 1 < self.config.segmentation.every):
            raw = motion.carry(self._raw_mask)
            self._carried += 1
        elif segmenter is not None:
            raw = segmenter.segment(rgb, int(now * 1000))
            self._carried = 0
        else:
            raise LiveNSTError("segmentation is on but the pipeline has no segmenter")
        self._raw_mask = raw
        feather_px = self.config.segmentation.feather_px
        if feather_px > 0 and self.last_proc_wh is not None:  # the radius is at the processing size
            feather_px = max(1, round(feather_px * grey.shape[1] / self.last_proc_wh[0]))
        self.last_mask = self.refiner.refine(raw, grey, feather_px)
        return self.last_mask

    def _plan_layers(self, proc, mask, person, background, ease=None) -> tuple[list[StyleJob], list[Layer]]:
        """The networks' jobs and the built-in looks' layers. ``ease``: where (and how
        much of) the styles give way to the photo, at any size (the face guard's)."""
        small_wh = (max(1, proc.shape[1] // WEIGHTS_DOWNSCALE), max(1, proc.shape[0] // WEIGHTS_DOWNSCALE))
        small_mask = None if mask is None else cv2.resize(mask, small_wh, interpolation=cv2.INTER_AREA)
        if ease is not None and ease.max() <= EASE_FLOOR:
            ease = None
        small_ease = None if ease is None else cv2.resize(ease, small_wh, interpolation=cv2.INTER_AREA)
        small_maps = ease_styles(look_maps(small_mask, person, background), small_ease)
        by_model = self.catalog.locate([look for look in small_maps if look not in BUILT_IN_LOOKS])
        specials = [look for look in BUILT_IN_LOOKS if look in small_maps]
        # One layer covers the frame alone: its weight map is never used, so skip it.
        maps = small_maps
        if len(by_model) + len(specials) > 1:
            # Full maps at the mask's size (the flow size, like ``ease``); blending scales them.
            maps = ease_styles(look_maps(mask, person, background), ease)
        jobs = [StyleJob(path, self._style_weights(self.cache.get(path), looks, small_maps, small_mask, proc.shape[:2]),
                         sum(maps[look] for look, _ in looks)) for path, looks in by_model.items()]
        fixed = [(proc if look == ORIGINAL else blurred(proc), maps[look]) for look in specials]
        return jobs, fixed

    def _style_weights(self, model: StyleModel, looks: list[tuple[str, int]], small_maps, small_mask,
                       shape_hw) -> np.ndarray:
        """(S, h, w) weights over the model's styles (``looks``: (look, its index in the
        model)), normalised where the model is used."""
        shape = small_mask.shape if small_mask is not None else (
            max(1, shape_hw[0] // WEIGHTS_DOWNSCALE), max(1, shape_hw[1] // WEIGHTS_DOWNSCALE))
        weights = np.zeros((model.num_styles, *shape), np.float32)
        for look, index in looks:
            weights[index] += small_maps[look]
        total = weights.sum(axis=0, keepdims=True)
        uncovered = total[0] < 1e-6
        weights[looks[0][1]][uncovered] = 1.0  # unused there; keeps the sum 1
        return weights / np.maximum(weights.sum(axis=0, keepdims=True), 1e-6)


def build_pipeline(config: RunConfig, catalog: StyleCatalog | None = None, threads: int = 0,
                   spinning: bool = True) -> FramePipeline:
    """The pipeline ``config`` describes: the installed styles (or ``catalog``), and a
    MediaPipe segmenter when segmentation is on. Bad styles or models fail here; the
    segmenter is then closed again."""
    if catalog is None:
        catalog = StyleCatalog.default(config.styles_dir)
    segmenter = detector = None
    try:
        if config.segmentation.enabled:
            segmenter = MediaPipeSegmenter(resolve_segmentation_model(config.segmentation.model))
        if config.faces.enabled:
            detector = FaceDetector()
        return FramePipeline(config, catalog, segmenter, threads, spinning, detector)
    except BaseException:
        for task in (segmenter, detector):
            if task is not None:
                task.close()
        raise


def _resize(image: np.ndarray, size_wh: tuple[int, int], interpolation: int) -> np.ndarray:
    if (image.shape[1], image.shape[0]) == tuple(size_wh):
        return image
    return cv2.resize(image, tuple(size_wh), interpolation=interpolation)
