"""Commands, the key map and global hotkeys (real pynput: failing without a display, and
working against a throwaway X server when Xvfb and xdotool are installed)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from live_nst.config import DEFAULT_KEYS, KeysConfig, config_from_dict
from live_nst.controls import Command, CommandQueue, GlobalHotkeys, KeyMap, hotkey_combos


def test_one_command_per_configured_action():
    assert {command.value for command in Command} == set(DEFAULT_KEYS)
    assert Command("next_person_style") is Command.NEXT_PERSON_STYLE


def test_command_queue_drains_everything_from_many_threads_in_order():
    queue = CommandQueue()
    assert queue.drain() == []
    order = [Command.NEXT_PERSON_STYLE, Command.SWAP_STYLES, Command.QUIT]
    threads = [threading.Thread(target=lambda: [queue.put(c) for c in order]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drained = queue.drain()
    assert len(drained) == 12 and queue.drain() == []
    for command in order:  # each thread's commands arrive in the order it sent them
        assert drained.count(command) == 4
    positions = [[i for i, c in enumerate(drained) if c is command] for command in order]
    assert positions[0][0] < positions[1][0] < positions[2][0]


def test_keymap_follows_the_config():
    config = config_from_dict({"keys": {"quit": "x", "next_person_style": "n", "prev_person_style": "b"}})
    keymap = KeyMap.from_config(config.keys)
    assert keymap["x"] is Command.QUIT and keymap["n"] is Command.NEXT_PERSON_STYLE
    assert "q" not in keymap and "]" not in keymap
    assert keymap["'"] is Command.NEXT_BACKGROUND_STYLE  # untouched defaults stay
    assert len(keymap) == len(DEFAULT_KEYS)
    lines = keymap.help_lines()
    assert "n / b  person style" in lines and "x  quit" in lines
    assert any(line.startswith("' / ;") and "background" in line for line in lines)


def test_hotkey_combos_put_the_modifier_first():
    combos = hotkey_combos(KeysConfig(modifier="<ctrl>+<shift>"))
    assert combos["<ctrl>+<shift>+]"] is Command.NEXT_PERSON_STYLE
    assert combos["<ctrl>+<shift>+q"] is Command.QUIT
    assert len(combos) == len(DEFAULT_KEYS)
    assert hotkey_combos(KeysConfig(modifier=""))["s"] is Command.SWAP_STYLES


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux desktops need DISPLAY")
def test_global_hotkeys_fail_gracefully_without_a_display(monkeypatch, caplog):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    for name in [m for m in sys.modules if m == "pynput" or m.startswith("pynput.")]:
        monkeypatch.delitem(sys.modules, name)  # import afresh, as a new process would
    hotkeys = GlobalHotkeys(KeysConfig(), CommandQueue())
    with caplog.at_level(logging.WARNING, logger="live_nst.controls"):
        assert hotkeys.start() is False
    assert not hotkeys.running
    assert "global hotkeys are off" in caplog.text
    # No display: the preview window cannot open, so the way offered is the control page.
    assert "--output preview" not in caplog.text and "--control" in caplog.text
    hotkeys.stop()  # stopping hotkeys that never started is fine


HOTKEY_SCRIPT = textwrap.dedent("""
    import subprocess, threading
    from live_nst.config import KeysConfig
    from live_nst.controls import CommandQueue, GlobalHotkeys

    class SignallingQueue(CommandQueue):
        def __init__(self):
            super().__init__()
            self.arrived = threading.Semaphore(0)
        def put(self, command):
            super().put(command)
            self.arrived.release()

    queue = SignallingQueue()
    hotkeys = GlobalHotkeys(KeysConfig(), queue)
    print("STARTED", hotkeys.start())
    for key in ("ctrl+alt+bracketright", "bracketleft", "ctrl+alt+q"):
        subprocess.run(["xdotool", "key", key], timeout=20)
    got = [queue.arrived.acquire(timeout=20) for _ in range(2)]
    hotkeys.stop()
    print("GOT", [c.name for c in queue.drain()], got)
""")


@pytest.mark.display
def test_global_hotkeys_turn_modifier_combos_into_commands(xvfb_display):
    # A child process, so pynput's X connections never outlive the test server here.
    env = {**os.environ, "DISPLAY": xvfb_display}
    done = subprocess.run([sys.executable, "-I", "-c", HOTKEY_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "STARTED True" in done.stdout
    # the bare '[' (no modifier) is typing, not a hotkey: only the two combos arrive
    assert "GOT ['NEXT_PERSON_STYLE', 'QUIT'] [True, True]" in done.stdout
