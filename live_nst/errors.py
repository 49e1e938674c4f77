"""One exception hierarchy. Messages say what failed, what was expected, what was found,
and what to do about it."""

from __future__ import annotations


class LiveNSTError(Exception):
    """Base of every error live-nst raises on purpose."""


class ConfigError(LiveNSTError, ValueError):
    """A configuration value or command-line option is wrong."""


class AssetError(LiveNSTError):
    """A model or weight file could not be obtained or failed its checksum."""


class ModelError(LiveNSTError):
    """A model file is missing, corrupt or does not follow the model contract."""


class InputError(LiveNSTError, ValueError):
    """A file the user gave (an image, a folder) cannot be read."""


class SourceError(LiveNSTError):
    """A frame source (camera, video file) could not be opened or read."""


class SinkError(LiveNSTError):
    """A frame sink (virtual camera, window, file) could not be opened or written."""


class OutputError(LiveNSTError):
    """A file or folder live-nst is to write (an image, a model, a checkpoint folder) cannot be written."""


class MissingDependencyError(LiveNSTError, ImportError):
    """An optional dependency is not installed."""

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the Python package '{module}', which is not installed. "
            f"Install it with: pip install 'live-nst[{extra}]'"
        )


def first_line(exc: BaseException) -> str:
    """An exception's message, first line only (native libraries' run on), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def require(module: str, extra: str, purpose: str):
    """Import an optional dependency or raise an error naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module, extra, purpose) from exc
