"""The PyTorch-side commands of ``live-nst``: stylize (Gatys et al.), train and export.

Their options are parsed without importing PyTorch (``--help`` stays fast and works
without the [train] extra); the defaults shown are the recipes' own, which a test
holds to :class:`live_nst.models.train.TrainConfig` and ``GatysConfig``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from live_nst.errors import ConfigError, LiveNSTError, require

# add-style's smallest --budget, minutes: loading (about 10 s), choosing the nearest shipped
# style (about 20 s) and the export (models/add_style.py's EXPORT_RESERVE_S) on a 2-core CPU.
MIN_BUDGET_MIN = 1.0
# Shown in --help; tests/test_cli.py checks them against the dataclasses.
GATYS_DEFAULTS = dict(steps=32, content_weight=1.0, style_weight=2.5)
TRAIN_DEFAULTS = dict(arch="painter", size=192, style_size=512, batch=4, steps=4000, lr=2e-3, face_weight=4.0,
                      style_weight=4.0, temporal_weight=20.0, lattice_weight=3e4, region_weight=2e3,
                      checkpoint_every=100, out_dir="runs/train")
MIN_IMAGE_PX = 32  # smaller pictures leave VGG-19's deepest layers nothing to see
DEVICE_HELP = "auto (CUDA, then Apple MPS, then the CPU), cpu, cuda, cuda:N or mps (default auto)"


def layer_weights(count: int, example: str) -> Callable[[str], tuple[float, ...]]:
    """An argparse type for per-layer weights: ``count`` non-negative numbers, comma-separated."""
    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(part) for part in text.split(","))
        except ValueError:
            values = ()
        if len(values) != count or not all(math.isfinite(v) and v >= 0 for v in values):
            raise argparse.ArgumentTypeError(f"expected {count} non-negative numbers such as {example}, got {text!r}")
        return values
    return parse


def torch_device(text: str) -> str:
    """An argparse type for the PyTorch device options."""
    kind, _, index = text.partition(":")
    if text == "auto" or (kind in ("cpu", "cuda", "mps") and (not index or (kind == "cuda" and index.isdigit()))):
        return text
    raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda, cuda:N or mps, got {text!r}")


def cmd_stylize(args: argparse.Namespace) -> int:
    from live_nst.artworks import resolve_artwork
    from live_nst.outputs import check_image_output, refuse_overwriting_inputs

    output = check_image_output(args.output)  # before the minutes of optimisation, not after
    artwork = resolve_artwork(args.style_path)
    refuse_overwriting_inputs(output, [args.content_path, artwork])
    require("torch", "train", "Gatys stylisation")
    import torch

    from live_nst.models.data import load_image, save_image
    from live_nst.models.gatys import GatysConfig, stylize
    from live_nst.models.train import pick_device

    device = pick_device(args.device)
    content = load_image(args.content_path, args.size).to(device)
    style = load_image(artwork, args.style_size or args.size).to(device)
    defaults = GatysConfig()
    config = GatysConfig(steps=args.steps, optimizer=args.optimizer,
                         content_weight=_given(args.content_weight, defaults.content_weight),
                         style_weight=_given(args.style_weight, defaults.style_weight))
    with torch.device(device):
        result = stylize(content, style, config)
    share = result.style_share
    if config.style_weight > 0 and not share <= STALLED_STYLE_SHARE:
        raise GatysStalledError(
            f"the optimisation could not bring the style loss down: {result.terms['style']:.4g} is {share:.2f}x "
            f"the photo's own ({result.photo_terms['style']:.4g}), so the result would be the photo, barely "
            f"painted; {args.output} was not written. Try more --steps, a higher --style-weight, or --optimizer adam")
    save_image(result.image, output)
    print(f"wrote {output} (content loss {result.terms['content']:.4g}, style loss {result.terms['style']:.4g}: "
          f"{share:.3g}x the photo's own)")
    return 0


# A run whose style loss stays above this share of the photo's own painted next to nothing.
STALLED_STYLE_SHARE = 0.5


class GatysStalledError(LiveNSTError):
    """The Gatys optimisation did not lower the style loss: nothing is written."""


def _given(value: float | None, default: float) -> float:
    return default if value is None else value


def cmd_train(args: argparse.Namespace) -> int:
    from live_nst.outputs import check_folder_output

    require("torch", "train", "Training")
    from live_nst.models.resume import train_config_from_args
    from live_nst.models.train import train

    config = train_config_from_args(args)
    check_folder_output(config.out_dir, "the training output folder (--output)")
    budget_s = args.budget * 60 if args.budget is not None else None
    final = train(config, resume=args.resume, device=args.device, budget_s=budget_s, workers=args.workers)
    print(f"checkpoint: {final}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from live_nst.outputs import check_file_output

    output = args.output or args.legacy_output
    if not output:
        raise ConfigError("export needs an output file: live-nst export CHECKPOINT -o STYLE.onnx")
    if Path(output).suffix.lower() != ".onnx":
        raise ConfigError(f"export writes an ONNX model, so the output must end in .onnx, got {output!r}")
    check_file_output(Path(output), "the exported model")
    require("torch", "train", "Export")
    from live_nst.export.onnx_export import export_checkpoint

    path = export_checkpoint(args.checkpoint, output, fp16=args.fp16)
    print(f"wrote {path}")
    return 0


def cmd_add_style(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    started = time.monotonic()  # the budget is the whole command's: PyTorch's import counts too
    require("torch", "train", "add-style")
    from live_nst.catalog import StyleCatalog, packaged_styles_dir, user_styles_dir
    from live_nst.models.add_style import add_style

    styles_dir = Path(args.styles_dir).expanduser() if args.styles_dir else user_styles_dir()
    # add_style makes a missing folder itself, so only an existing one is read for taken
    # names (the catalog would warn that a missing one gives no styles).
    catalog = StyleCatalog.default(styles_dir if styles_dir.is_dir() else None)
    path = add_style(Path(args.picture), args.name, styles_dir, packaged_styles_dir() / "pack.onnx",
                     set(catalog.entries), budget_min=args.budget,
                     content_dir=Path(args.content_dir) if args.content_dir else None, started=started)
    name = args.name or Path(args.picture).stem
    took = round(time.monotonic() - started)
    print(f"wrote {path} in {took // 60}:{took % 60:02d} (budget {args.budget:g} min)\n"
          f"Use it: live-nst run --person-style {name}   (or --background-style {name}); a running live-nst "
          f"picks it up by itself and adds it to the hotkey cycle.")
    return 0


def add_torch_parsers(sub: Any, options: Callable[[str], dict], output_option: Callable[..., None],
                      number_type: Callable[..., Callable[[str], Any]]) -> None:
    """The stylize, train and export subcommands (``options``, ``output_option`` and
    ``number_type`` are the CLI's shared helpers)."""
    _add_stylize(sub, options, output_option, number_type)
    _add_train(sub, options, output_option, number_type)
    _add_export(sub, options, output_option)
    _add_add_style(sub, options, number_type)


def _add_stylize(sub: Any, options, output_option, number_type) -> None:
    g = GATYS_DEFAULTS
    p = sub.add_parser("stylize", help="Gatys et al. optimisation of one image (slow, high quality)",
                       **options("Paint one photo in the style of an artwork by optimising the picture itself "
                                 "(Gatys et al. 2015): minutes per image, the quality the networks aim for. "
                                 "Needs the [train] extra (PyTorch)."))
    p.add_argument("--content-path", required=True, metavar="IMAGE", help="the photo to paint, JPEG or PNG (required)")
    p.add_argument("--style-path", required=True, metavar="IMAGE|NAME",
                   help="the artwork: an image file, or a shipped style's name, e.g. starry_night (required)")
    output_option(p, default="stylized.png", help="the painted image; its ending picks the format: .png, .jpg, "
                  ".webp, .bmp or .tif (default stylized.png)")
    size = number_type(int, MIN_IMAGE_PX, 8192)
    p.add_argument("--size", type=size, default=512, metavar="PX", help="long side of the output, px (default 512)")
    p.add_argument("--style-size", type=size, metavar="PX", help="long side of the artwork, px (default: --size)")
    p.add_argument("--steps", type=number_type(int, 1), default=g["steps"], metavar="N",
                   help=f"L-BFGS iterations at each scale: the picture is painted coarse to fine, from 128 px up "
                        f"in doublings to --size (default {g['steps']}: about 70 s at 512 px on a 2-core CPU)")
    p.add_argument("--content-weight", type=number_type(float, 0), metavar="W",
                   help=f"weight of keeping the photo's content (default {g['content_weight']:g})")
    p.add_argument("--style-weight", type=number_type(float, 0), metavar="W",
                   help=f"weight of matching the artwork's style; higher paints more (default {g['style_weight']:g})")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs",
                   help="lbfgs (fewer steps, more memory) or adam (default lbfgs)")
    p.add_argument("--device", type=torch_device, default="auto", help=DEVICE_HELP)
    p.set_defaults(handler=cmd_stylize)


