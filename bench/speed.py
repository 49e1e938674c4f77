"""Speed: the whole live pipeline on a clip, with a null sink, per provider and size.

Each frame goes the way a live frame goes, through the live loop's runner
(``live_nst.runner``: the stages overlapped, with the painters and ONNX Runtime threads
``live-nst run`` would use): the front thread reads it with the project's own source, which decodes it
from the clip (unpaced, so the pipeline's capacity is measured, not the clip's frame
rate) and brings it to the input size (1280x720 by default: what a webcam delivers; the
default clip needs no resize), and prepares it (resize to the processing size, motion,
segment or carry the mask + refine, style weights); painter threads run the style
network; this thread finishes it (compose, temporal blend, resize to the output size),
converts it as a virtual camera does (RGB to I420, as pyvirtualcam does natively for
v4l2loopback; OBS takes NV12, the same cost) and sends it to the project's NullSink.

Reported per (provider, processing size): throughput fps (frames / wall time), per-stage
median and p95 ms (each stage's own wall time on its thread: with the stages running at
once on shared cores they overlap and are longer than alone, so they do not add up to
the frame time; ``total`` is the time between two frames going out), and latency from
the capture timestamp (the moment the decoded frame is there, as a camera stamps it) to
the end of the send. The first ``warmup`` frames are run but not counted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import time
from pathlib import Path

import cv2

from live_nst.bench.context import (
    BASELINE,
    MODEL,
    BenchOptions,
    close_pipeline,
    open_clip,
    run_config,
    size_label,
    summary,
)
from live_nst.errors import LiveNSTError, SourceError
from live_nst.framing import SizeWH
from live_nst.overlap import Ready, auto_painters, network_threads
from live_nst.pipeline import build_pipeline
from live_nst.runner import FrameRunner
from live_nst.sinks import NullSink
from live_nst.stages import PIPELINE_STAGES

log = logging.getLogger(__name__)

STAGES = ("capture", *PIPELINE_STAGES, "to_i420", "sink")


class ClipReader:
    """Frames of a clip (the project's own source, looping; unpaced unless ``paced``) as RGB
    at ``size_wh``; a source as the live loop takes one."""

    lost = False
    ended = False

    def __init__(self, clip: str | Path, size_wh: SizeWH, paced: bool = False) -> None:
        self.size_wh = (int(size_wh[0]), int(size_wh[1]))
        self.paced = paced
        self.source = open_clip(clip, size_wh, paced=paced)
        self.fps = float(self.source.fps)
        self.native_wh = tuple(self.source.size_wh)

    def read(self, timeout: float | None = None):
        """The next frame (``image`` resized to ``size_wh``, ``timestamp``, ``index``);
        paced, None when none is due within ``timeout``."""
        frame = self.source.read(timeout)
        if frame is None:
            if self.paced and not self.source.ended:
                return None
            raise SourceError(f"the clip {getattr(self.source, 'path', 'sample')} gave no frame")
        if (frame.image.shape[1], frame.image.shape[0]) != self.size_wh:
            frame = dataclasses.replace(frame, image=cv2.resize(frame.image, self.size_wh,
                                                                interpolation=cv2.INTER_AREA))
        return frame

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> ClipReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TimedSink:
    """The null sink, timed: each frame converted as a virtual camera converts it (RGB to
    I420, as pyvirtualcam does natively for v4l2loopback; OBS takes NV12, the same cost),
    then sent to the project's NullSink."""

    def __init__(self, sink: NullSink) -> None:
        self.sink = sink
        self.to_i420_ms = self.send_ms = 0.0  # the last frame's
        self.sent = 0.0  # monotonic s: when the last frame was sent

    def send(self, frame, overlay=()) -> None:
        processed = time.monotonic()  # (finish's own stages are in the pipeline's timer)
        cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
        converted = time.monotonic()
        self.sink.send(frame)
        self.sent = time.monotonic()
        self.to_i420_ms, self.send_ms = (converted - processed) * 1e3, (self.sent - converted) * 1e3


def time_pipeline(pipeline, clip: str | Path, input_wh: SizeWH, frames: int, warmup: int,
                  painters: int = 0) -> dict:
    """Run ``warmup + frames`` frames through decode -> pipeline -> null sink, through the
    live loop's runner (:mod:`live_nst.runner`) with ``painters`` network threads."""
    reader = ClipReader(clip, input_wh)
    sink = TimedSink(NullSink(pipeline.config.size_wh, reader.fps))
    runner = FrameRunner(reader, pipeline, sink, painters, resend_on_error=False)
    stages: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "total")}
    latencies: list[float] = []
    sent_times: list[float] = []

    def record(ready: Ready) -> None:
        sent_times.append(sink.sent)
        if len(sent_times) <= warmup or ready.frame is None:
            return
        stages["capture"].append(ready.read_ms)
        for stage in PIPELINE_STAGES:
            stages[stage].append(pipeline.timer.ms.get(stage, 0.0))
        stages["to_i420"].append(sink.to_i420_ms)
        stages["sink"].append(sink.send_ms)
        stages["total"].append((sink.sent - sent_times[-2]) * 1e3 if len(sent_times) > 1 else 0.0)
        latencies.append((sink.sent - ready.frame.timestamp) * 1e3)

    try:
        runner.run(warmup + frames, on_sent=record)
    except Exception as exc:  # noqa: BLE001 - said as the bench says a clip it cannot time
        raise LiveNSTError(f"frame {len(sent_times)} of {clip} could not be painted: {exc}") from exc
    finally:
        reader.close()
        sink.sink.close()
    if len(sent_times) < warmup + frames:
        raise LiveNSTError(f"{clip} gave {len(sent_times)} frames, fewer than the {warmup + frames} to time")
    wall_s = sent_times[-1] - sent_times[warmup - 1] if warmup > 0 else sum(stages["total"]) / 1e3
    return {
        "frames": frames,
        "fps": round(frames / wall_s, 3) if wall_s > 0 else 0.0,
        "painters": painters,
        "latency_ms": summary(latencies),
        "stages_ms": {stage: summary(values) for stage, values in stages.items()},
        "clip_native_size": list(reader.native_wh),
    }


