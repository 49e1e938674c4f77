"""``live-nst-soak``: the live loop for a long time. Does it keep its frame rate and its memory?

The real live loop (``live_nst.bench.liverun``: as ``live-nst run`` runs it, adaptive
quality on) reads a clip paced at its own frame rate and looping (the measurement
data's webcam-like clip, else the built-in sample; ``--clip``), with a null sink, for
``--minutes``. Every few seconds it samples the frames sent per second since the last
sample, the processing size on show and this process's resident memory (RSS, from
/proc/self/statm; None where there is no /proc). Writes ``soak.json`` (the curve and a
summary) and ``soak.png`` (fps and processing size, and RSS, over time) to ``--out``,
and prints the summary: fps over the first five minutes after the warm-up against the
last five (half the time after the warm-up each, on a shorter run), and the RSS
growth from the end of the warm-up to the end. The bars (issue 8): no downward fps drift
(within 5%, for the noise of a shared machine) and RSS growth under 5%.

    python -m live_nst.bench.soak --minutes 30 --out soak     # or: live-nst-soak ...
    python -m live_nst.bench.soak --minutes 0.2 --out /tmp/s  # a quick check

Ctrl-C ends the run early; what was measured is still written. Run it from the
repository root (``--data`` as for ``live-nst-bench``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import os
import sys
from pathlib import Path

from live_nst.errors import LiveNSTError

log = logging.getLogger(__name__)

SCHEMA = "live-nst-soak/1"
WINDOW_S = 300.0  # the first and the last five minutes are compared
WARMUP_S, WARMUP_SHARE = 60.0, 0.2  # not judged: a minute, or this share of a shorter run
INTERVAL_S, MIN_SAMPLES = 5.0, 12  # a sample every 5 s, more often on a run too short for this many
DRIFT_TOLERANCE = 0.05  # "no downward drift": the last window's fps at least 95% of the first's
RSS_BAR = 0.05  # RSS growth after the warm-up under 5%


def build_parser() -> argparse.ArgumentParser:
    from live_nst.bench.context import DATA_DIR_ENV

    p = argparse.ArgumentParser(prog="live-nst-soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--minutes", type=float, default=30.0, help="how long to run (default 30)")
    p.add_argument("-o", "--output", dest="out", metavar="DIR", default="live-nst-soak",
                   help="where soak.json and soak.png go (default live-nst-soak)")
    p.add_argument("--out", dest="out", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # the older spelling
    p.add_argument("--clip", metavar="PATH", help="video to loop (default: the 1280x720 webcam-like clip of the "
                                                  "measurement data, else 'sample': the built-in portrait)")
    p.add_argument("--data", metavar="DIR", help=f"measurement data folder (default: ${DATA_DIR_ENV}, else "
                                                 "../shared/data from the current folder)")
    p.add_argument("--interval", type=float, help=f"seconds between samples (default {INTERVAL_S:.0f}, "
                                                  f"less on a run too short for {MIN_SAMPLES} samples)")
    p.add_argument("--warmup", type=float, help=f"seconds not judged at the start (default {WARMUP_S:.0f}, "
                                                f"or {100 * WARMUP_SHARE:.0f}%% of a shorter run)")
    p.add_argument("--input-size", default="1280x720", metavar="WxH", help="capture size (default 1280x720)")
    p.add_argument("--proc-size", default="640x360", metavar="WxH", help="largest processing size (default 640x360)")
    p.add_argument("--device", default="auto", help="ONNX Runtime device as live-nst run takes it (default auto)")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads per painter (default: as live)")
    p.add_argument("--styles-dir", metavar="DIR", help="styles to run (default: the shipped pack)")
    return p


def rss_mib() -> float | None:
    """This process's resident memory, MiB (None without /proc)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


