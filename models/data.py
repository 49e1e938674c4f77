"""Images for training: content photos as random crops, style artworks as tensors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from live_nst.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def list_images(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"content folder {directory} does not exist")
    paths = sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {directory}")
    return paths


def load_image(path: str | Path, long_side: int | None = None) -> torch.Tensor:
    """An image file as a (1, 3, H, W) float tensor in [0, 1], optionally resized."""
    try:
        image = Image.open(path).convert("RGB")
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read image {path}: {exc}. Give a JPEG or PNG file.") from exc
    if long_side:
        scale = long_side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.LANCZOS)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


def save_image(tensor: torch.Tensor, path: str | Path) -> None:
    array = (tensor.detach().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


class RandomCrops(torch.utils.data.Dataset):
    """Square random crops (with horizontal flips) of the content photos."""

    def __init__(self, paths: list[Path], size: int) -> None:
        self.paths = paths
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = Image.open(self.paths[index]).convert("RGB")
        scale = self.size / min(image.size) * random.uniform(1.0, 1.3)
        image = image.resize((max(self.size, round(image.width * scale)),
                              max(self.size, round(image.height * scale))), Image.BILINEAR)
        left = random.randint(0, image.width - self.size)
        top = random.randint(0, image.height - self.size)
        image = image.crop((left, top, left + self.size, top + self.size))
        if random.random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()
