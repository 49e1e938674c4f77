"""How a painting looks, beyond the Gram loss: its palette, whether the face is painted like
the rest of the person, and whether a bright line runs along the person's edge.

All take frames as (H, W, 3) uint8 RGB and masks as (H, W) float32 in [0, 1], 1 = person.

- Palette: the sliced Wasserstein distance between two pictures' colours in CIELAB
  (random 1-D projections of the colours, their quantiles compared; in LAB units).
  A Gram loss barely sees a grey, muted palette; this does.
- Face/body paint: inside the face box, the mean |painted - photo| over the same on the
  rest of the person. A face handed back to the photo scores low; 1 paints it alike.
- Halo: lightness and chroma in a thin band along the mask's edge, less the mean of the
  two bands beside it (inside and outside). Compare the painting's with the photo's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PALETTE_SAMPLES = 16384  # colours drawn from each picture
PALETTE_PROJECTIONS = 64
PALETTE_QUANTILES = 128


def lab_colours(image: np.ndarray, samples: int = PALETTE_SAMPLES, seed: int = 0) -> np.ndarray:
    """Up to ``samples`` of the picture's colours in CIELAB (L 0-100, a and b about -128-127), (N, 3)."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    if len(lab) > samples:
        lab = lab[np.random.default_rng(seed).choice(len(lab), samples, replace=False)]
    return lab


def palette_distance(image: np.ndarray, reference: np.ndarray, projections: int = PALETTE_PROJECTIONS,
                     seed: int = 0) -> float:
    """Sliced Wasserstein-1 distance between the two pictures' CIELAB colours (0: the same palette)."""
    ours, theirs = lab_colours(image, seed=seed), lab_colours(reference, seed=seed + 1)
    directions = np.random.default_rng(seed).normal(size=(projections, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    levels = np.linspace(0.0, 1.0, PALETTE_QUANTILES)
    ours_q = np.quantile(ours @ directions.T, levels, axis=0)
    theirs_q = np.quantile(theirs @ directions.T, levels, axis=0)
    return float(np.abs(ours_q - theirs_q).mean())


def face_body_paint(photo: np.ndarray, painted: np.ndarray, face_xywh: tuple[int, int, int, int],
                    person: np.ndarray) -> float:
    """Mean |painted - photo| inside the face box over the same on the rest of the person
    (NaN where the rest of the person is empty or unpainted)."""
    change = np.abs(painted.astype(np.float32) - photo.astype(np.float32)).mean(axis=2) / 255.0
    face = np.zeros(change.shape, bool)
    x, y, w, h = (int(round(v)) for v in face_xywh)
    face[max(0, y):max(0, y + h), max(0, x):max(0, x + w)] = True
    body = (person > 0.5) & ~face
    if not face.any() or not body.any():
        return float("nan")
    body_change = float(change[body].mean())
    return float(change[face].mean()) / body_change if body_change > 0 else float("nan")


@dataclass(frozen=True)
class Halo:
    """Lightness (L, 0-100) and chroma (LAB units) of the edge band above its two sides' mean."""

    lightness: float
    chroma: float


def halo(image: np.ndarray, mask: np.ndarray, band_px: int = 2) -> Halo:
    """The edge band's excess over the bands beside it: ``band_px`` either side of the mask's
    0.5 contour, against the bands from 2x to 5x that distance inside and outside."""
    person = (mask > 0.5).astype(np.uint8)

    def grown(px: int) -> np.ndarray:
        return cv2.dilate(person, _disc(px)).astype(bool)

    def shrunk(px: int) -> np.ndarray:
        return cv2.erode(person, _disc(px)).astype(bool)

    edge = grown(band_px) & ~shrunk(band_px)
    inside = shrunk(2 * band_px) & ~shrunk(5 * band_px)
    outside = grown(5 * band_px) & ~grown(2 * band_px)
    if not (edge.any() and inside.any() and outside.any()):
        return Halo(float("nan"), float("nan"))
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    lightness, chroma = lab[..., 0], np.hypot(lab[..., 1], lab[..., 2])

    def excess(channel: np.ndarray) -> float:
        return float(channel[edge].mean() - (channel[inside].mean() + channel[outside].mean()) / 2)

    return Halo(excess(lightness), excess(chroma))


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
