"""Style files added, replaced or removed while running (add-style's, say): the style
folders are re-read at most once per poll, on the loop's thread."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from live_nst.catalog import StyleCatalog

log = logging.getLogger(__name__)

STYLES_POLL_S = 1.0  # how often the style folders are checked for new or changed files


class StyleFolderWatch:
    def __init__(self, poll_s: float = STYLES_POLL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.poll_s, self.clock = poll_s, clock
        self._checked = clock()

    def changed(self, catalog: StyleCatalog) -> StyleCatalog | None:
        """``catalog``'s folders re-read when they changed (logged, with the new styles); None
        when nothing changed or the last check was under ``poll_s`` ago."""
        now = self.clock()
        if now - self._checked < self.poll_s:
            return None
        self._checked = now
        fresh = catalog.reloaded()
        if fresh is not None:
            added = sorted(set(fresh.entries) - set(catalog.entries))
            log.info("style folder changed%s", f": new styles {', '.join(added)}" if added else "")
        return fresh
