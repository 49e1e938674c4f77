"""Mask refinement: steady edges without lag.

1. Temporal smoothing, motion-adaptive: where the frame hardly changed since the last
   one, a changing mask is segmentation noise, so blend it with the previous mask; where
   the frame changed (something moved), take the new mask as it is, so fast moves do
   not lag.
2. Edge-aware feathering: a fast guided filter (He et al. 2010/2015) with the frame's
   grey image as guide softens the mask edge where the image has no edge and snaps it to
   the image's edges where it has one: no halo, no staircase, less flicker.

All per-pixel work is done with OpenCV (box filters, LUT, blendLinear) on float32.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from live_nst.config import SegmentationConfig

log = logging.getLogger(__name__)

# Grey-level change (0..255, after a small max filter) up to which a pixel counts as
# static, and from which it counts as moving; linear in between. Camera noise on a
# webcam is a few levels.
STATIC_DIFF = 10
MOVING_DIFF = 30
MOTION_DILATE_PX = 1  # motion also frees the pixels right beside a moving edge
GUIDE_EPS = 1e-3  # guided-filter regularisation, guide in [0, 1]: smaller = sharper edges


class MaskRefiner:
    """Stateful: call :meth:`refine` once per frame, :meth:`reset` on a new source."""

    def __init__(self, config: SegmentationConfig) -> None:
        self.config = config
        self._weight_lut = _previous_weight_lut(config.temporal_smoothing)
        size = 2 * MOTION_DILATE_PX + 1
        self._dilate_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
        self._prev_grey: np.ndarray | None = None
        self._prev_mask: np.ndarray | None = None  # smoothed, before feathering

    def reset(self) -> None:
        self._prev_grey = None
        self._prev_mask = None

    def refine(self, mask: np.ndarray, frame: np.ndarray, feather_px: int | None = None) -> np.ndarray:
        """(H, W) float mask + (H, W, 3) uint8 RGB frame (or its (H, W) uint8 grey image)
        -> refined (H, W) float32 mask in [0, 1] at the frame's size (a new array; the
        arguments are not modified). ``feather_px`` overrides the configured radius (for
        a frame at another scale than the processing size)."""
        mask = _checked_mask(mask, frame)
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        smoothed = self._smooth(mask, grey)
        if smoothed is mask and self.config.temporal_smoothing > 0:
            smoothed = mask.copy()  # the history must not share memory with the caller
        # The unfeathered mask is the history: feathering it again every frame would
        # blur static edges more and more.
        self._prev_grey, self._prev_mask = grey, smoothed
        radius = int(self.config.feather_px if feather_px is None else feather_px)
        refined = guided_filter(grey, smoothed, radius, GUIDE_EPS) if radius > 0 else smoothed.copy()
        np.clip(refined, 0.0, 1.0, out=refined)
        return refined

    def _smooth(self, mask: np.ndarray, grey: np.ndarray) -> np.ndarray:
        prev_grey, prev_mask = self._prev_grey, self._prev_mask
        if (self.config.temporal_smoothing <= 0 or prev_grey is None or prev_mask is None
                or prev_grey.shape != grey.shape):
            return mask
        change = cv2.absdiff(grey, prev_grey)
        change = cv2.dilate(change, self._dilate_kernel)
        weight_prev = cv2.LUT(change, self._weight_lut)  # float32, 0 where moving
        weight_new = cv2.subtract(1.0, weight_prev)  # type: ignore[call-overload]  # cv2's stub: a scalar operand is fine
        return cv2.blendLinear(prev_mask, mask, weight_prev, weight_new)


def _previous_weight_lut(smoothing: float) -> np.ndarray:
    """Weight of the previous mask for each grey-level change 0..255."""
    change = np.arange(256, dtype=np.float32)
    ramp = np.clip((MOVING_DIFF - change) / float(MOVING_DIFF - STATIC_DIFF), 0.0, 1.0)
    return (np.float32(smoothing) * ramp).astype(np.float32).reshape(1, 256)


def _checked_mask(mask: np.ndarray, frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8 or not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
        raise ValueError(f"refine() takes an (H, W, 3) uint8 RGB frame (or its (H, W) uint8 grey image), "
                         f"got shape {frame.shape} dtype {frame.dtype}")
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f"refine() takes an (H, W) float mask, got shape {mask.shape}")
    mask = np.ascontiguousarray(mask, dtype=np.float32)
    height, width = frame.shape[:2]
    if mask.shape != (height, width):  # a segmenter working at another size
        mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
    return mask


def guided_filter(guide_grey: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Fast guided filter: ``src`` (H, W) float32 filtered with an (H, W) uint8 grey guide.

    The linear coefficients are computed at a reduced size (He & Sun 2015), then
    upsampled and applied at full size, so the cost barely grows with the radius.
    """
    height, width = src.shape
    step = max(1, min(4, radius // 2))
    small_wh = (max(1, width // step), max(1, height // step))
    small_radius = max(1, round(radius / step))
    if step > 1:
        guide_u8 = cv2.resize(guide_grey, small_wh, interpolation=cv2.INTER_AREA)
        src = cv2.resize(src, small_wh, interpolation=cv2.INTER_AREA)
    else:
        guide_u8 = guide_grey
    guide = guide_u8.astype(np.float32) * np.float32(1.0 / 255.0)
    ksize = (2 * small_radius + 1, 2 * small_radius + 1)
    box = lambda image: cv2.boxFilter(image, cv2.CV_32F, ksize, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mean_i, mean_p = box(guide), box(src)
    cov_ip = box(guide * src) - mean_i * mean_p
    var_i = box(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    mean_a, mean_b = box(a), box(b)
    if step > 1:
        mean_a = cv2.resize(mean_a, (width, height), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (width, height), interpolation=cv2.INTER_LINEAR)
    # q = a * I + b at full size, with I the uint8 guide scaled to [0, 1] on the fly
    out = cv2.multiply(mean_a, guide_grey, scale=1.0 / 255.0, dtype=cv2.CV_32F)
    return cv2.add(out, mean_b, dst=out)
