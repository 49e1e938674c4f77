"""Feed-forward style networks with per-pixel multi-style conditioning.

All three architectures take ``image`` (N, 3, H, W, RGB in [0, 1]) and ``style_weights``
(N, S, H, W, per-pixel weights over the S styles, summing to 1) and return the stylised
image in [0, 1]. Conditioning is conditional instance normalisation (Dumoulin et al.
2017): every normalisation has one scale and shift per style, and at each pixel the
scale and shift are the style-weighted mix. One pass therefore paints the person and the
background in different styles, and a style switch cross-fades by moving the weights.

- ``mobile``: the real-time CPU network. Everything runs at half resolution or less;
  depthwise-separable convs; zero padding; the last conv produces 2x2 pixel blocks that
  depth-to-space puts at full resolution. No full-resolution feature maps at all.
- ``painter``: the default real-time network (the 2026-12 pack). Three strided levels
  (1/2, 1/4, 1/8) so that the residual blocks at 1/8 see brush strokes at the scale of a
  640x360 frame; bilinear upsampling instead of a learned pixel shuffle (no periodic
  hatching; the inner two are smoothed by a fixed blur, see ``_BlurredSeparable``; the
  last one is computed as fixed phase kernels and depth-to-space, the same function, see
  ``_upsampled_head``); the input is reflection-padded once and the pad
  cropped at the end (no border line); the last conv sees the full-resolution photo
  beside the decoded features (eyes and mouths stay sharp enough to read).
- ``johnson``: Johnson et al. (2016) widths (32/64/128, 5 residual blocks) with the same
  conditioning: the higher-quality network for GPUs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ArchConfig:
    name: str
    num_styles: int
    widths: tuple[int, ...]  # channels at 1/2, 1/4 (and 1/8 for painter) resolution
    res_blocks: int
    pad: int = 0  # reflection padding around the input, cropped from the output
    smooth_upsample: bool = False  # painter: blur after each bilinear upsample (see _BlurredSeparable)

    def to_dict(self) -> dict:
        return asdict(self)


ARCHS = {
    "mobile": lambda s: ArchConfig("mobile", s, (16, 48), 4),
    "johnson": lambda s: ArchConfig("johnson", s, (64, 128), 5),
    "painter": lambda s: ArchConfig("painter", s, (16, 32, 64), 5, pad=8, smooth_upsample=True),
}
DEFAULT_ARCH = "painter"


def build_network(arch: str, num_styles: int, res_blocks: int | None = None) -> nn.Module:
    """A new network; ``res_blocks`` overrides the architecture's number of residual blocks."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHS)}")
    config = ARCHS[arch](num_styles)
    return _network(config if res_blocks is None else replace(config, res_blocks=res_blocks))


def network_from_config(config: dict) -> nn.Module:
    config = dict(config)
    config["widths"] = tuple(config["widths"])
    return _network(ArchConfig(**config))


def _network(config: ArchConfig) -> nn.Module:
    return PainterNetwork(config) if config.name == "painter" else StyleNetwork(config)


def with_res_blocks(network: nn.Module, res_blocks: int) -> nn.Module:
    """The trained ``network`` grown to ``res_blocks`` residual blocks: its own weights,
    then new blocks that start as the identity (their last norm's scale and shift are
    zero), so it paints exactly as before until training moves them. Capacity is added
    to a trained network instead of training a bigger one from the start."""
    config = cast(ArchConfig, network.config)
    if res_blocks < config.res_blocks:
        raise ValueError(f"a network cannot lose residual blocks ({config.res_blocks} -> {res_blocks})")
    grown = _network(replace(config, res_blocks=res_blocks))
    grown.load_state_dict(network.state_dict(), strict=False)
    with torch.no_grad():
        for block in list(cast(nn.ModuleList, grown.blocks))[config.res_blocks:]:
            norm = cast(ResidualBlock, block).second.norm
            norm.scale.zero_()
            norm.shift.zero_()
    return grown


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose affine parameters are a per-pixel mix of per-style ones."""

    def __init__(self, channels: int, num_styles: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(num_styles, channels))
        self.shift = nn.Parameter(torch.zeros(num_styles, channels))

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        x = F.instance_norm(x, eps=1e-5)
        return x * _mix(self.scale, weights) + _mix(self.shift, weights)


def _mix(per_style: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(S, C) parameters mixed by (N, S, H, W) weights -> (N, C, H, W). A matrix product,
    not the equal 1x1 conv: ONNX Runtime would run that conv in its blocked layout and
    then spend as long again copying the maps back (two maps for each of 26 norms)."""
    n, s, h, w = weights.shape
    return torch.matmul(per_style.t(), weights.reshape(n, s, h * w)).reshape(n, -1, h, w)


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


