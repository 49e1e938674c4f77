"""Feed-forward style networks with per-pixel multi-style conditioning.

Both architectures take ``image`` (N, 3, H, W, RGB in [0, 1]) and ``style_weights``
(N, S, H, W, per-pixel weights over the S styles, summing to 1) and return the stylised
image in [0, 1]. Conditioning is conditional instance normalisation (Dumoulin et al.
2017): every normalisation has one scale and shift per style, and at each pixel the
scale and shift are the style-weighted mix. One pass therefore paints the person and the
background in different styles, and a style switch cross-fades by moving the weights.

- ``mobile``: the real-time CPU network. Everything runs at half resolution or less;
  depthwise-separable convs; zero padding; the last conv produces 2x2 pixel blocks that
  depth-to-space puts at full resolution. No full-resolution feature maps at all.
- ``johnson``: Johnson et al. (2016) widths (32/64/128, 5 residual blocks) with the same
  conditioning: the higher-quality network for GPUs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ArchConfig:
    name: str
    num_styles: int
    widths: tuple[int, int]  # channels at 1/2 and 1/4 resolution
    res_blocks: int

    def to_dict(self) -> dict:
        return asdict(self)


ARCHS = {
    "mobile": lambda s: ArchConfig("mobile", s, (16, 48), 4),
    "johnson": lambda s: ArchConfig("johnson", s, (64, 128), 5),
}


def build_network(arch: str, num_styles: int) -> "StyleNetwork":
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHS)}")
    return StyleNetwork(ARCHS[arch](num_styles))


def network_from_config(config: dict) -> "StyleNetwork":
    config = dict(config)
    config["widths"] = tuple(config["widths"])
    return StyleNetwork(ArchConfig(**config))


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose affine parameters are a per-pixel mix of per-style ones."""

    def __init__(self, channels: int, num_styles: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(num_styles, channels))
        self.shift = nn.Parameter(torch.zeros(num_styles, channels))

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        x = F.instance_norm(x, eps=1e-5)
        # A 1x1 conv of the weight map with the per-style parameters = the weighted mix.
        scale = F.conv2d(weights, self.scale.t()[:, :, None, None])
        shift = F.conv2d(weights, self.shift.t()[:, :, None, None])
        return x * scale + shift


def separable(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False),
        nn.Conv2d(c_in, c_out, 1),
    )


class ConvNormAct(nn.Module):
    def __init__(self, conv: nn.Module, channels: int, num_styles: int, act: bool = True) -> None:
        super().__init__()
        self.conv = conv
        self.norm = ConditionalInstanceNorm(channels, num_styles)
        self.act = act

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x), weights)
        return F.relu(x) if self.act else x


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, num_styles: int, make_conv) -> None:
        super().__init__()
        self.first = ConvNormAct(make_conv(channels, channels), channels, num_styles)
        self.second = ConvNormAct(make_conv(channels, channels), channels, num_styles, act=False)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return x + self.second(self.first(x, weights), weights)


class StyleNetwork(nn.Module):
    def __init__(self, config: ArchConfig) -> None:
        super().__init__()
        self.config = config
        s = config.num_styles
        half, quarter = config.widths
        mobile = config.name == "mobile"
        make = separable if mobile else (lambda a, b, stride=1: nn.Conv2d(a, b, 3, stride, 1))
        self.stem = ConvNormAct(nn.Conv2d(3, half, 3, 2, 1), half, s)  # -> 1/2
        self.down = ConvNormAct(make(half, quarter, 2), quarter, s)  # -> 1/4
        self.blocks = nn.ModuleList(ResidualBlock(quarter, s, make) for _ in range(config.res_blocks))
        self.up = ConvNormAct(make(quarter, half), half, s)  # at 1/2 after upsampling
        self.head = nn.Conv2d(half, 3 * 4, 3, 1, 1)  # 2x2 blocks of RGB -> full resolution

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        x = image * 2.0 - 1.0
        x = self.stem(x, _resize(style_weights, _half(h), _half(w)))
        half_hw = x.shape[-2:]
        w_quarter = _resize(style_weights, _half(half_hw[0]), _half(half_hw[1]))
        x = self.down(x, w_quarter)
        for block in self.blocks:
            x = block(x, w_quarter)
        x = F.interpolate(x, size=half_hw, mode="nearest")
        x = self.up(x, _resize(style_weights, half_hw[0], half_hw[1]))
        x = F.pixel_shuffle(self.head(x), 2)[..., :h, :w]
        return torch.sigmoid(x)


def _half(n):
    return (n + 1) // 2


def _resize(weights: torch.Tensor, h, w) -> torch.Tensor:
    return F.interpolate(weights, size=(h, w), mode="bilinear", align_corners=False)


def one_hot_weights(style_index: torch.Tensor, num_styles: int, h: int, w: int) -> torch.Tensor:
    """(N,) style indices -> (N, S, H, W) constant one-hot weight maps."""
    onehot = F.one_hot(style_index, num_styles).float()
    return onehot[:, :, None, None].expand(-1, -1, h, w).contiguous()
