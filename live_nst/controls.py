"""Hotkeys and commands. Keys (global hotkeys or the preview window) become Commands on a
thread-safe queue; the main loop drains it between frames and hands each change to the
thread that prepares frames (:mod:`live_nst.overlap`), which applies it between two
frames (with no such thread, the main loop applies it at once): the pipeline's settings
change on one thread, never while a frame is being prepared, and the painters only run
the networks over frames already prepared. The control page (:mod:`live_nst.remote`)
puts its orders on the same queue: Commands, and Changes (intents with arguments) and
SnapshotRequests, whose outcome it waits for on its own thread."""

from __future__ import annotations

import enum
import importlib.util
import logging
import platform
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from live_nst.config import KeysConfig
from live_nst.errors import first_line

if TYPE_CHECKING:
    from live_nst.pipeline import FramePipeline

log = logging.getLogger(__name__)


class Command(enum.Enum):
    """One per action in config.DEFAULT_KEYS; the value is the action's name there."""

    NEXT_PERSON_STYLE = "next_person_style"
    PREV_PERSON_STYLE = "prev_person_style"
    NEXT_BACKGROUND_STYLE = "next_background_style"
    PREV_BACKGROUND_STYLE = "prev_background_style"
    SWAP_STYLES = "swap_styles"
    TOGGLE_SEGMENTATION = "toggle_segmentation"
    TOGGLE_STYLING = "toggle_styling"
    STRENGTH_UP = "strength_up"
    STRENGTH_DOWN = "strength_down"
    SNAPSHOT = "snapshot"
    QUIT = "quit"


@dataclass(eq=False)
class Change:
    """Pipeline intents with arguments (the control page's: a style, a strength...), applied
    together between two frames like a hotkey's. ``apply(pipeline, now)`` returns False
    when it could not be done (a style whose model fails to load). The loop calls
    :meth:`finish` once it ran; whoever queued it may wait for that on ``done``."""

    description: str  # for the log, e.g. "person style udnie"
    apply: Callable[[FramePipeline, float], bool]
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool | None = None  # None until applied
    serial: int = 0  # the loop's count of applied changes once this one was applied

    def finish(self, ok: bool, serial: int) -> None:
        self.ok, self.serial = ok, serial
        self.done.set()


@dataclass(eq=False)
class SnapshotRequest:
    """A snapshot whose file is wanted back: the loop sets ``reply`` to its path (None:
    no frame painted yet, or the file could not be written)."""

    reply: Future[Path | None] = field(default_factory=Future)


Order = Command | Change | SnapshotRequest


