"""The processing core end to end: real MediaPipe, real ONNX Runtime, real clips."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys

import cv2
import numpy as np
import onnx
import pytest

from live_nst.bench.metrics import read_video, warping_error
from live_nst.catalog import StyleCatalog
from live_nst.config import RegionConfig, RunConfig, SegmentationConfig, TemporalConfig
from live_nst.inference import StyleModel
from live_nst.pipeline import BACKGROUND, PERSON, FramePipeline
from live_nst.segment import MediaPipeSegmenter

_OPEN: list[FramePipeline] = []


def make_pipeline(catalog, model_path, person, background, size_wh, temporal=False, strength=1.0):
    config = RunConfig(size_wh=size_wh, proc_size_wh=size_wh, person=RegionConfig(person, strength),
                       background=RegionConfig(background, strength),
                       temporal=TemporalConfig(enabled=temporal))
    _OPEN.append(FramePipeline(config, catalog, MediaPipeSegmenter(model_path)))
    return _OPEN[-1]


@pytest.fixture(autouse=True)
def close_pipelines():
    yield
    while _OPEN:
        _OPEN.pop().close()


def run(pipeline, frames, fps=25.0):
    return [pipeline.process(frame, index / fps) for index, frame in enumerate(frames)]


def regions(alpha):
    """Pixels surely inside the person and surely in the background (edges left out)."""
    kernel = np.ones((15, 15), np.uint8)
    person = cv2.erode((alpha > 0.5).astype(np.uint8), kernel) > 0
    background = cv2.erode((alpha < 0.5).astype(np.uint8), kernel) > 0
    return person, background


def mean_diff(a, b, where):
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32))[where].mean())


def frame_size(frames):
    return frames[0].shape[1], frames[0].shape[0]


@pytest.fixture(scope="module")
def two_styles(catalog):
    return catalog.names[0], catalog.names[1]


@pytest.mark.parametrize("styled_region", ["person", "background"])
def test_each_region_gets_its_own_look(catalog, segmentation_model, greenscreen, two_styles, styled_region):
    frames, alphas = greenscreen
    style = two_styles[0]
    person, background = (style, "original") if styled_region == "person" else ("original", style)
    pipeline = make_pipeline(catalog, segmentation_model, person, background, frame_size(frames))
    out = run(pipeline, frames)[-1]
    inside, outside = regions(alphas[-1])
    styled, kept = (inside, outside) if styled_region == "person" else (outside, inside)
    assert mean_diff(out, frames[-1], styled) > 15, "the styled region was not painted"
    assert mean_diff(out, frames[-1], kept) < 4, "the 'original' region was changed"


def test_one_pass_paints_person_and_background_in_different_styles(catalog, segmentation_model, greenscreen,
                                                                   two_styles):
    frames, alphas = greenscreen
    a, b = two_styles
    out = run(make_pipeline(catalog, segmentation_model, a, b, frame_size(frames)), frames)[-1]
    model = StyleModel(catalog.get(a).path)
    only = {}
    for name in (a, b):
        weights = np.zeros((model.num_styles, 8, 8), np.float32)
        weights[catalog.get(name).index] = 1.0
        only[name] = model.run(frames[-1], weights)
    inside, outside = regions(alphas[-1])
    assert mean_diff(out, only[a], inside) < 0.5 * mean_diff(out, only[b], inside)
    assert mean_diff(out, only[b], outside) < 0.5 * mean_diff(out, only[a], outside)


def test_strength_zero_gives_the_original(catalog, segmentation_model, greenscreen, two_styles):
    frames, _ = greenscreen
    pipeline = make_pipeline(catalog, segmentation_model, *two_styles, frame_size(frames), strength=0.0)
    out = run(pipeline, frames[:2])[-1]
    assert mean_diff(out, frames[1], np.ones(out.shape[:2], bool)) < 1.0


def test_style_switch_cross_fades(catalog, segmentation_model, greenscreen, two_styles):
    frames, _ = greenscreen
    frame = frames[0]
    pipeline = make_pipeline(catalog, segmentation_model, two_styles[0], two_styles[0], frame_size(frames))
    before = pipeline.process(frame, 1.0)
    pipeline.set_style("person", two_styles[1], now=1.0)
    pipeline.set_style("background", two_styles[1], now=1.0)
    fading = [pipeline.process(frame, 1.0 + t) for t in (0.05, 0.15, 0.25)]
    after = pipeline.process(frame, 1.0 + pipeline.config.crossfade_s + 0.01)
    everywhere = np.ones(frame.shape[:2], bool)
    to_after = [mean_diff(f, after, everywhere) for f in fading]
    assert mean_diff(before, after, everywhere) > 5, "the two styles should differ"
    assert to_after[0] > to_after[1] > to_after[2] > 0, f"no gradual fade: {to_after}"


@pytest.mark.slow  # flow over a real clip, with and without blending
def test_temporal_blending_lowers_flicker_of_the_real_pipeline(catalog, segmentation_model, shared_data,
                                                               two_styles):
    frames = [cv2.resize(f, (320, 320), interpolation=cv2.INTER_AREA)
              for f in read_video(shared_data / "video/webcam_like/liveportrait_d12.mp4", max_frames=16)]
    errors = {}
    for temporal in (False, True):
        pipeline = make_pipeline(catalog, segmentation_model, *two_styles, (320, 320), temporal=temporal)
        errors[temporal] = warping_error(run(pipeline, frames), frames)
    assert errors[True] < 0.8 * errors[False], f"warping error with/without blending: {errors}"


def test_intents_change_the_looks(catalog, segmentation_model, two_styles):
    pipeline = make_pipeline(catalog, segmentation_model, *two_styles, (64, 64))
    cycle = catalog.cycle()
    pipeline.cycle_style(PERSON, 1, now=0.0)
    assert pipeline.person.look == cycle[(cycle.index(two_styles[0]) + 1) % len(cycle)]
    pipeline.cycle_style(PERSON, -1, now=0.0)
    assert pipeline.person.look == two_styles[0]
    pipeline.cycle_style(BACKGROUND, -1, now=0.0)
    assert pipeline.background.look == cycle[(cycle.index(two_styles[1]) - 1) % len(cycle)]
    pipeline.cycle_style(BACKGROUND, 1, now=0.0)
    pipeline.set_strength(PERSON, 0.3)
    pipeline.swap_styles(now=0.0)
    assert (pipeline.person.look, pipeline.background.look) == (two_styles[1], two_styles[0])
    # Each look keeps its strength: the person now shows the background's look as it was.
    assert (pipeline.person.strength, pipeline.background.strength) == (1.0, 0.3)
    for _ in range(15):
        pipeline.change_strength(0.1)
    assert pipeline.person.strength == 1.0
    pipeline.change_strength(-0.1)
    assert pipeline.person.strength == pytest.approx(0.9)
    with pytest.raises(ValueError, match="region must be one of"):
        pipeline.set_style("face", two_styles[0], now=0.0)
    pipeline.toggle_segmentation()
    pipeline.process(np.zeros((64, 64, 3), np.uint8), 0.0)
    assert pipeline.last_mask is None
    pipeline.toggle_styling()
    frame = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert np.array_equal(pipeline.process(frame, 0.1), frame)


def test_intents_with_values_set_exactly_that(catalog, segmentation_model, two_styles):
    """The control page's intents: a value, not a step (a repeated request changes nothing more)."""
    pipeline = make_pipeline(catalog, segmentation_model, *two_styles, (64, 64))
    pipeline.set_strength(BACKGROUND, 0.35)
    pipeline.set_strength(BACKGROUND, 0.35)
    assert (pipeline.person.strength, pipeline.background.strength) == (1.0, 0.35)
    pipeline.set_strength(PERSON, 1.7)
    assert pipeline.person.strength == 1.0
    for on in (False, False, True, True):
        assert pipeline.set_segmentation(on) and pipeline.segmentation_on is on
        pipeline.set_styling(on)
        assert pipeline.styling_on is on
    without = FramePipeline(pipeline.config, catalog, None)
    assert not without.set_segmentation(True) and not without.segmentation_on
    assert without.set_segmentation(False)


