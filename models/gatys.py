"""The optimisation method of Gatys et al. (2015): the slow, high-quality image mode,
and the quality ceiling the feed-forward networks are measured against."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
from tqdm import tqdm

from live_nst.models import losses
from live_nst.models.vgg import VGGFeatures

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatysConfig:
    steps: int = 300
    content_weight: float = 1.0
    style_weight: float = losses.LossWeights().style
    tv_weight: float = 0.5
    optimizer: str = "lbfgs"  # or "adam"
    lr: float = 0.02  # Adam only
    init: str = "content"  # or "noise"


def stylize(content: torch.Tensor, style: torch.Tensor, config: GatysConfig = GatysConfig(),
            vgg: VGGFeatures | None = None, progress: bool = True,
            start: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Optimise an image so its VGG features match ``content`` and its Grams match ``style``.

    Both inputs are (1, 3, H, W) in [0, 1] on the same device. ``start``, if given, is the
    image the optimisation starts from (e.g. a coarser result, upsampled), instead of
    ``config.init``. Returns the image and the final unweighted loss terms.
    """
    if config.optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {config.optimizer!r}")
    # L-BFGS flattens with .view(): a permuted numpy image must become contiguous first.
    content, style = content.contiguous(), style.contiguous()
    vgg = vgg or VGGFeatures((*losses.STYLE_LAYERS, losses.CONTENT_LAYER)).to(content.device)
    with torch.no_grad():
        content_target = vgg(content)
        style_grams = {k: losses.gram(v) for k, v in vgg(style).items() if k in losses.STYLE_LAYERS}
    if start is None:
        start = content if config.init == "content" else torch.rand_like(content)
    # Optimise in logit space so the image stays in [0, 1] without clamping gradients away.
    logits = torch.logit(start.clamp(1e-3, 1 - 1e-3)).contiguous().requires_grad_(True)
    terms: dict[str, torch.Tensor] = {}

    def objective() -> torch.Tensor:
        image = torch.sigmoid(logits)
        feats = vgg(image)
        terms["content"] = losses.content_loss(feats, content_target)
        terms["style"] = losses.style_loss(feats, style_grams)
        terms["tv"] = losses.total_variation(image)
        return (config.content_weight * terms["content"] + config.style_weight * terms["style"]
                + config.tv_weight * terms["tv"])

    optimizer: torch.optim.Optimizer
    if config.optimizer == "lbfgs":
        # A strong-Wolfe line search: a full quasi-Newton step can overshoot into
        # saturated colour noise on some photos; the search never accepts a rise.
        optimizer = torch.optim.LBFGS([logits], lr=1.0, max_iter=1, history_size=50,
                                      line_search_fn="strong_wolfe")
    else:
        optimizer = torch.optim.Adam([logits], lr=config.lr * 5)
    best = _Best()
    bar = tqdm(range(config.steps), desc="gatys", disable=not progress, dynamic_ncols=True)
    for step in bar:
        def closure():
            optimizer.zero_grad()
            loss = objective()
            loss.backward()
            return loss

        before = logits.detach().clone()
        best.offer(float(optimizer.step(closure).detach()), before, step)  # step() returns the loss of `before`
        bar.set_postfix({k: f"{float(v.detach()):.4g}" for k, v in terms.items()})
    with torch.no_grad():
        best.offer(float(objective()), logits.detach().clone(), config.steps)
        best.report_divergence()
        if best.logits is not None:  # None only when no step gave a finite loss
            logits.copy_(best.logits)
        objective()
    return torch.sigmoid(logits).detach(), {k: float(v) for k, v in terms.items()}


DIVERGED_FACTOR = 10.0  # a loss this many times the best one means the optimisation ran away


class _Best:
    """The lowest-loss image seen, so a run that diverges late still returns its best."""

    def __init__(self) -> None:
        self.loss = math.inf
        self.step = -1
        self.logits: torch.Tensor | None = None
        self.worst_after_best = -math.inf

    def offer(self, loss: float, logits: torch.Tensor, step: int) -> None:
        if math.isfinite(loss) and loss < self.loss:
            self.loss, self.step, self.logits = loss, step, logits.detach()
            self.worst_after_best = -math.inf
        else:
            self.worst_after_best = max(self.worst_after_best, loss if math.isfinite(loss) else math.inf)

    def report_divergence(self) -> None:
        if self.worst_after_best > DIVERGED_FACTOR * self.loss:
            log.warning("the Gatys optimisation diverged after step %d (loss %.4g rose to %.4g); keeping the "
                        "step-%d image. Lower the learning rate or use the default L-BFGS optimiser.",
                        self.step, self.loss, self.worst_after_best, self.step)
