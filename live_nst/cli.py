"""The ``live-nst`` command. Only this module configures logging."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from live_nst import __version__
from live_nst.config import RegionConfig, RunConfig, load_config, parse_size
from live_nst.errors import LiveNSTError, require

log = logging.getLogger("live_nst")


def _add_look_options(parser: argparse.ArgumentParser) -> None:
    look = parser.add_argument_group("looks (S is a name from 'live-nst styles', 'original' or 'blur')")
    look.add_argument("--person-style", metavar="S")
    look.add_argument("--background-style", metavar="S")
    look.add_argument("--person-strength", type=float, metavar="0..1")
    look.add_argument("--background-strength", type=float, metavar="0..1")
    look.add_argument("--proc-size", metavar="WxH", help="processing resolution (default 640x360)")
    look.add_argument("--device", help="auto, cpu, cuda, tensorrt, directml or coreml (default auto)")
    look.add_argument("--no-temporal", action="store_true", help="no temporal blending")
    look.add_argument("--no-segmentation", action="store_true", help="paint the whole frame in the person style")
    look.add_argument("--segmentation-model", metavar="PATH|landscape|square")
    look.add_argument("--face-ease", type=float, metavar="0..1",
                      help="share of the style given back to the photo on faces (default 0.6; 0: off)")
    look.add_argument("--styles-dir", metavar="DIR", help="extra folder of .onnx styles")
    look.add_argument("--config", metavar="PATH", help="TOML config file (see README)")


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
    for name in ("source", "output", "fps", "virtualcam_backend", "virtualcam_device"):
        changes[name] = getattr(args, name, None)
    if getattr(args, "size", None):
        changes["size_wh"] = parse_size(args.size, "--size")
    if getattr(args, "no_global_hotkeys", False):
        changes["keys"] = dataclasses.replace(config.keys, global_hotkeys=False)
    if getattr(args, "no_adaptive", False):
        changes["adaptive"] = False
    changes["painters"] = getattr(args, "painters", None)
    return config.with_overrides(**changes)


def cmd_run(args: argparse.Namespace) -> int:
    from live_nst.app import run_live

    return run_live(_config_from_args(args), max_frames=args.frames)


def cmd_render(args: argparse.Namespace) -> int:
    from live_nst.render import render

    count = render(Path(args.input_path), Path(args.output_path), _config_from_args(args), progress=not args.quiet)
    print(f"wrote {count} frames to {args.output_path}")
    return 0


def cmd_styles(args: argparse.Namespace) -> int:
    from live_nst.catalog import StyleCatalog, user_styles_dir

    catalog = StyleCatalog.default(args.styles_dir)
    rows: list[dict[str, Any]] = [
        {"name": e.name, "title": e.info.title, "artist": e.info.artist, "artwork": e.info.artwork,
         "license": e.info.license, "path": str(e.path), "size_bytes": e.path.stat().st_size}
        for e in catalog.entries.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['name']:<28} {row['title'][:34]:<34} {row['artist'][:22]:<22} "
              f"{row['size_bytes'] / 1e6:5.2f} MB  {row['path']}")
    print(f"{len(rows)} styles, plus the looks 'original' and 'blur'. Add styles to {user_styles_dir()}")
    for path, problem in catalog.problems.items():
        print(f"skipped {path}: {problem}", file=sys.stderr)
    return 0


def cmd_stylize(args: argparse.Namespace) -> int:
    require("torch", "train", "Gatys stylisation")
    import torch

    from live_nst.models.data import load_image, save_image
    from live_nst.models.gatys import GatysConfig, stylize
    from live_nst.models.train import pick_device

    device = pick_device(args.device)
    content = load_image(args.content_path, args.size).to(device)
    style = load_image(args.style_path, args.style_size or args.size).to(device)
    defaults = GatysConfig()
    config = GatysConfig(steps=args.steps, optimizer=args.optimizer,
                         content_weight=args.content_weight or defaults.content_weight,
                         style_weight=args.style_weight or defaults.style_weight)
    with torch.device(device):
        image, terms = stylize(content, style, config)
    save_image(image, args.output)
    print(f"wrote {args.output} (content loss {terms['content']:.4g}, style loss {terms['style']:.4g})")
    return 0


def _loss_weights(args: argparse.Namespace):
    """--style-weight / --temporal-weight on top of the recipe's (or the checkpoint's) weights."""
    from dataclasses import replace

    from live_nst.models.train import TrainConfig, load_checkpoint

    changes = {k: v for k, v in (("style", args.style_weight), ("temporal", args.temporal_weight)) if v is not None}
    if not changes:
        return None
    if args.resume:
        from live_nst.models.losses import LossWeights

        base = LossWeights(**load_checkpoint(args.resume)["config"]["weights"])
    else:
        base = TrainConfig(style_paths=(), content_dir="").weights
    return replace(base, **changes)


def cmd_train(args: argparse.Namespace) -> int:
    require("torch", "train", "Training")
    from live_nst.models.train import TrainConfig, config_from_checkpoint, load_checkpoint, train

    overrides = dict(size=args.size, steps=args.steps, batch=args.batch, lr=args.lr, out_dir=args.out_dir,
                     checkpoint_every=args.checkpoint_every, style_size=args.style_size,
                     face_weight=args.face_weight, weights=_loss_weights(args))
    if args.resume:
        config = config_from_checkpoint(load_checkpoint(args.resume), **overrides)
    else:
        if not args.style_path or not args.content_dir:
            raise SystemExit("train: --style-path and --content-dir are required (or --resume CKPT)")
        config = TrainConfig(style_paths=tuple(args.style_path), content_dir=args.content_dir, arch=args.arch,
                             **{k: v for k, v in overrides.items() if v is not None})
    budget_s = args.budget * 60 if args.budget is not None else None
    final = train(config, resume=args.resume, device=args.device, budget_s=budget_s, workers=args.workers)
    print(f"checkpoint: {final}")
    return 0


def cmd_add_style(args: argparse.Namespace) -> int:
    require("torch", "train", "add-style")
    from live_nst.catalog import StyleCatalog, packaged_styles_dir, user_styles_dir
    from live_nst.models.add_style import add_style

    styles_dir = Path(args.styles_dir).expanduser() if args.styles_dir else user_styles_dir()
    catalog = StyleCatalog.default(styles_dir)
    path = add_style(Path(args.picture), args.name, styles_dir, packaged_styles_dir() / "pack.onnx",
                     set(catalog.entries), budget_min=args.budget,
                     content_dir=Path(args.content_dir) if args.content_dir else None)
    name = args.name or Path(args.picture).stem
    print(f"wrote {path}\n"
          f"Use it: live-nst run --person-style {name}   (or --background-style {name}); a running live-nst "
          f"picks it up by itself and adds it to the hotkey cycle.")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    require("torch", "train", "Export")
    from live_nst.export.onnx_export import export_checkpoint

    path = export_checkpoint(args.checkpoint, args.output, fp16=args.fp16)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="live-nst", description="Live neural style transfer for webcams.")
    parser.add_argument("--version", action="version", version=f"live-nst {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="paint a camera (or the sample) into a virtual camera")
    run.add_argument("--source", help="webcam:N, sample, auto (default) or a video file")
    run.add_argument("--output", help="virtualcam (default), preview, file:PATH or null")
    run.add_argument("--size", metavar="WxH", help="output size (default 1280x720)")
    run.add_argument("--fps", type=float)
    run.add_argument("--frames", type=int, help="stop after N frames")
    run.add_argument("--virtualcam-backend", help="pyvirtualcam backend: obs, unitycapture, v4l2loopback")
    run.add_argument("--virtualcam-device", help="virtual camera device, e.g. /dev/video10")
    run.add_argument("--no-global-hotkeys", action="store_true", help="keys only in the preview window")
    run.add_argument("--no-adaptive", action="store_true",
                     help="keep --proc-size fixed (default: step it down when the machine cannot hold --fps)")
    run.add_argument("--painters", type=int, metavar="N",
                     help="style-network passes run side by side (default: 2 on a CPU, 1 on a GPU)")
    _add_look_options(run)
    run.set_defaults(handler=cmd_run)

    render = sub.add_parser("render", help="paint a video file")
    render.add_argument("input_path", metavar="INPUT")
    render.add_argument("output_path", metavar="OUTPUT")
    render.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_look_options(render)
    render.set_defaults(handler=cmd_render)

    styles = sub.add_parser("styles", help="list the installed styles")
    styles.add_argument("--json", action="store_true")
    styles.add_argument("--styles-dir", metavar="DIR")
    styles.set_defaults(handler=cmd_styles)

    stylize = sub.add_parser("stylize", help="Gatys et al. optimisation of one image (slow, high quality)")
    stylize.add_argument("--content-path", required=True)
    stylize.add_argument("--style-path", required=True)
    stylize.add_argument("--output", default="stylized.png")
    stylize.add_argument("--size", type=int, default=512, help="long side of the output, px")
    stylize.add_argument("--style-size", type=int, help="long side of the artwork, px (default: --size)")
    stylize.add_argument("--steps", type=int, default=300)
    stylize.add_argument("--content-weight", type=float)
    stylize.add_argument("--style-weight", type=float)
    stylize.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    stylize.add_argument("--device", default="auto")
    stylize.set_defaults(handler=cmd_stylize)

    tr = sub.add_parser("train", help="train a (multi-)style network")
    tr.add_argument("--style-path", nargs="+")
    tr.add_argument("--content-dir")
    tr.add_argument("--arch", default="painter", choices=("painter", "mobile", "johnson"))
    tr.add_argument("--size", type=int)
    tr.add_argument("--style-size", type=int)
    tr.add_argument("--steps", type=int)
    tr.add_argument("--batch", type=int)
    tr.add_argument("--lr", type=float)
    tr.add_argument("--face-weight", type=float)
    tr.add_argument("--style-weight", type=float)
    tr.add_argument("--temporal-weight", type=float)
    tr.add_argument("--checkpoint-every", type=int)
    tr.add_argument("--budget", type=float, metavar="MINUTES",
                    help="train for this long (the learning rate decays over it) or until --steps")
    tr.add_argument("--workers", type=int, default=0, help="data-loading processes (default 0: none)")
    tr.add_argument("--out-dir")
    tr.add_argument("--resume", metavar="CKPT")
    tr.add_argument("--device", default="auto")
    tr.set_defaults(handler=cmd_train)

    add = sub.add_parser("add-style", help="make your own picture a style in minutes (trains its conditioning only)")
    add.add_argument("picture", help="the artwork: a JPEG or PNG, at least 64 px on each side")
    add.add_argument("--name", help="the style's name (default: the picture's file name)")
    add.add_argument("--budget", type=float, default=10.0, metavar="MINUTES",
                     help="training time (default 10: a usable style on a 2-core laptop CPU)")
    add.add_argument("--styles-dir", metavar="DIR", help="where to write NAME.onnx (default: your styles folder)")
    add.add_argument("--content-dir", metavar="DIR",
                     help="photos to paint while training (default: the built-in sample portrait)")
    add.set_defaults(handler=cmd_add_style)

    ex = sub.add_parser("export", help="export a checkpoint to ONNX")
    ex.add_argument("checkpoint")
    ex.add_argument("output")
    ex.add_argument("--fp16", action="store_true")
    ex.set_defaults(handler=cmd_export)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:  # MediaPipe's C++ logging: warnings and up only
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return args.handler(args)
    except LiveNSTError as exc:
        print(f"live-nst: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