def _add_train(sub: Any, options, output_option, number_type) -> None:
    t = TRAIN_DEFAULTS
    p = sub.add_parser("train", help="train a (multi-)style network",
                       **options("Train a style network from artworks and a folder of photos; 'live-nst export' "
                                 "turns its checkpoint into a style. Needs the [train] extra (PyTorch)."))
    p.add_argument("--style-path", nargs="+", metavar="IMAGE|NAME",
                   help="the artworks, one style each (several make one multi-style network): image files or "
                        "shipped styles' names (e.g. starry_night). Required unless --resume")
    p.add_argument("--content-dir", metavar="DIR", help="folder of photos to learn on, searched with its "
                   "subfolders (jpg, png, bmp, webp). Required unless --resume")
    p.add_argument("--arch", default=t["arch"], choices=("painter", "mobile", "johnson"),
                   help=f"network: painter (68 k parameters), mobile (34 k, fastest) or johnson (1.7 M, for a "
                        f"GPU) (default {t['arch']})")
    p.add_argument("--res-blocks", type=number_type(int, 1, 64), metavar="N",
                   help="residual blocks at the network's deepest level (default: the architecture's); with "
                        "--resume, more than the checkpoint's grows it, the new blocks starting as the identity")
    px = number_type(int, MIN_IMAGE_PX, 4096)
    p.add_argument("--size", type=px, metavar="PX", help=f"side of the photo crops, px (default {t['size']})")
    p.add_argument("--style-size", type=px, metavar="PX",
                   help=f"long side of the artworks when their style is measured, px (default {t['style_size']})")
    p.add_argument("--steps", type=number_type(int, 1), metavar="N", help=f"training steps (default {t['steps']})")
    p.add_argument("--batch", type=number_type(int, 1), metavar="N", help=f"photos per step (default {t['batch']})")
    p.add_argument("--lr", type=number_type(float, 1e-7, 1.0), metavar="LR",
                   help=f"Adam learning rate, decaying to a tenth (default {t['lr']:g})")
    p.add_argument("--face-weight", type=number_type(float, 0), metavar="W",
                   help=f"extra content weight on faces in the photos (default {t['face_weight']:g}; 0: none)")
    p.add_argument("--balance-styles", action=argparse.BooleanOptionalAction,
                   help="weigh each style's losses against that style's own running mean, so artworks with "
                        "small Gram matrices get as much of the network as those with large ones (default off; "
                        "with --resume, the checkpoint's)")
    p.add_argument("--style-weight", type=number_type(float, 0), metavar="W",
                   help=f"style loss weight (default {t['style_weight']:g})")
    p.add_argument("--style-layer-weights", type=layer_weights(5, "1,1,1,1,3"), metavar="W1,..,W5",
                   help="factors on the style term of relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 "
                        "(default 1,1,1,1,1)")
    p.add_argument("--content-layer-weights", type=layer_weights(2, "0.5,1"), metavar="W1,W2",
                   help="factors on the content term of relu2_2 (the faces' structure) and relu4_2 (default 1,1)")
    p.add_argument("--temporal-weight", type=number_type(float, 0), metavar="W",
                   help=f"weight of staying steady under small motion (default {t['temporal_weight']:g})")
    p.add_argument("--lattice-weight", type=number_type(float, 0), metavar="W",
                   help=f"weight against a pattern tied to the network's pixel grid (default {t['lattice_weight']:g})")
    p.add_argument("--region-weight", type=number_type(float, 0), metavar="W",
                   help="weight of each region's paint staying put when the other region's edge moves "
                        f"(multi-style networks; default {t['region_weight']:g})")
    p.add_argument("--checkpoint-every", type=number_type(int, 1), metavar="N",
                   help=f"write a checkpoint every N steps (default {t['checkpoint_every']})")
    p.add_argument("--budget", type=number_type(float, 0.01), metavar="MINUTES",
                   help="train for this long (the learning rate decays over it) or until --steps (default: no limit)")
    p.add_argument("--workers", type=number_type(int, 0, 64), default=0, metavar="N",
                   help="data-loading processes (default 0: load in the training process)")
    output_option(p, metavar="DIR", legacy="--out-dir",
                  help=f"folder for the checkpoints (last.ckpt) (default {t['out_dir']}, also with --resume)")
    p.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint: its recipe, unless options here "
                   "change it; its artworks and photos unless --style-path/--content-dir name others (default: "
                   "start anew)")
    p.add_argument("--device", type=torch_device, default="auto", help=DEVICE_HELP)
    p.set_defaults(handler=cmd_train)


