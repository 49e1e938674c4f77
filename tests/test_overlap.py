"""The stage overlap: real pipeline (MediaPipe, ONNX Runtime, OpenCV) on real frames,
only the camera faked. Behaviour only: order, bounds, errors, start and stop."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from live_nst.config import RegionConfig, RunConfig
from live_nst.overlap import StageOverlap, auto_painters, network_threads
from live_nst.pipeline import PERSON, build_pipeline
from live_nst.sources import Frame, SampleSource

SIZE_WH = (320, 180)


class CountingCamera:
    """A camera over the real sample video that counts its reads; ``script`` steps:
    'f' a frame, 'b' a bad frame, 'x' none (lost), 'k' Ctrl-C; past the script, frames."""

    def __init__(self, script: str = "", frames: int | None = None) -> None:
        self.sample = SampleSource(SIZE_WH, 30.0, paced=False)
        self.script, self.frames = list(script), frames
        self.reads = 0
        self.lost = self.ended = False

    def read(self, timeout=None):
        if self.frames is not None and self.reads >= self.frames:
            self.ended = True
            return None
        self.reads += 1
        step = self.script.pop(0) if self.script else "f"
        self.lost = step == "x"
        if step == "k":
            raise KeyboardInterrupt
        if step == "x":
            return None
        image = self.sample.frame_at(self.reads) if step == "f" else np.zeros((5, 5), np.float64)
        return Frame(image, timestamp=self.reads / 30.0, index=self.reads)


@pytest.fixture
def make_pipeline(catalog, segmentation_model):
    made = []

    def make(threads: int = 1):
        names = catalog.names
        config = RunConfig(size_wh=SIZE_WH, proc_size_wh=SIZE_WH, person=RegionConfig(names[0]),
                           background=RegionConfig(names[1]), output="null", source="sample")
        made.append(build_pipeline(config, threads=threads, spinning=False))
        return made[-1]

    yield make
    for pipeline in made:
        pipeline.close()


def drain(runner: StageOverlap, pipeline, count: int) -> list:
    """Take ``count`` frames from a running overlap and finish them, in order."""
    out = []
    for _ in range(count):
        ready = runner.take(timeout=30)
        assert ready is not None and ready.prepared is not None, ready
        out.append((ready.frame.index, pipeline.finish(ready.prepared)))
    return out


@pytest.mark.parametrize("painters", [0, 1, 2])
def test_overlapped_frames_come_out_in_order_and_as_painted_one_at_a_time(make_pipeline, painters):
    """The same frames through ``process`` one after another and through the overlap give
    the same pictures: the stages keep their state apart (masks, motion, blend history)."""
    serial = make_pipeline()
    camera = CountingCamera()
    expected = [serial.process(camera.read().image, (n + 1) / 30.0) for n in range(8)]
    pipeline = make_pipeline()
    runner = StageOverlap(CountingCamera(), pipeline, painters)
    runner.start()
    try:
        got = drain(runner, pipeline, 8)
    finally:
        runner.stop()
    assert [index for index, _ in got] == list(range(1, 9))
    for (_, image), want in zip(got, expected):
        np.testing.assert_array_equal(image, want)


@pytest.mark.parametrize("painters", [0, 2])
def test_no_queue_of_stale_frames(make_pipeline, painters):
    """A caller that stops taking frames holds the source back: at most painters + 1
    frames are read ahead, so the next one taken is the newest the camera has."""
    pipeline = make_pipeline()
    camera = CountingCamera()
    runner = StageOverlap(camera, pipeline, painters, just_in_time=False)
    runner.start()
    try:
        drain(runner, pipeline, 3)
        ahead = []
        for _ in range(20):  # however long the caller dawdles
            threading.Event().wait(0.02)
            ahead.append(camera.reads - 3)
        assert max(ahead) <= painters + 1, ahead
    finally:
        runner.stop()


def test_a_bad_frame_is_reported_and_the_stream_goes_on(make_pipeline):
    pipeline = make_pipeline()
    runner = StageOverlap(CountingCamera("fbf"), pipeline, painters=1)
    runner.start()
    try:
        first, bad, third = (runner.take(timeout=30) for _ in range(3))
    finally:
        runner.stop()
    assert first.prepared is not None and third.prepared is not None
    assert bad.prepared is None and isinstance(bad.error, ValueError)
    pipeline.finish(first.prepared)
    pipeline.abandon()
    assert pipeline.finish(third.prepared).shape == (SIZE_WH[1], SIZE_WH[0], 3)


def test_a_lost_camera_and_the_end_of_the_source_are_reported(make_pipeline):
    pipeline = make_pipeline()
    runner = StageOverlap(CountingCamera("fx", frames=3), pipeline, painters=1)
    runner.start()
    try:
        got = [runner.take(timeout=30) for _ in range(4)]
    finally:
        runner.stop()
    assert got[0].frame is not None
    assert got[1].frame is None and got[1].lost and not got[1].ended
    assert got[2].frame is not None
    assert got[3].frame is None and got[3].ended
    assert runner.take(timeout=0.1) is None, "nothing more after the end"


def test_what_the_source_raises_reaches_the_caller(make_pipeline):
    pipeline = make_pipeline()
    runner = StageOverlap(CountingCamera("fk"), pipeline, painters=1)
    runner.start()
    try:
        assert runner.take(timeout=30).prepared is not None
        with pytest.raises(KeyboardInterrupt):
            runner.take(timeout=30)
    finally:
        runner.stop()


def test_intents_apply_between_frames_and_stop_applies_the_rest(make_pipeline, catalog):
    pipeline = make_pipeline()
    runner = StageOverlap(CountingCamera(), pipeline, painters=2)
    runner.start()
    drain(runner, pipeline, 2)
    runner.submit(lambda p: p.set_style(PERSON, catalog.names[2], now=1.0))
    runner.submit(lambda p: p.set_proc_size((160, 90)))
    seen = [runner.take(timeout=30).prepared.proc.shape[:2] for _ in range(6)]
    small_wh = pipeline.proc_size_for((SIZE_WH[1], SIZE_WH[0]))
    assert seen[0] == (SIZE_WH[1], SIZE_WH[0]) and seen[-1] == (small_wh[1], small_wh[0]), seen
    assert pipeline.person.look == catalog.names[2]
    runner.submit(lambda p: p.set_proc_size(SIZE_WH))
    runner.submit(lambda p: p.change_strength(-0.5))
    runner.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("live-nst-")], "threads left behind"
    assert pipeline.config.proc_size_wh == SIZE_WH and pipeline.person.strength == 0.5
    runner.submit(lambda p: p.change_strength(0.5))  # stopped: applied at once
    assert pipeline.person.strength == 1.0


def test_a_failing_intent_does_not_stop_the_stream(make_pipeline):
    pipeline = make_pipeline()
    runner = StageOverlap(CountingCamera(), pipeline, painters=1)
    runner.start()
    try:
        runner.submit(lambda p: p.set_style("face", "x", now=0.0))  # ValueError: no such region
        assert len(drain(runner, pipeline, 3)) == 3
    finally:
        runner.stop()


def test_the_cores_are_shared_out_among_the_painters():
    assert auto_painters(["CPUExecutionProvider"], cores=2) == 2
    assert auto_painters(["CUDAExecutionProvider"], cores=16) == 1
    assert auto_painters([], cores=1) == 0
    assert network_threads(2, cores=2) == 1 and network_threads(2, cores=8) == 4 and network_threads(0, cores=2) == 2