def _speed_run(options: BenchOptions, catalog, looks: tuple[str, str], device: str, proc_wh: SizeWH,
               clip: str) -> dict:
    config = run_config(looks, device, proc_wh, options.input_size)
    # As live-nst run builds and runs it: painters by the provider, the cores shared out
    # among them, ONNX Runtime's idle threads sleeping (the other stages need the cores).
    requested = options.painters
    threads = options.threads or network_threads(requested if requested is not None else auto_painters([]))
    pipeline = build_pipeline(config, catalog, threads, spinning=False)
    try:
        provider = next(iter(pipeline.models.values())).provider
        painters = requested if requested is not None else auto_painters(pipeline.providers)
        result = time_pipeline(pipeline, clip, options.input_size, options.frames, options.warmup, painters)
    finally:
        close_pipeline(pipeline)
    log.info("speed %s %s: %.1f fps (%d painters, %d threads each), latency p95 %.0f ms, stylize %.1f ms median",
             device, size_label(proc_wh), result["fps"], painters, threads, result["latency_ms"]["p95"],
             result["stages_ms"]["stylize"]["median"])
    return {"device": device, "provider": provider, "ort_threads": threads, "proc_size": list(proc_wh),
            "input_size": list(options.input_size), "output_size": list(options.input_size), **result}


def measure_speed(options: BenchOptions, catalog, looks: tuple[str, str], devices: list[str]) -> dict:
    """The speed section: ``options.rounds`` runs per working provider and processing size;
    with ``options.baseline_model``, each run followed by one of the same pipeline painting
    with that model (before and after a change, in one run on the same machine)."""
    models = {MODEL: catalog}
    notes = []
    with contextlib.ExitStack() as stack:
        if options.baseline_model:
            baseline, note = _baseline_catalog(options.baseline_model, looks, stack)
            if baseline is not None:
                models[BASELINE] = baseline
            else:
                notes.append(note)
        runs, unavailable = _rounds(options, models, looks, devices)
    return {"status": "ok" if runs else "error", "clip": str(options.clip), "looks": list(looks),
            "threads": options.threads, "warmup_frames": options.warmup, "rounds": options.rounds,
            "baseline_model": str(options.baseline_model) if BASELINE in models else None, "runs": runs,
            "before_after": before_after(runs), "unavailable": unavailable, "notes": notes,
            "stage_order": list(STAGES)}


def _rounds(options: BenchOptions, models: dict, looks: tuple[str, str], devices: list[str]):
    runs: list[dict] = []
    unavailable: list[dict] = []
    for device in devices:
        try:
            for proc_wh in options.proc_sizes:
                for round_index in range(options.rounds):
                    for name, styles in models.items():
                        run = _speed_run(options, styles, looks, device, proc_wh, options.clip)
                        runs.append({"model": name, "round": round_index, **run})
        except LiveNSTError as exc:
            log.warning("provider %s does not work here: %s", device, exc)
            unavailable.append({"device": device, "reason": str(exc)})
    return runs, unavailable


def _baseline_catalog(model: Path, looks: tuple[str, str], stack: contextlib.ExitStack):
    """A catalog holding only ``model`` (from a temporary folder), or None and why not."""
    from live_nst.catalog import StyleCatalog
    from live_nst.compose import BUILT_IN_LOOKS

    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="live-nst-baseline-")))
    (folder / model.name).symlink_to(Path(model).resolve())
    styles = StyleCatalog([folder])
    missing = [look for look in looks if look not in BUILT_IN_LOOKS and look not in styles.names]
    if missing:
        return None, f"the baseline model {model} has no style {', '.join(missing)}: not timed in the pipeline"
    return styles, ""


def before_after(runs: list[dict]) -> list[dict]:
    """Per provider and processing size, the median over rounds of each model's fps and
    latency, and the live-nst / baseline ratios (empty without a baseline)."""
    out = []
    places = dict.fromkeys((run["device"], tuple(run["proc_size"])) for run in runs)
    for device, size in places:
        here = [run for run in runs if (run["device"], tuple(run["proc_size"])) == (device, size)]
        by_model = {name: [run for run in here if run["model"] == name] for name in (MODEL, BASELINE)}
        if not all(by_model.values()):
            continue
        row: dict = {"device": device, "proc_size": list(size)}
        for name, model_runs in by_model.items():
            row[name] = {"fps": _median([run["fps"] for run in model_runs]),
                         "latency_median_ms": _median([run["latency_ms"]["median"] for run in model_runs]),
                         "latency_p95_ms": _median([run["latency_ms"]["p95"] for run in model_runs]),
                         "stylize_ms": _median([run["stages_ms"]["stylize"]["median"] for run in model_runs]),
                         "rounds": len(model_runs)}
        row["fps_ratio"] = round(row[MODEL]["fps"] / row[BASELINE]["fps"], 3) if row[BASELINE]["fps"] else None
        out.append(row)
    return out


def _median(values: list[float]) -> float:
    return summary(values)["median"]
