"""The optimisation method of Gatys et al. (2015): the slow, high-quality image mode,
and the quality ceiling the feed-forward networks are measured against.

The pixels themselves are optimised with L-BFGS (strong-Wolfe line search), coarse to
fine: each scale starts from the last one's paint laid over its own photo. Pixels stay in
[0, 1] through a smooth penalty on leaving that range and a clamp at the end.

Why an earlier version handed back the photo on some pictures: it called
``LBFGS.step`` once per iteration with ``max_iter=1``, which makes PyTorch's evaluation
budget ``max_eval`` 1, so the line search had no evaluation left to shrink a step that
overshot. In logit space the second iteration's quasi-Newton step (scaled from a tiny
first step) moved logits by up to 30; where that raised the loss the search returned a
zero step, the curvature history stayed empty, and every later iteration proposed the
same step again. One ``step`` call for all iterations, with an evaluation budget, lets
the search shrink the step; pixels instead of logits keep one unit of step one unit of
colour, with no gradient vanishing near black and white.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm

from live_nst.errors import ConfigError
from live_nst.models import losses
from live_nst.models.vgg import VGGFeatures

log = logging.getLogger(__name__)

# A run "painted" when its style loss fell to this share of the photo's own, or lower.
# Gatys at 256 px reaches 0.02-0.1 of it on portraits with the shipped artworks.
PAINTED_STYLE_SHARE = 0.2
# Weight of the squared distance outside [0, 1] (mean over pixels): strong enough that the
# final clamp moves pixels by about 1/255 at most, smooth enough for L-BFGS.
RANGE_PENALTY = 1e3


@dataclass(frozen=True)
class GatysConfig:
    """``steps``: iterations at the final scale; each coarser scale gets ``coarse_steps``
    (default: as many). Scales halve the long side from the final size down to no less
    than ``min_scale_px``; 0 means one scale only."""

    steps: int = 32
    content_weight: float = 1.0
    style_weight: float = losses.LossWeights().style
    tv_weight: float = 0.5
    optimizer: str = "lbfgs"  # or "adam"
    lr: float = 0.02  # Adam only
    init: str = "content"  # or "noise"
    min_scale_px: int = 128
    coarse_steps: int | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in ("lbfgs", "adam"):
            raise ConfigError(f"optimizer must be 'lbfgs' or 'adam', got {self.optimizer!r}")
        if self.init not in ("content", "noise"):
            raise ConfigError(f"init must be 'content' or 'noise', got {self.init!r}")
        for name in ("content_weight", "style_weight", "tv_weight", "lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"the Gatys {name.replace('_', ' ')} must be a finite number of at least 0, "
                                  f"got {value}")
        if self.steps < 0 or (self.coarse_steps is not None and self.coarse_steps < 0) or self.min_scale_px < 0:
            raise ConfigError(f"steps, coarse steps and the smallest scale cannot be negative, got {self.steps}, "
                              f"{self.coarse_steps}, {self.min_scale_px}")

    def steps_at(self, levels_below_final: int) -> int:
        """Iterations at a scale: ``steps`` at the final one, ``coarse_steps`` (default the
        same) at each coarser one. Measured at 512 px (bench/gatys_speed.py): more coarse
        iterations bought less than the same time spent at the final size."""
        if levels_below_final == 0 or self.coarse_steps is None:
            return self.steps
        return self.coarse_steps

    def objective(self, terms: dict[str, float]) -> float:
        return (self.content_weight * terms["content"] + self.style_weight * terms["style"]
                + self.tv_weight * terms["tv"])


@dataclass
class GatysResult:
    """The painted image (1, 3, H, W) in [0, 1], its loss terms, and the photo's own terms
    at the same size (the starting point: style loss far above the result's)."""

    image: torch.Tensor
    terms: dict[str, float]
    photo_terms: dict[str, float] = field(default_factory=dict)

    @property
    def style_share(self) -> float:
        """The result's style loss as a share of the photo's own (lower: more painted)."""
        photo = self.photo_terms.get("style", math.nan)
        return self.terms["style"] / photo if photo > 0 else math.nan

    def painted(self, share: float = PAINTED_STYLE_SHARE) -> bool:
        return math.isfinite(self.style_share) and self.style_share <= share


def scale_sizes(shape_hw: tuple[int, int], min_scale_px: int) -> list[tuple[int, int]]:
    """Coarse-to-fine sizes (h, w), coarsest first: the long side halved while it stays
    at least ``min_scale_px``; the last one is ``shape_hw`` itself."""
    h, w = shape_hw
    sizes = [(h, w)]
    while min_scale_px and max(sizes[-1]) // 2 >= min_scale_px:
        factor = max(sizes[-1]) // 2 / max(h, w)
        sizes.append((max(1, round(h * factor)), max(1, round(w * factor))))
    return sizes[::-1]


def stylize(content: torch.Tensor, style: torch.Tensor, config: GatysConfig = GatysConfig(),
            vgg: VGGFeatures | None = None, progress: bool = True,
            start: torch.Tensor | None = None) -> GatysResult:
    """Optimise an image so its VGG features match ``content`` and its Grams match ``style``.

    Both inputs are (1, 3, H, W) in [0, 1] on the same device; the result has
    ``content``'s size. At each coarser scale the artwork is shrunk by the same factor
    as the photo, so its marks keep their size relative to the picture. ``start``, if
    given, is the image the finest scale starts from (no coarser scales then).
    """
    content, style = content.contiguous(), style.contiguous()
    vgg = vgg or VGGFeatures((*losses.STYLE_LAYERS, losses.CONTENT_LAYER)).to(content.device)
    shape_hw = (int(content.shape[-2]), int(content.shape[-1]))
    sizes = [shape_hw] if start is not None else scale_sizes(shape_hw, config.min_scale_px)
    previous, previous_content = start, None
    for number, size_hw in enumerate(sizes, 1):
        scaled_content = _resize(content, size_hw).clamp(0, 1)
        scaled_style = _resize_like(style, size_hw[0] / content.shape[-2]).clamp(0, 1)
        first = _starting_image(scaled_content, previous, previous_content, config)
        label = f"gatys {max(size_hw)}px" + (f" (scale {number}/{len(sizes)})" if len(sizes) > 1 else "")
        problem = _Problem(vgg, scaled_content, scaled_style, config)
        image, terms = _optimise(problem, first, config.steps_at(len(sizes) - number), config, label, progress)
        previous, previous_content = image, scaled_content
    # The last scale is the photo's own size: its terms there are the reference for "painted".
    return GatysResult(image, terms, problem.terms_of(content))


def _starting_image(content: torch.Tensor, previous: torch.Tensor | None, previous_content: torch.Tensor | None,
                    config: GatysConfig) -> torch.Tensor:
    """Where a scale starts: the photo (or noise) at the first; a given start image, resized;
    or a coarser result's paint (its difference from its own photo) over this scale's photo,
    which keeps the photo's fine detail that the coarser scale could not hold."""
    if previous is None:
        return content if config.init == "content" else torch.rand_like(content)
    size_hw = (content.shape[-2], content.shape[-1])
    if previous_content is None:
        return _resize(previous, size_hw).clamp(0, 1)
    return (content + _resize(previous - previous_content, size_hw)).clamp(0, 1)


def _resize_like(image: torch.Tensor, factor: float) -> torch.Tensor:
    return _resize(image, (max(1, round(image.shape[-2] * factor)), max(1, round(image.shape[-1] * factor))))


def _resize(image: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    if tuple(image.shape[-2:]) == tuple(size_hw):
        return image
    return F.interpolate(image, size=size_hw, mode="bilinear", align_corners=False, antialias=True)


class _Problem:
    """The Gatys objective for one photo and artwork at one size."""

    def __init__(self, vgg: VGGFeatures, content: torch.Tensor, style: torch.Tensor, config: GatysConfig) -> None:
        self.vgg, self.config = vgg, config
        with torch.no_grad():
            self.content_target = vgg(content)
            self.style_grams = {k: losses.gram(v) for k, v in vgg(style).items() if k in losses.STYLE_LAYERS}

    def terms(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.vgg(image)
        return {"content": losses.content_loss(feats, self.content_target),
                "style": losses.style_loss(feats, self.style_grams),
                "tv": losses.total_variation(image)}

    def loss(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = self.terms(image)
        outside = (image - image.clamp(0, 1)).square().mean()
        total = (self.config.content_weight * terms["content"] + self.config.style_weight * terms["style"]
                 + self.config.tv_weight * terms["tv"] + RANGE_PENALTY * outside)
        return total, terms

    def terms_of(self, image: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            return {k: float(v) for k, v in self.terms(image).items()}


def _optimise(problem: _Problem, first: torch.Tensor, steps: int, config: GatysConfig, label: str,
              progress: bool) -> tuple[torch.Tensor, dict[str, float]]:
    pixels = first.detach().clone().contiguous().requires_grad_(True)
    best = _Best()
    optimizer: torch.optim.Optimizer
    if config.optimizer == "lbfgs":
        # One call runs every iteration, so the line search's last evaluation serves as the
        # next iteration's start; max_eval bounds the time a hard photo can take.
        optimizer = torch.optim.LBFGS([pixels], lr=1.0, max_iter=steps, max_eval=max(1, 2 * steps),
                                      history_size=50, line_search_fn="strong_wolfe",
                                      tolerance_grad=0.0, tolerance_change=0.0)
    else:
        optimizer = torch.optim.Adam([pixels], lr=config.lr)
    bar = tqdm(total=steps, desc=label, disable=not progress, dynamic_ncols=True, leave=False)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss, terms = problem.loss(pixels)
        loss.backward()
        best.offer(float(loss.detach()), pixels)
        if config.optimizer == "lbfgs":
            bar.update(min(steps, optimizer.state[pixels].get("n_iter", 0)) - bar.n)
        bar.set_postfix({k: f"{float(v.detach()):.4g}" for k, v in terms.items()}, refresh=False)
        return loss

    if steps > 0:
        if config.optimizer == "lbfgs":
            optimizer.step(closure)
        else:
            for _ in range(steps):
                optimizer.step(closure)
                bar.update(1)
        with torch.no_grad():
            best.offer(float(problem.loss(pixels)[0]), pixels)
    bar.close()
    best.report_divergence(label)
    image = (best.pixels if best.pixels is not None else pixels.detach()).clamp(0, 1)
    return image, problem.terms_of(image)


DIVERGED_FACTOR = 10.0  # a loss this many times the best one means the optimisation ran away


class _Best:
    """The lowest-loss image seen, so a run that diverges late still returns its best."""

    def __init__(self) -> None:
        self.loss = math.inf
        self.pixels: torch.Tensor | None = None
        self.worst_after_best = -math.inf

    def offer(self, loss: float, pixels: torch.Tensor) -> None:
        if math.isfinite(loss) and loss < self.loss:
            self.loss, self.pixels = loss, pixels.detach().clone()
            self.worst_after_best = -math.inf
        else:
            self.worst_after_best = max(self.worst_after_best, loss if math.isfinite(loss) else math.inf)

    def report_divergence(self, label: str) -> None:
        if self.worst_after_best > DIVERGED_FACTOR * self.loss:
            log.warning("%s: the optimisation diverged (loss %.4g rose to %.4g); keeping the best image seen. "
                        "Lower the learning rate or use the default L-BFGS optimiser.",
                        label, self.loss, self.worst_after_best)
