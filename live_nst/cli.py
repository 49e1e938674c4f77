"""The ``live-nst`` command. Only this module configures logging.

Every error goes one way: ``live-nst: error: <what failed, what was expected, what to
do>`` on stderr and an exit code from :data:`EXIT_CODES_HELP`.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import math
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from live_nst import __version__
from live_nst.config import RegionConfig, RunConfig, load_config, parse_control, parse_output_size, parse_size
from live_nst.console import NativeStderr, configure_logging, quiet_environment
from live_nst.errors import ConfigError, LiveNSTError
from live_nst.stopping import EXIT_INTERRUPTED, sigterm_as_interrupt

log = logging.getLogger("live_nst")

EXIT_OK, EXIT_UNEXPECTED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_CODES_HELP = """exit codes:
  0    done
  1    unexpected failure (a bug: run again with -v and report it); 'run': not one frame could be painted
  2    bad input or configuration: the message says what to change
  130  interrupted (Ctrl-C or SIGTERM): devices are released first, and a video being written keeps
       the frames painted so far, playable
"""
DEFAULTS = RunConfig()


class UsageError(ConfigError):
    """The command line itself is wrong (an unknown option, a missing value...)."""


class Parser(argparse.ArgumentParser):
    """argparse, with its errors sent down live-nst's one error path."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _parser_options(description: str) -> dict[str, Any]:
    return dict(description=description, epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)


