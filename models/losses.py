"""Losses for style transfer, all computed on VGG-19 activations of RGB [0, 1] images.

Gram normalisation: for an activation F of shape (C, H, W), G = F F^T / (H W), so a
Gram entry is the mean over positions of a channel product and does not depend on the
image size. The style loss of one layer is the mean squared difference of Gram entries
(mean over C x C), summed over the style layers. The content loss is the mean squared
difference of activations. With the Gatys-normalised VGG-19 (activations about 1 per
channel) these defaults balance content and style at a recognisably stylised result:
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from live_nst.models.networks import one_hot_weights

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"  # the layer content quality is reported on (bench/fidelity.py)
# Training adds relu2_2 so faces keep their structure, not only their layout.
TRAIN_CONTENT_LAYERS = ("relu2_2", "relu4_2")


@dataclass(frozen=True)
class LossWeights:
    """Default weights for the normalisation documented above."""

    content: float = 1.0
    style: float = 2.5
    tv: float = 1.0
    temporal: float = 20.0
    lattice: float = 0.0
    region: float = 0.0
    # Per-layer factors on the style term, in STYLE_LAYERS order: where a network falls
    # short of Gatys differs by layer (the bench's "style loss by layer").
    style_layers: tuple[float, ...] = (1.0,) * len(STYLE_LAYERS)
    # Per-layer factors on the training content term, in TRAIN_CONTENT_LAYERS order:
    # relu2_2 keeps faces' structure, relu4_2 is the layer quality is reported on.
    content_layers: tuple[float, ...] = (1.0,) * len(TRAIN_CONTENT_LAYERS)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Batched Gram matrices, (N, C, H, W) -> (N, C, C), normalised by H*W."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def style_loss(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor],
               layer_weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Sum over layers of the mean squared Gram difference, each layer times its weight in
    ``layer_weights`` (default 1). Targets broadcast over N."""
    return style_loss_per_sample(features, target_grams, layer_weights).mean()


def style_loss_per_sample(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor],
                          layer_weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """``style_loss`` of each image of the batch: (N,)."""
    total = features[next(iter(target_grams))].new_zeros(features[next(iter(target_grams))].shape[0])
    for name, target in target_grams.items():
        factor = layer_weights.get(name, 1.0) if layer_weights else 1.0
        squared = (gram(features[name]) - target.expand(features[name].shape[0], -1, -1)) ** 2
        total = total + factor * squared.mean((1, 2))
    return total


def content_loss(features: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                 layer: str = CONTENT_LAYER) -> torch.Tensor:
    return F.mse_loss(features[layer], target[layer])


def weighted_content_loss(features: torch.Tensor, target: torch.Tensor, weight_map: torch.Tensor) -> torch.Tensor:
    """Mean squared difference weighted per pixel, for each image of the batch: (N,).
    ``weight_map`` (N, 1, H, W) at image resolution is area-averaged to the features'
    size. A map of ones gives the MSE."""
    weights = F.adaptive_avg_pool2d(weight_map, (features.shape[-2], features.shape[-1]))
    return (weights * (features - target) ** 2).mean((1, 2, 3))


def training_content_loss(features: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                          weight_map: torch.Tensor, layer_weights: tuple[float, ...] | None = None) -> torch.Tensor:
    """The training content term of each image, (N,): ``weighted_content_loss`` summed
    over TRAIN_CONTENT_LAYERS, each times its factor in ``layer_weights`` (default all 1)."""
    factors = layer_weights or (1.0,) * len(TRAIN_CONTENT_LAYERS)
    return torch.stack([factor * weighted_content_loss(features[name], target[name], weight_map)
                        for name, factor in zip(TRAIN_CONTENT_LAYERS, factors, strict=True)]).sum(0)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels (anisotropic TV)."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    return dx + dy


