"""The artworks of the shipped styles as package data (``live_nst/styles/artworks``): each
public-domain picture of the pack, its long side at most 512 px (the size training measures
style at), so ``live-nst stylize`` and ``train`` take a style name for an artwork.

Made from the data set's originals with ``python -m live_nst.export.shipped_artworks
../shared/data/styles`` (Pillow: the [train] extra)."""

from __future__ import annotations

import argparse
from pathlib import Path

from live_nst.artworks import artworks_dir
from live_nst.errors import InputError
from live_nst.export.artworks import unshippable

LONG_SIDE = 512
QUALITY = 88


def write_shipped_artworks(source_dir: Path, names: list[str], out_dir: Path | None = None) -> list[Path]:
    """Resize ``source_dir/<name>.jpg`` for each style name into ``out_dir`` (the package's folder)."""
    from PIL import Image

    refused = unshippable(names)
    if refused:
        raise InputError(f"these artworks may not ship with the package: {refused}")
    out_dir = out_dir or artworks_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        with Image.open(source_dir / f"{name}.jpg") as image:
            picture = image.convert("RGB")
        picture.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.LANCZOS)
        target = out_dir / f"{name}.jpg"
        picture.save(target, quality=QUALITY, optimize=True, progressive=True)
        written.append(target)
    return written


def main() -> None:
    from live_nst.catalog import StyleCatalog, packaged_styles_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source_dir", type=Path, help="folder of the original artworks (<style>.jpg)")
    args = parser.parse_args()
    names = list(StyleCatalog([packaged_styles_dir()]).names)
    for path in write_shipped_artworks(args.source_dir, names):
        print(f"{path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
