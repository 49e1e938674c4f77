"""Region composition: look weights add up, strength and cross-fades split them right,
and the blend is the weighted sum."""

import numpy as np
import pytest

from live_nst.compose import (
    BLUR,
    ORIGINAL,
    RegionLook,
    blend_layers,
    blurred,
    carry_detail,
    ease_styles,
    look_maps,
)


def mask():
    m = np.zeros((4, 6), np.float32)
    m[:, :3] = 1.0
    m[:, 3] = 0.5
    return m


def total(maps, shape=(4, 6)):
    return sum(np.broadcast_to(np.asarray(w, np.float32), shape) for w in maps.values())


@pytest.mark.parametrize("person, background", [
    (RegionLook((("a", 1.0),)), RegionLook((("b", 1.0),))),
    (RegionLook((("a", 0.3), ("b", 0.7)), 0.6), RegionLook(((BLUR, 1.0),), 0.5)),
    (RegionLook(((ORIGINAL, 1.0),)), RegionLook((("a", 1.0),), 0.0)),
])
def test_look_maps_sum_to_one_everywhere(person, background):
    assert np.allclose(total(look_maps(mask(), person, background)), 1.0)


def test_strength_gives_the_rest_to_the_original():
    maps = look_maps(mask(), RegionLook((("a", 1.0),), 0.8), RegionLook((("b", 1.0),), 0.5))
    assert maps["a"][0, 0] == pytest.approx(0.8) and maps["a"][0, 5] == pytest.approx(0.0)
    assert maps[ORIGINAL][0, 0] == pytest.approx(0.2) and maps[ORIGINAL][0, 5] == pytest.approx(0.5)
    assert maps["a"][0, 3] == pytest.approx(0.4)  # half person at the soft edge


def test_without_a_mask_the_person_look_covers_the_frame():
    maps = look_maps(None, RegionLook((("a", 0.25), ("b", 0.75))), RegionLook((("c", 1.0),)))
    assert maps == {"a": 0.25, "b": 0.75}


def test_blend_is_the_weighted_sum():
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (4, 6, 3), dtype=np.uint8) for _ in range(3)]
    m = mask()
    weights = [m * 0.6, 0.4, (1 - m) * 0.6]
    expected = sum(img.astype(np.float32) * np.asarray(w, np.float32)[..., None] if np.ndim(w) else img * w
                   for img, w in zip(images, weights))
    assert np.abs(blend_layers(list(zip(images, weights))).astype(np.float32) - expected).max() <= 1.5
    scalar = blend_layers([(images[0], 0.25), (images[1], 0.75)])
    assert np.abs(scalar - (0.25 * images[0] + 0.75 * images[1])).max() <= 1.0


def test_blur_look_removes_detail():
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[::2] = 255  # finest possible stripes
    assert blurred(frame).std() < 0.1 * frame.std()


def test_easing_moves_each_style_share_to_the_original_and_keeps_the_sum():
    maps = look_maps(mask(), RegionLook((("a", 1.0),)), RegionLook(((BLUR, 0.5), ("b", 0.5))))
    ease = np.zeros((4, 6), np.float32)
    ease[1:3, 1:4] = 0.5  # a "face" across the mask's edge
    eased = ease_styles(maps, ease)
    assert np.allclose(total(eased), 1.0)
    assert np.allclose(eased["a"], maps["a"] * (1 - ease)) and np.allclose(eased["b"], maps["b"] * (1 - ease))
    assert eased[BLUR] is maps[BLUR]  # built-in looks are no style: untouched
    assert np.allclose(eased[ORIGINAL], ease * (maps["a"] + maps["b"]))
    assert ease_styles(maps, None) is maps


def test_the_face_keeps_the_photos_fine_lines_under_the_paints_colours():
    rng = np.random.default_rng(3)
    photo = np.full((180, 320, 3), 150, np.uint8)
    photo[60:64, 100:140] = 40  # a dark line, like a lid, inside the face
    photo[60:64, 250:290] = 40  # the same line away from the face
    painted = (rng.normal(0, 3, (180, 320, 3)) + [60, 90, 200]).clip(0, 255).astype(np.uint8)  # flat blue
    ease = np.zeros((45, 80), np.float32)
    ease[10:25, 20:40] = 1.0  # the face, at the flow size

    out = carry_detail(painted, photo, ease)
    grey = out.astype(np.float32).mean(axis=2)
    line, skin = grey[60:64, 105:135].mean(), grey[50:56, 105:135].mean()
    assert skin - line > 30  # the line is drawn into the paint (the paint alone: none)
    assert np.abs(out[70:90, 90:150].astype(np.float32).mean(axis=(0, 1)) - [60, 90, 200]).max() < 12  # blue stays
    assert np.array_equal(out[:, 200:], painted[:, 200:])  # nothing away from the face
    assert np.array_equal(carry_detail(painted, photo, np.zeros_like(ease)), painted)
