"""The face guard: real MediaPipe face detection on real portraits and a real talking-head
clip, carried along real optical flow, eased inside the real pipeline."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from live_nst.bench.metrics import read_video
from live_nst.bench.picture import read_rgb, split_portraits
from live_nst.config import ConfigError, FacesConfig, RegionConfig, RunConfig, TemporalConfig, config_from_dict
from live_nst.faces import FaceDetector, FaceTracker, head_mask
from live_nst.pipeline import FramePipeline
from live_nst.segment import MediaPipeSegmenter
from live_nst.temporal import MotionEstimator


class CountingDetector:
    """The real detector, counting its calls (how often the tracker pays for a detection)."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector, self.calls = detector, 0

    def detect(self, frame):
        self.calls += 1
        return self.detector.detect(frame)

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def detector():
    with FaceDetector() as found:
        yield found


@pytest.fixture(scope="module")
def portrait(shared_data, detector):
    """A tuning-split portrait at 640 px in which the detector finds one face."""
    for path in split_portraits(shared_data / "portraits" / "images")[0]:
        photo = read_rgb(path, 640)
        if len(detector.detect(photo)) == 1:
            return photo
    pytest.fail("no tuning portrait with exactly one detected face")


@pytest.fixture(scope="module")
def talking_head(shared_data):
    """Twelve frames of a webcam-like clip at flow size, with the motion between them."""
    frames = read_video(shared_data / "video/webcam_like/liveportrait_d12.mp4", max_frames=12)
    estimator = MotionEstimator(TemporalConfig())
    out = []
    for frame in frames:
        small = estimator.shrink(frame)
        out.append((small[0], estimator.estimate(frame, blending=False, small=small)))
    return out


def centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[:mask.shape[0], :mask.shape[1]]
    return np.array([(xs * mask).sum(), (ys * mask).sum()]) / mask.sum()


def test_the_head_mask_covers_the_whole_head_with_a_soft_edge(portrait, detector):
    face = detector.detect(portrait)[0]
    x, y, w, h = face.box_xywh
    mask = head_mask(portrait.shape[:2], [face])
    assert mask.shape == portrait.shape[:2] and mask.dtype == np.float32
    assert mask[y + h // 2, x + w // 2] > 0.99  # the face itself
    assert mask[max(0, y - h // 4), x + w // 2] > 0.5  # the forehead above the detector's box
    assert mask[0, 0] == 0 and mask[-1, -1] == 0  # far from the head
    assert ((mask > 0.05) & (mask < 0.95)).sum() > 2 * (w + h)  # an edge that fades, not a cut-out
    assert not head_mask((90, 160), []).any()


def test_the_tracker_detects_one_frame_in_every_and_follows_the_face_between(talking_head, detector):
    counting = CountingDetector(detector)
    tracker = FaceTracker(counting, every=4)  # type: ignore[arg-type]  # the real detector, counted
    masks = [tracker.track(small, motion) for small, motion in talking_head]
    assert counting.calls == 3  # frames 0, 4 and 8
    # The carried mask of frame 11 sits where a fresh detection puts the head.
    fresh = head_mask(masks[-1].shape, detector.detect(talking_head[-1][0]))
    assert fresh.sum() > 0 and masks[-1].sum() > 0
    assert np.linalg.norm(centroid(masks[-1]) - centroid(fresh)) < 0.1 * np.sqrt(fresh.sum())
    overlap = np.minimum(masks[-1], fresh).sum() / np.maximum(masks[-1], fresh).sum()
    assert overlap > 0.7


def test_without_motion_the_tracker_detects_every_frame_and_reset_forgets(talking_head, detector):
    counting = CountingDetector(detector)
    tracker = FaceTracker(counting, every=4)  # type: ignore[arg-type]
    for small, _ in talking_head[:3]:
        tracker.track(small, None)
    assert counting.calls == 3
    tracker.reset()
    blank = np.full_like(talking_head[0][0], 128)
    assert not tracker.track(blank, talking_head[1][1]).any()  # nothing carried over a reset


def paint(portrait, catalog, segmentation_model, face_detector):
    config = RunConfig(size_wh=(portrait.shape[1], portrait.shape[0]), proc_size_wh=(320, 180),
                       person=RegionConfig(catalog.names[0]), background=RegionConfig(catalog.names[1]))
    pipeline = FramePipeline(config, catalog, MediaPipeSegmenter(segmentation_model), face_detector=face_detector)
    try:
        return pipeline.process(portrait, 0.0)
    finally:
        pipeline.close()


@pytest.mark.slow
def test_the_guard_brings_the_face_back_towards_the_photo_and_leaves_the_rest(
        portrait, detector, catalog, segmentation_model):
    painted = paint(portrait, catalog, segmentation_model, None)
    guarded = paint(portrait, catalog, segmentation_model, FaceDetector())
    head = head_mask(portrait.shape[:2], detector.detect(portrait))

    def off(image, where):
        return float(np.abs(image.astype(np.float32) - portrait.astype(np.float32))[where].mean())

    face = head > 0.95
    assert off(guarded, face) < 0.8 * off(painted, face)
    away = head == 0
    assert np.abs(guarded.astype(np.int16) - painted.astype(np.int16))[away].mean() < 1.0


def test_faces_config_is_checked_and_read_from_toml_and_the_flag():
    from live_nst.cli import _config_from_args, build_parser

    with pytest.raises(ConfigError, match="faces.ease"):
        FacesConfig(ease=1.5)
    with pytest.raises(ConfigError, match="faces.every"):
        FacesConfig(every=0)
    with pytest.raises(ConfigError, match="faces.detail"):
        FacesConfig(detail=-0.1)
    assert config_from_dict({"faces": {"detail": 0.5}}).faces.detail == 0.5
    detailed = _config_from_args(build_parser().parse_args(["run", "--face-ease", "0.3", "--face-detail", "0"])).faces
    assert detailed == dataclasses.replace(FacesConfig(), ease=0.3, detail=0.0)
    assert config_from_dict({"faces": {"ease": 0.3, "every": 2}}).faces == FacesConfig(ease=0.3, every=2)
    assert _config_from_args(build_parser().parse_args(["run", "--face-ease", "0"])).faces.enabled is False
    flagged = _config_from_args(build_parser().parse_args(["run", "--face-ease", "0.7"])).faces
    assert flagged == dataclasses.replace(FacesConfig(), ease=0.7)
