"""Add a style to the shipped pack in minutes: train only its conditioning (Dumoulin et al. 2017).

Every normalisation of the pack's network has one scale and shift per style; the
convolutions are shared by all styles. A new style is one more row of those scales and
shifts (a few thousand numbers), trained against the new artwork's VGG-19 Grams with the
convolutions frozen. It starts from the shipped style whose painting of the sample
portrait has the Grams nearest the new artwork's, so it is usable after a few minutes.

The result is the whole pack with the style appended, in one ONNX file: the person in a
shipped style and the background in the new one still cost one network pass. Its
``live_nst.extends`` metadata says which of its styles are the pack's own, so the style
list shows only the new one.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from live_nst import contract
from live_nst.assets import sha256_of
from live_nst.errors import ConfigError, InputError, ModelError
from live_nst.models import losses
from live_nst.models.data import list_images, load_image, random_crops
from live_nst.models.networks import ArchConfig, ConditionalInstanceNorm, network_from_config, one_hot_weights
from live_nst.models.train import learning_rate
from live_nst.models.vgg import VGGFeatures

log = logging.getLogger(__name__)

MIN_SIDE = 64  # px: below this an artwork has no strokes to learn
# The ONNX export and its parity check at the end: 20-30 s of tracing and 6 s of checking on
# a busy 2-core CPU (2026-12-06), so the fitting stops this long before the deadline.
EXPORT_RESERVE_S = 35.0
MIN_TRAIN_S = 1.0
# Below this share of the difference between the starting style's painting and its nearest
# shipped neighbour's, the new style still paints essentially as the one it started from.
# (Candy from composition_vii on a busy 2-core CPU: 0.12 after 1 step, 0.31 after 3, 0.45
# after 5, 0.56 after 20; 2026-12-07.)
BARELY_MOVED = 0.25
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
WEIGHTS_SUFFIX = ".weights.npz"  # beside pack.onnx: the same network for PyTorch


# --- the pack's network, for PyTorch --------------------------------------------------
def weights_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + WEIGHTS_SUFFIX)


def arch_of(network: torch.nn.Module) -> ArchConfig:
    return cast(ArchConfig, network.config)


def save_weights(network: torch.nn.Module, model_path: Path) -> Path:
    """Write the network's weights beside its ONNX file (numpy: the runtime stays torch-free)."""
    arrays = {k: v.detach().cpu().numpy() for k, v in network.state_dict().items()}
    path = weights_path(model_path)
    np.savez_compressed(path, __arch__=np.array(json.dumps(arch_of(network).to_dict())), **arrays)
    return path


def load_pack(model_path: Path) -> tuple[torch.nn.Module, list[contract.StyleInfo], dict]:
    """The pack's network (from its weights file), its styles and its training recipe."""
    path = weights_path(model_path)
    if not path.is_file():
        raise ModelError(f"{model_path.name} has no {path.name} beside it, so its network cannot be extended; "
                         f"reinstall live-nst, or rebuild the pack with 'python -m live_nst.export.style_pack'")
    with np.load(path) as data:
        arch = json.loads(str(data["__arch__"]))
        state = {k: torch.from_numpy(data[k]) for k in data.files if k != "__arch__"}
    network = network_from_config(arch)
    network.load_state_dict(state)
    styles = contract.read_styles(model_path)
    if len(styles) != arch["num_styles"]:
        raise ModelError(f"{path.name} holds {arch['num_styles']} styles but {model_path.name} lists {len(styles)}; "
                         f"the two files are from different builds: reinstall live-nst")
    return network, styles, contract.read_json(model_path, contract.KEY_RECIPE)


def conditioning(network: torch.nn.Module) -> list[ConditionalInstanceNorm]:
    return [m for m in network.modules() if isinstance(m, ConditionalInstanceNorm)]


def append_style(network: torch.nn.Module, start_from: int) -> torch.nn.Module:
    """A copy of ``network`` with one more style, initialised as style ``start_from``."""
    config = {**arch_of(network).to_dict(), "num_styles": arch_of(network).num_styles + 1}
    grown = network_from_config(config)
    state = network.state_dict()
    for name, value in grown.state_dict().items():
        old = state[name]
        if name.endswith((".scale", ".shift")):
            old = torch.cat([old, old[start_from:start_from + 1]])
        value.copy_(old)
    return grown


