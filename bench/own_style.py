"""How good is a style from ``live-nst add-style`` after 2, 5 and 10 minutes?

For each artwork: one ``add_style`` run with the given budget, with snapshots of the new
style after the earlier minute marks; then the Gram style loss and content loss of every
snapshot's painting of held-out portraits, beside a Gatys optimisation of the same pair
(the fidelity section's protocol: ``bench.fidelity``; Gatys once per pair, shared by the
snapshots). Ratios are network / Gatys, geometric means over the portraits.

    python -m live_nst.bench.own_style --artworks mosaic candy --budget 10 --marks 2,5
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

    from live_nst.bench.fidelity import _network_output, _scores
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
        gatys_image, _ = stylize(content, style_image, GatysConfig(steps=gatys_steps), vgg=vgg, progress=False)
        gatys = _scores(vgg, gatys_image, content_feats, grams)
        for label, model in loaded.items():
            index = [info.name for info in model.styles].index(style)
            ours = _scores(vgg, _network_output(model, content, index), content_feats, grams)
            ratios[label]["style"].append(ours["style"] / gatys["style"])
            ratios[label]["content"].append(ours["content"] / gatys["content"])
    return {label: {f"{k}_ratio": math.exp(sum(map(math.log, v)) / len(v)) for k, v in terms.items()}
            for label, terms in ratios.items()}


def steps_in(model: Path) -> int:
    """The training steps a snapshot or a finished style's model card records."""
    from live_nst import contract

    quality = contract.read_json(model, contract.KEY_QUALITY)
    return int(quality.get("steps") or quality.get("add_style", {}).get("steps", 0))


def neighbours_sheet(user_styles: dict[str, Path], path: Path) -> Path:
    """One row per user style on the built-in sample portrait at the live size: photo |
    the user's style | the shipped style it started from (its nearest by Gram distance)."""
    from live_nst import contract
    from live_nst.bench.picture import _label, paint_whole_frame, write_sheet
    from live_nst.inference import StyleModel
    from live_nst.sources import SampleSource

    photo = SampleSource((640, 360), paced=False).frame_at(0)
    rows = []
    for name, model_path in user_styles.items():
        model = StyleModel(model_path, "cpu")
        names = [info.name for info in model.styles]
        neighbour = contract.read_json(model_path, contract.KEY_QUALITY)["add_style"]["started_from"]
        rows.append(np.hstack([_label(photo, "photo"),
                               _label(paint_whole_frame(model, photo, names.index(name)), f"yours: {name}"),
                               _label(paint_whole_frame(model, photo, names.index(neighbour)),
                                      f"shipped: {neighbour}")]))
    return write_sheet(rows, path)


def main(argv: list[str] | None = None) -> int:
    from live_nst.bench.picture import split_portraits
    from live_nst.catalog import StyleCatalog, packaged_styles_dir
    from live_nst.models.add_style import add_style

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--artworks", nargs="+", default=["mosaic", "candy"])
    parser.add_argument("--budget", type=float, default=10.0, help="minutes per style (default 10)")
    parser.add_argument("--marks", default="2,5", help="earlier minute marks to score too (default 2,5)")
    parser.add_argument("--photos", type=int, default=2, help="held-out portraits (default 2)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--gatys-steps", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("runs/own-style"))
    parser.add_argument("--sheet", type=Path, help="also write a sheet: each style beside its shipped neighbour")
    parser.add_argument("--sheet-only", action="store_true",
                        help="only the sheet, from the styles an earlier run left in --out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    marks = tuple(float(m) for m in args.marks.split(",") if m)
    finals = {f"own_{name}": args.out / name / f"own_{name}.onnx" for name in args.artworks}
    if args.sheet_only:
        print(neighbours_sheet(finals, args.sheet or Path("docs/own_styles.jpg")))
        return 0
    _, held_out = split_portraits(args.data / "portraits" / "images")
    photos = held_out[:: max(1, len(held_out) // args.photos)][: args.photos]
    report: dict[str, dict] = {}
    for name in args.artworks:
        artwork = args.data / "styles" / f"{name}.jpg"
        styles_dir = args.out / name
        if styles_dir.exists():  # a fresh measurement every time
            shutil.rmtree(styles_dir)
        started = time.monotonic()
        final = add_style(artwork, f"own_{name}", styles_dir, packaged_styles_dir() / "pack.onnx",
                          set(StyleCatalog.default(styles_dir).entries), budget_min=args.budget,
                          snapshot_at_min=marks, snapshot_dir=styles_dir / "snapshots")
        wall_min = (time.monotonic() - started) / 60
        snapshots = {f"{m:g} min": styles_dir / "snapshots" / f"own_{name}-{m:g}min.onnx" for m in marks}
        models = {label: path for label, path in snapshots.items() if path.is_file()}  # marks inside the budget
        models[f"{args.budget:g} min"] = final
        scores = score_snapshots(models, f"own_{name}", artwork, photos, args.size, args.gatys_steps)
        for label, path in models.items():
            scores[label]["steps"] = steps_in(path)
        report[name] = {"wall_minutes": round(wall_min, 2), **scores}
        log.info("%s: %s", name, report[name])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "own-style.json").write_text(json.dumps({"photos": [p.name for p in photos], "size": args.size,
                                                         "gatys_steps": args.gatys_steps, "styles": report},
                                                        indent=1))
    print(json.dumps(report, indent=1))
    if args.sheet:
        print(neighbours_sheet(finals, args.sheet))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
