"""Temporal blending: a steady picture from a per-frame stylisation that flickers.

Each frame, optical flow from the current input to the previous input (DIS, at a
reduced size) says where every pixel was; the previous OUTPUT is warped along it and
blended with the new stylised frame, but only where the motion is trustworthy:

- photometric check: the previous INPUT, warped the same way, must look like the
  current input (fails at disocclusions, fast motion, lighting changes);
- forward-backward check: following the flow back and then forward again must return
  to the start (fails at occlusions and where the flow is guessing).

Where either check fails the new stylised frame is used as it is, so moving things do
not leave ghosts. A scene cut (large mean input change) forgets the history.

The work is split in two, so that a caller can run them on different frames at once:
:class:`MotionEstimator` needs only the inputs (flow, trust and the remap maps, computed
once per frame and also used to carry the person mask along), :class:`TemporalBlender`
warps the previous output and blends. ``TemporalBlender.blend`` does both for a caller
that runs them one after the other (it is given the estimator to use).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from live_nst.config import TemporalConfig
from live_nst.framing import fit_size

log = logging.getLogger(__name__)

# Photometric error (0..255, largest of R, G, B, at flow size) up to which a pixel is fully
# trusted, and from which it is not trusted at all; linear in between.
PHOTO_OK = 10
PHOTO_BAD = 30
# Forward-backward round-trip error (px at flow size) likewise.
FB_OK_PX = 0.5
FB_BAD_PX = 1.0
DISTRUST_GROW_PX = 1  # distrust spreads a little, so occlusion borders do not smear
# Fewer trusted pixels than this is a cut the mean change missed (measured: 0% trusted
# across cuts between the measurement clips, 31% or more within them).
MIN_TRUSTED_FRACTION = 0.05
FLOW_SIZE_WH = (320, 180)


@dataclass
class Motion:
    """Where each pixel of the current frame was in the previous one, from the inputs.

    ``small_maps``: remap maps at flow size (x, y float32); ``full_maps``: fixed-point
    remap maps at frame size and ``weight_prev`` / ``weight_new``: the blend weights of
    the warped previous output and the new frame (None when only the maps were asked for).
    """

    shape_hw: tuple[int, int]
    small_maps: tuple[np.ndarray, np.ndarray]
    full_maps: tuple[np.ndarray, np.ndarray] | None = None
    weight_prev: np.ndarray | None = None
    weight_new: np.ndarray | None = None

    def carry(self, image: np.ndarray) -> np.ndarray:
        """The previous frame's ``image`` (a mask, any size) moved to where its pixels are
        now, at flow size."""
        height, width = self.small_maps[0].shape
        if image.shape[:2] != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        return cv2.remap(image, *self.small_maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class MotionEstimator:
    """Stateful (the previous input at flow size): call :meth:`estimate` once per frame,
    :meth:`reset` on style switches, source changes and seeks."""

    def __init__(self, config: TemporalConfig, flow_size_wh: tuple[int, int] = FLOW_SIZE_WH) -> None:
        if len(flow_size_wh) != 2 or min(flow_size_wh) < 16:
            raise ValueError(f"flow_size_wh must be (width, height), each at least 16 px, got {flow_size_wh}")
        self.config = config
        self.flow_size_wh = (int(flow_size_wh[0]), int(flow_size_wh[1]))
        self._flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._photo_lut = _ramp_lut(PHOTO_OK, PHOTO_BAD)
        size = 2 * DISTRUST_GROW_PX + 1
        self._grow_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
        self._shape_hw: tuple[int, int] | None = None  # frame size the fields below are for
        self._small_wh = self.flow_size_wh
        # Pixel grids at flow size (x, y) and at frame size (H, W, 2); _set_shape sizes them.
        self._small_grid: tuple[np.ndarray, np.ndarray] = (np.empty((0, 0), np.float32),) * 2
        self._full_grid: np.ndarray = np.empty((0, 0, 2), np.float32)
        self._prev_small: tuple[np.ndarray, np.ndarray] | None = None  # input at flow size: RGB, grey

    def reset(self) -> None:
        self._prev_small = None

    def _set_shape(self, shape_hw: tuple[int, int]) -> None:
        """Size the flow for a new frame size: about flow_size_wh's pixel count, the
        frame's aspect ratio, never larger than the frame."""
        height, width = shape_hw
        self._small_wh = fit_size((width, height), self.flow_size_wh, multiple=1)  # any side length suits DIS
        self._small_grid = _grid(*self._small_wh)
        self._full_grid = cv2.merge(_grid(width, height))  # (H, W, 2): x, y of each pixel
        self._shape_hw = shape_hw
        self.reset()

    def shrink(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``frame`` at flow size: RGB and grey (what :meth:`estimate` works on)."""
        if frame.shape[:2] != self._shape_hw:
            self._set_shape(frame.shape[:2])
        # Downscale first (INTER_AREA also averages camera noise away), then grey.
        small = cv2.resize(frame, self._small_wh, interpolation=cv2.INTER_AREA)
        return small, cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)

    def estimate(self, frame: np.ndarray, blending: bool = True,
                 small: tuple[np.ndarray, np.ndarray] | None = None) -> Motion | None:
        """The motion from the previous frame to ``frame`` ((H, W, 3) uint8 RGB); None when
        there is no previous frame or a scene cut came between. ``blending`` False: only
        the maps at flow size (enough to carry a mask along), no trust or full-size maps.
        ``small``: the frame's :meth:`shrink`, when the caller has it already."""
        if small is None or frame.shape[:2] != self._shape_hw:
            small = self.shrink(frame)
        prev_small, self._prev_small = self._prev_small, small
        if prev_small is None:
            return None
        change = float(cv2.mean(cv2.absdiff(small[1], prev_small[1]))[0]) / 255.0
        if change > self.config.scene_cut:
            log.debug("scene cut (mean change %.3f > %.3f): temporal history reset", change, self.config.scene_cut)
            return None
        backward = self._flow.calc(small[1], prev_small[1], None)  # type: ignore[call-overload]  # stub: flow may be None
        grid_x, grid_y = self._small_grid
        flow_x, flow_y = cv2.split(backward)
        motion = Motion(frame.shape[:2], (cv2.add(grid_x, flow_x), cv2.add(grid_y, flow_y)))
        if not blending or self.config.blend <= 0:
            return motion
        weight_small = self._trust(small, prev_small, backward, motion.small_maps)
        if cv2.countNonZero(weight_small) < MIN_TRUSTED_FRACTION * weight_small.size:
            log.debug("almost no pixel follows the motion: treated as a scene cut")
            return None
        height, width = frame.shape[:2]
        motion.full_maps = self._full_maps(backward, (height, width))
        motion.weight_prev = cv2.resize(weight_small, (width, height), interpolation=cv2.INTER_LINEAR)
        motion.weight_new = cv2.subtract(1.0, motion.weight_prev)  # type: ignore[call-overload]  # stub: scalar is fine
        return motion

    def _trust(self, small: tuple[np.ndarray, np.ndarray], prev_small: tuple[np.ndarray, np.ndarray],
               backward: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The weight of the warped previous output at flow size: blend where both checks pass."""
        (rgb, grey), (prev_rgb, prev_grey) = small, prev_small
        forward = self._flow.calc(prev_grey, grey, None)  # type: ignore[call-overload]  # cv2's stub: flow may be None
        map_x, map_y = maps
        # In colour: a red thing on a background of the same brightness is invisible in grey.
        warped_prev = cv2.remap(prev_rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        red, green, blue = cv2.split(cv2.absdiff(rgb, warped_prev))
        photo_trust = cv2.LUT(cv2.max(cv2.max(red, green), blue), self._photo_lut)
        forward_there = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        round_x, round_y = cv2.split(cv2.add(backward, forward_there))
        fb_error = cv2.magnitude(round_x, round_y)
        fb_trust = np.clip((FB_BAD_PX - fb_error) * np.float32(1.0 / (FB_BAD_PX - FB_OK_PX)), 0.0, 1.0)
        trust = cv2.multiply(photo_trust, fb_trust)
        w, h = self._small_wh
        outside = (map_x < 0) | (map_x > w - 1) | (map_y < 0) | (map_y > h - 1)
        trust[outside] = 0.0  # came from outside the previous frame: nothing to reuse
        trust = cv2.erode(trust, self._grow_kernel)
        return cv2.multiply(trust, float(self.config.blend))

    def _full_maps(self, backward: np.ndarray, shape_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Small backward flow -> full-size remap maps (fixed point: faster remap)."""
        height, width = shape_hw
        w, h = self._small_wh
        scaled = cv2.multiply(backward, (width / w, height / h, 0.0, 0.0))  # flow in full-size px
        positions = cv2.add(cv2.resize(scaled, (width, height), interpolation=cv2.INTER_LINEAR), self._full_grid)
        return cv2.convertMaps(positions, None, cv2.CV_16SC2)  # type: ignore[call-overload]  # stub: map2 may be None


class TemporalBlender:
    """Stateful (the previous output): call :meth:`apply` once per frame with the
    :class:`Motion` a :class:`MotionEstimator` found for it (or :meth:`blend`, which asks
    the estimator itself), :meth:`reset` on style switches, source changes and seeks."""

    def __init__(self, config: TemporalConfig) -> None:
        self.config = config
        self._prev_output: np.ndarray | None = None

    def reset(self) -> None:
        self._prev_output = None

    def blend(self, stylized: np.ndarray, frame: np.ndarray, motion: MotionEstimator) -> np.ndarray:
        """Stylised frame + its input frame (both (H, W, 3) uint8 RGB) -> steadied frame,
        with the motion ``motion`` estimates from the previous frame it saw to ``frame``.

        Returns a new array each call; it is also kept as history, so do not write into it.
        """
        _check_pair(stylized, frame)
        return self.apply(stylized, motion.estimate(frame))

    def apply(self, stylized: np.ndarray, motion: Motion | None) -> np.ndarray:
        """Blend ``stylized`` with the previous output warped along ``motion`` (the motion
        from the previous frame to this one; None: no usable history)."""
        prev = self._prev_output
        if (motion is None or motion.weight_prev is None or motion.weight_new is None or motion.full_maps is None
                or prev is None or prev.shape != stylized.shape or motion.shape_hw != stylized.shape[:2]):
            return self._keep(stylized)
        warped = cv2.remap(prev, *motion.full_maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out = cv2.blendLinear(warped, stylized, motion.weight_prev, motion.weight_new)
        self._prev_output = out
        return out

    def _keep(self, stylized: np.ndarray) -> np.ndarray:
        self._prev_output = stylized.copy()  # the caller may reuse its buffer
        return self._prev_output


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    xs = np.arange(width, dtype=np.float32)
    ys = np.arange(height, dtype=np.float32)
    return np.tile(xs, (height, 1)), np.repeat(ys[:, None], width, axis=1)


def _ramp_lut(ok: int, bad: int) -> np.ndarray:
    """1 up to ``ok``, 0 from ``bad``, linear in between, for values 0..255."""
    values = np.arange(256, dtype=np.float32)
    return np.clip((bad - values) / float(bad - ok), 0.0, 1.0).astype(np.float32).reshape(1, 256)


def _check_pair(stylized: np.ndarray, frame: np.ndarray) -> None:
    for name, image in (("stylized", stylized), ("frame", frame)):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"blend() takes (H, W, 3) uint8 RGB images; {name} has shape "
                             f"{image.shape} dtype {image.dtype}")
    if stylized.shape != frame.shape:
        raise ValueError(f"blend() needs the stylised frame at its input's size, got "
                         f"{stylized.shape} and {frame.shape}")
