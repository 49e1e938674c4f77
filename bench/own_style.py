"""How good is a style from ``live-nst add-style`` after 2, 5 and 10 minutes?

For each artwork: one ``add_style`` run with the given budget, with snapshots of the new
style after the earlier minute marks; then the Gram style loss and content loss of every
snapshot's painting of held-out portraits, beside a Gatys optimisation of the same pair
(the fidelity section's protocol: ``bench.fidelity``; Gatys once per pair, shared by the
snapshots). Ratios are network / Gatys, geometric means over the portraits. With
``--full-train MINUTES``, a ``live-nst train`` of the artwork alone (a whole network from
scratch, its default recipe) for that long is scored beside it.

    python -m live_nst.bench.own_style --artworks mosaic candy --budget 10 --marks 2,5
    python -m live_nst.bench.own_style --artworks mosaic --skip-add-style --full-train 30
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def score_snapshots(models: dict[str, Path], style: str, artwork: Path, photos: list[Path], size: int,
                    gatys_steps: int) -> dict[str, dict[str, float]]:
    """label -> {style_ratio, content_ratio} of style ``style`` in each model file."""
    import torch

    from live_nst.bench.fidelity import network_output, scores
    from live_nst.inference import StyleModel
    from live_nst.models import losses
    from live_nst.models.data import load_image
    from live_nst.models.gatys import GatysConfig, stylize
    from live_nst.models.vgg import VGGFeatures

    vgg = VGGFeatures((*losses.STYLE_LAYERS, losses.CONTENT_LAYER))
    loaded = {label: StyleModel(path, "cpu") for label, path in models.items()}
    ratios: dict[str, dict[str, list[float]]] = {label: {"style": [], "content": []} for label in models}
    style_image = load_image(artwork, 512)
    for photo in photos:
        content = load_image(photo, size)
        with torch.no_grad():
            content_feats = vgg(content)
            grams = {k: losses.gram(v) for k, v in vgg(style_image).items() if k in losses.STYLE_LAYERS}
        reference = stylize(content, style_image, GatysConfig(steps=gatys_steps), vgg=vgg, progress=False)
        if not reference.painted():
            log.warning("own style %s: the Gatys reference on %s did not paint (style %.2fx the photo's); left out",
                        style, photo.name, reference.style_share)
            continue
        gatys = scores(vgg, reference.image, content_feats, grams)
        for label, model in loaded.items():
            index = [info.name for info in model.styles].index(style)
            ours = scores(vgg, network_output(model, content, index), content_feats, grams)
            ratios[label]["style"].append(ours["style"] / gatys["style"])
            ratios[label]["content"].append(ours["content"] / gatys["content"])
    return {label: {f"{k}_ratio": math.exp(sum(map(math.log, v)) / len(v)) for k, v in terms.items()}
            for label, terms in ratios.items()}


def steps_in(model: Path) -> int:
    """The training steps a snapshot's, an added style's or a trained network's card records."""
    from live_nst import contract

    quality = contract.read_json(model, contract.KEY_QUALITY)
    recipe = contract.read_json(model, contract.KEY_RECIPE)  # a full training's
    return int(quality.get("steps") or quality.get("add_style", {}).get("steps") or recipe.get("step", 0))


def neighbours_sheet(user_styles: dict[str, Path], path: Path) -> Path:
    """One row per user style on the built-in sample portrait at the live size: photo |
    the user's style | the shipped style it started from (its nearest by Gram distance)."""
    from live_nst import contract
    from live_nst.bench.picture import caption, paint_whole_frame, write_sheet
    from live_nst.inference import StyleModel
    from live_nst.sources import SampleSource

    photo = SampleSource((640, 360), paced=False).frame_at(0)
    rows = []
    for name, model_path in user_styles.items():
        model = StyleModel(model_path, "cpu")
        names = [info.name for info in model.styles]
        neighbour = contract.read_json(model_path, contract.KEY_QUALITY)["add_style"]["started_from"]
        rows.append(np.hstack([caption(photo, "photo"),
                               caption(paint_whole_frame(model, photo, names.index(name)), f"yours: {name}"),
                               caption(paint_whole_frame(model, photo, names.index(neighbour)),
                                      f"shipped: {neighbour}")]))
    return write_sheet(rows, path)


