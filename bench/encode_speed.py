"""Encoding cost: the H.264 settings ``live-nst render`` writes MP4 with (x264's veryfast
preset, diamond motion search and the simplest sub-pixel refinement:
:func:`live_nst.encode.codec_options`) beside x264's veryfast alone, which they replace
to keep the encoder's share of a render small. The frames are painted ones (the first
frames of the clip through ``live-nst render``, near-lossless, decoded), since painted
frames are what render encodes and they compress unlike camera frames. Each setting encodes
them through the project's own Encoder, alternating, ``rounds`` times; per setting the
CPU ms a frame (every encoder thread, the RGB -> YUV conversion and the final flush
included), wall ms a frame, the file's size and its PSNR against the frames it was given
(RGB, mean over frames), as medians over the rounds.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from live_nst.bench.context import SAMPLE, BenchOptions, summary
from live_nst.bench.render_speed import CLIP_CRF, render_config, trim
from live_nst.encode import DEFAULT_CRF, FORMATS, Encoder, codec_options
from live_nst.render import render
from live_nst.video import probe, read_frames

log = logging.getLogger(__name__)

MAX_FRAMES = 120  # painted frames held in memory: 330 MB at 1280x720
SUFFIX = ".mp4"  # what render writes unless told otherwise
SETTINGS = ("veryfast", "live-nst")
MEASURES = ("cpu_ms", "wall_ms", "size_kb", "psnr_db")


def settings(crf: int) -> dict[str, dict[str, str]]:
    """Name -> the video encoder's options: what live-nst ships, and the same without its
    ``x264-params`` (x264's veryfast preset alone)."""
    shipped = codec_options(FORMATS[SUFFIX], crf, "veryfast")
    return {"veryfast": {k: v for k, v in shipped.items() if k != "x264-params"}, "live-nst": shipped}


def measure_encode(options: BenchOptions, looks: tuple[str, str], device: str) -> dict:
    """The encode section: the first ``options.warmup + options.frames`` frames of
    ``options.clip`` (at most MAX_FRAMES), painted on ``device``, encoded with each setting."""
    if str(options.clip) == SAMPLE:
        return {"status": "skipped", "note": "encode paints a video file; give one with --clip"}
    count = min(options.warmup + options.frames, MAX_FRAMES)
    codecs = settings(DEFAULT_CRF)
    with tempfile.TemporaryDirectory(prefix="live-nst-bench-encode-") as folder:
        frames, fps = painted(options, looks, device, Path(folder), count)
        rounds = [{name: encode(frames, fps, Path(folder) / f"{name}.mp4", codecs[name]) for name in SETTINGS}
                  for _ in range(options.rounds)]
    medians = {name: {key: summary(r[name][key] for r in rounds)["median"] for key in MEASURES} for name in SETTINGS}
    veryfast, shipped = medians["veryfast"]["cpu_ms"], medians["live-nst"]["cpu_ms"]
    saving = round(1 - shipped / veryfast, 3) if veryfast else None
    log.info("encode: CPU %.1f ms a frame with veryfast, %.1f with live-nst's settings: %s less", veryfast, shipped,
             saving)
    return {"status": "ok", "clip": str(options.clip), "frames": len(frames),
            "size": [frames[0].shape[1], frames[0].shape[0]], "crf": DEFAULT_CRF, "rounds": rounds,
            "settings": [{"name": name, "options": codecs[name], **medians[name]} for name in SETTINGS],
            "cpu_saving": saving}


def painted(options: BenchOptions, looks: tuple[str, str], device: str, folder: Path,
            count: int) -> tuple[list[np.ndarray], float]:
    """The first ``count`` frames of the clip as ``live-nst render`` paints them, and their frame rate."""
    clip = trim(Path(options.clip), folder / "clip.mp4", count)
    config = dataclasses.replace(render_config(options, looks, device, probe(clip)), crf=CLIP_CRF)
    out = folder / "painted.mkv"
    render(clip, out, config, progress=False)
    return list(read_frames(out)), probe(out).fps


def encode(frames: list[np.ndarray], fps: float, out: Path, codec: dict[str, str]) -> dict[str, float]:
    """``frames`` encoded into ``out`` as render encodes them, with the encoder's options ``codec``."""
    height, width = frames[0].shape[:2]
    cpu, wall = time.process_time(), time.perf_counter()
    encoder = Encoder(out, (width, height), fps, container_suffix=SUFFIX, options=codec)
    try:
        for frame in frames:
            encoder.write(frame)
    finally:
        encoder.close()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_ms": round(1000 * cpu / len(frames), 2), "wall_ms": round(1000 * wall / len(frames), 2),
            "size_kb": round(out.stat().st_size / 1000, 1), "psnr_db": round(psnr(frames, read_frames(out)), 2)}


def psnr(reference: list[np.ndarray], decoded: Iterable[np.ndarray]) -> float:
    """Mean over frames of the PSNR (dB, RGB, 8 bit) of ``decoded`` against ``reference``."""
    values = [10 * np.log10(255.0**2 / max(float(np.mean((a.astype(np.float32) - b) ** 2)), 1e-10))
              for a, b in zip(reference, decoded, strict=True)]
    return float(np.mean(values))
