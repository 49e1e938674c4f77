"""The gallery's thumbnails: each style painted once by its own network on the sample
portrait, kept in memory and in the user cache.

A cached file is named by the model file's content (sha256) and the style's place in it,
so a replaced model gets new thumbnails and a renamed one keeps its old ones. Painting
happens on the server's request threads, one at a time, at the lowest priority: the
stream's threads keep the cores.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import cv2
import numpy as np

from live_nst.assets import cache_dir, sha256_of
from live_nst.compose import BLUR, blurred
from live_nst.inference import StyleModel
from live_nst.overlap import FRONT_NICENESS, lower_this_threads_priority
from live_nst.pipeline import WEIGHTS_DOWNSCALE
from live_nst.remote.state import StyleView
from live_nst.sources import SampleSource

log = logging.getLogger(__name__)

THUMB_WH = (160, 90)
PAINT_WH = (384, 216)  # painted larger, then shrunk: the strokes stay at the scale a frame shows
JPEG_QUALITY = 82
RENDERING = 1  # part of each cached file's name: raise it when the picture changes


def thumbs_dir() -> Path:
    return cache_dir() / "thumbs"


class Thumbnails:
    """JPEG bytes of a style's thumbnail, painted on first request."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or thumbs_dir()
        self._memory: dict[tuple[str, int], bytes] = {}  # (cache key or look name, index) -> JPEG
        self._hashes: dict[tuple[Path, int, int], str] = {}  # (file, mtime, size) -> sha256
        self._models: dict[str, StyleModel] = {}  # by content hash
        self._portrait: np.ndarray | None = None
        self._lock = threading.Lock()  # one painting at a time

    def get(self, style: StyleView) -> bytes:
        """The thumbnail of ``style``; ModelError (or OSError) when its model cannot paint it."""
        with self._lock:
            key = self._key(style)
            found = self._memory.get(key)
            if found is None:
                found = self._memory[key] = self._load_or_paint(style, key)
            return found

    def _key(self, style: StyleView) -> tuple[str, int]:
        if style.path is None:
            return style.name, 0
        stat = style.path.stat()
        stamp = (style.path, stat.st_mtime_ns, stat.st_size)
        if stamp not in self._hashes:
            self._hashes[stamp] = sha256_of(style.path)
        return self._hashes[stamp], style.index

    def _load_or_paint(self, style: StyleView, key: tuple[str, int]) -> bytes:
        if style.path is None:  # 'original' and 'blur': quick, never cached on disk
            return _jpeg(self._painted_look(style.name))
        path = self.folder / f"{key[0][:24]}-{key[1]}-r{RENDERING}.jpg"
        try:
            data = path.read_bytes()
            if cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None:
                return data
            log.debug("cached thumbnail %s is unreadable; painting it again", path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.debug("cannot read the cached thumbnail %s: %s", path, exc)
        lower_this_threads_priority(FRONT_NICENESS)
        data = _jpeg(self._painted_style(style, key[0]))
        _save(path, data)
        return data

    def _sample(self) -> np.ndarray:
        if self._portrait is None:
            source = SampleSource(PAINT_WH, paced=False)
            self._portrait = source.frame_at(0)
            source.close()
        return self._portrait

    def _painted_look(self, look: str) -> np.ndarray:
        return blurred(self._sample()) if look == BLUR else self._sample()

    def _painted_style(self, style: StyleView, content: str) -> np.ndarray:
        assert style.path is not None
        model = self._models.get(content)
        if model is None:
            # CPU, one thread, no spinning: the thumbnails wait; the stream does not.
            model = self._models[content] = StyleModel(style.path, "cpu", threads=1, spinning=False)
        image = self._sample()
        h, w = image.shape[0] // WEIGHTS_DOWNSCALE, image.shape[1] // WEIGHTS_DOWNSCALE
        weights = np.zeros((model.num_styles, h, w), np.float32)
        weights[style.index] = 1.0
        return model.run(image, weights)


def _jpeg(rgb: np.ndarray) -> bytes:
    small = cv2.resize(rgb, THUMB_WH, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("OpenCV could not encode a thumbnail as JPEG")
    return encoded.tobytes()


def _save(path: Path, data: bytes) -> None:
    """Best effort (a read-only cache only costs painting again next run); written whole."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError as exc:
        log.debug("cannot cache the thumbnail %s: %s", path, exc)
