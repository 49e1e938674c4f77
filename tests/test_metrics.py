"""Measurement functions: warping error, IoU, mask flicker, readers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from live_nst.bench.metrics import input_flows, mask_flicker, mask_iou, read_mask_folder, read_video, warping_error
from live_nst.errors import SourceError

N_FRAMES = 8


@pytest.fixture(scope="module")
def lucia(shared_data):
    frames = read_video(shared_data / "video/davis/lucia/lucia.mp4", max_frames=N_FRAMES)
    masks = read_mask_folder(shared_data / "video/davis/lucia/masks", max_frames=N_FRAMES)
    return frames, masks


def test_read_video_gives_rgb_uint8_frames(lucia):
    frames, _ = lucia
    assert len(frames) == N_FRAMES
    for frame in frames:
        assert frame.shape == (480, 854, 3) and frame.dtype == np.uint8 and frame.flags.c_contiguous


def test_read_video_is_rgb_not_bgr(tmp_path):
    path = tmp_path / "red.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(3):
        writer.write(np.full((48, 64, 3), (0, 0, 255), np.uint8))  # red in BGR
    writer.release()
    frames = read_video(path)
    assert len(frames) == 3
    red, green, blue = frames[0].reshape(-1, 3).mean(axis=0)
    assert red > 200 and green < 50 and blue < 50


def test_read_video_missing_file_raises_source_error(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        read_video(tmp_path / "nope.mp4")


def test_read_mask_folder_in_frame_order(tmp_path, lucia):
    _, masks = lucia
    assert len(masks) == N_FRAMES
    for mask in masks:
        assert mask.shape == (480, 854) and mask.dtype == np.float32
        assert set(np.unique(mask)) <= {0.0, 1.0}
    # numeric order, not string order: 2 before 10
    for index in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"{index}.png"), np.full((4, 4), index * 10, np.uint8))
    read = read_mask_folder(tmp_path)
    assert [round(float(m[0, 0]) * 255) for m in read] == [10, 20, 100]


def test_read_mask_folder_empty_raises(tmp_path):
    with pytest.raises(SourceError, match="no mask images"):
        read_mask_folder(tmp_path)


def test_iou_identical_is_one_disjoint_is_zero():
    mask = np.zeros((40, 60), np.float32)
    mask[10:30, 10:30] = 1.0
    other = np.zeros_like(mask)
    other[10:30, 35:55] = 1.0
    assert mask_iou(mask, mask) == 1.0
    assert mask_iou(mask, other) == 0.0
    half = np.zeros_like(mask)
    half[10:30, 10:20] = 1.0
    assert mask_iou(half, mask) == pytest.approx(0.5)
    assert mask_iou(np.zeros_like(mask), np.zeros_like(mask)) == 1.0  # both empty agree
    assert mask_iou((mask * 255).astype(np.uint8), mask) == 1.0  # uint8 read as 0..255


def test_iou_shape_mismatch_raises():
    with pytest.raises(ValueError, match="one shape"):
        mask_iou(np.zeros((4, 4), np.float32), np.zeros((4, 5), np.float32))


def test_warping_error_of_static_clip_is_zero_and_of_noise_is_large(lucia):
    frames, _ = lucia
    static = [frames[0]] * 4
    assert warping_error(static, static) == pytest.approx(0.0, abs=1e-6)
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, frames[0].shape, dtype=np.uint8) for _ in static]
    # uniform noise: E[(a - b)^2] = 1/6 per channel, 3 channels summed -> about 0.5
    assert warping_error(noise, static) > 0.3


def test_warping_error_follows_the_input_motion(lucia):
    frames, _ = lucia
    flows = input_flows(frames)
    floor = warping_error(frames, frames, flows)  # the input's own error: the floor
    assert floor < 0.01
    # outputs that stay put while the input moves flicker more than the input itself
    frozen = [frames[0]] * len(frames)
    assert warping_error(frozen, frames, flows) > 2 * floor
    rng = np.random.default_rng(1)
    jittered = [np.clip(f.astype(np.int16) + rng.integers(-40, 41, 3), 0, 255).astype(np.uint8) for f in frames]
    assert warping_error(jittered, frames, flows) > 2 * floor


def test_mask_flicker_of_gt_is_small_and_of_shuffled_masks_large(lucia):
    frames, masks = lucia
    flows = input_flows(frames)
    steady = mask_flicker(masks, frames, flows)
    shuffled = mask_flicker(masks[::-1], frames, flows)
    assert steady < shuffled
    assert mask_flicker([masks[0]] * 2, [frames[0]] * 2) == pytest.approx(0.0, abs=1e-6)


def test_warping_error_checks_its_arguments(lucia):
    frames, _ = lucia
    with pytest.raises(ValueError, match="one output per input"):
        warping_error(frames[:3], frames[:4])
    with pytest.raises(ValueError, match="at least two"):
        warping_error(frames[:1], frames[:1])
