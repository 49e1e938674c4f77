"""Style fidelity: how close the shipped networks come to the Gatys et al. optimum.

For every style of a model and every photo: the network's output (ONNX Runtime, the
style's one-hot weights over the whole image) is scored with the VGG-19 Gram style loss
(relu1_1 .. relu5_1) against the artwork and the content loss (relu4_2) against the
photo, using ``live_nst.models.losses`` exactly as training does. A Gatys optimisation
of the same photo and artwork (``live_nst.models.gatys``, a fixed step count) is scored
the same way: it is the quality ceiling. The unchanged photo's style loss is the floor
(no style at all). ``style_gap_closed`` = (photo - network) / (photo - Gatys) style
loss: 1.0 means as close to the artwork's Grams as the optimisation gets, 0 means no
closer than the photo itself. A baseline model (``--baseline-model``, the previous pack)
is scored on the same photos against the same Gatys images, so its ratios and the
model's come from one run.

Needs PyTorch (the ``[train]`` extra); imported lazily so the rest of the benchmark does not.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from live_nst.bench.context import BenchOptions
from live_nst.bench.look import palette_distance
from live_nst.contract import read_styles

log = logging.getLogger(__name__)

DEFAULT_STYLE_SIZE = 320  # the training recipe's default long side of the artwork


def model_style_artworks(model_path: Path, styles_root: Path | None) -> dict[str, Path | None]:
    """Style name -> its artwork file under ``styles_root`` (None where it is not there)."""
    from live_nst.contract import read_metadata, styles_from_metadata

    infos = styles_from_metadata(model_path, read_metadata(model_path))
    found: dict[str, Path | None] = {}
    for info in infos:
        candidates = [info.artwork, f"{info.name}.jpg"] if info.artwork else [f"{info.name}.jpg"]
        paths = [styles_root / name for name in candidates if styles_root is not None]
        found[info.name] = next((path for path in paths if path.is_file()), None)
    return found


def recipe_style_size(model_path: Path) -> int:
    """The artwork size the model was trained with (its recipe metadata), else the default."""
    from live_nst import contract
    from live_nst.contract import read_metadata

    try:
        recipe = json.loads(read_metadata(model_path).get(contract.KEY_RECIPE, "{}"))
        return int(recipe.get("style_size") or recipe.get("config", {}).get("style_size") or DEFAULT_STYLE_SIZE)
    except (ValueError, TypeError, AttributeError):
        return DEFAULT_STYLE_SIZE


def network_output(model, content, style_index: int):
    """The ONNX network's output for a (1, 3, H, W) [0, 1] tensor, as a tensor."""
    import torch

    from live_nst import contract

    image = content.detach().cpu().numpy().astype(np.float32)
    weights = np.zeros((1, model.num_styles, 1, 1), np.float32)
    weights[0, style_index] = 1.0
    weights = np.broadcast_to(weights, (1, model.num_styles, max(1, image.shape[2] // 4),
                                        max(1, image.shape[3] // 4))).copy()
    out = model.session.run([contract.OUTPUT], {contract.INPUT_IMAGE: image,
                                                contract.INPUT_STYLE_WEIGHTS: weights})[0]
    return torch.from_numpy(out).to(content.device)


def scores(vgg, image, content_feats, style_grams) -> dict[str, Any]:
    import torch

    from live_nst.models import losses

    with torch.no_grad():
        feats = vgg(image)
        # Layer by layer (which scale of the artwork's texture is missed); the style loss is their sum.
        by_layer = {name: float(losses.style_loss(feats, {name: target})) for name, target in style_grams.items()}
        return {"style": sum(by_layer.values()), "style_by_layer": by_layer,
                "content": float(losses.content_loss(feats, content_feats))}


def _score_pair(vgg, model, style_index: int, photo: Path, artwork: Path, size: int, style_size: int,
                gatys_steps: int, device, baseline: tuple[Any, int] | None = None) -> dict:
    import torch

    from live_nst.models import losses
    from live_nst.models.data import load_image, to_rgb8
    from live_nst.models.gatys import GatysConfig, stylize

    content = load_image(photo, size).to(device)
    style = load_image(artwork, style_size).to(device)
    with torch.no_grad():
        content_feats = vgg(content)
        style_grams = {k: losses.gram(v) for k, v in vgg(style).items() if k in losses.STYLE_LAYERS}
    artwork_rgb = to_rgb8(style)

    def judge(image) -> dict[str, Any]:
        palette = palette_distance(to_rgb8(image), artwork_rgb)
        return {**scores(vgg, image, content_feats, style_grams), "palette": palette}

    network = judge(network_output(model, content, style_index))
    started = time.perf_counter()
    gatys_image = stylize(content, style, GatysConfig(steps=gatys_steps), vgg=vgg, progress=False).image
    gatys_s = time.perf_counter() - started
    gatys = judge(gatys_image)
    floor = judge(content)
    span = floor["style"] - gatys["style"]
    pair = {"photo": str(photo), "size": [int(content.shape[3]), int(content.shape[2])], "network": network,
            "gatys": gatys, "photo_unstyled": floor, "gatys_seconds": round(gatys_s, 2),
            "gatys_style_share": gatys["style"] / floor["style"] if floor["style"] > 0 else float("nan"),
            "style_gap_closed": (floor["style"] - network["style"]) / span if span > 0 else float("nan")}
    pair["gatys_worked"] = reference_worked(pair)
    if baseline is not None:
        pair["baseline"] = judge(network_output(baseline[0], content, baseline[1]))
    return pair


def reference_worked(pair: dict) -> bool:
    """Whether the pair's Gatys image is a reference to divide by: its style loss at most
    PAINTED_STYLE_SHARE of the photo's own. A reference that stalled would flatter every ratio."""
    from live_nst.models.gatys import PAINTED_STYLE_SHARE

    share = pair.get("gatys_style_share", float("nan"))
    return math.isfinite(share) and share <= PAINTED_STYLE_SHARE


def geomean(values: list[float]) -> float:
    """Geometric mean of the positive finite values (NaN if none)."""
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return float(math.exp(sum(math.log(v) for v in values) / len(values))) if values else float("nan")


def _palette_ratio(pairs: list[dict], who: str) -> float:
    """Geometric mean of ``who``'s palette distance to the artwork over Gatys's (NaN where
    the pairs were scored before the palette was measured)."""
    return geomean([p[who]["palette"] / p["gatys"]["palette"] for p in pairs
                    if "palette" in p[who] and p["gatys"].get("palette")])


def _mean_by_layer(pairs: list[dict], who: str) -> dict[str, float]:
    return {layer: float(np.mean([p[who]["style_by_layer"][layer] for p in pairs]))
            for layer in pairs[0][who]["style_by_layer"]}


def _summarise(every_pair: list[dict]) -> dict[str, Any]:
    """Means and ratios over the pairs whose Gatys reference worked; the others are listed."""
    failed = [{"photo": p["photo"], "gatys_style_share": p.get("gatys_style_share")}
              for p in every_pair if not p.get("gatys_worked", True)]
    pairs = [p for p in every_pair if p.get("gatys_worked", True)]
    if not pairs:
        return {"pairs_scored": 0, "references_failed": failed}

    with_baseline = [p for p in pairs if "baseline" in p]
    baseline = {} if not with_baseline else {
        "baseline_style_ratio": geomean([p["baseline"]["style"] / p["gatys"]["style"] for p in with_baseline
                                         if p["gatys"]["style"]]),
        "baseline_content_ratio": geomean([p["baseline"]["content"] / p["gatys"]["content"] for p in with_baseline
                                           if p["gatys"]["content"]]),
        "baseline_palette_ratio": _palette_ratio(with_baseline, "baseline"),
        "style_by_layer_baseline": _mean_by_layer(with_baseline, "baseline"),
    }
    return {
        **baseline,
        "pairs_scored": len(pairs),
        "references_failed": failed,
        "gatys_style_share": geomean([p["gatys_style_share"] for p in pairs]),
        "style_loss_network": float(np.mean([p["network"]["style"] for p in pairs])),
        "style_loss_gatys": float(np.mean([p["gatys"]["style"] for p in pairs])),
        "content_loss_network": float(np.mean([p["network"]["content"] for p in pairs])),
        "content_loss_gatys": float(np.mean([p["gatys"]["content"] for p in pairs])),
        "style_ratio": geomean([p["network"]["style"] / p["gatys"]["style"] for p in pairs if p["gatys"]["style"]]),
        "content_ratio": geomean([p["network"]["content"] / p["gatys"]["content"]
                                  for p in pairs if p["gatys"]["content"]]),
        "palette_ratio": _palette_ratio(pairs, "network"),
        "palette_photo_ratio": _palette_ratio(pairs, "photo_unstyled"),
        "style_gap_closed": float(np.nanmean([p["style_gap_closed"] for p in pairs])),
        "style_by_layer_network": _mean_by_layer(pairs, "network"),
        "style_by_layer_gatys": _mean_by_layer(pairs, "gatys"),
    }


def measure_fidelity(model_path: str | Path, style_paths: Mapping[str, str | Path], photos: Sequence[str | Path],
                     size: int = 256, gatys_steps: int = 100, style_size: int | None = None,
                     device: str = "auto", baseline_path: str | Path | None = None) -> dict:
    """Style and content losses of ``model_path``'s styles against a Gatys optimisation.

    ``style_paths``: style name (as in the model's metadata) -> artwork file.
    ``photos``: content photos. ``size``: long side of the photos, px; ``style_size``:
    long side of the artwork (default: the model's training recipe). Returns per-style
    results (one entry per photo, plus a summary) and an overall summary; ratios are
    network / Gatys (lower is better, 1.0 = as good as the optimisation). ``baseline_path``:
    another model scored on the same pairs (its styles of the same names), with
    ``baseline_style_ratio`` and ``baseline_content_ratio`` in the summaries.
    """
    from live_nst.errors import require

    require("torch", "train", "The style fidelity benchmark")
    from live_nst.inference import StyleModel
    from live_nst.models import losses
    from live_nst.models.train import pick_device
    from live_nst.models.vgg import VGGFeatures

    model_path = Path(model_path)
    model = StyleModel(model_path, "cpu")
    index = {info.name: i for i, info in enumerate(model.styles)}
    unknown = sorted(set(style_paths) - set(index))
    if unknown:
        raise ValueError(f"styles {unknown} are not in {model_path.name} (it has {sorted(index)})")
    baseline = StyleModel(Path(baseline_path), "cpu") if baseline_path else None
    baseline_index = {info.name: i for i, info in enumerate(baseline.styles)} if baseline else {}
    torch_device = pick_device(device)
    style_size = style_size or recipe_style_size(model_path)
    vgg = VGGFeatures((*losses.STYLE_LAYERS, losses.CONTENT_LAYER)).to(torch_device)
    styles: dict[str, dict[str, Any]] = {}
    for name, artwork in style_paths.items():
        paired = (baseline, baseline_index[name]) if name in baseline_index else None
        pairs = [_score_pair(vgg, model, index[name], Path(photo), Path(artwork), size, style_size, gatys_steps,
                             torch_device, paired) for photo in photos]
        styles[name] = {"artwork": str(artwork), "pairs": pairs, "summary": _summarise(pairs)}
        summary = styles[name]["summary"]
        log.info("fidelity %s: style %.3gx Gatys over %d pairs, %d references that did not paint left out", name,
                 summary.get("style_ratio", math.nan), summary["pairs_scored"], len(summary["references_failed"]))
    every_pair = [pair for entry in styles.values() for pair in entry["pairs"]]
    return {"model": str(model_path), "baseline_model": str(baseline_path) if baseline else None,
            "size": size, "style_size": style_size, "gatys_steps": gatys_steps,
            "torch_device": str(torch_device), "style_layers": list(losses.STYLE_LAYERS),
            "content_layer": losses.CONTENT_LAYER, "styles": styles,
            "summary": _summarise(every_pair) if every_pair else {}}


def pick_held_out_photos(folder: Path | None, count: int) -> list[Path]:
    """``count`` held-out portraits (never used for tuning), spread evenly over the sorted set."""
    from live_nst.bench.picture import split_portraits

    if folder is None or count <= 0:
        return []
    held_out = split_portraits(folder)[1]
    if not held_out:
        return []
    picks = np.linspace(0, len(held_out) - 1, min(count, len(held_out))).round().astype(int)
    return [held_out[i] for i in dict.fromkeys(picks.tolist())]


def fidelity_section(options: BenchOptions, model_path: Path) -> dict:
    """The fidelity section: every style of ``model_path`` whose artwork is in the data."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return {"status": "skipped", "note": "PyTorch is not installed: pip install 'live-nst[train]' to measure "
                                             "style fidelity"}
    photos = pick_held_out_photos(options.data("portraits/images"), options.fidelity_photos)
    artworks = model_style_artworks(model_path, options.data("styles"))
    found = {name: path for name, path in artworks.items() if path is not None}
    found = dict(list(found.items())[:options.fidelity_styles])
    if not photos or not found:
        return {"status": "skipped", "note": "no portrait photos or style artworks: provide the measurement data"}
    result = measure_fidelity(model_path, found, photos, options.fidelity_size, options.gatys_steps,
                              baseline_path=options.baseline_model)
    missing = sorted(name for name, path in artworks.items() if path is None)
    return {"status": "ok", **result, "styles_without_artwork": missing,
            **picture_measures(options, model_path, found)}


def picture_measures(options: BenchOptions, model_path: Path, artworks: dict[str, Path]) -> dict:
    """Faces kept on the held-out portraits (by the baseline model too, when there is one);
    review sheet and periodic energy on tuning ones."""
    from live_nst.bench.picture import measure_faces_kept, split_portraits
    from live_nst.bench.review import review

    folder = options.data("portraits/images")
    if folder is None:
        return {}
    tuning, held_out = split_portraits(folder)
    photos = held_out[:options.faces_photos]
    faces = {"faces_kept": measure_faces_kept(model_path, photos, list(artworks))}
    if options.baseline_model:
        theirs = {info.name for info in read_styles(options.baseline_model)}
        faces["faces_kept_baseline"] = measure_faces_kept(options.baseline_model, photos,
                                                          [name for name in artworks if name in theirs])
    sheet = review(model_path, artworks, tuning[:options.review_photos], options.review_size,
                   recipe_style_size(model_path), options.review_gatys_steps, options.out_dir)
    return {**faces, "review": sheet}
