"""Region composition: which look covers how much of each pixel, and the blend itself.

A region (person or background) shows a mix of looks: normally one, two during a
cross-fade. A look is a style name, ``original`` or ``blur``. A region's strength s
gives its looks s of their weight and the untouched frame the rest. The result is one
weight map per look; the maps sum to 1 at every pixel.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import cv2
import numpy as np

ORIGINAL, BLUR = "original", "blur"
BUILT_IN_LOOKS = (ORIGINAL, BLUR)  # looks every install has; not style names

LookMix = tuple[tuple[str, float], ...]  # (look, weight) pairs summing to 1


@dataclass(frozen=True)
class RegionLook:
    mix: LookMix
    strength: float = 1.0

    def scalar_weights(self) -> dict[str, float]:
        """Look -> share of the region, with strength applied."""
        shares: dict[str, float] = {}
        for look, weight in self.mix:
            if look == ORIGINAL:
                shares[ORIGINAL] = shares.get(ORIGINAL, 0.0) + weight
                continue
            shares[look] = shares.get(look, 0.0) + weight * self.strength
            shares[ORIGINAL] = shares.get(ORIGINAL, 0.0) + weight * (1.0 - self.strength)
        return {look: share for look, share in shares.items() if share > 1e-4}


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

    def drop_uninstalled(self, installed: Collection[str]) -> str | None:
        """A look whose style is no longer ``installed`` (its file removed) leaves the
        region, which shows the original picture in its place; returns that look (None: none gone)."""
        gone = [look for look in (self.look, self.previous)
                if look and look not in BUILT_IN_LOOKS and look not in installed]
        if not gone:
            return None
        self.look, self.previous = (ORIGINAL if self.look in gone else self.look), None
        return gone[0]

    def advance_look(self, now: float, duration: float) -> RegionLook:
        """The region's look at ``now``, cross-fading over ``duration`` s; a finished
        cross-fade forgets the look it came from (the state moves on)."""
        if self.previous is None or duration <= 0:
            return RegionLook(((self.look, 1.0),), self.strength)
        t = (now - self.fade_start) / duration
        if t >= 1.0:
            self.previous = None
            return RegionLook(((self.look, 1.0),), self.strength)
        t = t * t * (3 - 2 * t)  # smoothstep: no visible jump at either end
        return RegionLook(((self.previous, 1.0 - t), (self.look, t)), self.strength)


def look_maps(person_mask: np.ndarray | None, person: RegionLook,
              background: RegionLook) -> dict[str, np.ndarray | float]:
    """Look -> weight map (H, W) float32, or a float where it is the same everywhere.

    ``person_mask`` None means segmentation is off: the person's look covers the frame.
    """
    fg = person.scalar_weights()
    if person_mask is None:
        return dict(fg)
    bg = background.scalar_weights()
    maps: dict[str, np.ndarray | float] = {}
    for look in dict.fromkeys([*fg, *bg]):
        a, b = fg.get(look, 0.0), bg.get(look, 0.0)
        maps[look] = a if a == b else person_mask * np.float32(a - b) + np.float32(b)
    return maps


def ease_styles(maps: dict[str, np.ndarray | float], ease: np.ndarray | None) -> dict[str, np.ndarray | float]:
    """Give ``ease`` (H, W, 0..1, the maps' size) of every style's share to ``original``
    (the face guard); None: ``maps`` as they are."""
    if ease is None:
        return maps
    eased: dict[str, np.ndarray | float] = {}
    returned: np.ndarray | float = 0.0
    for look, weight in maps.items():
        if look in BUILT_IN_LOOKS:
            eased[look] = weight
        else:
            taken = ease * weight
            eased[look] = weight - taken
            returned = returned + taken
    eased[ORIGINAL] = eased.get(ORIGINAL, 0.0) + returned
    return eased


def as_map(weight: np.ndarray | float, shape_hw: tuple[int, int]) -> np.ndarray:
    if isinstance(weight, np.ndarray):
        if weight.shape != shape_hw:
            return cv2.resize(weight, shape_hw[::-1], interpolation=cv2.INTER_LINEAR)
        return weight
    return np.full(shape_hw, weight, np.float32)


def blend_layers(layers: list[tuple[np.ndarray, np.ndarray | float]]) -> np.ndarray:
    """Weighted sum of uint8 images whose weights sum to 1 per pixel.

    Chained ``cv2.blendLinear`` (which divides by the two weights' sum) keeps the work
    in uint8 and several times faster than float32 numpy.
    """
    layers = [(img, w) for img, w in layers if isinstance(w, np.ndarray) or w > 0]
    if len(layers) == 1:
        return layers[0][0]
    scalars = [float(w) for _, w in layers if not isinstance(w, np.ndarray)]
    if len(scalars) == len(layers):  # the same mix everywhere
        mixed, share = layers[0][0], scalars[0]
        for (image, _), part in zip(layers[1:], scalars[1:]):
            mixed = cv2.addWeighted(mixed, share / (share + part), image, part / (share + part), 0.0)
            share += part
        return mixed
    shape_hw = layers[0][0].shape[:2]
    result, total = layers[0][0], as_map(layers[0][1], shape_hw)
    for image, weight in layers[1:]:
        weight = as_map(weight, shape_hw)
        result = cv2.blendLinear(result, image, total, weight)
        total = total + weight
    return result


def blurred(frame: np.ndarray) -> np.ndarray:
    """The 'blur' look: a strong background blur whose radius scales with the frame."""
    k = max(3, (min(frame.shape[:2]) // 24) | 1)
    small = cv2.resize(frame, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(1.0, k / 4))
    return cv2.resize(small, frame.shape[1::-1], interpolation=cv2.INTER_LINEAR)


DETAIL_SIGMA = 0.01  # of the frame's height: finer than this is "detail" (eyes, lids, lips, nostrils)


def carry_detail(painted: np.ndarray, photo: np.ndarray, ease: np.ndarray, floor: float = 0.01) -> np.ndarray:
    """The face guard's "detail" way: where ``ease`` (H, W or any size, 0..1) is above
    ``floor``, ``ease`` of the painting's fine lightness detail gives way to the photo's.
    The paint's colours and broad shading stay, so the face is painted like the rest of
    the person, while the eyes, mouth and nose keep the lines a face detector (and a
    viewer) reads a face by. Only the box around the face is touched."""
    # The face's box is found on ``ease`` at its own (flow) size: no face, no work.
    rows, cols = np.nonzero(ease.max(axis=1) > floor)[0], np.nonzero(ease.max(axis=0) > floor)[0]
    if rows.size == 0:
        return painted
    (h, w), (eh, ew) = painted.shape[:2], ease.shape
    sigma = max(0.5, DETAIL_SIGMA * h)
    margin = int(3 * sigma) + 1
    top, bottom = max(0, rows[0] * h // eh - margin), min(h, -(-(rows[-1] + 1) * h // eh) + margin)
    left, right = max(0, cols[0] * w // ew - margin), min(w, -(-(cols[-1] + 1) * w // ew) + margin)
    box = (slice(top, bottom), slice(left, right))
    # The lightness detail is linear: the photo's less the painting's is the detail of the difference.
    gap = cv2.subtract(cv2.cvtColor(photo[box], cv2.COLOR_RGB2GRAY), cv2.cvtColor(painted[box], cv2.COLOR_RGB2GRAY),
                       dtype=cv2.CV_32F)
    detail = cv2.multiply(cv2.subtract(gap, cv2.GaussianBlur(gap, (0, 0), sigma)), as_map(ease, (h, w))[box])
    out = painted.copy()
    out[box] = cv2.add(painted[box], cv2.merge([detail] * 3), dtype=cv2.CV_8U)
    return out
