"""Frame geometry: keep every picture in its own aspect ratio.

A camera or a video rarely has the output's shape (a 4:3 laptop camera into a 16:9
virtual camera, a portrait phone clip). The input is centre-cropped to the output's
aspect ratio ("cover", as video apps frame a camera), and the networks run at the
processing size's pixel budget in that same aspect ratio, so nothing is ever squashed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SizeWH = tuple[int, int]  # (width, height) in pixels: the one alias for a size
ASPECT_TOLERANCE = 0.01  # closer than 1% counts as the same shape: no crop
SIDE_MULTIPLE = 4  # the style networks work at 1/4 size inside


def fit_size(native_wh: Sequence[int], budget_wh: Sequence[int], multiple: int = SIDE_MULTIPLE) -> SizeWH:
    """``native_wh``'s aspect ratio at about ``budget_wh``'s pixel count, never larger
    than ``native_wh``, each side a multiple of ``multiple`` (at least 16)."""
    scale = min(1.0, (budget_wh[0] * budget_wh[1] / (native_wh[0] * native_wh[1])) ** 0.5)
    side = lambda length: max(16, int(round(length * scale / multiple)) * multiple)  # noqa: E731
    return side(native_wh[0]), side(native_wh[1])


def crop_to_aspect(image: np.ndarray, aspect_wh: Sequence[int]) -> np.ndarray:
    """The largest centred part of ``image`` with the aspect ratio of ``aspect_wh``."""
    height, width = image.shape[:2]
    target = aspect_wh[0] / aspect_wh[1]
    if abs(width / height - target) <= ASPECT_TOLERANCE * target:
        return image
    if width / height > target:  # too wide: trim the sides
        keep = max(1, round(height * target))
        left = (width - keep) // 2
        return np.ascontiguousarray(image[:, left:left + keep])
    keep = max(1, round(width / target))  # too tall: trim top and bottom
    top = (height - keep) // 2
    return np.ascontiguousarray(image[top:top + keep])
