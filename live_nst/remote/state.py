"""What the control page shows: an immutable picture of the live state.

The live loop publishes a :class:`LiveState` on a :class:`StateBoard` whenever something
changed; the server's threads only read it. Publishing swaps one reference and wakes the
waiters under a lock that is never held while anything slow happens, so the frame loop
never waits on a client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from live_nst.catalog import packaged_styles_dir
from live_nst.compose import BUILT_IN_LOOKS

if TYPE_CHECKING:
    from live_nst.catalog import StyleCatalog
    from live_nst.pipeline import FramePipeline


@dataclass(frozen=True)
class StyleView:
    """One look the gallery offers: a style, or a built-in look (``path`` None)."""

    name: str
    title: str
    artist: str = ""
    path: Path | None = None  # the model file that paints it
    index: int = 0  # its place among that file's styles
    builtin: bool = True  # shipped with live-nst (the pack's styles, original, blur), not the user's own

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "artist": self.artist, "builtin": self.builtin}


def styles_of(catalog: StyleCatalog) -> tuple[StyleView, ...]:
    """The catalog's styles in cycle order, then the built-in looks."""
    shipped = packaged_styles_dir().resolve()
    styles = [StyleView(e.name, e.info.title or e.name, e.info.artist, e.path, e.index,
                        builtin=e.path.parent.resolve() == shipped)
              for e in catalog.entries.values()]
    return (*styles, *(StyleView(look, look.capitalize()) for look in BUILT_IN_LOOKS))


@dataclass(frozen=True)
class RegionView:
    style: str
    strength: float


@dataclass(frozen=True)
class Looks:
    """What the pipeline paints: taken on the thread that owns the pipeline, right after an
    intent, so it is never half of a change. ``serial`` counts the takes."""

    person: RegionView
    background: RegionView
    segmentation: bool
    segmentation_available: bool  # False when the run has no segmenter (--no-segmentation)
    styling: bool
    styles: tuple[StyleView, ...]
    serial: int = 0

    @classmethod
    def of(cls, pipeline: FramePipeline, styles: tuple[StyleView, ...], serial: int) -> Looks:
        return cls(RegionView(pipeline.person.look, pipeline.person.strength),
                   RegionView(pipeline.background.look, pipeline.background.strength),
                   pipeline.segmentation_on, pipeline.segmenter is not None, pipeline.styling_on, styles, serial)

    def style(self, name: str) -> StyleView | None:
        return next((s for s in self.styles if s.name == name), None)


@dataclass(frozen=True)
class LiveState:
    looks: Looks
    fps: float
    processing_wh: tuple[int, int]

    def to_json(self, version: int) -> dict[str, Any]:
        """``GET /api/state``'s answer (README, "Control page and HTTP API")."""
        looks = self.looks
        return {
            "person": {"style": looks.person.style, "strength": looks.person.strength},
            "background": {"style": looks.background.style, "strength": looks.background.strength},
            "segmentation": looks.segmentation,
            "segmentation_available": looks.segmentation_available,
            "styling": looks.styling,
            "fps": self.fps,
            "processing": {"width": self.processing_wh[0], "height": self.processing_wh[1]},
            "styles": [s.name for s in looks.styles],
            "version": version,
        }


class StateBoard:
    """The latest LiveState and its version (bumped only when the state changed), for any
    number of readers; ``wait_newer`` lets each event stream sleep until there is news."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._state: LiveState | None = None
        self._version = 0
        self._closed = False

    def publish(self, state: LiveState) -> bool:
        """Show ``state``; False (and nobody woken) when it equals the one on show."""
        with self._cond:
            if state == self._state:
                return False
            self._state, self._version = state, self._version + 1
            self._cond.notify_all()
        return True

    def latest(self) -> tuple[int, LiveState | None]:
        with self._cond:
            return self._version, self._state

    def wait_newer(self, version: int, timeout: float) -> tuple[int, LiveState] | None:
        """The state once its version passes ``version``; None after ``timeout`` s or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or (self._state is not None and self._version > version),
                                timeout)
            if self._closed or self._state is None or self._version <= version:
                return None
            return self._version, self._state

    def wait_for(self, predicate: Callable[[LiveState], bool], timeout: float) -> tuple[int, LiveState] | None:
        """The first state on show (now or later) that ``predicate`` accepts; None after
        ``timeout`` s or once closed."""
        deadline = time.monotonic() + timeout
        version = -1
        while True:
            got = self.wait_newer(version, max(0.0, deadline - time.monotonic()))
            if got is None:
                return None
            version, state = got
            if predicate(state):
                return got

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Wake every waiter for good (the server is stopping)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