def _add_export(sub: Any, options, output_option) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX",
                       **options("Turn a training checkpoint into a style file (.onnx) for 'run' and 'render'. "
                                 "Needs the [train] extra (PyTorch)."))
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .ckpt written by 'live-nst train'")
    p.add_argument("legacy_output", nargs="?", help=argparse.SUPPRESS)
    output_option(p, help="the style file to write, ending in .onnx; put it in the user styles folder to use it "
                  "(required)")
    p.add_argument("--fp16", action="store_true", help="store the weights as float16: half the file, the same "
                   "pictures, no faster on a CPU (default float32)")
    p.set_defaults(handler=cmd_export)


def _add_add_style(sub: Any, options, number_type) -> None:
    p = sub.add_parser("add-style", help="make your own picture a style in minutes (trains its conditioning only)",
                       **options("Fit a new style to the shipped pack's frozen network (its per-style scales and "
                                 "shifts only) and write it as NAME.onnx, which also holds the pack, so it "
                                 "shares one pass with the shipped styles. Needs the [train] extra (PyTorch)."))
    p.add_argument("picture", help="the artwork: a JPEG or PNG, at least 64 px on each side")
    p.add_argument("--name", help="the style's name: letters, digits, - and _ (default: the picture's file name)")
    p.add_argument("--budget", type=number_type(float, MIN_BUDGET_MIN), default=10.0, metavar="MINUTES",
                   help=f"wall-clock time for the whole command, at least {MIN_BUDGET_MIN:g}: loading, choosing the "
                        f"nearest shipped style and the export take about a minute of it on a 2-core CPU, fitting "
                        f"the rest (default 10: a usable style on a 2-core laptop CPU)")
    p.add_argument("--styles-dir", metavar="DIR", help="where to write NAME.onnx (default: the user styles folder)")
    p.add_argument("--content-dir", metavar="DIR",
                   help="photos to paint while training (default: the built-in sample portrait)")
    p.set_defaults(handler=cmd_add_style)
