"""The style models a pipeline has loaded, one per model file: loaded when a look first
needs one, and loaded again after the style folders are re-read when its file changed."""

from __future__ import annotations

from pathlib import Path

from live_nst.catalog import StyleCatalog
from live_nst.inference import StyleModel


class ModelCache:
    def __init__(self, device: str, threads: int = 0, spinning: bool = True) -> None:
        """``threads`` and ``spinning``: ONNX Runtime's, per style model (see StyleModel)."""
        self.device, self.threads, self.spinning = device, threads, spinning
        self.models: dict[Path, StyleModel] = {}
        self._stamps: dict[Path, tuple[int, int]] = {}  # each loaded model file's mtime and size

    def get(self, path: Path) -> StyleModel:
        """The model in ``path``, loaded now if it was not yet."""
        if path not in self.models:
            stat = path.stat() if path.exists() else None
            self.models[path] = StyleModel(path, self.device, self.threads, self.spinning)
            if stat is not None:  # what forget_changed compares, to reload a replaced file
                self._stamps[path] = (stat.st_mtime_ns, stat.st_size)
        return self.models[path]

    def forget_changed(self, catalog: StyleCatalog) -> None:
        """Drop the models whose files ``catalog`` (freshly read) saw replaced: the next get loads them again."""
        current = {Path(path): (mtime, size) for path, mtime, size in catalog.stamp}
        for path in [p for p in self.models if p in current and self._stamps.get(p) != current[p]]:
            del self.models[path]

    @property
    def providers(self) -> list[str]:
        """The ONNX Runtime execution providers the loaded models run on."""
        return sorted({model.provider for model in self.models.values()})