class Sampler:
    """Called every few seconds from the run's clock: notes the loop's state."""

    def __init__(self, loop) -> None:
        self.loop = loop
        self.samples: list[dict] = []
        self._last = (0.0, 0)  # (s, frames) at the last sample

    def __call__(self, elapsed: float) -> None:
        stats = self.loop.stats
        frames, (last_t, last_frames) = stats.frames, self._last
        fps = (frames - last_frames) / (elapsed - last_t) if elapsed > last_t else 0.0
        size = self.loop.shown_proc_wh
        rss = rss_mib()
        self.samples.append({"t_s": round(elapsed, 3), "frames": frames, "errors": stats.errors,
                             "fps": round(fps, 3), "proc_size": list(size) if size else None,
                             "rss_mib": None if rss is None else round(rss, 2)})
        self._last = (elapsed, frames)


# --- the summary ------------------------------------------------------------------------
def fps_between(samples: list[dict], start: float, end: float) -> float | None:
    """Frames sent per second between the first and the last sample in [start, end]
    (the run's start counts as a sample of no frames)."""
    points = [(0.0, 0)] + [(s["t_s"], s["frames"]) for s in samples]
    inside = [(t, frames) for t, frames in points if start - 1e-6 <= t <= end + 1e-6]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def summarise(samples: list[dict], warmup_s: float) -> dict:
    """fps first window vs last (drift), RSS growth after the warm-up, and the bars."""
    run_s = samples[-1]["t_s"] if samples else 0.0
    window = min(WINDOW_S, max(0.0, run_s - warmup_s) / 2)
    first = fps_between(samples, warmup_s, warmup_s + window)
    last = fps_between(samples, run_s - window, run_s)
    drift = 100 * (last / first - 1) if first and last is not None else None
    warm = next((s["rss_mib"] for s in samples if s["t_s"] >= warmup_s), None)
    end = samples[-1]["rss_mib"] if samples else None
    growth = 100 * (end / warm - 1) if warm and end is not None else None
    return {
        "run_s": run_s, "warmup_s": warmup_s, "window_s": round(window, 3),
        "frames": samples[-1]["frames"] if samples else 0, "errors": samples[-1]["errors"] if samples else 0,
        "fps_all": _rounded(fps_between(samples, 0.0, run_s)), "fps_first": _rounded(first),
        "fps_last": _rounded(last), "fps_drift_pct": _rounded(drift, 2),
        "rss_warm_mib": warm, "rss_end_mib": end, "rss_growth_pct": _rounded(growth, 2),
        "fps_holds": None if drift is None else drift >= -100 * DRIFT_TOLERANCE,
        "rss_holds": None if growth is None else growth < 100 * RSS_BAR,
    }