def lattice_loss(image: torch.Tensor, period: int = 8, sigma: float = 3.0) -> torch.Tensor:
    """Energy of a pattern tied to the network's own pixel grid.

    The painter network works at 1/2, 1/4 and 1/8 resolution, and the Gram loss rewards
    any texture, including one that repeats every 8 (or 4, or 2) pixels in step with the
    network's grid: a lattice laid over the picture that stays on the screen when the
    picture moves. Such a pattern survives averaging over every ``period`` x ``period``
    cell of the image's fine detail (the image less its Gaussian blur), while texture
    that follows the picture, at no fixed phase of the grid, averages out. The loss is
    the mean square of those per-phase averages (for a photo about 1e-6 at 256 px).
    """
    n, c, h, w = image.shape
    rows, cols = h - h % period, w - w % period
    detail = (image - _gaussian_blur(image, sigma))[..., :rows, :cols]
    phases = detail.reshape(n, c, rows // period, period, cols // period, period).mean(dim=(2, 4))
    return phases.pow(2).mean()


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    from torchvision.transforms.functional import gaussian_blur

    size = 2 * int(3 * sigma + 0.5) + 1
    return gaussian_blur(image, [size, size], [sigma, sigma])


def temporal_loss(network, content: torch.Tensor, styled: torch.Tensor, style_weights: torch.Tensor,
                  max_shift: float = 4.0, max_degrees: float = 2.0, max_zoom: float = 0.03,
                  noise: float = 0.02) -> torch.Tensor:
    """Stability under the small motions between video frames.

    Each input is moved by its own small random similarity transform (a sub-pixel shift
    of up to ``max_shift`` pixels, a rotation, a zoom) and lightly noised; the output
    should be the same motion of the original output, compared where the moved frame
    holds image on both sides (four pixels in from the frame's edge, where the network's
    own padding differs). Integer shifts alone, the earlier recipe, left the painted
    texture tied to the screen when a head turned or leaned in: the warping error of the
    measurement clips is mostly such motion.
    """
    if max_shift <= 0:
        raise ValueError(f"max_shift must be positive, got {max_shift}")
    n, _, h, w = content.shape
    grid = F.affine_grid(_random_similarity(n, h, w, max_shift, max_degrees, max_zoom).to(content),
                         [n, 1, h, w], align_corners=False)

    def move(image: torch.Tensor, padding: str = "reflection") -> torch.Tensor:
        return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding, align_corners=False)

    moved = (move(content) + noise * torch.randn_like(content)).clamp(0, 1)
    moved_out = network(moved, move(style_weights))
    inside = move(torch.ones_like(content[:, :1]), "zeros") > 0.999
    edge = 4
    inside[..., :edge, :] = inside[..., -edge:, :] = False
    inside[..., :, :edge] = inside[..., :, -edge:] = False
    squared = ((moved_out - move(styled)) ** 2).mean(1, keepdim=True)
    return (squared * inside).sum() / inside.sum().clamp(min=1)


def region_loss(network, content: torch.Tensor, style_index: torch.Tensor, num_styles: int,
                max_move: float = 0.6, margin: int = 8) -> torch.Tensor:
    """Each region's paint should not depend on where the other region ends.

    The pipeline paints the person and the background in one pass, with a per-pixel mix
    of two styles; conditional instance norm then takes its statistics over both regions,
    so when the person mask grows or shrinks (a head turns, the segmenter wavers) the
    paint of the whole frame shifts with it, and the video flickers where neither region
    changed. Each photo gets two styles on two regions of a random smooth mask, painted
    twice with the boundary moved (the mask's field cut at two levels); the outputs must
    agree away from the band where the mask changed (``margin`` px beyond it).
    ``max_move`` is in the field's standard deviations: at most about 10 px of boundary
    movement for a 256 px crop, whose blobs are some 50 px across.
    """
    if num_styles < 2:
        return content.new_zeros(())
    n, _, h, w = content.shape
    other = (style_index + torch.randint(1, num_styles, (n,), device=content.device)) % num_styles
    # A smooth random field, one blob per ~48 px cell, in standard deviations; a region is
    # where it lies above a level (within half a deviation of its mean, so both regions
    # are large), with a soft edge a few pixels wide, as the pipeline's masks have.
    field = F.interpolate(torch.randn(n, 1, max(2, h // 48), max(2, w // 48), device=content.device),
                          size=(h, w), mode="bicubic", align_corners=False)
    field = (field - field.mean((2, 3), keepdim=True)) / field.std((2, 3), keepdim=True).clamp(min=1e-6)
    level = (torch.rand(n, 1, 1, 1, device=content.device) * 2 - 1) * 0.5
    change = (torch.rand(n, 1, 1, 1, device=content.device) * 2 - 1) * max_move
    masks = torch.cat([torch.sigmoid((field - level) * 8), torch.sigmoid((field - level - change) * 8)])
    first = one_hot_weights(style_index.repeat(2), num_styles, 1, 1)
    second = one_hot_weights(other.repeat(2), num_styles, 1, 1)
    out = network(content.repeat(2, 1, 1, 1), masks * first + (1 - masks) * second)
    moved = F.max_pool2d(((masks[:n] - masks[n:]).abs() > 0.01).float(), 2 * margin + 1, 1, margin)
    steady = 1 - moved
    squared = ((out[:n] - out[n:]) ** 2).mean(1, keepdim=True)
    return (squared * steady).sum() / steady.sum().clamp(min=1)


def _random_similarity(n: int, h: int, w: int, max_shift: float, max_degrees: float,
                       max_zoom: float) -> torch.Tensor:
    """(N, 2, 3) affine_grid matrices of random rotations, zooms and shifts about the
    image centre, uniform in the given ranges, in pixels made isotropic for any aspect."""
    angle = torch.deg2rad((torch.rand(n) * 2 - 1) * max_degrees)
    zoom = 1 + (torch.rand(n) * 2 - 1) * max_zoom
    shift = (torch.rand(n, 2) * 2 - 1) * max_shift  # pixels (x, y)
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    # A rotation in pixels, written in affine_grid's [-1, 1] coordinates: S^-1 R S, S = diag(w/2, h/2).
    return torch.stack([torch.stack([cos, -sin * h / w, 2 * shift[:, 0] / w], 1),
                        torch.stack([sin * w / h, cos, 2 * shift[:, 1] / h], 1)], 1)
