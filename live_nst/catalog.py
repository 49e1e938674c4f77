"""The installed styles: the pack shipped in the package plus user .onnx files.

A style is addressed by name. Several styles may live in one model file (the shipped
pack is one multi-style network); the pipeline paints all styles of one file in a
single pass.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from live_nst.compose import BUILT_IN_LOOKS
from live_nst.contract import KEY_EXTENDS, StyleInfo, read_json, read_styles
from live_nst.errors import ConfigError, ModelError
from live_nst.outputs import expand_user

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StyleEntry:
    info: StyleInfo
    path: Path  # the model file holding this style
    index: int  # the style's position among the file's style weights
    # Other files that hold the same style (a user style made by add-style carries the
    # whole pack), as (file, index): where it can share a pass with that file's styles.
    also: tuple[tuple[Path, int], ...] = ()

    @property
    def name(self) -> str:
        return self.info.name

    def places(self) -> list[tuple[Path, int]]:
        return [(self.path, self.index), *self.also]


def user_config_dir() -> Path:
    """live-nst's folder among the user's settings (%APPDATA%, or XDG_CONFIG_HOME, ~/.config)."""
    if os.name == "nt":
        return Path(os.environ.get("APPDATA", Path.home())) / "live-nst"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "live-nst"


def user_styles_dir() -> Path:
    """Where users drop extra .onnx styles (``LIVE_NST_STYLES`` overrides)."""
    env = os.environ.get("LIVE_NST_STYLES")
    if env:
        return expand_user(env)
    return user_config_dir() / "styles"


def packaged_styles_dir() -> Path:
    return Path(str(resources.files("live_nst.styles")))


FileStamp = tuple[tuple[str, int, int], ...]


def folder_stamp(folders: list[Path]) -> FileStamp:
    """Name, mtime and size of every style file: what changes when one is added, replaced
    or removed. (Writers replace files atomically, so a half-written one is never seen.)"""
    stamps = []
    for folder in folders:
        for path in sorted(folder.glob("*.onnx")) if folder.is_dir() else []:
            try:
                stat = path.stat()
            except OSError:  # removed between the listing and the stat
                continue
            stamps.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


class StyleCatalog:
    """Name -> StyleEntry over the packaged models and a user folder."""

    def __init__(self, folders: list[Path], told: dict[Path, str] | None = None) -> None:
        """``told``: problems already warned about (a reload's earlier catalog's), not repeated."""
        self.folders = list(folders)
        self.entries: dict[str, StyleEntry] = {}
        self.problems: dict[Path, str] = {}
        self._told = told or {}
        self.stamp = folder_stamp(self.folders)
        for folder in folders:
            for path in sorted(folder.glob("*.onnx")) if folder.is_dir() else []:
                self._add_file(path)

    def reloaded(self) -> StyleCatalog | None:
        """A fresh catalog of the same folders if a style file was added, changed or
        removed since this one was read; else None."""
        return StyleCatalog(self.folders, self.problems) if folder_stamp(self.folders) != self.stamp else None

    @classmethod
    def default(cls, extra_dir: str | Path | None = None) -> StyleCatalog:
        """The packaged styles, the user styles folder, and ``extra_dir`` (--styles-dir) besides."""
        folders = [packaged_styles_dir(), user_styles_dir()]
        if extra_dir:
            extra = expand_user(extra_dir)
            if not extra.is_dir():
                log.warning("the styles folder %s does not exist (or is not a folder): no styles from it; check "
                            "--styles-dir (or styles_dir in the config file)", extra)
            folders.append(extra)
        return cls(folders)

    def _add_file(self, path: Path) -> None:
        try:
            infos = read_styles(path)
            carried = set(read_json(path, KEY_EXTENDS).get("styles", ()))
        except (ModelError, AttributeError, TypeError) as exc:
            # A broken user file must not take the other styles down with it.
            if self._told.get(path) != str(exc):
                log.warning("skipped style file %s: %s", path, exc)
            self.problems[path] = str(exc)
            return
        for index, info in enumerate(infos):
            name = info.name
            if name in carried and name in self.entries:
                # The pack's own style, carried by an add-style file: not a new style, but
                # a second place where it can share a pass with the file's new styles.
                entry = self.entries[name]
                self.entries[name] = dataclasses.replace(entry, also=(*entry.also, (path, index)))
                continue
            if name in self.entries or name in BUILT_IN_LOOKS:
                # Both stay usable: the later file's style is addressed as name@file.
                name = f"{info.name}@{path.stem}"
                log.info("style %r in %s is also in %s; it is listed as %r", info.name, path,
                         self.entries[info.name].path if info.name in self.entries else "the built-in looks", name)
            self.entries[name] = StyleEntry(dataclasses.replace(info, name=name), path, index)

    def locate(self, looks: list[str]) -> dict[Path, list[tuple[str, int]]]:
        """Model file -> [(look, index in that file)] for painting ``looks``: one file
        holding them all where there is one (one network pass), else each look's own file."""
        entries = [self.get(look) for look in looks]
        shared = set.intersection(*({path for path, _ in e.places()} for e in entries)) if entries else set()
        plan: dict[Path, list[tuple[str, int]]] = {}
        for look, entry in zip(looks, entries):
            path, index = next(((p, i) for p, i in entry.places() if p in shared), (entry.path, entry.index))
            plan.setdefault(path, []).append((look, index))
        return plan

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    def cycle(self) -> list[str]:
        """The order hotkeys step through: every style, then the two built-in looks."""
        return [*self.entries, *BUILT_IN_LOOKS]

    def get(self, name: str) -> StyleEntry:
        if name not in self.entries:
            known = ", ".join([*self.entries, *BUILT_IN_LOOKS]) or "none installed"
            raise ConfigError(f"unknown style {name!r}; known styles: {known}. "
                              f"'live-nst styles' lists them; add one by dropping an exported .onnx "
                              f"file into {user_styles_dir()}")
        return self.entries[name]

    def validate(self, name: str) -> str:
        if name not in BUILT_IN_LOOKS:
            self.get(name)
        return name