def num(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def duration(seconds: float) -> str:
    return f"{seconds / 60:.3g} min" if seconds >= 120 else f"{seconds:.3g} s"


def summary_lines(result: dict) -> list[str]:
    s = result["summary"]

    def verdict(held) -> str:
        return "not measured" if held is None else ("holds" if held else "FAILS")

    return [
        f"soak: {duration(s['run_s'])}, {s['frames']} frames ({s['errors']} errors) at {num(s['fps_all'])} fps "
        f"of {result['target_fps']:.0f}; {result['clip']} at {'x'.join(map(str, result['input_size']))}, "
        f"{result['device']}",
        f"fps: first {duration(s['window_s'])} after the {duration(s['warmup_s'])} warm-up {num(s['fps_first'])}, "
        f"last {duration(s['window_s'])} {num(s['fps_last'])}: drift {num(s['fps_drift_pct'], '+.1f')}% "
        f"({verdict(s['fps_holds'])}: no drift below -{100 * DRIFT_TOLERANCE:.0f}%)",
        f"RSS: {num(s['rss_warm_mib'])} MiB after the warm-up, {num(s['rss_end_mib'])} MiB at the end: "
        f"{num(s['rss_growth_pct'], '+.1f')}% ({verdict(s['rss_holds'])}: under {100 * RSS_BAR:.0f}%)",
    ]


def plot(result: dict, path: Path) -> str:
    """fps and processing size (top) and RSS (bottom) over the run; the warm-up shaded."""
    from live_nst.bench.plots import plot_fps_and_size, pyplot, save

    samples, summary = result["samples"], result["summary"]
    minutes = [s["t_s"] / 60 for s in samples]
    fig, (top, bottom) = pyplot().subplots(2, 1, figsize=(9, 6), sharex=True)
    plot_fps_and_size(top, minutes, [s["fps"] for s in samples], [s["proc_size"] for s in samples],
                      result["target_fps"])
    top.set_title(f"soak: {duration(summary['run_s'])}, fps drift {num(summary['fps_drift_pct'], '+.1f')}%, "
                  f"RSS growth {num(summary['rss_growth_pct'], '+.1f')}% after the warm-up", fontsize=9)
    bottom.plot(minutes, [s["rss_mib"] for s in samples], color="C1")
    bottom.set_ylabel("RSS, MiB")
    if summary["rss_warm_mib"]:
        warm = summary["rss_warm_mib"]
        bottom.axhspan(warm, warm * (1 + RSS_BAR), color="C2", alpha=0.15, zorder=0,
                       label=f"under {100 * RSS_BAR:.0f}% growth after the warm-up")
        bottom.legend(fontsize=7, loc="lower right")
    for ax in (top, bottom):
        ax.axvspan(0, summary["warmup_s"] / 60, color="#dddddd", zorder=0)
    top.set_xlabel("")
    bottom.set_xlabel("minutes")
    return save(fig, path)


# --- the run ----------------------------------------------------------------------------
def run_soak(args: argparse.Namespace) -> dict:
    from live_nst.bench.context import (
        data_dir_path,
        machine_info,
        pick_looks,
        resolve_clip,
        run_config,
        style_catalog,
        video_fps,
    )
    from live_nst.bench.liverun import live_loop, run_for
    from live_nst.config import parse_size
    from live_nst.errors import ConfigError

    if args.minutes <= 0:
        raise ConfigError(f"--minutes must be more than 0, got {args.minutes}")
    run_s = 60.0 * args.minutes
    warmup = args.warmup if args.warmup is not None else min(WARMUP_S, WARMUP_SHARE * run_s)
    interval = args.interval or min(INTERVAL_S, run_s / MIN_SAMPLES)
    data_dir = data_dir_path(args.data)
    clip = resolve_clip(args.clip, data_dir if data_dir.is_dir() else None)
    catalog = style_catalog(Path(args.styles_dir) if args.styles_dir else None)
    looks = pick_looks(catalog, None, None)
    input_wh = parse_size(args.input_size, "--input-size")
    config = dataclasses.replace(run_config(looks, args.device, parse_size(args.proc_size, "--proc-size"), input_wh),
                                 fps=video_fps(clip))
    result = {"schema": SCHEMA, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "clip": clip, "input_size": list(input_wh),
              "proc_size": list(config.proc_size_wh), "target_fps": config.fps, "device": args.device,
              "minutes": args.minutes, "interval_s": round(interval, 3), "looks": list(looks)}
    with live_loop(config, catalog, clip, input_wh, args.threads) as loop:
        sampler = Sampler(loop)
        log.info("soak: %.1f min on %s, a sample every %.1f s", args.minutes, clip, interval)
        try:
            run_for(loop, run_s, tick=sampler, every=interval)
        except KeyboardInterrupt:
            log.warning("interrupted: writing what was measured")
        result["providers"] = loop.pipeline.providers
        result["painters"] = loop.runner.painters
    result["samples"] = sampler.samples
    result["summary"] = summarise(sampler.samples, warmup)
    return result


def write(result: dict, out_dir: Path) -> list[Path]:
    from live_nst.bench.report import write_json

    json_path = write_json(result, out_dir / "soak.json")
    png_path = out_dir / plot(result, out_dir / "soak.png")
    return [json_path, png_path]


def main(argv: list[str] | None = None) -> int:
    """The ``live-nst-soak`` console script."""
    from live_nst.bench.command import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        result = run_soak(args)
    except LiveNSTError as exc:
        print(f"live-nst-soak: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the run started
        return 130
    paths = write(result, Path(args.out))
    print("\n".join(summary_lines(result)))
    print(f"curve: {paths[0]}; plot: {paths[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