class CommandQueue:
    """Commands (and the control page's other orders) from any thread to the main loop."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Order] = queue.SimpleQueue()

    def put(self, command: Order) -> None:
        self._queue.put(command)

    def drain(self) -> list[Order]:
        """Everything queued so far, oldest first; never blocks."""
        commands: list[Order] = []
        while True:
            try:
                commands.append(self._queue.get_nowait())
            except queue.Empty:
                return commands


# (first, second, label): paired commands share one help line.
_HELP = (
    (Command.NEXT_PERSON_STYLE, Command.PREV_PERSON_STYLE, "person style"),
    (Command.NEXT_BACKGROUND_STYLE, Command.PREV_BACKGROUND_STYLE, "background style"),
    (Command.STRENGTH_UP, Command.STRENGTH_DOWN, "style strength"),
    (Command.SWAP_STYLES, None, "swap person/background"),
    (Command.TOGGLE_SEGMENTATION, None, "segmentation on/off"),
    (Command.TOGGLE_STYLING, None, "styling on/off"),
    (Command.SNAPSHOT, None, "snapshot"),
    (Command.QUIT, None, "quit"),
)


class KeyMap(Mapping[str, Command]):
    """Bare key character -> Command, for the preview window."""

    def __init__(self, bindings: Mapping[str, Command]) -> None:
        self._by_key = dict(bindings)
        self._key_of = {command: key for key, command in self._by_key.items()}

    @classmethod
    def from_config(cls, keys: KeysConfig) -> KeyMap:
        return cls({key: Command(action) for action, key in keys.bindings.items()})

    def __getitem__(self, key: str) -> Command:
        return self._by_key[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def help_lines(self) -> list[str]:
        """One line per key or key pair, e.g. "] / [  person style"."""
        lines = []
        for first, second, label in _HELP:
            bound = [self._key_of[c] for c in (first, second) if c is not None and c in self._key_of]
            if bound:
                lines.append(f"{' / '.join(bound)}  {label}")
        return lines


def hotkey_combos(keys: KeysConfig) -> dict[str, Command]:
    """pynput hotkey strings, e.g. "<ctrl>+<alt>+]" -> Command.NEXT_PERSON_STYLE."""
    prefix = f"{keys.modifier}+" if keys.modifier else ""
    return {f"{prefix}{key}": Command(action) for action, key in keys.bindings.items()}


PREVIEW_KEYS = "use the preview window's keys (--output preview)"
# Without a display the preview cannot open: the control page is the way left to change looks.
CONTROL_PAGE = "change looks from the control page (--control 8080)"
WAYLAND_HOTKEYS_FIX = f"log in to an X11 session (e.g. 'Ubuntu on Xorg'), or {PREVIEW_KEYS}"


def hotkeys_fix(system: str | None = None, has_display: bool | None = None) -> str:
    """What to do when global hotkeys cannot work, on this operating system (one line),
    offering the preview window only where a display can show it (``has_display``: None
    asks ``sinks.display_available``)."""
    system = system or platform.system()
    if has_display is None:
        from live_nst.sinks import display_available  # OpenCV's import, only when a fix is wanted

        has_display = display_available()
    other_way = PREVIEW_KEYS if has_display else CONTROL_PAGE
    if system == "Darwin":
        return (f"allow your terminal in System Settings > Privacy & Security > Accessibility and Input "
                f"Monitoring, or {other_way}")
    if system == "Linux":
        return f"run live-nst in an X11 desktop session, or {other_way}"
    return other_way


class GlobalHotkeys:
    """modifier + key anywhere on the desktop (while OBS or Zoom has the focus), through
    pynput. Never fatal: when pynput cannot start, the preview window's keys still work."""

    def __init__(self, keys: KeysConfig, commands: CommandQueue) -> None:
        self.keys, self.commands = keys, commands
        self._listener: Any = None
        self._quiet = False
        self.problem: str | None = None  # why the last start failed

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self, quiet: bool = False) -> bool:
        """Register the hotkeys; False (with a warning saying why) when they cannot work.
        ``quiet``: say why only in the debug log (nobody watches: a file or null output)."""
        if self._listener is not None:
            return True
        self._quiet = quiet
        if importlib.util.find_spec("pynput") is None:
            return self._unavailable("pynput is not installed (pip install pynput)")
        try:
            from pynput import keyboard
        except ImportError as exc:  # pynput raises ImportError when it finds no display
            return self._unavailable(f"pynput could not connect to the desktop: {first_line(exc)}")
        handlers = {}
        for combo, command in hotkey_combos(self.keys).items():
            try:
                keyboard.HotKey.parse(combo)
            except ValueError:
                log.warning("hotkey %r is not valid pynput syntax; skipping it (check [keys] modifier)", combo)
                continue
            handlers[combo] = lambda command=command: self.commands.put(command)
        try:
            listener = keyboard.GlobalHotKeys(handlers)
            listener.start()
            listener.wait()
        except Exception as exc:  # noqa: BLE001 - platform backends raise their own types
            return self._unavailable(f"pynput's keyboard listener failed to start: {first_line(exc)}")
        if not getattr(listener, "IS_TRUSTED", True):  # macOS without Accessibility permission
            listener.stop()
            return self._unavailable("macOS has not allowed this terminal to read keys (System Settings > "
                                     "Privacy & Security > Accessibility and Input Monitoring)")
        self._listener = listener
        log.info("global hotkeys on: %s + %s", self.keys.modifier or "(no modifier)",
                 " ".join(self.keys.bindings.values()))
        return True

    def _unavailable(self, why: str) -> bool:
        self.problem = why
        log.log(logging.DEBUG if self._quiet else logging.WARNING, "global hotkeys are off: %s. To fix it, %s.",
                why, hotkeys_fix())
        return False

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
