"""The look measures of the bench: palette, face/body paint, halo at the mask edge."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from live_nst.bench.look import face_body_paint, halo, palette_distance


def _noise(seed: int, shape=(64, 80, 3), low: int = 0, high: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, shape, dtype=np.uint8)


def test_a_picture_has_its_own_palette():
    image = _noise(1)
    assert palette_distance(image, image) == pytest.approx(0.0, abs=1e-6)


def test_a_muted_copy_is_farther_from_a_vivid_artwork_than_a_vivid_copy():
    artwork = _noise(2)
    grey = cv2.cvtColor(cv2.cvtColor(artwork, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    muted = (0.4 * artwork + 0.6 * grey).astype(np.uint8)
    vivid = _noise(3)  # other pixels, the same kind of colours
    assert palette_distance(vivid, artwork) < palette_distance(muted, artwork) < palette_distance(grey, artwork)


def _person_scene() -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    photo = _noise(4, (120, 100, 3), 60, 200)
    person = np.zeros((120, 100), np.float32)
    person[20:120, 25:75] = 1.0
    return photo, person, (35, 25, 30, 30)


def test_a_face_handed_back_to_the_photo_scores_low_and_one_painted_alike_scores_one():
    photo, person, box = _person_scene()
    painted_alike = np.clip(photo.astype(int) + 40, 0, 255).astype(np.uint8)
    assert face_body_paint(photo, painted_alike, box, person) == pytest.approx(1.0, rel=1e-3)
    face_kept = painted_alike.copy()
    x, y, w, h = box
    face_kept[y:y + h, x:x + w] = photo[y:y + h, x:x + w]
    assert face_body_paint(photo, face_kept, box, person) == pytest.approx(0.0, abs=1e-6)


def test_a_bright_line_along_the_mask_edge_is_a_halo():
    image = np.full((120, 160, 3), 110, np.uint8)
    mask = np.zeros((120, 160), np.float32)
    cv2.circle(mask, (80, 60), 35, 1.0, -1)
    plain = halo(image, mask)
    assert abs(plain.lightness) < 0.5 and abs(plain.chroma) < 0.5
    lined = image.copy()
    cv2.circle(lined, (80, 60), 35, (250, 250, 250), 2)
    assert halo(lined, mask).lightness > 10 > plain.lightness
