"""Flicker: the warping error (Lai et al. 2018; ``metrics.warping_error``) of the painted video
with and without temporal blending, beside the input video's own.

Each clip is read at about the processing size's pixel count in its own aspect ratio
(the pipeline then does no resizing, and the output is compared at the size it was
painted at). Optical flow and occlusion masks come from the INPUT frames once and are
shared by the measurements. The input's own warping error is the floor: what flow
warping alone leaves (interpolation, lighting, flow errors); a perfectly steady
stylisation would come close to it. Beside the pipeline (its two looks, with and
without blending), each region is painted alone (the other left as the photo): the two
regions are painted in one pass, and a joint number above the sum of the two shows the
regions unsettling each other. The network alone also paints the whole frame in each
style in turn: the pipeline's number hides the styles its looks do not use.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from live_nst.bench.context import (
    BenchOptions,
    close_pipeline,
    load_frames,
    make_pipeline,
    resize,
    run_config,
    video_fps,
)
from live_nst.compose import BUILT_IN_LOOKS, ORIGINAL
from live_nst.framing import SizeWH, fit_size

log = logging.getLogger(__name__)


def paint(frames: list[np.ndarray], fps: float, catalog, looks: tuple[str, str], device: str, proc_wh: SizeWH,
          temporal: bool, threads: int = 0) -> list[np.ndarray]:
    """The pipeline's output for each frame (frames already at ``proc_wh``)."""
    config = run_config(looks, device, proc_wh, proc_wh, temporal=temporal)
    pipeline = make_pipeline(config, catalog, threads)
    try:
        return [pipeline.process(frame, index / fps) for index, frame in enumerate(frames)]
    finally:
        close_pipeline(pipeline)


def clip_flicker(clip: str | Path, frames: int, catalog, looks: tuple[str, str], device: str, proc_wh: SizeWH,
                 threads: int = 0) -> dict:
    """Warping errors of one clip: input, output without and with temporal blending."""
    from live_nst.bench.metrics import input_flows, warping_error

    inputs = load_frames(clip, frames)
    if len(inputs) < 2:
        raise ValueError(f"{clip} has fewer than two frames")
    proc_wh = fit_size((inputs[0].shape[1], inputs[0].shape[0]), proc_wh)
    inputs = [resize(frame, proc_wh) for frame in inputs]
    fps = video_fps(clip)
    flows = input_flows(inputs)
    result: dict[str, Any] = {"clip": str(clip), "frames": len(inputs), "size": list(proc_wh),
              "input": warping_error(inputs, inputs, flows)}
    for key, temporal in (("no_temporal", False), ("temporal", True)):
        outputs = paint(inputs, fps, catalog, looks, device, proc_wh, temporal, threads)
        result[key] = warping_error(outputs, inputs, flows)
    result["temporal_reduction"] = (1.0 - result["temporal"] / result["no_temporal"]
                                    if result["no_temporal"] > 0 else 0.0)
    if not set(looks) & set(BUILT_IN_LOOKS):
        alone = {"person": (looks[0], ORIGINAL), "background": (ORIGINAL, looks[1])}
        result["region_alone"] = {region: warping_error(paint(inputs, fps, catalog, pair, device, proc_wh, False,
                                                              threads), inputs, flows)
                                  for region, pair in alone.items()}
    result["network_per_style"] = network_flicker(inputs, flows, catalog, device, threads)
    log.info("flicker %s: input %.5f, no temporal %.5f, temporal %.5f", Path(clip).name, result["input"],
             result["no_temporal"], result["temporal"])
    return result


def network_flicker(inputs: list[np.ndarray], flows, catalog, device: str, threads: int = 0) -> dict[str, float]:
    """Warping error of the network alone, whole frame, one style at a time."""
    from live_nst.bench.metrics import warping_error
    from live_nst.bench.picture import paint_whole_frame
    from live_nst.inference import StyleModel

    models: dict[Path, StyleModel] = {}
    errors = {}
    for name in catalog.names:
        entry = catalog.get(name)
        if entry.path not in models:
            models[entry.path] = StyleModel(entry.path, device, threads)
        painted = [paint_whole_frame(models[entry.path], frame, entry.index) for frame in inputs]
        errors[name] = warping_error(painted, inputs, flows)
    return errors


def flicker_clips(options: BenchOptions) -> list[str | Path]:
    """The --clip, then the other clips of the data set (in the full run)."""
    clips: list[str | Path] = [options.clip]
    clips += [path for path in options.flicker_clips if Path(path) != Path(options.clip)]
    return clips


def measure_flicker(options: BenchOptions, catalog, looks: tuple[str, str], device: str = "auto") -> dict:
    clips = flicker_clips(options)
    proc_wh = options.proc_sizes[0]
    results = [clip_flicker(clip, options.flicker_frames, catalog, looks, device, proc_wh, options.threads)
               for clip in clips]
    return {"status": "ok", "proc_size": list(proc_wh), "device": device, "looks": list(looks),
            "metric": "mean over consecutive pairs of the per-pixel squared RGB difference (summed over "
                      "channels, RGB in [0, 1]) between O(t) and O(t-1) warped by DIS flow of the input, "
                      "over non-occluded pixels",
            "clips": results}
