"""Losses for style transfer, all computed on VGG-19 activations of RGB [0, 1] images.

Gram normalisation: for an activation F of shape (C, H, W), G = F F^T / (H W), so a
Gram entry is the mean over positions of a channel product and does not depend on the
image size. The style loss of one layer is the mean squared difference of Gram entries
(mean over C x C), summed over the style layers. The content loss is the mean squared
difference of activations. With the Gatys-normalised VGG-19 (activations about 1 per
channel) these defaults balance content and style at a recognisably stylised result:
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"  # the layer quality is reported on (DESIGN.md §7)
# Training adds relu2_2 so faces keep their structure, not only their layout.
TRAIN_CONTENT_LAYERS = ("relu2_2", "relu4_2")


@dataclass(frozen=True)
class LossWeights:
    """Default weights for the normalisation documented above."""

    content: float = 1.0
    style: float = 2.5
    tv: float = 1.0
    temporal: float = 20.0


def gram(features: torch.Tensor) -> torch.Tensor:
    """Batched Gram matrices, (N, C, H, W) -> (N, C, C), normalised by H*W."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def style_loss(features: dict[str, torch.Tensor], target_grams: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean squared Gram difference. Targets broadcast over N."""
    total = features[next(iter(target_grams))].new_zeros(())
    for name, target in target_grams.items():
        total = total + F.mse_loss(gram(features[name]), target.expand(features[name].shape[0], -1, -1))
    return total


def content_loss(features: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                 layer: str = CONTENT_LAYER) -> torch.Tensor:
    return F.mse_loss(features[layer], target[layer])


def weighted_content_loss(features: torch.Tensor, target: torch.Tensor, weight_map: torch.Tensor) -> torch.Tensor:
    """Mean squared difference weighted per pixel; ``weight_map`` (N, 1, H, W) at image
    resolution is area-averaged to the features' size. A map of ones gives the MSE."""
    weights = F.adaptive_avg_pool2d(weight_map, (features.shape[-2], features.shape[-1]))
    return (weights * (features - target) ** 2).mean()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels (anisotropic TV)."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    return dx + dy


def temporal_loss(network, content: torch.Tensor, styled: torch.Tensor, style_weights: torch.Tensor,
                  max_shift: int = 4, noise: float = 0.02) -> torch.Tensor:
    """Stability under the small changes between video frames.

    The input is shifted by a random few pixels and lightly noised; the output should be
    the same shift of the original output (compared where both are defined). This teaches
    the network to respond to content, not to pixel-grid position or sensor noise.
    """
    if max_shift < 1:
        raise ValueError(f"max_shift must be at least 1 pixel, got {max_shift}")
    dy, dx = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,)))
    moved = torch.roll(content, shifts=(dy, dx), dims=(2, 3))
    moved = (moved + noise * torch.randn_like(moved)).clamp(0, 1)
    moved_out = network(moved, torch.roll(style_weights, shifts=(dy, dx), dims=(2, 3)))
    expected = torch.roll(styled, shifts=(dy, dx), dims=(2, 3))
    m = max_shift
    return F.mse_loss(moved_out[..., m:-m, m:-m], expected[..., m:-m, m:-m])
