"""Speed: the whole live pipeline on a clip, with a null sink, per provider and size.

Each frame goes the way a live frame goes, in one thread so every stage can be timed:
the project's own source decodes it from the clip (unpaced, so the pipeline's capacity
is measured, not the clip's frame rate) and it is brought to the input size (1280x720
by default: what a webcam delivers; the default clip needs no resize), then
``FramePipeline.process`` (resize to the processing size, segment + refine, stylize,
compose, temporal blend, resize to the output size), then the conversion a virtual
camera makes (RGB to I420, as pyvirtualcam does natively for v4l2loopback; OBS takes
NV12, the same cost) and the project's NullSink. The pipeline's own stage timer gives
the middle stages.

Reported per (provider, processing size): throughput fps (frames / summed frame time),
per-stage median and p95 ms, and latency from the capture timestamp (the moment the
decoded frame is there, as a camera stamps it) to the end of the send. The first
``warmup`` frames are run but not counted.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import cv2

from live_nst.bench.context import (
    BenchOptions,
    SizeWH,
    close_pipeline,
    make_pipeline,
    open_clip,
    run_config,
    size_label,
    summary,
)
from live_nst.errors import LiveNSTError, SourceError
from live_nst.pipeline import PIPELINE_STAGES
from live_nst.sinks import NullSink

log = logging.getLogger(__name__)

STAGES = ("capture", *PIPELINE_STAGES, "to_i420", "sink")


class ClipReader:
    """Frames of a clip (the project's own source, unpaced and looping) as RGB at ``size_wh``."""

    def __init__(self, clip: str | Path, size_wh: SizeWH) -> None:
        self.size_wh = tuple(size_wh)
        self.source = open_clip(clip, size_wh)
        self.fps = float(self.source.fps)
        self.native_wh = tuple(self.source.size_wh)

    def read(self):
        """The next frame (``image`` resized to ``size_wh``, ``timestamp``, ``index``)."""
        frame = self.source.read()
        if frame is None:
            raise SourceError(f"the clip {getattr(self.source, 'path', 'sample')} gave no frame")
        if (frame.image.shape[1], frame.image.shape[0]) != self.size_wh:
            frame = dataclasses.replace(frame, image=cv2.resize(frame.image, self.size_wh,
                                                                interpolation=cv2.INTER_AREA))
        return frame

    def close(self) -> None:
        self.source.close()


def time_pipeline(pipeline, clip: str | Path, input_wh: SizeWH, frames: int, warmup: int) -> dict:
    """Run ``warmup + frames`` frames through decode -> pipeline -> null sink."""
    reader = ClipReader(clip, input_wh)
    sink = NullSink(pipeline.config.size_wh, reader.fps)
    stages: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "total")}
    latencies: list[float] = []
    try:
        for index in range(warmup + frames):
            start = time.monotonic()
            frame = reader.read()
            captured = time.monotonic()
            out = pipeline.process(frame.image, frame.index / reader.fps)
            processed = time.monotonic()
            cv2.cvtColor(out, cv2.COLOR_RGB2YUV_I420)  # what the virtual camera does with the frame
            converted = time.monotonic()
            sink.send(out)
            sent = time.monotonic()
            if index < warmup:
                continue
            stages["capture"].append((captured - start) * 1e3)
            for stage in PIPELINE_STAGES:
                stages[stage].append(pipeline.timer.ms.get(stage, 0.0))
            stages["to_i420"].append((converted - processed) * 1e3)
            stages["sink"].append((sent - converted) * 1e3)
            stages["total"].append((sent - start) * 1e3)
            latencies.append((sent - frame.timestamp) * 1e3)
    finally:
        reader.close()
        sink.close()
    total_s = sum(stages["total"]) / 1e3
    return {
        "frames": frames,
        "fps": round(frames / total_s, 3) if total_s > 0 else 0.0,
        "latency_ms": summary(latencies),
        "stages_ms": {stage: summary(values) for stage, values in stages.items()},
        "clip_native_size": list(reader.native_wh),
    }


def _speed_run(options: BenchOptions, catalog, looks: tuple[str, str], device: str, proc_wh: SizeWH,
               clip: str) -> dict:
    config = run_config(looks, device, proc_wh, options.input_size)
    pipeline = make_pipeline(config, catalog, options.threads)
    try:
        provider = next(iter(pipeline.models.values())).provider
        result = time_pipeline(pipeline, clip, options.input_size, options.frames, options.warmup)
    finally:
        close_pipeline(pipeline)
    log.info("speed %s %s: %.1f fps, stylize %.1f ms median", device, size_label(proc_wh), result["fps"],
             result["stages_ms"]["stylize"]["median"])
    return {"device": device, "provider": provider, "proc_size": list(proc_wh),
            "input_size": list(options.input_size), "output_size": list(options.input_size), **result}


def measure_speed(options: BenchOptions, catalog, looks: tuple[str, str], devices: list[str]) -> dict:
    """The speed section: one run per working provider and processing size."""
    runs, unavailable = [], []
    for device in devices:
        for proc_wh in options.proc_sizes:
            try:
                runs.append(_speed_run(options, catalog, looks, device, proc_wh, options.clip))
            except LiveNSTError as exc:
                log.warning("provider %s does not work here: %s", device, exc)
                unavailable.append({"device": device, "reason": str(exc)})
                break
    return {"status": "ok" if runs else "error", "clip": str(options.clip), "looks": list(looks),
            "threads": options.threads, "warmup_frames": options.warmup, "runs": runs,
            "unavailable": unavailable, "stage_order": list(STAGES)}
