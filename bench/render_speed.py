"""Render against run: the same clip painted by ``live-nst render`` (every frame, in order,
encoded into an MP4 with its sound) and by ``live-nst run --output null`` (the live loop,
the clip paced at its own rate and looping, as a camera delivers it), in turn, ``rounds``
times, both through the one runner (:mod:`live_nst.runner`). Both paint at the first
processing size, at the clip's own size, the cores shared out as ``run`` shares them
(``--threads`` is not used), with adaptive quality off (a render never
changes the processing size; run would, and then paint less). The frame rate of each is
frames over the time from the first frame sent to the last (model loading not counted);
the median over the rounds of render / run, each round's two runs back to back, is the
bar (at least 0.95).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import tempfile
from pathlib import Path

from live_nst.bench.context import SAMPLE, BenchOptions, run_config, size_label, summary
from live_nst.bench.liverun import live_loop
from live_nst.catalog import StyleCatalog
from live_nst.config import RunConfig
from live_nst.framing import SizeWH
from live_nst.render import render
from live_nst.video import VideoInfo, VideoWriter, probe, read_frames

log = logging.getLogger(__name__)

BAR = 0.95  # render's frame rate at least this share of run's
CLIP_CRF = 12  # the trimmed clip render reads: near-lossless, so both paint the same pictures


def measure_render(options: BenchOptions, looks: tuple[str, str], device: str) -> dict:
    """The render section: ``options.rounds`` rounds of render then run over the first
    ``options.warmup + options.frames`` frames of ``options.clip``. Both read the styles
    as render does (the installed pack and ``--styles-dir``)."""
    if str(options.clip) == SAMPLE:
        return {"status": "skipped", "note": "render paints a video file; give one with --clip"}
    frames = options.warmup + options.frames
    with tempfile.TemporaryDirectory(prefix="live-nst-bench-render-") as folder:
        clip = trim(Path(options.clip), Path(folder) / "clip.mp4", frames)
        info = probe(clip)
        config = render_config(options, looks, device, info)
        catalog = StyleCatalog.default(config.styles_dir)
        rounds = [{"render_fps": render_fps(clip, Path(folder) / "out.mp4", config),
                   "run_fps": run_fps(config, catalog, clip, info.size_wh, frames)}
                  for _ in range(options.rounds)]
    render_median = summary([r["render_fps"] for r in rounds])["median"]
    run_median = summary([r["run_fps"] for r in rounds])["median"]
    # Each round's ratio compares two runs taken back to back, so a machine whose speed
    # drifts between rounds (a shared VM) moves both; the bar is the median of those.
    median = summary([r["render_fps"] / r["run_fps"] for r in rounds if r["run_fps"]])["median"]
    ratio = None if math.isnan(median) else median
    log.info("render %.2f fps, run --output null %.2f fps: render/run %s (bar %.2f)", render_median, run_median,
             ratio, BAR)
    return {"status": "ok", "clip": str(options.clip), "frames": frames, "size": list(info.size_wh),
            "proc_size": size_label(config.proc_size_wh), "device": device, "rounds": rounds,
            "render_fps": render_median, "run_fps": run_median, "ratio": ratio, "bar": BAR,
            "meets_bar": ratio is not None and ratio >= BAR}


def trim(clip: Path, out: Path, frames: int) -> Path:
    """The first ``frames`` frames of ``clip`` as a file of their own (render paints a whole file)."""
    info = probe(clip)
    with VideoWriter(out, info.size_wh, info.fps, crf=CLIP_CRF) as writer:
        for image in read_frames(clip, limit=frames):
            writer.write(image)
    return out


def render_config(options: BenchOptions, looks: tuple[str, str], device: str, info: VideoInfo) -> RunConfig:
    """``live-nst render``'s settings for the clip ``info`` describes: the first processing
    size, adaptive quality off, the styles as render reads them."""
    return dataclasses.replace(run_config(looks, device, options.proc_sizes[0], info.size_wh), fps=info.fps,
                               adaptive=False, painters=options.painters,
                               styles_dir=str(options.styles_dir) if options.styles_dir else None)


def render_fps(clip: Path, out: Path, config) -> float:
    """``live-nst render CLIP -o OUT``, timed from its first frame written to its last."""
    out.unlink(missing_ok=True)
    return round(render(clip, out, config, progress=False).fps, 3)


def run_fps(config, catalog, clip: Path, size_wh: SizeWH, frames: int) -> float:
    """``live-nst run --source CLIP --output null --frames N``: the live loop, paced and
    looping (ONNX Runtime's threads shared out as run and render share them: --threads is not used)."""
    with live_loop(config, catalog, clip, size_wh) as loop:
        return round(loop.run(frames).average_fps, 3)
