"""Snapshots of the picture on show (the snapshot key, the control page's button): PNG
files in a folder, each under a name of its own."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

log = logging.getLogger(__name__)


class Snapshots:
    """Saves RGB frames as ``live-nst-YYYYmmdd-HHMMSS.png`` (``-2``, ``-3``... within one second) in ``folder``."""

    def __init__(self, folder: Path = Path(".")) -> None:
        self.folder = folder

    def save(self, image: np.ndarray | None) -> Path | None:
        """The file written, or None (nothing on show yet, or the folder would not take it: logged)."""
        if image is None:
            return None
        ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        path = None
        try:
            path, handle = new_file(self.folder, time.strftime("live-nst-%Y%m%d-%H%M%S"), ".png")
            with handle:
                handle.write(png.tobytes())
        except OSError as exc:
            if path is not None:
                path.unlink(missing_ok=True)
            log.error("could not write the snapshot in %s: %s (folder missing or disk full?)", self.folder,
                      exc.strerror or exc)
            return None
        log.info("snapshot saved to %s", path)
        return path


def new_file(folder: Path, stem: str, suffix: str) -> tuple[Path, BinaryIO]:
    """A file made here and now (never one that exists): ``stem``, else ``stem-2``, ``-3``...
    (snapshots taken within one second get names of their own)."""
    for number in range(1, 1000):
        path = folder / f"{stem}{'' if number == 1 else f'-{number}'}{suffix}"
        try:
            return path, open(path, "xb")  # noqa: SIM115 - the caller closes it
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder / stem}-*{suffix} all exist")
