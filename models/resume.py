"""``live-nst train``'s recipe from its command line, and checkpoints checked before use.

A resumed run keeps the checkpoint's recipe except where the command line changes it,
writes where the command line says (``--output``, else the default folder), and learns
from the pictures the command line names, else from the checkpoint's (a shipped style's
artwork stands in for one that is not on this machine). An artwork whose contents differ
from the one the checkpoint was trained on is used, with a warning.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from live_nst.artworks import resolve_artwork
from live_nst.assets import sha256_of
from live_nst.errors import ConfigError, InputError, ModelError
from live_nst.models import losses
from live_nst.models.train import TrainConfig, load_checkpoint
from live_nst.outputs import expand_user

log = logging.getLogger(__name__)

# The parts of a checkpoint training reads, and their types.
CHECKPOINT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "model": dict, "arch": dict, "optimizer": dict, "step": int, "config": dict, "styles": list, "history": list}
OUT_DIR_DEFAULT: str = TrainConfig(style_paths=(), content_dir="").out_dir


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by ``live-nst train``, checked part by part; ``ModelError`` names
    the first part that is missing or of the wrong kind."""
    ckpt = load_checkpoint(path)
    problem = _checkpoint_problem(ckpt)
    if problem:
        raise ModelError(f"{path} is not a live-nst training checkpoint: {problem}. Give a .ckpt written by "
                         f"'live-nst train' (e.g. runs/train/last.ckpt)")
    return ckpt


def _checkpoint_problem(ckpt: object) -> str | None:
    if not isinstance(ckpt, dict):
        return f"it holds a {type(ckpt).__name__}, not a dictionary of training state"
    for key, kind in CHECKPOINT_FIELDS.items():
        if key not in ckpt:
            return f"it lacks '{key}'"
        if not isinstance(ckpt[key], kind) or (kind is int and isinstance(ckpt[key], bool)):
            return f"its '{key}' is a {type(ckpt[key]).__name__}, expected a {getattr(kind, '__name__', kind)}"
    config, styles = ckpt["config"], ckpt["styles"]
    paths = config.get("style_paths")
    if not isinstance(paths, (list, tuple)) or not paths or not all(isinstance(p, str) for p in paths):
        return "its config has no list of artwork paths (style_paths)"
    if not isinstance(config.get("content_dir"), str):
        return "its config names no photos folder (content_dir)"
    if len(styles) != len(paths) or not all(isinstance(s, dict) and isinstance(s.get("name"), str) for s in styles):
        return f"its style list does not match its {len(paths)} artworks"
    if not isinstance(config.get("weights"), dict):
        return "its config has no loss weights"
    if ckpt["step"] < 0:
        return f"its step is {ckpt['step']}"
    return None


def config_of(ckpt: dict[str, Any], path: str | Path) -> TrainConfig:
    """The recipe a (checked) checkpoint holds."""
    known = {f.name for f in fields(TrainConfig)}
    raw = {k: v for k, v in ckpt["config"].items() if k in known}
    try:
        raw["weights"] = _loss_weights(ckpt["config"]["weights"])
        raw["style_paths"] = tuple(raw["style_paths"])
        return TrainConfig(**raw)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{path}: its training recipe cannot be read ({exc}); the checkpoint is damaged or "
                         f"from an incompatible live-nst version") from None


def _loss_weights(raw: dict[str, Any]) -> losses.LossWeights:
    weights = losses.LossWeights(**raw)
    return replace(weights, style_layers=tuple(float(v) for v in weights.style_layers),
                   content_layers=tuple(float(v) for v in weights.content_layers))


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The recipe ``live-nst train`` runs: a new one from the options, or a checkpoint's
    (``--resume``) with the options given on top."""
    overrides = {name: getattr(args, name) for name in
                 ("size", "steps", "batch", "lr", "checkpoint_every", "style_size", "face_weight", "res_blocks",
                  "balance_styles")}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    out_dir = args.output or OUT_DIR_DEFAULT
    if not args.resume:
        if not args.style_path or not args.content_dir:
            raise ConfigError("train needs --style-path and --content-dir (or --resume CKPT to continue a run)")
        base = TrainConfig(style_paths=(), content_dir="")
        return replace(base, style_paths=tuple(str(resolve_artwork(p)) for p in args.style_path),
                       content_dir=_content_dir(args.content_dir, "--content-dir"), arch=args.arch or base.arch,
                       out_dir=out_dir, weights=_weights(base.weights, args), **overrides)
    ckpt = read_checkpoint(args.resume)
    base = config_of(ckpt, args.resume)
    arch = ckpt["arch"].get("name", base.arch)
    if args.arch and args.arch != arch:
        raise ConfigError(f"{args.resume} holds a '{arch}' network; --arch {args.arch} cannot resume it (leave "
                          f"--arch out, or start a new run without --resume)")
    blocks = ckpt["arch"].get("res_blocks")
    if args.res_blocks is not None and isinstance(blocks, int) and args.res_blocks < blocks:
        raise ConfigError(f"{args.resume} holds {blocks} residual blocks; --res-blocks {args.res_blocks} would "
                          f"remove trained ones (give {blocks} or more: added blocks start as the identity)")
    style_paths = _resumed_artworks(args, ckpt)
    content_dir = _content_dir(args.content_dir or base.content_dir,
                               "--content-dir" if args.content_dir else f"the photos folder {args.resume} names")
    return replace(base, style_paths=style_paths, content_dir=content_dir, out_dir=out_dir,
                   weights=_weights(base.weights, args), **overrides)


def _weights(base: losses.LossWeights, args: argparse.Namespace) -> losses.LossWeights:
    given = (("style", args.style_weight), ("temporal", args.temporal_weight), ("lattice", args.lattice_weight),
             ("region", args.region_weight), ("style_layers", args.style_layer_weights),
             ("content_layers", args.content_layer_weights))
    changes = {k: v for k, v in given if v is not None}
    return replace(base, **changes)


def _content_dir(folder: str, what: str) -> str:
    if not expand_user(folder).is_dir():
        raise InputError(f"{what}, {folder}, is not a folder here; give the photos with --content-dir DIR")
    return str(expand_user(folder))


def _resumed_artworks(args: argparse.Namespace, ckpt: dict[str, Any]) -> tuple[str, ...]:
    """The artworks a resumed run learns from, with a warning for each that differs from
    the checkpoint's own."""
    styles = ckpt["styles"]
    given = args.style_path or [_stored_artwork(path, style) for path, style in
                                zip(ckpt["config"]["style_paths"], styles)]
    if len(given) != len(styles):
        raise ConfigError(f"{args.resume} holds {len(styles)} styles "
                          f"({', '.join(s['name'] for s in styles)}); --style-path gives {len(given)} artworks")
    paths = tuple(str(resolve_artwork(p)) for p in given)
    for path, style in zip(paths, styles):
        stored = style.get("sha256")
        if isinstance(stored, str) and stored and sha256_of(Path(path)) != stored:
            log.warning("the artwork %s is not the picture style '%s' was trained on (sha256 %s..., the checkpoint "
                        "has %s...): training goes on, towards this picture", path, style["name"],
                        sha256_of(Path(path))[:12], stored[:12])
    return paths


def _stored_artwork(path: str, style: dict[str, Any]) -> str:
    """The checkpoint's artwork path when it is on this machine, else the style's name
    (a shipped artwork, if there is one by that name)."""
    if expand_user(path).is_file():
        return path
    log.info("the artwork %s the checkpoint names is not here; using the shipped '%s'", path, style["name"])
    return style["name"]
