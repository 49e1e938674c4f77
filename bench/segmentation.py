"""Segmentation: the person mask against ground truth, raw MediaPipe versus refined.

For each clip with per-frame ground truth (the DAVIS person clips with hand-drawn masks,
the green-screen composite with its exact alpha, or any ``--gt VIDEO,MASKDIR``), every
frame goes through the MediaPipe segmenter in VIDEO mode (timestamps from the frame rate)
and then the pipeline's ``MaskRefiner`` (motion-adaptive temporal smoothing and
guided-filter feathering), at the clip's own resolution.

Reported for the raw and the refined mask: IoU at 0.5 pooled over all frames, the mean
and the worst per-frame IoU, and mask flicker (the warping error of the mask under the
input's optical flow, ``metrics.mask_flicker``), beside the ground truth's own mask flicker.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from live_nst.bench.context import BenchOptions, load_frames, video_fps
from live_nst.config import SegmentationConfig

log = logging.getLogger(__name__)

DAVIS_CLIPS = ("lucia", "hike", "tennis")


def ground_truth_clips(options: BenchOptions) -> list[tuple[Path, Path]]:
    """(video, mask folder) pairs: the data set's, then any given with --gt."""
    pairs: list[tuple[Path, Path]] = []
    for name in DAVIS_CLIPS:
        video, masks = options.data(f"video/davis/{name}/{name}.mp4"), options.data(f"video/davis/{name}/masks")
        if video and masks:
            pairs.append((video, masks))
    video, alpha = options.data("video/greenscreen/d0_bookcase_composite.mp4"), options.data("video/greenscreen/alpha")
    if video and alpha:
        pairs.append((video, alpha))
    return pairs + list(options.seg_clips)


def segment_clip(frames: list[np.ndarray], fps: float, model: str,
                 config: SegmentationConfig) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Raw and refined masks of every frame, as the pipeline makes them."""
    from live_nst.mask import MaskRefiner
    from live_nst.segment import MediaPipeSegmenter, resolve_segmentation_model

    refiner = MaskRefiner(config)
    raw, refined = [], []
    with MediaPipeSegmenter(resolve_segmentation_model(model)) as segmenter:
        for index, frame in enumerate(frames):
            mask = segmenter.segment(frame, int(round(index * 1000.0 / fps)))
            raw.append(mask)
            refined.append(refiner.refine(mask, frame))
    return raw, refined


def mask_scores(masks: list[np.ndarray], truth: list[np.ndarray], frames: list[np.ndarray], flows) -> dict:
    from live_nst.bench.metrics import mask_flicker, mask_iou

    per_frame = [mask_iou(mask, gt) for mask, gt in zip(masks, truth)]
    return {"iou": mask_iou(np.stack(masks), np.stack(truth)), "iou_mean": float(np.mean(per_frame)),
            "iou_min": float(np.min(per_frame)), "flicker": mask_flicker(masks, frames, flows)}


def score_clip(video: Path, mask_dir: Path, max_frames: int | None, models: tuple[str, ...],
               config: SegmentationConfig) -> dict:
    from live_nst.bench.metrics import input_flows, mask_flicker, read_mask_folder

    truth = read_mask_folder(mask_dir, max_frames)
    frames = load_frames(video, len(truth))
    count = min(len(frames), len(truth))
    frames, truth = frames[:count], [_fit(gt, frames[0].shape[:2]) for gt in truth[:count]]
    flows = input_flows(frames)
    result: dict[str, Any] = {"clip": str(video), "truth": str(mask_dir), "frames": count,
              "size": [frames[0].shape[1], frames[0].shape[0]],
              "truth_flicker": mask_flicker(truth, frames, flows), "models": {}}
    fps = video_fps(video)
    for model in models:
        raw, refined = segment_clip(frames, fps, model, config)
        result["models"][model] = {"raw": mask_scores(raw, truth, frames, flows),
                                   "refined": mask_scores(refined, truth, frames, flows)}
        log.info("segmentation %s (%s): IoU raw %.3f refined %.3f", video.name, model,
                 result["models"][model]["raw"]["iou"], result["models"][model]["refined"]["iou"])
    return result


def _fit(mask: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    import cv2

    if mask.shape[:2] == tuple(shape_hw):
        return mask
    return cv2.resize(mask, (shape_hw[1], shape_hw[0]), interpolation=cv2.INTER_LINEAR)


def measure_segmentation(options: BenchOptions, config: SegmentationConfig | None = None) -> dict:
    pairs = ground_truth_clips(options)
    if not pairs:
        return {"status": "skipped", "note": "no clips with ground-truth masks: provide the measurement data "
                                             "or pass --gt VIDEO,MASKDIR"}
    config = config or SegmentationConfig()
    clips = [score_clip(video, masks, options.seg_frames, options.seg_models, config) for video, masks in pairs]
    return {"status": "ok", "models": list(options.seg_models), "threshold": 0.5,
            "refiner": {"temporal_smoothing": config.temporal_smoothing, "feather_px": config.feather_px},
            "clips": clips}
