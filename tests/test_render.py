"""`live-nst render` on real clips: every frame painted at the input's rate (the sound: test_encode.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from live_nst.cli import main
from live_nst.config import RunConfig
from live_nst.errors import SinkError, SourceError
from live_nst.render import render
from live_nst.video import DEFAULT_FPS, probe


def test_render_paints_every_frame_at_the_input_rate(shared_data, tmp_path, catalog, segmentation_model):
    clip = shared_data / "video/greenscreen/d0_bookcase_composite.mp4"
    short = tmp_path / "short.mp4"
    _first_frames(clip, short, 10)
    out = tmp_path / "painted.mp4"
    code = main(["render", str(short), str(out), "--person-style", catalog.names[0], "--background-style",
                 catalog.names[1], "--proc-size", "256x240", "--quiet"])
    assert code == 0
    source, painted = probe(short), probe(out)
    assert (painted.size_wh, painted.frame_count) == (source.size_wh, source.frame_count)
    assert painted.fps == pytest.approx(source.fps, rel=0.01)
    first_in, first_out = _frame(short), _frame(out)
    assert np.abs(first_in.astype(int) - first_out).mean() > 10, "the render was not painted"


def test_render_refuses_a_missing_input_and_overwriting_it(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        render(tmp_path / "none.mp4", tmp_path / "out.mp4", RunConfig(), progress=False)
    assert main(["render", str(tmp_path / "none.mp4"), str(tmp_path / "o.mp4")]) == 2


@pytest.mark.parametrize("output", ["no-such-folder/out.mp4", "out.gif"])
def test_render_refuses_an_unwritable_output_before_painting(tmp_path, monkeypatch, output):
    """A SinkError naming the problem, before any model loads or temporary file is made."""
    clip = tmp_path / "in.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 24))
    writer.write(np.zeros((24, 32, 3), np.uint8))
    writer.release()
    monkeypatch.setattr("live_nst.render.build_running_pipeline", lambda config: pytest.fail("built a pipeline"))
    with pytest.raises(SinkError, match="does not exist" if "/" in output else "not supported"):
        render(clip, tmp_path / output, RunConfig(), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.avi"]


def _first_frames(src, dst, count):
    capture = cv2.VideoCapture(str(src))
    fps = capture.get(cv2.CAP_PROP_FPS)
    ok, frame = capture.read()
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
    for _ in range(count):
        writer.write(frame)
        ok, frame = capture.read()
    writer.release()


def _frame(path):
    ok, frame = cv2.VideoCapture(str(path)).read()
    return frame


def test_render_reads_an_implausible_frame_rate_at_the_default(tmp_path, catalog, segmentation_model):
    clip = tmp_path / "odd.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 1000.0, (64, 48))
    for _ in range(3):
        writer.write(np.full((48, 64, 3), 128, np.uint8))
    writer.release()
    out = tmp_path / "painted.avi"
    assert render(clip, out, RunConfig(proc_size_wh=(64, 48)), progress=False).frames == 3
    assert probe(out).fps == DEFAULT_FPS


def test_help_lists_every_file_type_a_video_can_be_written_as():
    import argparse

    from live_nst.cli import build_parser
    from live_nst.encode import FORMATS

    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("render", "run"):
        text = " ".join(action.choices[command].format_help().split())
        missing = [suffix for suffix in FORMATS if suffix not in text]
        assert not missing, f"{command} --help leaves out {missing}"


class _FailingWriter:
    """Takes frames in a list; the ``fail_at``-th write fails as a full disk does."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at, self.written = fail_at, []

    def write(self, frame: np.ndarray) -> None:
        if len(self.written) + 1 == self.fail_at:
            raise SinkError(f"could not write frame {self.fail_at} to out.mp4: File too large")
        self.written.append(int(frame[0, 0, 0]))


def test_the_writer_thread_keeps_the_order_and_its_error_reaches_the_runner():
    from tqdm import tqdm

    from live_nst.render import QueuedWriter

    frames = [np.full((2, 2, 3), index, np.uint8) for index in range(50)]
    writer = _FailingWriter(fail_at=0)
    sink = QueuedWriter(writer, tqdm(disable=True), depth=2)
    for frame in frames:
        sink.send(frame)
    sink.finish()
    sink.raise_error()
    assert writer.written == list(range(50)) and sink.written == 50

    writer = _FailingWriter(fail_at=5)
    sink = QueuedWriter(writer, tqdm(disable=True), depth=2)
    with pytest.raises(SinkError, match="^could not write frame 5 to out.mp4: File too large$"):
        for frame in frames:  # the runner's sends: one of them raises the write's error
            sink.send(frame)
        sink.finish()
        sink.raise_error()
    sink.finish()
    assert writer.written == [0, 1, 2, 3] and sink.written == 4
