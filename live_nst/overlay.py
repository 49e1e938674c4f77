"""What the preview window shows over the picture: one status line, and the key help
for HELP_SHOWN_S at the start and after 'h' or '?' (which also hide it)."""

from __future__ import annotations

import time
from collections.abc import Callable

from live_nst.controls import KeyMap
from live_nst.framing import SizeWH
from live_nst.pipeline import FramePipeline

HELP_KEYS = ("h", "?")  # show (or hide) the key help in the preview window
HELP_SHOWN_S = 6.0  # for this long, and at the start


def status_line(pipeline: FramePipeline, fps: float, proc_wh: SizeWH, adaptive: bool, help_key: str | None) -> str:
    """The frame rate, the processing size and both regions' looks, in one line."""
    person, background = pipeline.person, pipeline.background
    return (f"{fps:4.1f} fps  processing {proc_wh[0]}x{proc_wh[1]}{' (adaptive)' if adaptive else ''}  "
            f"person {person.look} {person.strength:.1f}  background {background.look} {background.strength:.1f}"
            + (f"  {help_key}: keys" if help_key else ""))


class KeyHelp:
    """When the key help shows, on a clock of its own (tests pass a fake one)."""

    def __init__(self, keymap: KeyMap, clock: Callable[[], float] = time.monotonic) -> None:
        self.keymap, self.clock = keymap, clock
        self.keys = [key for key in HELP_KEYS if key not in keymap]  # a key bound to an action is its
        self._until = clock() + HELP_SHOWN_S  # the key help shows at the start

    def toggle(self) -> None:
        now = self.clock()
        self._until = now + HELP_SHOWN_S if now >= self._until else now

    def lines(self, status: str) -> list[str]:
        """``status``, and under it the key help while it shows."""
        if self.clock() >= self._until:
            return [status]
        return [status, *self.keymap.help_lines(), *([f"{' / '.join(self.keys)}  show or hide these keys"]
                                                     if self.keys else [])]
