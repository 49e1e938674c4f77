"""Files live-nst writes: checked before any work starts, never the same file as an
input (compared as files, so a hard link or another spelling of the path counts), and
written through a partial file in the same folder that is renamed into place at the end.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from live_nst.errors import ConfigError, LiveNSTError, OutputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
ErrorType = type[LiveNSTError]


def expand_user(path: str | Path, error: ErrorType = ConfigError) -> Path:
    """``path`` with a leading ``~`` or ``~user`` made the home folder, as a shell does;
    an unknown user (or no home folder) is the user's error, not a crash."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # pathlib's "Could not determine home directory"
        head = str(path).split("/", 1)[0]
        raise error(f"cannot find the home folder of {head} in {path}: "
                    f"{'no such user' if head != '~' else 'HOME is not set'}; write the path out in full") from None


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths are one file (same device and inode); False when either is missing."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwriting_inputs(output: str | Path, inputs: Iterable[str | Path], error: ErrorType = OutputError) -> None:
    """Stop before ``output`` is opened if it is any of ``inputs``."""
    for source in inputs:
        if same_file(output, source):
            alias = "" if Path(output) == Path(source) else f" (the same file as {source})"
            raise error(f"the output {output} is the input{alias}: writing it would destroy the input. "
                        f"Choose another output path")


def check_folder_writable(folder: Path, what: str, error: ErrorType = OutputError) -> None:
    """The folder exists, is a folder, and a file can be made in it (tried, then removed)."""
    if not folder.exists():
        raise error(f"cannot write {what}: the folder {folder} does not exist; create it or choose another path")
    if not folder.is_dir():
        raise error(f"cannot write {what}: {folder} is not a folder; choose another path")
    probe = folder / f".live-nst-probe-{secrets.token_hex(4)}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as exc:
        raise error(f"cannot write {what} in {folder}: {exc.strerror or exc}; choose a folder you can write "
                    f"to") from None


def check_file_output(path: str | Path, what: str, error: ErrorType = OutputError) -> Path:
    """A file can be written at ``path`` (which may exist: it is replaced at the end)."""
    path = expand_user(path, error)
    if path.is_dir():
        raise error(f"cannot write {what} to {path}: that is a folder; give a file name")
    check_folder_writable(path.parent, f"{what} ({path.name})", error)
    if path.exists() and not os.access(path, os.W_OK):
        raise error(f"cannot write {what}: {path} exists and is read-only; choose another path or make it writable")
    return path


def check_folder_output(folder: str | Path, what: str, error: ErrorType = OutputError) -> Path:
    """A folder files can be written into; a missing one must be one live-nst can create."""
    folder = expand_user(folder, error)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == folder and not folder.is_dir():
        raise error(f"cannot write {what}: {folder} is a file, not a folder; choose another path")
    check_folder_writable(existing, what, error)
    return folder


def check_image_output(path: str | Path) -> Path:
    """An image file of a type the writer knows, in a folder that takes it."""
    path = check_file_output(path, "the image")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise OutputError(f"cannot write the image {path}: its ending {path.suffix or '(none)'} names no image type "
                          f"live-nst writes; use one of {', '.join(IMAGE_SUFFIXES)}")
    return path


class PartialFile:
    """A new file beside ``final`` (``NAME.partial-XXXXXXXX.EXT``: the ending kept, so the
    container format still follows it) that :meth:`commit` renames into place. Until then
    an earlier ``final`` is untouched; if the process is killed the partial file stays,
    named so that it is found."""

    def __init__(self, final: str | Path) -> None:
        self.final = Path(final)
        folder = self.final.parent
        for _ in range(100):
            candidate = folder / f"{self.final.stem}.partial-{secrets.token_hex(4)}{self.final.suffix}"
            try:
                os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies
            except FileExistsError:
                continue
            self.path = candidate
            return
        raise OutputError(f"could not make a partial file beside {self.final}; clear out its *.partial-* files")

    def commit(self) -> Path:
        """Rename the partial file to the final name (replacing any earlier file), once its
        data is on the disk: a full disk the file system noticed late fails here, before
        the earlier file is gone."""
        try:
            descriptor = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(self.path, self.final)
        except OSError as exc:
            raise OutputError(f"could not finish {self.final}: {exc.strerror or exc}; free some space or write "
                              f"elsewhere") from None
        return self.final

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
