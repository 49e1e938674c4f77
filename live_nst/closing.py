"""One base for the objects a ``with`` block opens and closes: sources, sinks, video
readers and writers, the MediaPipe segmenter and face detector."""

from __future__ import annotations

from typing import TypeVar

_Self = TypeVar("_Self", bound="Closing")


class Closing:
    """``with thing:`` gives ``thing`` and calls ``thing.close()`` at the end, also on an
    error; a subclass defines ``close``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
