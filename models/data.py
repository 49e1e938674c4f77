"""Images for training: content photos as random crops (from files, or held in memory),
style artworks as tensors."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from live_nst.errors import InputError, OutputError
from live_nst.outputs import PartialFile

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
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except Image.DecompressionBombError as exc:
        raise InputError(f"the image {path} is too large to read: {exc}; scale it down first") from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read image {path}: {exc}. Give a JPEG or PNG file.") from exc
    if long_side:
        scale = long_side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


def to_rgb8(tensor: torch.Tensor) -> np.ndarray:
    """A (1, 3, H, W) [0, 1] tensor as an (H, W, 3) uint8 RGB array (rounded)."""
    return (tensor.detach().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def save_image(tensor: torch.Tensor, path: str | Path) -> None:
    """Write through a partial file: an earlier file at ``path`` is replaced only by a whole one."""
    array = to_rgb8(tensor)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    partial = PartialFile(path)
    try:
        Image.fromarray(array).save(partial.path, format=Image.registered_extensions().get(Path(path).suffix.lower()))
    except OSError as exc:
        partial.discard()
        raise OutputError(f"could not write the image {path}: {exc.strerror or exc}. Free some space or choose "
                          f"another folder; nothing was written there") from exc
    partial.commit()


FaceBoxes = dict[str, list[tuple[int, int, int, int]]]  # image path -> face boxes (x, y, w, h) in pixels


def find_faces(paths: list[Path], cache_file: Path | None = None, root: Path | None = None) -> FaceBoxes:
    """Face boxes of every photo (MediaPipe's short-range detector), cached in ``cache_file``.

    The cache is keyed by each path relative to ``root`` (the content folder), so it stays
    valid when the folder moves, to another machine say.
    """
    import json

    def key(path: Path) -> str:
        return path.relative_to(root).as_posix() if root is not None else str(path)

    cached: FaceBoxes = {}
    if cache_file is not None and cache_file.is_file():
        cached = {k: [tuple(b) for b in v] for k, v in json.loads(cache_file.read_text()).items()}
    missing = [p for p in paths if key(p) not in cached]
    if missing:
        from tqdm import tqdm

        from live_nst.faces import FaceDetector

        with FaceDetector() as detector:
            for path in tqdm(missing, desc="faces", dynamic_ncols=True):
                image = np.asarray(Image.open(path).convert("RGB"))
                cached[key(path)] = [face.box_xywh for face in detector.detect(image)]
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(json.dumps(cached))
    return {str(p): cached[key(p)] for p in paths}


@dataclass(frozen=True)
class CropBox:
    """Where one random square crop comes from: the photo scaled to ``scaled_wh``, the
    crop's top-left corner in it, and whether it is mirrored."""

    scaled_wh: tuple[int, int]
    left: int
    top: int
    flip: bool


def random_crop_box(width: int, height: int, size: int, zoom: tuple[float, float]) -> CropBox:
    """A random ``size`` square crop of a ``width`` x ``height`` photo: the photo scaled so
    its short side is ``size`` times a zoom drawn from ``zoom`` (never below ``size``),
    the crop placed anywhere in it, mirrored half the time."""
    scale = size / min(width, height) * random.uniform(*zoom)
    scaled = (max(size, round(width * scale)), max(size, round(height * scale)))
    left = random.randint(0, scaled[0] - size)
    top = random.randint(0, scaled[1] - size)
    return CropBox(scaled, left, top, random.random() < 0.5)


def random_crops(photos: list[torch.Tensor], size: int, batch: int, zoom: tuple[float, float] = (1.0, 2.0)
                 ) -> torch.Tensor:
    """``batch`` random crops (``random_crop_box``) of photos held in memory, each (1, 3, H, W)
    in [0, 1]: (batch, 3, size, size)."""
    crops = []
    for _ in range(batch):
        photo = random.choice(photos)
        box = random_crop_box(photo.shape[-1], photo.shape[-2], size, zoom)
        image = F.interpolate(photo, size=box.scaled_wh[::-1], mode="bilinear", align_corners=False, antialias=True)
        crop = image[..., box.top:box.top + size, box.left:box.left + size]
        crops.append(crop.flip(-1) if box.flip else crop)
    return torch.cat(crops).clamp(0, 1)


class RandomCrops(torch.utils.data.Dataset):
    """Square random crops (``random_crop_box``, zoom 1 to 1.3) of the content photos read
    from their files, each with its face mask: (4, size, size), RGB in [0, 1] then 1
    inside a face box."""

    def __init__(self, paths: list[Path], size: int, faces: FaceBoxes | None = None) -> None:
        self.paths = paths
        self.size = size
        self.faces = faces or {}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = Image.open(self.paths[index]).convert("RGB")
        mask = Image.new("L", image.size, 0)
        for x, y, w, h in self.faces.get(str(self.paths[index]), ()):
            mask.paste(255, (x, y, x + w, y + h))
        box = random_crop_box(image.width, image.height, self.size, (1.0, 1.3))
        left, top = box.left, box.top
        layers = []
        for layer in (image, mask):
            layer = layer.resize(box.scaled_wh, Image.Resampling.BILINEAR).crop(
                (left, top, left + self.size, top + self.size))
            if box.flip:
                layer = layer.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            layers.append(np.atleast_3d(np.asarray(layer)))
        stacked = np.concatenate(layers, axis=2).astype(np.float32) / 255.0
        return torch.from_numpy(stacked).permute(2, 0, 1).contiguous()