def _run_add_style(name: str, artwork: Path, styles_dir: Path, budget: float,
                   marks: tuple[float, ...]) -> dict[str, tuple[Path, str]]:
    """One add-style run with snapshots at ``marks``: label -> (model file, style)."""
    from live_nst.catalog import StyleCatalog, packaged_styles_dir
    from live_nst.models.add_style import add_style

    if styles_dir.exists():  # a fresh measurement every time
        shutil.rmtree(styles_dir)
    style = f"own_{name}"
    final = add_style(artwork, style, styles_dir, packaged_styles_dir() / "pack.onnx",
                      set(StyleCatalog.default(styles_dir).entries), budget_min=budget,
                      snapshot_at_min=marks, snapshot_dir=styles_dir / "snapshots")
    snapshots = {f"{m:g} min": styles_dir / "snapshots" / f"{style}-{m:g}min.onnx" for m in marks}
    models = {label: (path, style) for label, path in snapshots.items() if path.is_file()}  # marks in the budget
    models[f"{budget:g} min"] = (final, style)
    return models


def _run_full_train(artwork: Path, content_dir: Path, out_dir: Path, minutes: float) -> tuple[Path, str]:
    """``live-nst train`` of the artwork alone from scratch (its default recipe) for
    ``minutes``, exported: (model file, style)."""
    from live_nst.export.onnx_export import export_checkpoint
    from live_nst.models.train import TrainConfig, train

    if out_dir.exists():
        shutil.rmtree(out_dir)
    config = TrainConfig(style_paths=(str(artwork),), content_dir=str(content_dir), out_dir=str(out_dir),
                         steps=1_000_000)  # the budget ends it
    checkpoint = train(config, budget_s=minutes * 60)
    return export_checkpoint(checkpoint, out_dir / f"{artwork.stem}.onnx"), artwork.stem


def main(argv: list[str] | None = None) -> int:
    from live_nst.bench.picture import split_portraits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--artworks", nargs="+", default=["mosaic", "candy"])
    parser.add_argument("--budget", type=float, default=10.0, help="minutes per style (default 10)")
    parser.add_argument("--marks", default="2,5", help="earlier minute marks to score too (default 2,5)")
    parser.add_argument("--photos", type=int, default=2, help="held-out portraits (default 2)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--gatys-steps", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("runs/own-style"))
    parser.add_argument("--full-train", type=float, default=0.0, metavar="MINUTES",
                        help="also score a 'live-nst train' of each artwork alone, for this long (default 0: none)")
    parser.add_argument("--skip-add-style", action="store_true", help="only the full training (with --full-train)")
    parser.add_argument("--sheet", type=Path, help="also write a sheet: each style beside its shipped neighbour "
                        "(default with --sheet-only: OUT/own_styles.jpg)")
    parser.add_argument("--sheet-only", action="store_true",
                        help="only the sheet, from the styles an earlier run left in --out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    marks = tuple(float(m) for m in args.marks.split(",") if m)
    finals = {f"own_{name}": args.out / name / f"own_{name}.onnx" for name in args.artworks}
    if args.sheet_only:
        print(neighbours_sheet(finals, args.sheet or args.out / "own_styles.jpg"))
        return 0
    _, held_out = split_portraits(args.data / "portraits" / "images")
    photos = held_out[:: max(1, len(held_out) // args.photos)][: args.photos]
    report: dict[str, dict] = {}
    for name in args.artworks:
        artwork = args.data / "styles" / f"{name}.jpg"
        models: dict[str, tuple[Path, str]] = {}  # label -> (model file, style name in it)
        report[name] = {}
        if not args.skip_add_style:
            started = time.monotonic()
            models.update(_run_add_style(name, artwork, args.out / name, args.budget, marks))
            report[name]["add_style_wall_minutes"] = round((time.monotonic() - started) / 60, 2)
        if args.full_train:
            models[f"live-nst train {args.full_train:g} min"] = _run_full_train(
                artwork, args.data / "content", args.out / f"{name}-train", args.full_train)
        for style in sorted({style for _, style in models.values()}):
            chosen = {label: path for label, (path, s) in models.items() if s == style}
            report[name].update(score_snapshots(chosen, style, artwork, photos, args.size, args.gatys_steps))
        for label, (path, _) in models.items():
            report[name][label]["steps"] = steps_in(path)
        log.info("%s: %s", name, report[name])
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / ("full-train.json" if args.skip_add_style else "own-style.json")
    out.write_text(json.dumps({"photos": [p.name for p in photos], "size": args.size,
                               "gatys_steps": args.gatys_steps, "styles": report}, indent=1))
    print(json.dumps(report, indent=1))
    if args.sheet:
        print(neighbours_sheet(finals, args.sheet))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
