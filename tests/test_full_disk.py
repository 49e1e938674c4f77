"""Video files on a disk that fills up, and a writer that is killed: an earlier file at
the output path is replaced by a complete one or not at all, what a failed write kept
is under a name that says so, and the count the message gives is the count a decoder
gets back. The small filesystem is a file size limit (RLIMIT_FSIZE) on the writing
process: the same ENOSPC-like failure (EFBIG) at the same place, without root."""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from commands import LIVE_NST

from live_nst.encode import playable_frames
from live_nst.errors import SinkError
from live_nst.video import VideoWriter

FPS = 30
OLD = b"an earlier file, not a video"

# Writes frames (partly noise, so they do not compress away) until the write fails, the
# frame count is reached or the process kills itself; prints what the writer says.
WRITER = """
import json, os, signal, sys
import numpy as np
from live_nst.errors import SinkError
from live_nst.video import VideoWriter
path, frames, kill_after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
writer = VideoWriter(path, (160, 96), 30.0)
out = {}
try:
    for index in range(frames):
        frame = np.full((96, 160, 3), index * 7 % 256, np.uint8)
        frame[:48, :80] = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
        writer.write(frame)
        if index + 1 == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    writer.close()
except SinkError as exc:
    out["message"] = str(exc)
out.update(frames=writer.frames, kept=str(writer.kept) if writer.kept else None)
print(json.dumps(out))
"""


# -B: under the file size limit a .pyc written for a changed module would be cut short,
# and every later import of that module would fail.
NO_PYC = "-B"


def _limit_file_size(limit: int):
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limited


def _write(path: Path, frames: int, limit: int | None = None, kill_after: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", NO_PYC, "-c", WRITER, str(path), str(frames), str(kill_after)],
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=_limit_file_size(limit) if limit else None)


def _partials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".partial-" in p.name)


# (ending, file size limit in bytes, whether an earlier file is there): the disk fills mid-file.
FULL_DISK = [
    (".mp4", 300_000, True),
    (".mp4", 300_000, False),
    (".mkv", 200_000, True),
    (".webm", 200_000, False),
    (".avi", 200_000, True),
]


@pytest.mark.parametrize(("suffix", "limit", "earlier"), FULL_DISK)
def test_a_full_disk_keeps_the_earlier_file_and_counts_what_plays(tmp_path, suffix, limit, earlier):
    out = tmp_path / f"out{suffix}"
    if earlier:
        out.write_bytes(OLD)
    done = _write(out, 10_000, limit)
    assert done.returncode == 0, done.stderr
    told = json.loads(done.stdout)
    assert out.exists() == earlier and (not earlier or out.read_bytes() == OLD), "the earlier file was touched"
    kept = _partials(tmp_path)
    assert [str(p) for p in kept] == [told["kept"]]
    claimed = int(re.search(r"The (\d+) frames that play are kept in (\S+) \(", told["message"])[1])
    assert claimed == told["frames"] == playable_frames(kept[0]) > 0
    assert ("unchanged" in told["message"]) == earlier


def test_a_disk_full_from_the_start_leaves_nothing_and_says_so(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(OLD)
    done = _write(out, 10_000, limit=4_000)
    told = json.loads(done.stdout)
    assert told["frames"] == 0 and told["kept"] is None
    assert "No frame could be kept" in told["message"] and "unchanged" in told["message"]
    assert out.read_bytes() == OLD and _partials(tmp_path) == []


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm"])
def test_a_killed_writer_loses_under_a_second(tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    out.write_bytes(OLD)
    done = _write(out, 10_000, kill_after=100)
    assert done.returncode == -signal.SIGKILL
    assert out.read_bytes() == OLD
    (kept,) = _partials(tmp_path)
    assert 100 - FPS <= playable_frames(kept) <= 100


def test_a_finished_file_replaces_the_earlier_one(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(OLD)
    told = json.loads(_write(out, 20).stdout)
    assert told == {"frames": 20, "kept": str(out)}
    assert playable_frames(out) == 20 and _partials(tmp_path) == []


@pytest.mark.parametrize(("size_wh", "takes"), [((1, 1), False), ((1, 64), False), ((64, 1), False),
                                                ((2, 2), True), ((3, 5), True), ((16385, 2), False)])
def test_sizes_the_encoder_cannot_take_are_refused_before_anything_is_made(tmp_path, size_wh, takes):
    out = tmp_path / "out.mp4"
    if not takes:
        with pytest.raises(SinkError, match=r"video files take 2x2 up to 16384x16384 pixels"):
            VideoWriter(out, size_wh, 30.0)
        assert list(tmp_path.iterdir()) == []
        return
    with VideoWriter(out, size_wh, 30.0) as writer:
        writer.write(np.zeros((size_wh[1], size_wh[0], 3), np.uint8))
    assert playable_frames(out) == 1


@pytest.mark.slow
def test_render_on_a_full_disk_exits_2_with_one_true_line(tmp_path, segmentation_model):
    from test_encode import make_clip

    clip = make_clip(tmp_path / "in.mp4", frames=240, size_wh=(320, 192), audio=None)
    out = tmp_path / "out.mp4"
    out.write_bytes(OLD)
    done = subprocess.run([LIVE_NST[0], NO_PYC, *LIVE_NST[1:], "render", str(clip), "-o", str(out), "--quiet",
                           "--proc-size", "160x96"],
                          capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size(30_000))
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("live-nst:")]
    assert len(errors) == 1 and errors[0].startswith("live-nst: error: could not write frame"), done.stderr
    claimed, kept = re.search(r"The (\d+) frames that play are kept in (\S+) \(", errors[0]).groups()
    assert out.read_bytes() == OLD and [str(p) for p in _partials(tmp_path)] == [kept]
    assert int(claimed) == playable_frames(Path(kept)) > 0