class PainterNetwork(nn.Module):
    """Encoder to 1/8 resolution, residual blocks there, bilinear decoder (see the module doc).

    Every resolution change is an average pool or a bilinear resize, never a strided
    conv or a pixel shuffle: their uneven coverage is what paints a regular hatching.
    No border line creeps in from the frame's edge: the deep convs (1/4 and 1/8) pad by
    reflection, and the input's reflection pad covers the shallow ones, where reflection
    padding would cost the most time.
    """

    def __init__(self, config: ArchConfig) -> None:
        super().__init__()
        if len(config.widths) != 3 or config.pad % 2:
            raise ValueError(f"painter needs three widths and an even pad, got {config}")
        self.config = config
        s = config.num_styles
        half, quarter, eighth = config.widths
        self.stem = ConvNormAct(_pooled(nn.Conv2d(3, half, 3, 1, 1), to_signed=True), half, s)
        self.down1 = ConvNormAct(_pooled(_reflect_separable(half, quarter)), quarter, s)
        self.down2 = ConvNormAct(_pooled(_reflect_separable(quarter, eighth)), eighth, s)
        self.blocks = nn.ModuleList(ResidualBlock(eighth, s, _reflect_separable) for _ in range(config.res_blocks))
        up1, up2 = _reflect_separable(eighth, quarter), separable(quarter, half)
        if config.smooth_upsample:
            up1, up2 = _BlurredSeparable(*up1), _BlurredSeparable(*up2)
        self.up1 = ConvNormAct(up1, quarter, s)
        self.up2 = ConvNormAct(up2, half, s)
        self.head = nn.Conv2d(half + 3, 3, 3, 1, 1)

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        p = self.config.pad
        padded = F.pad(image, (p, p, p, p), mode="reflect") if p else image
        full = padded.shape[-2:]
        half = (_half(full[0]), _half(full[1]))
        quarter = (_half(half[0]), _half(half[1]))
        eighth = (_half(quarter[0]), _half(quarter[1]))
        # The weights cover the unpadded image: bring them to its half size, then pad alike
        # (the pad is even, so that is the padded image's half size).
        w_half = _resize(style_weights, _half(h), _half(w))
        if p:
            w_half = F.pad(w_half, (p // 2,) * 4, mode="replicate")
        w_quarter = _resize(w_half, *quarter)
        w_eighth = _resize(w_half, *eighth)
        x = self.stem(padded, w_half)
        x = self.down1(x, w_quarter)
        x = self.down2(x, w_eighth)
        for block in self.blocks:
            x = block(x, w_eighth)
        x = self.up1(_resize(x, *quarter), w_quarter)
        x = self.up2(_resize(x, *half), w_half)
        return torch.sigmoid(_upsampled_head(self.head, x, padded, p))


# Bilinear 2x upsampling (align_corners=False) followed by a 3-tap filter is, for the
# even and for the odd output samples, a 3-tap filter on the samples before upsampling:
# row j of _PHASES[phase] gives the taps on x[k-1], x[k], x[k+1] of the filter's tap j.
_PHASES = torch.tensor([[[0.75, 0.25, 0.0], [0.25, 0.75, 0.0], [0.0, 0.75, 0.25]],
                        [[0.25, 0.75, 0.0], [0.0, 0.75, 0.25], [0.0, 0.25, 0.75]]])


def _upsampled_head(head: nn.Conv2d, features: torch.Tensor, photo: torch.Tensor, crop: int) -> torch.Tensor:
    """``head(cat(upsampled features, photo))`` with ``crop`` pixels cut from every side,
    computed at half resolution: the output's four phases (even or odd row, even or odd
    column) are convs there, which depth-to-space interleaves once at the end. The
    features' part is four 3x3 phase kernels (bilinear upsampling folded in); the photo's
    part is the head's own 3x3 kernel at stride 2, shifted by the phase. Where the photo's
    size is even, that is a bilinear resize to it up to float rounding, except in the
    outermost two pixels, which the crop removes; where it is odd, the features are
    upsampled 2x and the last row or column is dropped. At 1280x720 the full-resolution
    feature map and its conv were a fifth of the network's time; at 640x360 the photo's
    full-resolution conv and the sum were a tenth."""
    channels = features.shape[1]
    on_features, on_photo = head.weight[:, :channels], head.weight[:, channels:]
    phases = _PHASES.to(head.weight)
    # kernels[o, a, b, c, u, v]: output channel o, phase (a, b), feature channel c, tap (u, v)
    kernels = torch.einsum("aiu,ocij,bjv->oabcuv", phases, on_features, phases)
    kernels = kernels.reshape(-1, channels, 3, 3)  # channel o * 4 + a * 2 + b: pixel_shuffle's order
    phased = F.conv2d(features, kernels, cast(torch.Tensor, head.bias).repeat_interleave(4), padding=1)
    # Phase (a, b) of a 3x3 conv (padding 1) is a stride-2 conv whose 4x4 kernel holds the
    # 3x3 one at offset (a, b); padding the far sides by 2 gives ceil(size / 2) phases.
    photo_kernels = torch.stack([F.pad(on_photo, (b, 1 - b, a, 1 - a)) for a in (0, 1) for b in (0, 1)], dim=1)
    photo_kernels = photo_kernels.reshape(-1, on_photo.shape[1], 4, 4)
    phased = phased + F.conv2d(F.pad(photo, (1, 2, 1, 2)), photo_kernels, stride=2)
    height, width = photo.shape[-2] - 2 * crop, photo.shape[-1] - 2 * crop
    return _depth_to_space(phased)[..., crop:crop + height, crop:crop + width]


def _depth_to_space(x: torch.Tensor) -> torch.Tensor:
    """``pixel_shuffle(x, 2)`` as a stride-2 transposed conv with one-hot kernels, the same
    numbers: ONNX Runtime runs that 5x faster than its DepthToSpace."""
    channels = x.shape[1] // 4
    one_hot = torch.eye(4, dtype=x.dtype, device=x.device).reshape(4, 1, 2, 2).repeat(channels, 1, 1, 1)
    return F.conv_transpose2d(x, one_hot, stride=2, groups=channels)


class _BlurredSeparable(nn.Sequential):
    """A separable conv whose input is first blurred by the binomial [1, 2, 1] / 4 in both
    directions. After a bilinear 2x upsample, that makes the upsampling a smooth spline:
    bilinear alone leaves a kink at every coarse sample, and the learned convs after it
    turned those kinks into a lattice of lines every 4 and 8 pixels that stays on the
    screen while the picture moves. The blur is folded into the depthwise kernel (3x3 ->
    5x5), so it is one conv, and the parameters are the plain separable conv's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        depthwise, pointwise = cast(nn.Conv2d, self[0]), self[1]
        blur = (_BINOMIAL[:, None] * _BINOMIAL[None, :]).to(depthwise.weight)
        kernel = F.conv2d(F.pad(depthwise.weight, (2, 2, 2, 2)), blur[None, None])  # full 2-D convolution
        if depthwise.padding_mode == "reflect":
            x = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel, groups=depthwise.groups)
        else:
            x = F.conv2d(x, kernel, padding=2, groups=depthwise.groups)
        return pointwise(x)


_BINOMIAL = torch.tensor([0.25, 0.5, 0.25])


def _pooled(conv: nn.Module, to_signed: bool = False) -> nn.Sequential:
    """Halve the resolution, then convolve: the even-coverage way down."""
    return nn.Sequential(_Halve(to_signed), conv)


class _Halve(nn.Module):
    """The 2x2 average (ceil mode: an odd last row or column averages what it has),
    computed as a depthwise 2x2 stride-2 conv after replicating the last row and column
    (unused where the size is even): ONNX Runtime runs that 3-4x faster than its
    AveragePool. ``to_signed`` maps [0, 1] to [-1, 1] after the average, on a quarter of
    the values."""

    def __init__(self, to_signed: bool = False) -> None:
        super().__init__()
        self.to_signed = to_signed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (0, 1, 0, 1), mode="replicate")
        box = torch.full((channels, 1, 2, 2), 0.25, dtype=x.dtype, device=x.device)
        x = F.conv2d(x, box, stride=2, groups=channels)
        return x * 2.0 - 1.0 if self.to_signed else x


def _reflect_separable(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, 1, 1, groups=c_in, bias=False, padding_mode="reflect"),
        nn.Conv2d(c_in, c_out, 1),
    )


def _half(n):
    return (n + 1) // 2


def _resize(weights: torch.Tensor, h, w) -> torch.Tensor:
    return F.interpolate(weights, size=(h, w), mode="bilinear", align_corners=False)


def one_hot_weights(style_index: torch.Tensor, num_styles: int, h: int, w: int) -> torch.Tensor:
    """(N,) style indices -> (N, S, H, W) constant one-hot weight maps."""
    onehot = F.one_hot(style_index, num_styles).float()
    return onehot[:, :, None, None].expand(-1, -1, h, w).contiguous()
