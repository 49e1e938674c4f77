"""Stopping long work cleanly: Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal was
closed) ask the live loop or a render
to stop after the frame in hand, so devices are released, the file being written is
finished and playable, and the last statistics are printed. A second signal stops at
once (KeyboardInterrupt), for work stuck inside a call.

Exit code 130 (128 + SIGINT, as shells report Ctrl-C) says the work was interrupted,
whichever of the signals asked.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130
# SIGHUP only where it exists (not on Windows); its default would kill the process with
# the file being written unfinished.
_SIGNALS = tuple(s for s in (getattr(signal, name, None) for name in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)
_AS_INTERRUPT = tuple(s for s in _SIGNALS if s != getattr(signal, "SIGINT", None))


class StopRequest:
    """A flag the work polls between frames; the signal handlers (or a caller) set it."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._acknowledged = False
        self.reason: str | None = None

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def check(self) -> bool:
        """Whether to stop now; the first time it says so, it logs why. (The signal
        handler itself must not write: it may run in the middle of another write.)"""
        if not self._event.is_set():
            return False
        if not self._acknowledged:
            self._acknowledged = True
            log.info("%s: stopping after this frame (send it again to stop at once)",
                     "Ctrl-C" if self.reason == "SIGINT" else self.reason)
        return True

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt(signal.Signals(signum).name)
        self.request(signal.Signals(signum).name)

    @contextlib.contextmanager
    def from_signals(self) -> Iterator[StopRequest]:
        """SIGINT, SIGTERM and SIGHUP set this flag while the block runs (from the main thread
        only: elsewhere signals cannot be handled, and the block runs without)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {signum: signal.signal(signum, self._on_signal) for signum in _SIGNALS}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP interrupt like Ctrl-C (KeyboardInterrupt),
    so every command cleans up through the same path and exits with 130."""
    if not _AS_INTERRUPT or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise_interrupt) for signum in _AS_INTERRUPT}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)
