"""The public-domain artworks of the shipped styles, as small pictures in the package
(``live_nst/styles/artworks/<style>.jpg``, long side 512 px), so ``live-nst stylize``
and ``live-nst train`` take a style's name wherever they take an artwork's path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from live_nst.errors import InputError
from live_nst.outputs import expand_user

ARTWORK_SUFFIX = ".jpg"


def artworks_dir() -> Path:
    return Path(str(resources.files("live_nst.styles"))) / "artworks"


def shipped_artworks() -> dict[str, Path]:
    """Style name -> its artwork's picture in the package."""
    folder = artworks_dir()
    return {path.stem: path for path in sorted(folder.glob(f"*{ARTWORK_SUFFIX}"))} if folder.is_dir() else {}


def resolve_artwork(spec: str) -> Path:
    """An image path as given, or the shipped artwork a style name (``starry_night``, or
    ``starry_night.jpg`` where no such file is here) stands for."""
    path = expand_user(spec)
    if path.is_file():
        return path
    shipped = shipped_artworks()
    name = path.name.removesuffix(ARTWORK_SUFFIX) if path.parent == Path(".") else None
    if name in shipped:
        return shipped[name]
    raise InputError(f"the artwork {spec!r} is neither an image file nor the name of a shipped style's artwork; "
                     f"give a JPEG or PNG path, or one of: {', '.join(shipped) or '(none installed)'}")