class CountingSegmenter:
    """The real MediaPipe segmenter, counting its calls."""

    def __init__(self, model_path) -> None:
        self.inner, self.calls = MediaPipeSegmenter(model_path), 0

    def segment(self, frame, timestamp_ms):
        self.calls += 1
        return self.inner.segment(frame, timestamp_ms)

    def reset(self) -> None:
        self.inner.reset()

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("every", [1, 2, 3])
def test_the_segmenter_runs_every_nth_frame_and_the_mask_follows_the_person(catalog, segmentation_model,
                                                                             greenscreen, two_styles, every):
    frames, alphas = greenscreen
    config = RunConfig(size_wh=frame_size(frames), proc_size_wh=(320, 180), person=RegionConfig(two_styles[0]),
                       background=RegionConfig(two_styles[1]),
                       segmentation=dataclasses.replace(SegmentationConfig(), every=every))
    segmenter = CountingSegmenter(segmentation_model)
    pipeline = FramePipeline(config, catalog, segmenter)
    _OPEN.append(pipeline)
    for index, frame in enumerate(frames):
        pipeline.prepare(frame, index / 25.0)
        mask = cv2.resize(pipeline.last_mask, frame_size(frames), interpolation=cv2.INTER_LINEAR)
        inside, outside = regions(alphas[index])
        assert mask[inside].mean() > 0.8 and mask[outside].mean() < 0.2, f"frame {index}: the mask lost the person"
    assert segmenter.calls == -(-len(frames) // every)


def test_a_new_processing_size_takes_effect_at_the_next_frame(catalog, segmentation_model, greenscreen, two_styles):
    frames, _ = greenscreen
    pipeline = make_pipeline(catalog, segmentation_model, *two_styles, frame_size(frames), temporal=True)
    out = run(pipeline, frames[:2])
    pipeline.set_proc_size((160, 90))
    after = [pipeline.process(frame, 1.0 + index / 25.0) for index, frame in enumerate(frames[2:4])]
    assert pipeline.last_proc_wh is not None and pipeline.last_proc_wh[0] * pipeline.last_proc_wh[1] <= 160 * 96
    assert {image.shape for image in out + after} == {frames[0].shape}, "the output size never changes"


def _renamed_copy(source, target, prefix):
    """A copy of a style model whose styles carry other names (a second style file)."""
    model = onnx.load(str(source))
    for prop in model.metadata_props:
        if prop.key == "live_nst.styles":
            prop.value = prop.value.replace('"name": "', f'"name": "{prefix}')
    onnx.save(model, str(target))


def test_broken_style_file_keeps_the_stream_on_its_style(catalog, segmentation_model, tmp_path, two_styles):
    pack = catalog.get(two_styles[0]).path
    shutil.copy(pack, tmp_path / "good.onnx")
    _renamed_copy(pack, tmp_path / "other.onnx", "alt_")
    (tmp_path / "garbage.onnx").write_bytes(b"this is not a model")
    local = StyleCatalog([tmp_path])
    assert tmp_path / "garbage.onnx" in local.problems, "a corrupt file must be reported, not listed"
    pipeline = make_pipeline(local, segmentation_model, *two_styles, (96, 64))
    (tmp_path / "other.onnx").write_bytes(b"corrupted after start")
    assert not pipeline.set_style(PERSON, "alt_" + two_styles[1], now=0.0)
    assert pipeline.person.look == two_styles[0]
    pipeline.cycle_style(PERSON, 1, now=0.0)  # steps over the broken style
    assert not pipeline.person.look.startswith("alt_")
    assert pipeline.process(np.zeros((64, 96, 3), np.uint8), 0.0).shape == (64, 96, 3)


def test_a_user_style_named_like_a_shipped_one_stays_usable(catalog, segmentation_model, tmp_path, two_styles):
    from live_nst.catalog import packaged_styles_dir

    shutil.copy(catalog.get(two_styles[0]).path, tmp_path / "mine.onnx")
    both = StyleCatalog([packaged_styles_dir(), tmp_path])
    mine = f"{two_styles[0]}@mine"
    assert two_styles[0] in both.names and mine in both.names
    assert both.get(mine).path == tmp_path / "mine.onnx"
    pipeline = make_pipeline(both, segmentation_model, mine, two_styles[0], (96, 64))
    assert pipeline.process(np.zeros((64, 96, 3), np.uint8), 0.0).shape == (64, 96, 3)


def _disk_bbox_wh(image: np.ndarray) -> tuple[int, int]:
    ys, xs = np.nonzero(image[..., 0] < 60)
    return int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


@pytest.mark.parametrize("input_wh", [(480, 480), (480, 640), (1280, 720)])
def test_frames_of_another_shape_are_cropped_never_stretched(catalog, input_wh):
    frame = np.full((input_wh[1], input_wh[0], 3), 200, np.uint8)
    cv2.circle(frame, (input_wh[0] // 2, input_wh[1] // 2), min(input_wh) // 5, (0, 0, 0), -1, cv2.LINE_AA)
    config = RunConfig(size_wh=(640, 360), proc_size_wh=(320, 180), person=RegionConfig("original"),
                       background=RegionConfig("original"), temporal=TemporalConfig(enabled=False))
    out = FramePipeline(config, catalog, segmenter=None).process(frame, 0.0)
    assert out.shape == (360, 640, 3)
    width, height = _disk_bbox_wh(out)
    assert abs(width / height - 1.0) < 0.05, f"the disk came out {width}x{height}: the frame was stretched"


def test_a_portrait_clip_is_processed_in_portrait(catalog, segmentation_model, greenscreen, two_styles):
    frames, alphas = greenscreen
    left = (frames[0].shape[1] - 288) // 2  # the middle of the clip, a 288x480 portrait
    portrait = [np.ascontiguousarray(f[:, left:left + 288]) for f in frames[:3]]
    pipeline = make_pipeline(catalog, segmentation_model, *two_styles, frame_size(portrait))
    pipeline.config = dataclasses.replace(pipeline.config, proc_size_wh=(320, 180))
    out = run(pipeline, portrait)[-1]
    assert out.shape == portrait[-1].shape
    mask_h, mask_w = pipeline.last_mask.shape
    assert mask_w * mask_h <= 320 * 180 * 1.05 and abs(mask_w / mask_h - 288 / 480) < 0.03
    inside, outside = regions(alphas[2][:, left:left + 288])

    def small(where: np.ndarray) -> np.ndarray:
        return cv2.resize(where.astype(np.uint8), (mask_w, mask_h), interpolation=cv2.INTER_NEAREST) > 0

    assert pipeline.last_mask[small(inside)].mean() > 0.8 and pipeline.last_mask[small(outside)].mean() < 0.2


def test_the_core_imports_nothing_from_the_device_side():
    device_side = ["live_nst.app", "live_nst.controls", "live_nst.sinks", "live_nst.sources"]
    code = f"import sys, live_nst.pipeline; print([m for m in {device_side!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", f"the pipeline imported {done.stdout.strip()}"
