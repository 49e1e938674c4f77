"""Frame geometry: aspect ratios kept, processing budget respected."""

from __future__ import annotations

import numpy as np
import pytest

from live_nst.framing import crop_to_aspect, fit_size


def test_fit_size_keeps_the_aspect_ratio_at_the_pixel_budget():
    assert fit_size((1280, 720), (640, 360)) == (640, 360)
    w, h = fit_size((640, 640), (640, 360))
    assert w == h and w % 4 == 0 and abs(w * h - 640 * 360) < 640 * 40
    w, h = fit_size((1080, 1920), (640, 360))
    assert w < h and abs(w / h - 1080 / 1920) < 0.02 and w % 4 == 0 and h % 4 == 0


def test_fit_size_never_enlarges():
    assert fit_size((320, 240), (640, 360)) == (320, 240)


@pytest.mark.parametrize("shape_hw, aspect_wh, kept_hw", [
    ((480, 640), (1280, 720), (360, 640)),  # 4:3 into 16:9: top and bottom trimmed
    ((720, 1280), (480, 480), (720, 720)),  # 16:9 into a square: sides trimmed
    ((480, 854), (1280, 720), (480, 854)),  # within 1% of 16:9: untouched
])
def test_crop_to_aspect_keeps_the_centre(shape_hw, aspect_wh, kept_hw):
    rows = np.arange(shape_hw[0], dtype=np.uint16)[:, None, None]
    cols = np.arange(shape_hw[1], dtype=np.uint16)[None, :, None]
    image = np.concatenate([np.broadcast_to(rows, (*shape_hw, 1)), np.broadcast_to(cols, (*shape_hw, 1))], axis=2)
    cropped = crop_to_aspect(image, aspect_wh)
    assert cropped.shape[:2] == kept_hw and cropped.flags.c_contiguous
    top, left = (shape_hw[0] - kept_hw[0]) // 2, (shape_hw[1] - kept_hw[1]) // 2
    assert cropped[0, 0].tolist() == [top, left]


def test_fit_size_with_any_side_length():
    assert fit_size((1000, 1000), (320, 180), multiple=1) == (240, 240)
    assert fit_size((641, 359), (320, 180), multiple=1) == (321, 180)
