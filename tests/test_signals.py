"""Signals that stop work: Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal closed) each
stop a render after the frame in hand, with a finished, playable file and exit 130; a
second signal stops at once and still says where the kept frames are."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from commands import LIVE_NST
from test_cli import _clip, _wait_for

from live_nst.encode import playable_frames
from live_nst.stopping import StopRequest, sigterm_as_interrupt


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_each_stop_signal_asks_the_work_to_stop_and_a_second_one_interrupts(signum):
    stop = StopRequest()
    with stop.from_signals():
        os.kill(os.getpid(), signum)
        assert stop.requested and stop.reason == signal.Signals(signum).name
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signum)
    assert signal.getsignal(signum) is not stop._on_signal


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_outside_the_work_sigterm_and_sighup_interrupt_like_ctrl_c(signum):
    with sigterm_as_interrupt(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signum)


# (the signals sent, one after the other as soon as the render is painting)
STOPS = [(signal.SIGINT,), (signal.SIGTERM,), (signal.SIGHUP,), (signal.SIGINT, signal.SIGINT)]


@pytest.mark.slow
@pytest.mark.parametrize("signals", STOPS, ids=lambda s: "+".join(signal.Signals(n).name for n in s))
def test_a_stopped_render_says_where_its_playable_frames_are(tmp_path, segmentation_model, signals):
    clip = _clip(tmp_path / "in.avi", 300)
    out = tmp_path / "out.mp4"
    process = subprocess.Popen([*LIVE_NST, "render", str(clip), "-o", str(out), "--proc-size", "320x180"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(process, r" [3-9]/300| \d\d+/300")
    for signum in signals:
        process.send_signal(signum)
    _, rest = process.communicate(timeout=120)
    text = rest.decode()
    assert process.returncode == 130, text[-3000:]
    kept = re.search(r"interrupted: (.+) holds the first (\d+) painted frames", text)
    assert kept, text[-3000:]
    assert int(kept[2]) == playable_frames(Path(kept[1])) >= 3
    if len(signals) == 1:
        assert Path(kept[1]) == out and [p.name for p in tmp_path.iterdir() if p != clip] == ["out.mp4"]
