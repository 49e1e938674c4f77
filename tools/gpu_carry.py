"""Pack what a training run needs for a GPU machine that has no network and no data.

Not part of the installed package: run it from a checkout where live-nst is installed
with the [train] extra (MediaPipe finds the face boxes here, not there):

    python tools/gpu_carry.py --data DATA --styles starry_night.jpg great_wave.jpg

``DATA`` (default ``$LIVE_NST_SHARED_DATA``, else ``../shared/data``) holds ``content/``
(training photos; folders named ``people_*`` are taken first), ``styles/`` (the artworks)
and ``portraits/images/`` (portraits; the odd ones are held out for fidelity). It writes
one folder that travels light (about 60 MiB with the defaults; default ``.carry``):

- ``cache/vgg19_gatys_folded.pth``: the loss network's convs up to relu5_1 in fp16
  (about 26 MB; ``VGGFeatures`` loads a truncated state), found there via ``LIVE_NST_CACHE``;
- ``content/``: a spread of the training photos, people first, re-encoded smaller;
- ``faces.json``: their face boxes (MediaPipe runs here, not there), keyed relative to
  ``content/`` as ``live-nst train`` expects;
- ``styles/``: the artworks, unchanged (the checkpoint records their sha256);
- ``portraits/``: held-out portraits for the fidelity measure (odd sorted indices, the
  bench's held-out split).

Copy it beside a checkout on the GPU machine; ``tools/gpu_train.sh`` is the command that
uses it there (or ``live-nst train --content-dir .carry/content --device cuda ...`` with
``LIVE_NST_CACHE=.carry/cache``).
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import torch
from PIL import Image

from live_nst.models.data import find_faces, list_images
from live_nst.models.vgg import LAYER_INDEX, resolve_vgg_state

PEOPLE_FIRST = ("people_",)


def write_vgg(out: Path, deepest: str = "relu5_1") -> Path:
    last = LAYER_INDEX[deepest]
    state = {k: v.half() for k, v in resolve_vgg_state().items() if int(k.split(".")[0]) <= last}
    path = out / "cache" / "vgg19_gatys_folded.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def pick_content(content_dir: Path, count: int) -> list[Path]:
    """Every photo of people, then an even spread of the others up to ``count``."""
    paths = list_images(content_dir)
    people = [p for p in paths if p.relative_to(content_dir).parts[0].startswith(PEOPLE_FIRST)]
    others = [p for p in paths if p not in set(people)]
    room = max(0, count - len(people))
    stride = max(1, len(others) // room) if room else len(others) + 1
    return people + others[::stride][:room]


def write_content(paths: list[Path], content_dir: Path, out: Path, quality: int) -> None:
    for path in paths:
        target = out / "content" / path.relative_to(content_dir).with_suffix(".jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.open(path).convert("RGB").save(target, quality=quality)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("LIVE_NST_SHARED_DATA", "../shared/data")))
    parser.add_argument("--out", type=Path, default=Path(".carry"))
    parser.add_argument("--photos", type=int, default=900)
    parser.add_argument("--quality", type=int, default=85)
    parser.add_argument("--styles", nargs="+", required=True, help="artwork file names under DATA/styles")
    parser.add_argument("--portraits", type=int, default=12, help="held-out portraits for the fidelity measure")
    args = parser.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    write_vgg(args.out)
    content_dir = args.data / "content"
    write_content(pick_content(content_dir, args.photos), content_dir, args.out, args.quality)
    carried = args.out / "content"
    find_faces(list_images(carried), args.out / "faces.json", root=carried)
    (args.out / "styles").mkdir()
    for name in args.styles:
        shutil.copy2(args.data / "styles" / name, args.out / "styles" / name)
    portraits = sorted((args.data / "portraits" / "images").glob("*.jpg"))[1::2][:args.portraits]
    (args.out / "portraits").mkdir()
    for path in portraits:
        shutil.copy2(path, args.out / "portraits" / path.name)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out}: {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
