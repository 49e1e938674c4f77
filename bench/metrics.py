"""Measurements: flicker as the warping error of Lai et al. (2018),
segmentation IoU and mask flicker, plus readers for clips and ground-truth mask folders.

Warping error, per consecutive pair: warp O(t-1) to t with optical flow computed on the
INPUT frames, and take the squared difference to O(t) over the pixels that forward-backward
flow consistency marks as not occluded. As in Lai et al.'s reference code the squared
difference is summed over the channels (RGB in [0, 1]) and averaged over those pixels;
the result is averaged over the pairs. Quality matters more than speed here: DIS optical
flow with its MEDIUM preset at full resolution.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from live_nst.errors import SourceError
from live_nst.video import read_frames

log = logging.getLogger(__name__)

_MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class PairFlow:
    """Where each pixel of frame t was in frame t-1, and which pixels to trust."""

    map_x: np.ndarray  # (H, W) float32 sampling coordinates into frame t-1
    map_y: np.ndarray
    valid: np.ndarray  # (H, W) bool: not occluded, inside frame t-1, flows agree


# --- reading ------------------------------------------------------------------------
def read_video(path: str | Path, max_frames: int | None = None) -> list[np.ndarray]:
    """All frames (or the first ``max_frames``) of a video file as (H, W, 3) uint8 RGB,
    read by :func:`live_nst.video.read_frames`."""
    return list(read_frames(path, limit=max_frames))


def read_mask_folder(folder: str | Path, max_frames: int | None = None) -> list[np.ndarray]:
    """Ground-truth masks (or alpha mattes) in frame order as (H, W) float32 in [0, 1].

    Frame order is the numeric order of the file names (00000.png, 00001.png, ...).
    """
    folder = Path(folder)
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in _MASK_SUFFIXES),
                   key=_frame_key) if folder.is_dir() else []
    if not files:
        raise SourceError(f"no mask images ({', '.join(_MASK_SUFFIXES)}) found in {folder}")
    masks = []
    for path in files[:max_frames]:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SourceError(f"OpenCV could not read the mask image {path}")
        if image.ndim == 3:  # colour-saved mask: any channel will do, take the brightest
            image = image.max(axis=2)
        scale = np.float32(1.0 / np.iinfo(image.dtype).max) if image.dtype.kind == "u" else np.float32(1.0)
        masks.append(np.clip(image.astype(np.float32) * scale, 0.0, 1.0))
    return masks


def _frame_key(path: Path) -> tuple[int, str]:
    digits = "".join(ch for ch in path.stem if ch.isdigit())
    return (int(digits) if digits else -1, path.name)


# --- segmentation -------------------------------------------------------------------
def mask_iou(pred: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> float:
    """Intersection over union of ``pred > threshold`` and ``truth > threshold``.

    Masks are float in [0, 1] (uint8 is read as 0..255). Stacked masks give the pooled
    IoU over all of them. Two empty masks agree perfectly: 1.0.
    """
    pred, truth = _as_unit(pred), _as_unit(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"mask_iou needs masks of one shape, got {pred.shape} and {truth.shape}")
    p, t = pred > threshold, truth > threshold
    union = np.count_nonzero(p | t)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(p & t) / union)


def mask_flicker(masks: Sequence[np.ndarray], inputs: Sequence[np.ndarray],
                 flows: Sequence[PairFlow] | None = None) -> float:
    """Mask flicker: the warping error of a mask sequence, flow from the input frames."""
    return warping_error([_as_unit(m) for m in masks], inputs, flows)


# --- flicker ------------------------------------------------------------------------
def warping_error(outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray],
                  flows: Sequence[PairFlow] | None = None) -> float:
    """Lai et al.'s warping error of ``outputs`` (uint8 RGB frames, or float masks in
    [0, 1]) under the motion of ``inputs`` (uint8 RGB). ``flows`` from
    :func:`input_flows` saves recomputing them when several outputs share the inputs."""
    if len(outputs) != len(inputs):
        raise ValueError(f"warping_error needs one output per input, got {len(outputs)} and {len(inputs)}")
    if len(inputs) < 2:
        raise ValueError("warping_error needs at least two frames")
    flows = input_flows(inputs) if flows is None else flows
    if len(flows) != len(inputs) - 1:
        raise ValueError(f"expected {len(inputs) - 1} pair flows, got {len(flows)}")
    errors = [_pair_error(_as_unit(outputs[t - 1]), _as_unit(outputs[t]), flows[t - 1])
              for t in range(1, len(outputs))]
    return float(np.mean(errors))


def input_flows(inputs: Sequence[np.ndarray]) -> list[PairFlow]:
    """Flow and occlusion mask for each consecutive pair of input frames."""
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    greys = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in inputs]
    h, w = greys[0].shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    pairs = []
    for prev, cur in zip(greys, greys[1:]):
        if prev.shape != cur.shape:
            raise ValueError(f"input frames differ in size: {prev.shape} and {cur.shape}")
        # t -> t-1 and t-1 -> t
        backward = dis.calc(cur, prev, None)  # type: ignore[call-overload]  # cv2's stub: flow may be None
        forward = dis.calc(prev, cur, None)  # type: ignore[call-overload]  # cv2's stub: flow may be None
        pairs.append(_pair_flow(backward, forward, grid_x, grid_y))
    return pairs


def _pair_flow(backward: np.ndarray, forward: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray) -> PairFlow:
    map_x = grid_x + backward[..., 0]
    map_y = grid_y + backward[..., 1]
    # Forward flow at the place each pixel came from; a round trip must come back home.
    forward_there = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    round_trip = backward + forward_there
    sq = lambda v: v[..., 0] ** 2 + v[..., 1] ** 2  # noqa: E731
    # Sundaram et al. (2010) consistency test, as used by Ruder et al. and Lai et al.
    consistent = sq(round_trip) <= 0.01 * (sq(backward) + sq(forward_there)) + 0.5
    h, w = grid_x.shape
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return PairFlow(map_x, map_y, consistent & inside)


def _pair_error(prev: np.ndarray, cur: np.ndarray, flow: PairFlow) -> float:
    warped = cv2.remap(prev, flow.map_x, flow.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    diff = (cur - warped).reshape(cur.shape[0], cur.shape[1], -1)
    per_pixel = np.einsum("hwc,hwc->hw", diff, diff)
    count = np.count_nonzero(flow.valid)
    if count == 0:
        return 0.0
    return float(per_pixel[flow.valid].sum() / count)


def _as_unit(image: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1]; float stays float32."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(np.float32) * np.float32(1.0 / 255.0)
    return image.astype(np.float32, copy=False)