def trainable_conditioning(network: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Freeze everything but the last style's scales and shifts (the other rows' gradients
    are zeroed, so Adam leaves them exactly as they were)."""
    network.requires_grad_(False)
    params = []
    for norm in conditioning(network):
        for param in (norm.scale, norm.shift):
            param.requires_grad_(True)
            mask = torch.zeros_like(param)
            mask[-1] = 1.0
            param.register_hook(lambda grad, mask=mask: grad * mask)
            params.append(param)
    return params


# --- inputs ---------------------------------------------------------------------------
def check_name(name: str, taken: set[str], styles_dir: Path) -> None:
    if not NAME_PATTERN.match(name):
        raise InputError(f"style name {name!r} is not usable: give 1-48 letters, digits, '-' or '_', "
                         f"starting with a letter or digit (--name)")
    if name in taken:
        raise InputError(f"a style named {name!r} is already installed; choose another --name "
                         f"(or delete {styles_dir / (name + '.onnx')} if it is yours)")
    if (styles_dir / f"{name}.onnx").exists():
        raise InputError(f"{styles_dir / (name + '.onnx')} already exists; choose another --name or delete it")


def read_artwork(path: Path, long_side: int) -> torch.Tensor:
    if not path.is_file():
        raise InputError(f"picture {path} does not exist; give a JPEG or PNG of the artwork")
    image = load_image(path)  # InputError for a file that is not an image
    if min(image.shape[-2:]) < MIN_SIDE:
        raise InputError(f"picture {path} is {image.shape[-1]}x{image.shape[-2]} px; it needs at least "
                         f"{MIN_SIDE} px on each side to show its brushwork. Give a larger image.")
    return load_image(path, long_side)


def content_photos(content_dir: Path | None) -> list[torch.Tensor]:
    """The photos to paint while training: a folder's, or the built-in sample portrait."""
    if content_dir is not None:
        return [load_image(path, 320) for path in list_images(content_dir)[:400]]
    from live_nst.sources import load_portrait

    portrait = torch.from_numpy(load_portrait()).permute(2, 0, 1)[None].float() / 255.0
    return [portrait]


# --- fitting ----------------------------------------------------------------------------
@dataclass(frozen=True)
class FitConfig:
    budget_s: float = 600.0  # a usable style on a 2-core laptop CPU
    size: int = 160  # content crop, px
    batch: int = 2
    lr: float = 0.02
    seed: int = 0