def number_type(cast: type, low: float | None = None, high: float | None = None):
    """An argparse type: ``cast`` within [low, high], with an error naming the range."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole number' if cast is int else 'a number'}, "
                                             f"got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
            raise argparse.ArgumentTypeError(f"expected a number {bounds}, got {text}")
        return value
    return parse


def output_option(parser: argparse.ArgumentParser, help: str, *, required: bool = False,
                  default: str | None = None, legacy: str | None = None, metavar: str = "PATH") -> None:
    """``-o/--output``: the one spelling every command uses for what it writes. ``legacy``:
    an older spelling still accepted, not shown in the help."""
    parser.add_argument("-o", "--output", metavar=metavar, help=help, required=required, default=default)
    if legacy:
        parser.add_argument(legacy, dest="output", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _add_look_options(parser: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    look = parser.add_argument_group(
        "looks and processing",
        "These override the config file (--config); the defaults apply when neither sets them. "
        "S is a style name from 'live-nst styles', 'original' (the camera picture) or 'blur'.")
    look.add_argument("--person-style", metavar="S", help=f"the person's look (default {d.person.style})")
    look.add_argument("--background-style", metavar="S", help=f"the background's look (default {d.background.style})")
    look.add_argument("--person-strength", type=number_type(float, 0, 1), metavar="0..1",
                      help=f"how much of the person's look is painted in (default {d.person.strength:g})")
    look.add_argument("--background-strength", type=number_type(float, 0, 1), metavar="0..1",
                      help=f"the same for the background (default {d.background.strength:g})")
    look.add_argument("--proc-size", metavar="WxH", help="the largest size the networks run at; smaller is faster "
                      "(default {}x{})".format(*d.proc_size_wh))
    look.add_argument("--device", help="where the style network runs: auto (the fastest that works here), cpu, "
                      "cuda, tensorrt, directml or coreml; 'live-nst doctor' shows which work here (default auto)")
    look.add_argument("--no-temporal", action="store_true",
                      help="no temporal blending (default: on, which keeps the paint steady between frames)")
    look.add_argument("--no-segmentation", action="store_true",
                      help="no person/background split: the person's look covers the whole frame (default: split)")
    look.add_argument("--segmentation-model", metavar="PATH|landscape|square",
                      help="person-segmentation model: landscape (144x256, faster), square (256x256) or a "
                           "MediaPipe .tflite file (default auto, i.e. landscape)")
    look.add_argument("--face-ease", type=number_type(float, 0, 1), metavar="0..1",
                      help=f"share of the style given back to the photo on faces; 0 turns the face guard off "
                           f"(default {d.faces.ease:g})")
    look.add_argument("--face-detail", type=number_type(float, 0, 1), metavar="0..1",
                      help=f"how much of the photo's fine lines (eyes, lids, lips) the face guard draws into the "
                           f"paint on faces; the colours stay painted (default {d.faces.detail:g})")
    _styles_dir_option(look)
    look.add_argument("--crf", type=number_type(int, 0, 51), metavar="0..51",
                      help=f"quality of a video file written: lower is better and larger; 18 looks like the "
                           f"input, 28 is small (default {d.crf}, x264's own)")
    look.add_argument("--config", metavar="PATH", help="a TOML file with any of these settings (see README); "
                      "options given here win (default: none)")


def _config_from_args(args: argparse.Namespace) -> RunConfig:
    config = load_config(args.config)
    region = lambda base, style, strength: RegionConfig(style or base.style,  # noqa: E731
                                                        base.strength if strength is None else strength)
    changes = dict(
        person=region(config.person, args.person_style, args.person_strength),
        background=region(config.background, args.background_style, args.background_strength),
        proc_size_wh=parse_size(args.proc_size, "--proc-size") if args.proc_size else None,
        device=args.device, styles_dir=args.styles_dir,
    )
    if args.no_temporal:
        changes["temporal"] = dataclasses.replace(config.temporal, enabled=False)
    if args.no_segmentation or args.segmentation_model:
        changes["segmentation"] = dataclasses.replace(
            config.segmentation, enabled=not args.no_segmentation,
            model=args.segmentation_model or config.segmentation.model)
    if args.face_ease is not None:  # 0 turns the face guard off (no detector either)
        changes["faces"] = dataclasses.replace(config.faces, ease=args.face_ease, enabled=args.face_ease > 0)
    if args.face_detail is not None:
        changes["faces"] = dataclasses.replace(changes.get("faces", config.faces), detail=args.face_detail)
    for name in ("source", "output", "fps", "virtualcam_backend", "virtualcam_device", "crf"):
        changes[name] = getattr(args, name, None)
    if getattr(args, "size", None):
        changes["size_wh"] = parse_output_size(args.size, "--size")
    if getattr(args, "no_global_hotkeys", False):
        changes["keys"] = dataclasses.replace(config.keys, global_hotkeys=False)
    if getattr(args, "no_adaptive", False):
        changes["adaptive"] = False
    changes["painters"] = getattr(args, "painters", None)
    if getattr(args, "control", None) is not None:
        parse_control(args.control, "--control")  # its message names the option
        changes["control"] = args.control
    return config.with_overrides(**changes)


def cmd_run(args: argparse.Namespace) -> int:
    from live_nst.app import run_live

    return run_live(_config_from_args(args), max_frames=args.frames)


def cmd_render(args: argparse.Namespace) -> int:
    from live_nst.render import render

    output = args.output or args.legacy_output
    if not output:
        raise UsageError("render needs an output file: live-nst render INPUT -o OUTPUT.mp4")
    args.output = None  # the run config's sink is not this file
    result = render(Path(args.input_path), Path(output), _config_from_args(args), progress=not args.quiet)
    if result.interrupted:
        kept = f"{result.path} holds the first {result.frames} painted frames" if result.path else "no frame was kept"
        print(f"interrupted: {kept}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"wrote {result.frames} frames to {result.path}")
    return EXIT_OK


def cmd_styles(args: argparse.Namespace) -> int:
    from live_nst.artworks import shipped_artworks
    from live_nst.catalog import StyleCatalog, user_styles_dir

    catalog = StyleCatalog.default(args.styles_dir)
    pictures = shipped_artworks()
    rows: list[dict[str, Any]] = [
        {"name": e.name, "title": e.info.title, "artist": e.info.artist, "artwork": e.info.artwork,
         "artwork_path": str(pictures[e.name]) if e.name in pictures else None,
         "license": e.info.license, "path": str(e.path), "size_bytes": e.path.stat().st_size}
        for e in catalog.entries.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(styles_table(rows))
        print(f"{len(rows)} styles, plus the looks 'original' and 'blur'. Add styles to {user_styles_dir()}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from live_nst.doctor import CHECKS, check_assets, report_text, run_checks

    checks = {**CHECKS, "assets": lambda: check_assets(styles_dir=args.styles_dir)}
    results = run_checks(checks)
    if args.json:
        print(json.dumps({name: check.as_json() for name, check in results.items()}, indent=2))
    else:
        print(report_text(results))
    return EXIT_OK


def styles_table(rows: list[dict[str, Any]]) -> str:
    """A header and one row per style; columns as wide as their longest entry (nothing cut)."""
    columns = (("NAME", "name"), ("TITLE", "title"), ("ARTIST", "artist"), ("LICENCE", "license"),
               ("SIZE", "size"), ("FILE", "path"))
    cells = [{**row, "size": f"{row['size_bytes'] / 1e6:.2f} MB"} for row in rows]
    widths = [max([len(head), *(len(str(cell[key])) for cell in cells)]) for head, key in columns]
    lines = ["  ".join(head.ljust(width) for (head, _), width in zip(columns, widths)).rstrip()]
    lines += ["  ".join(str(cell[key]).ljust(width) for (_, key), width in zip(columns, widths)).rstrip()
              for cell in cells]
    return "\n".join(lines)


# Every ending live_nst.encode writes (tests/test_render.py checks), for the --output helps.
VIDEO_FILE_TYPES = (".mp4 (H.264, plays in browsers; also .m4v, .mov), .webm (VP9), .mkv (H.264) or .avi "
                    "(Motion JPEG, no sound)")


def _add_run_parser(sub: Any) -> None:
    d = DEFAULTS
    run = sub.add_parser("run", help="paint a camera (or the sample) into a virtual camera",
                         **_parser_options("Paint a camera, the built-in sample or a video into a virtual "
                                           "camera, a preview window or a video file, live."))
    run.add_argument("--source", help="where frames come from: auto (webcam 0, else the built-in sample), "
                     f"webcam:N, sample, or a video file, played in a loop (default {d.source})")
    output_option(run, metavar="SINK", help=f"where painted frames go: virtualcam, preview (a window), null, or a "
                  f"video file: file:PATH or a path ending in {VIDEO_FILE_TYPES} (default virtualcam; without a "
                  f"virtual camera driver, the preview, else live-nst-output.mp4)")
    run.add_argument("--size", metavar="WxH", help="output size; a camera of another shape is centre-cropped, "
                     "never stretched; odd sides are rounded down to even ones, which virtual cameras need "
                     "(default {}x{})".format(*d.size_wh))
    run.add_argument("--fps", type=number_type(float, 1, 240), metavar="N",
                     help=f"frame rate asked of the camera and sent out; adaptive quality aims for it "
                          f"(default {d.fps:g})")
    run.add_argument("--frames", type=number_type(int, 1), metavar="N",
                     help="stop after N frames (default: run until you quit)")
    run.add_argument("--virtualcam-backend", metavar="NAME", help="pyvirtualcam backend: obs, unitycapture or "
                     "v4l2loopback (default: the first that works)")
    run.add_argument("--virtualcam-device", metavar="DEV", help="virtual camera device, e.g. /dev/video10 "
                     "(default: the backend's first)")
    run.add_argument("--no-global-hotkeys", action="store_true",
                     help="no desktop-wide Ctrl+Alt hotkeys, only the preview window's keys (default: on)")
    run.add_argument("--no-adaptive", action="store_true",
                     help="keep --proc-size fixed (default: step it down when the machine cannot hold --fps)")
    run.add_argument("--painters", type=number_type(int, 0, 8), metavar="N",
                     help="style-network passes run side by side (default: 2 on a CPU, 1 on a GPU)")
    run.add_argument("--control", metavar="[HOST:]PORT",
                     help="serve a control page (for an OBS Custom Browser Dock or a phone) and an HTTP API there; "
                          "its URL, with the access token, is printed at start. HOST defaults to 127.0.0.1 (this "
                          "machine only); PORT 0 takes any free port (the URL printed says which) (default: off)")
    _add_look_options(run)
    run.set_defaults(handler=cmd_run)


def _add_render_parser(sub: Any) -> None:
    render = sub.add_parser("render", help="paint a video file",
                            **_parser_options("Paint every frame of a video file into a new one, keeping its "
                                              "sound, frame rate and orientation."))
    render.add_argument("input_path", metavar="INPUT", help="the video to paint")
    render.add_argument("legacy_output", nargs="?", help=argparse.SUPPRESS)
    output_option(render, help=f"the painted video: {VIDEO_FILE_TYPES}; written as NAME.partial-*.EXT beside it "
                  f"and renamed when done (required)")
    render.add_argument("--quiet", action="store_true", help="no progress bar (default: a progress bar)")
    _add_look_options(render)
    render.set_defaults(handler=cmd_render)


def _add_styles_parser(sub: Any) -> None:
    styles = sub.add_parser("styles", help="list the installed styles",
                            **_parser_options("List the styles 'run' and 'render' take: the shipped pack and "
                                              "the .onnx files in the user styles folder."))
    styles.add_argument("--json", action="store_true", help="print the list as JSON for scripts: name, title, "
                        "artist, artwork (its file name), artwork_path (the shipped picture, or null), license, "
                        "path and size_bytes of each style (default: a table)")
    _styles_dir_option(styles)
    styles.set_defaults(handler=cmd_styles)


def _styles_dir_option(parser: Any) -> None:
    """``--styles-dir`` of run, render, styles and doctor (a parser or an argument group)."""
    parser.add_argument("--styles-dir", metavar="DIR", help="one more folder of .onnx styles, searched besides the "
                        "user styles folder that 'live-nst styles' names (default: none)")


def _add_doctor_parser(sub: Any) -> None:
    doctor = sub.add_parser("doctor", help="check what live-nst can use here, and say how to fix the rest",
                            **_parser_options("Check the execution providers (with a test run of the style "
                                              "network), the cameras, the virtual camera, global hotkeys, the "
                                              "models and the audio of renders: each ok, missing or broken, with "
                                              "the fix in one line. Takes a few seconds; exits 0 whatever it "
                                              "finds."))
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON for scripts: one key per "
                        "check (providers, cameras, virtual_camera, hotkeys, assets, audio), each with status (ok, "
                        "missing or broken), detail, fix and what was found (default: a table)")
    _styles_dir_option(doctor)
    doctor.set_defaults(handler=cmd_doctor)


def build_parser() -> argparse.ArgumentParser:
    from live_nst.cli_torch import add_torch_parsers

    parser = Parser(prog="live-nst", **_parser_options("Live neural style transfer for webcams."))
    parser.add_argument("--version", action="version", version=f"live-nst {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show debug messages and everything the libraries print (default: live-nst's own "
                             "messages only)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_parser(sub)
    _add_render_parser(sub)
    _add_styles_parser(sub)
    _add_doctor_parser(sub)
    add_torch_parsers(sub, _parser_options, output_option, number_type)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (see EXIT_CODES_HELP).

    What native libraries print is held back (unless -v) until the process ends when
    ``argv`` is None (the installed command), and until this call returns otherwise."""
    try:
        args = build_parser().parse_args(argv)
    except LiveNSTError as exc:
        return _report(exc)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    native = NativeStderr()
    if not args.verbose:
        quiet_environment()
        native.start()
    handler = configure_logging(args.verbose)
    try:
        with sigterm_as_interrupt():
            return args.handler(args)
    except LiveNSTError as exc:
        return _report(exc)
    except KeyboardInterrupt:
        print("live-nst: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place an unexpected error is reported
        if args.verbose:
            traceback.print_exc()
        print(f"live-nst: error: unexpected {type(exc).__name__}: {exc}. This is a bug in live-nst: run the "
              f"command again with -v to see where it happened, and report it.", file=sys.stderr)
        return EXIT_UNEXPECTED
    finally:
        # Objects an error left behind (MediaPipe tasks, say) are freed now, while
        # everything they need to close cleanly is still loaded.
        gc.collect()
        if argv is not None:
            native.stop()
            logging.getLogger().removeHandler(handler)


def _report(exc: LiveNSTError) -> int:
    print(f"live-nst: error: {exc}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