def style_grams(vgg: VGGFeatures, image: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        feats = vgg(image)
    return {name: losses.gram(feats[name]) for name in losses.STYLE_LAYERS}


def nearest_style(network: torch.nn.Module, vgg: VGGFeatures, target: dict[str, torch.Tensor],
                  photo: torch.Tensor, on_style: Callable[[int, torch.Tensor], None] | None = None
                  ) -> tuple[int, list[float]]:
    """The style whose painting of ``photo`` has Grams nearest ``target``, and all distances.
    ``on_style(index, painting)`` runs after each style is measured (seconds each on a CPU)."""
    distances = []
    with torch.no_grad():
        for index in range(arch_of(network).num_styles):
            painted = paint(network, photo, index)
            distances.append(float(losses.style_loss(vgg(painted), target)))
            if on_style is not None:
                on_style(index, painted)
    return int(np.argmin(distances)), distances


def paint(network: torch.nn.Module, photo: torch.Tensor, index: int) -> torch.Tensor:
    with torch.no_grad():
        return network(photo, one_hot_weights(torch.tensor([index]), arch_of(network).num_styles,
                                              *photo.shape[-2:]))


def fit_seconds(seconds_left: float, exports: int = 1) -> float:
    """How long the fitting may run when ``seconds_left`` of the budget remain and
    ``exports`` ONNX files are still to write: at least MIN_TRAIN_S (one step or so)."""
    return max(MIN_TRAIN_S, seconds_left - EXPORT_RESERVE_S * exports)


@dataclass(frozen=True)
class Start:
    """The shipped style a new one starts as, and every shipped style's painting of the
    photo it was chosen on (to tell afterwards how far the new style moved)."""
    index: int
    photo: torch.Tensor
    paintings: list[torch.Tensor]


def moved_share(network: torch.nn.Module, start: Start) -> float:
    """How differently the new (last) style paints ``start.photo`` from the style it started
    as, as a share of how differently the nearest other shipped style does: 0 means it paints
    exactly as the starting style, 1 means as differently as another shipped style."""
    new = paint(network, start.photo, arch_of(network).num_styles - 1)
    own = start.paintings[start.index]
    others = [p for i, p in enumerate(start.paintings) if i != start.index]
    if not others:
        return float("inf")  # a pack of one style: nothing to compare with
    neighbour = min(float((other - own).abs().mean()) for other in others)
    return float((new - own).abs().mean()) / max(neighbour, 1e-12)


def fit(network: torch.nn.Module, vgg: VGGFeatures, target: dict[str, torch.Tensor], photos: list[torch.Tensor],
        weights: losses.LossWeights, config: FitConfig,
        on_step: Callable[[int, float], None] | None = None) -> tuple[int, dict[str, float]]:
    """Train the last style's conditioning for ``config.budget_s`` seconds; returns the
    steps taken and the last losses. ``on_step(step, elapsed_s)`` runs after each step."""
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    network.train()
    optimizer = torch.optim.Adam(trainable_conditioning(network), lr=config.lr)
    index = arch_of(network).num_styles - 1
    started, step, terms = time.monotonic(), 0, {}
    while (elapsed := time.monotonic() - started) < config.budget_s:
        progress = elapsed / config.budget_s
        for group in optimizer.param_groups:  # cosine decay over the time budget
            group["lr"] = learning_rate(config.lr, progress)
        content = random_crops(photos, config.size, config.batch)
        style_weights = one_hot_weights(torch.full((config.batch,), index), index + 1, config.size, config.size)
        styled = network(content, style_weights)
        feats = vgg(styled)
        with torch.no_grad():
            content_feats = vgg(content)
        loss_terms = {
            "content": torch.stack([F.mse_loss(feats[n], content_feats[n]) for n in losses.TRAIN_CONTENT_LAYERS]).sum(),
            "style": losses.style_loss(feats, target),
            "tv": losses.total_variation(styled),
            "lattice": losses.lattice_loss(styled),
        }
        loss = sum(getattr(weights, k) * v for k, v in loss_terms.items())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        terms = {k: float(v.detach()) for k, v in loss_terms.items()}
        if on_step is not None:
            on_step(step, time.monotonic() - started)
    network.eval()
    return step, terms


# --- the command ------------------------------------------------------------------------
def add_style(picture: Path, name: str | None, styles_dir: Path, pack_path: Path, taken: set[str],
              budget_min: float = 10.0, content_dir: Path | None = None,
              snapshot_at_min: tuple[float, ...] = (), snapshot_dir: Path | None = None,
              started: float | None = None) -> Path:
    """Fit ``picture`` as a new style and write ``styles_dir/NAME.onnx``; returns its path.

    The budget is the whole command's, from ``started`` (a ``time.monotonic()`` reading,
    default now): loading, choosing the nearest shipped style, fitting and the export.
    ``snapshot_at_min``: also write ``snapshot_dir/NAME-Xmin.onnx`` with the style as it was
    after X minutes of fitting (for measuring how quality grows with the budget).
    """
    if budget_min <= 0:
        raise ConfigError(f"--budget must be a positive number of minutes, got {budget_min:g}")
    deadline = (started if started is not None else time.monotonic()) + budget_min * 60.0
    name = name or picture.stem
    check_name(name, taken, styles_dir)
    log.info("add-style %s: loading the pack, the artwork and VGG-19", name)
    network, styles, recipe = load_pack(pack_path)
    style_size = int(recipe.get("style_size") or 512)
    artwork = read_artwork(picture, style_size)
    styles_dir.mkdir(parents=True, exist_ok=True)
    vgg = VGGFeatures((*losses.STYLE_LAYERS, *losses.TRAIN_CONTENT_LAYERS))
    target = style_grams(vgg, artwork)
    photos = content_photos(content_dir)
    start = _choose_start(network, styles, vgg, target, photos)
    start_from = start.index
    grown = append_style(network, start_from)
    left = deadline - time.monotonic()
    snapshots = sorted(m * 60.0 for m in snapshot_at_min if 0 < m * 60.0 < fit_seconds(left))
    config = FitConfig(budget_s=fit_seconds(left, exports=1 + len(snapshots)))
    recipe_weights = recipe.get("weights")
    weights = losses.LossWeights(**recipe_weights) if isinstance(recipe_weights, dict) else losses.LossWeights()
    steps, terms, saved = _fit_with_progress(grown, vgg, target, photos, weights, config, name, deadline,
                                             [at for at in snapshots if at < config.budget_s])
    _warn_if_barely_moved(grown, start, styles[start_from].name, steps)
    card = {"artwork_sha256": sha256_of(picture), "artwork_file": picture.name, "steps": steps,
            "budget_min": budget_min, "started_from": styles[start_from].name, "losses": terms,
            "style_size": style_size, "crop": config.size, "batch": config.batch,
            "content": str(content_dir) if content_dir else "the built-in sample portrait"}
    return _export(grown, styles, name, picture, pack_path, {**recipe, "add_style": card}, styles_dir,
                   saved, snapshot_dir)


def _choose_start(network: torch.nn.Module, styles: list[contract.StyleInfo], vgg: VGGFeatures,
                  target: dict[str, torch.Tensor], photos: list[torch.Tensor]) -> Start:
    """The shipped style to start from, with a bar: each style paints the portrait once."""
    photo, paintings = random_crops(photos, 256, 1), []
    bar = tqdm(total=len(styles), unit="style", desc="choosing the nearest shipped style", dynamic_ncols=True)

    def on_style(index: int, painting: torch.Tensor) -> None:
        paintings.append(painting)
        bar.update()

    try:
        index, distances = nearest_style(network, vgg, target, photo, on_style)
    finally:
        bar.close()
    log.info("starting from %s, the nearest shipped style (Gram distance %.3g)", styles[index].name,
             distances[index])
    return Start(index, photo, paintings)


def _fit_with_progress(grown: torch.nn.Module, vgg: VGGFeatures, target: dict[str, torch.Tensor],
                       photos: list[torch.Tensor], weights: losses.LossWeights, config: FitConfig, name: str,
                       deadline: float, snapshots: list[float]) -> tuple[int, dict, list[tuple[float, int, dict]]]:
    """``fit`` with a bar of the time left; returns its steps and losses, and the states at
    ``snapshots`` (seconds of fitting) as (seconds, steps, state)."""
    saved: list[tuple[float, int, dict]] = []
    bar = tqdm(total=round(config.budget_s), unit="s", desc=f"add-style {name}", dynamic_ncols=True,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def on_step(step: int, elapsed: float) -> None:
        # The time is the budget, so the time left is known: no rate estimate, export included.
        left = max(0, round(deadline - time.monotonic()))
        bar.set_postfix_str(f"step {step}, ETA {left // 60}:{left % 60:02d} with the export", refresh=False)
        bar.update(min(round(elapsed), bar.total) - bar.n)
        if snapshots and elapsed >= snapshots[0]:
            saved.append((snapshots.pop(0), step, {k: v.clone() for k, v in grown.state_dict().items()}))

    try:
        steps, terms = fit(grown, vgg, target, photos, weights, config, on_step)
    finally:
        bar.close()
    return steps, terms, saved


def _warn_if_barely_moved(grown: torch.nn.Module, start: Start, start_name: str, steps: int) -> None:
    share = moved_share(grown, start)
    if share < BARELY_MOVED:
        log.warning("%d fitting step%s left the new style painting almost exactly as %s (it differs from it %.0f%% "
                    "as much as the nearest other shipped style does). Give a larger --budget: 10 minutes makes "
                    "a usable style on a 2-core CPU", steps, "" if steps == 1 else "s", start_name, 100 * share)


def _export(grown: torch.nn.Module, styles: list[contract.StyleInfo], name: str, picture: Path, pack_path: Path,
            recipe: dict, styles_dir: Path, saved: list[tuple[float, int, dict]],
            snapshot_dir: Path | None) -> Path:
    """Write the pack with the new style appended (and any snapshots) as ONNX."""
    from live_nst.models.onnx_file import export_network

    entries = [{"name": s.name, "title": s.title, "artist": s.artist, "artwork": s.artwork, "license": s.license}
               for s in styles]
    entries.append({"name": name, "title": name.replace("_", " "), "artist": "", "artwork": picture.name,
                    "license": "the user's own"})
    extends = {"pack_sha256": sha256_of(pack_path), "styles": [s.name for s in styles]}
    extra = {contract.KEY_EXTENDS: json.dumps(extends)}
    log.info("writing %s.onnx: the ONNX export and its check (about %.0f s)", name, EXPORT_RESERVE_S)
    for at_s, at_step, state in saved:
        export_network(_clean(grown, state), (snapshot_dir or styles_dir) / f"{name}-{at_s / 60:g}min.onnx",
                       entries, recipe=recipe, extra=extra, quality={"after_min": at_s / 60, "steps": at_step})
    return export_network(_clean(grown, grown.state_dict()), styles_dir / f"{name}.onnx", entries,
                          recipe=recipe, extra=extra, quality={"add_style": recipe["add_style"]})


def _clean(network: torch.nn.Module, state: dict) -> torch.nn.Module:
    """A fresh network holding ``state``: no gradient hooks, nothing trainable."""
    clean = network_from_config(arch_of(network).to_dict())
    clean.load_state_dict(state)
    return clean.requires_grad_(False).eval()
