"""The live loop and the CLI end to end. Only the device boundary is faked: the camera
(a scripted source) and the virtual-camera driver (pyvirtualcam's register_backend)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from commands import LIVE_NST

from live_nst import app
from live_nst.app import EXIT_NOTHING_PAINTED, EXIT_OK, PIPELINE_INTENTS, LiveLoop, LoopStats, run_live
from live_nst.cli import main
from live_nst.config import RegionConfig, RunConfig
from live_nst.controls import Command, CommandQueue, KeyMap
from live_nst.pipeline import build_pipeline
from live_nst.sinks import NullSink
from live_nst.sources import Frame, SampleSource
from live_nst.stopping import EXIT_INTERRUPTED

SIZE_WH = (320, 180)


class ScriptedCamera:
    """A camera that follows a script: 'f' a frame, 'x' gone (lost), 'b' a bad frame,
    'k' Ctrl-C. The frames are the real sample video's."""

    def __init__(self, script: str, size_wh=SIZE_WH) -> None:
        self.script, self.size_wh, self.fps = list(script), size_wh, 30.0
        self.sample = SampleSource(size_wh, 30.0, paced=False)
        self.lost = self.ended = self.closed = False
        self.index = 0

    def read(self, timeout=None):
        if not self.script:
            self.ended = True
            return None
        step = self.script.pop(0)
        self.lost = step == "x"
        if step == "k":
            raise KeyboardInterrupt
        if step == "x":
            return None
        self.index += 1
        image = self.sample.frame_at(self.index) if step == "f" else np.zeros((5, 5), np.float64)
        return Frame(image, timestamp=self.index / 30.0, index=self.index)

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def config(catalog):
    names = catalog.names
    return RunConfig(size_wh=SIZE_WH, proc_size_wh=SIZE_WH, person=RegionConfig(names[0]),
                     background=RegionConfig(names[1]), output="null", source="sample")


@pytest.fixture
def pipeline(config, segmentation_model):
    made = build_pipeline(config)
    yield made
    made.close()


def loop_over(script: str, pipeline, commands=None):
    sink = NullSink()
    sent = []
    sink_send = sink.send
    sink.send = lambda frame, overlay=(): (sent.append(frame.copy()), sink_send(frame, overlay))
    loop = LiveLoop(ScriptedCamera(script), pipeline, sink, commands or CommandQueue(),
                    KeyMap.from_config(pipeline.config.keys))
    return loop, loop.run(), sent


def test_painted_frames_reach_the_sink(pipeline):
    loop, stats, sent = loop_over("ffff", pipeline)
    assert stats.frames == 4 and len(sent) == 4
    original = loop.source.sample.frame_at(4)
    assert sent[-1].shape == (SIZE_WH[1], SIZE_WH[0], 3)
    assert np.abs(sent[-1].astype(int) - original).mean() > 10, "frames were sent unpainted"


def test_the_loop_counts_the_frames_painted_at_each_processing_size(pipeline):
    _, stats, _ = loop_over("ffff", pipeline)
    assert stats.proc_sizes == {pipeline.config.proc_size_wh: 4}


def test_the_closing_line_gives_the_whole_runs_fps_and_the_sizes_used():
    stats = LoopStats()
    for i in range(120):  # 10 fps for 6 s, then 5 fps for 12 s: the last seconds alone say 5
        stats.count(100.0 + (i * 0.1 if i < 60 else 6.0 + (i - 60) * 0.2), 50.0, (640, 360) if i < 60 else (480, 270))
    assert stats.fps == pytest.approx(5.0)
    assert stats.summary() == ("sent 120 frames at 6.7 fps (0 frame errors); "  # 119 intervals in 17.8 s
                               "processing size 640x360 for 60, 480x270 for 60 frames")


def test_camera_loss_sends_a_card_and_resumes(pipeline):
    loop, stats, sent = loop_over("ffxxxff", pipeline)
    assert len(sent) == 7 and stats.frames == 4
    last_good = sent[1]
    for card in sent[2:5]:  # the dimmed last frame with the note
        assert card.mean() < last_good.mean() * 0.6
    assert sent[5].mean() > sent[4].mean(), "the stream did not resume after the camera returned"


def test_a_bad_frame_resends_the_last_good_one(pipeline):
    loop, stats, sent = loop_over("ffbf", pipeline)
    assert stats.errors == 1 and stats.frames == 4
    assert np.array_equal(sent[2], sent[1])
    assert not np.array_equal(sent[3], sent[2])


def test_hotkey_commands_apply_between_frames(pipeline, tmp_path):
    commands = CommandQueue()
    before = pipeline.person.look
    commands.put(Command.NEXT_PERSON_STYLE)
    commands.put(Command.SNAPSHOT)
    commands.put(Command.QUIT)
    loop = LiveLoop(ScriptedCamera("ff"), pipeline, NullSink(), commands, KeyMap.from_config(pipeline.config.keys),
                    snapshot_dir=tmp_path)
    loop.last_good = np.full((SIZE_WH[1], SIZE_WH[0], 3), 7, np.uint8)
    stats = loop.run()
    assert stats.frames == 0, "quit must stop the loop before the next frame"
    assert pipeline.person.look != before
    snapshots = list(tmp_path.glob("*.png"))
    assert len(snapshots) == 1 and cv2.imread(str(snapshots[0])).shape == (SIZE_WH[1], SIZE_WH[0], 3)


def test_the_overlay_shows_the_frame_rate_and_the_processing_size(pipeline):
    loop, _, _ = loop_over("ffff", pipeline)
    first = loop.overlay()[0]
    assert "fps" in first and f"processing {SIZE_WH[0]}x{SIZE_WH[1]} (adaptive)" in first


class KeyedSink(NullSink):
    """The preview window's key boundary: keys 'pressed' in it come back from keys()."""

    def __init__(self) -> None:
        super().__init__()
        self.pressed: list[str] = []

    def keys(self) -> list[str]:
        pressed, self.pressed = self.pressed, []
        return pressed


def test_key_help_shows_at_the_start_and_on_h_and_otherwise_one_status_line(pipeline):
    from live_nst.overlay import HELP_SHOWN_S

    now = [100.0]
    sink = KeyedSink()
    loop = LiveLoop(ScriptedCamera("ff"), pipeline, sink, CommandQueue(), KeyMap.from_config(pipeline.config.keys),
                    clock=lambda: now[0])
    help_lines = KeyMap.from_config(pipeline.config.keys).help_lines()
    assert loop.overlay()[1:1 + len(help_lines)] == help_lines, "no key help at the start"
    now[0] += HELP_SHOWN_S
    status = loop.overlay()
    assert len(status) == 1 and "h: keys" in status[0] and "fps" in status[0]
    sink.pressed = ["h"]
    loop._handle_commands()
    assert len(loop.overlay()) > len(help_lines)
    sink.pressed = ["?"]  # pressed again: hidden at once
    loop._handle_commands()
    assert len(loop.overlay()) == 1
    sink.pressed = ["?"]
    loop._handle_commands()
    now[0] += HELP_SHOWN_S - 0.01
    assert len(loop.overlay()) > 1
    now[0] += 0.02
    assert len(loop.overlay()) == 1


class SkippingCamera(ScriptedCamera):
    """A camera faster than the pipeline: it drops a frame between two reads."""

    def read(self, timeout=None):
        frame = super().read(timeout)
        return None if frame is None else dataclasses.replace(frame, index=2 * frame.index)


def test_a_machine_that_cannot_hold_the_rate_steps_the_processing_size_down(config, segmentation_model, caplog):
    """240 fps at 640x360 is beyond any machine this pipeline runs on: the processing
    size steps down (and says so), never below the floor, the output size unchanged."""
    from live_nst.quality import FLOOR_WH, QualityController, QualityTiming

    config = dataclasses.replace(config, size_wh=(640, 360), proc_size_wh=(640, 360), fps=240.0)
    made = build_pipeline(config)
    quick = QualityTiming(window_s=0.05, startup_s=0.0, settle_s=0.0)
    try:
        camera = SkippingCamera("f" * 40, size_wh=(640, 360))
        sink = NullSink()
        loop = LiveLoop(camera, made, sink, CommandQueue(), KeyMap.from_config(config.keys),
                        quality=QualityController(config.proc_size_wh, config.fps, timing=quick))
        with caplog.at_level("INFO", logger="live_nst.app"):
            stats = loop.run()
    finally:
        made.close()
    assert stats.frames == 40 and sink.last.shape == (360, 640, 3)
    changes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("processing size")]
    assert changes and "640x360 ->" in changes[0] and "allowed at 240 fps" in changes[0]
    assert loop.quality.size_wh == FLOOR_WH and made.config.proc_size_wh == FLOOR_WH
    assert loop.shown_proc_wh == FLOOR_WH and f"processing {FLOOR_WH[0]}x{FLOOR_WH[1]}" in loop.overlay()[0]


def test_no_adaptive_keeps_the_processing_size(config, segmentation_model):
    config = dataclasses.replace(config, proc_size_wh=(640, 360), fps=240.0, adaptive=False)
    made = build_pipeline(config)
    try:
        loop = LiveLoop(SkippingCamera("f" * 12), made, NullSink(), CommandQueue(), KeyMap.from_config(config.keys))
        loop.run()
    finally:
        made.close()
    assert made.config.proc_size_wh == (640, 360) and "(adaptive)" not in loop.overlay()[0]


def test_every_command_is_handled_by_the_loop_or_a_pipeline_intent():
    assert set(PIPELINE_INTENTS) | {Command.QUIT, Command.SNAPSHOT} == set(Command)
    assert not {Command.QUIT, Command.SNAPSHOT} & set(PIPELINE_INTENTS)


def _run_scripted(config, monkeypatch, script):
    """run_live over a scripted camera into the fake virtual-camera driver."""
    camera = ScriptedCamera(script)
    monkeypatch.setattr(app, "open_source", lambda *a, **k: camera)
    config = dataclasses.replace(config, output="virtualcam", virtualcam_backend="live-nst-fake",
                                 keys=dataclasses.replace(config.keys, global_hotkeys=False))
    return run_live(config), camera


@pytest.mark.parametrize("script, code", [
    ("bbb", EXIT_NOTHING_PAINTED),  # every frame failed
    ("", EXIT_NOTHING_PAINTED),  # the source ended before delivering a frame
    ("bbk", EXIT_INTERRUPTED),  # Ctrl-C says "interrupted" whatever came before
    ("bfb", EXIT_OK),  # one painted frame is a stream
    ("xk", EXIT_INTERRUPTED),
])
def test_exit_code_says_whether_any_frame_was_painted(config, monkeypatch, fake_backends, segmentation_model,
                                                      script, code):
    assert _run_scripted(config, monkeypatch, script)[0] == code
    driver = fake_backends[0]
    assert driver.closed and len(driver.frames) == len(script.replace("k", ""))


def test_ctrl_c_releases_the_camera_and_the_virtual_camera(config, monkeypatch, fake_backends, segmentation_model):
    code, camera = _run_scripted(config, monkeypatch, "fffk")
    assert code == EXIT_INTERRUPTED
    driver = fake_backends[0]
    assert camera.closed and driver.closed
    assert len(driver.frames) == 3 and driver.frames[0].size == SIZE_WH[0] * SIZE_WH[1] * 3  # pyvirtualcam flattens


def test_run_without_segmentation_model_or_styles_fails_clearly(capsys, tmp_path):
    code = main(["run", "--source", "sample", "--output", "null", "--frames", "1", "--person-style", "no_such"])
    assert code == 2
    assert "unknown style 'no_such'" in capsys.readouterr().err
    code = main(["run", "--source", "sample", "--output", "null", "--frames", "1",
                 "--segmentation-model", str(tmp_path / "missing.tflite")])
    assert code == 2


def test_bad_config_file_stops_at_start(tmp_path, capsys):
    bad = tmp_path / "live-nst.toml"
    bad.write_text("[person]\nstrength = 2.5\n")
    assert main(["run", "--config", str(bad), "--output", "null", "--frames", "1"]) == 2
    assert "strength must be a number from 0.0 to 1.0" in capsys.readouterr().err


def test_styles_json_lists_the_pack(capsys, catalog):
    assert main(["styles", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["name"] for row in rows} >= set(catalog.names)
    assert all(Path(row["path"]).is_file() for row in rows)


def test_run_on_the_sample_writes_a_painted_video(tmp_path):
    out = tmp_path / "sample.mp4"
    code = main(["run", "--source", "sample", "--output", f"file:{out}", "--frames", "6", "--size", "320x180",
                 "--proc-size", "320x180", "--no-global-hotkeys"])
    assert code == 0
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6


@pytest.mark.display
def test_global_hotkey_quits_a_running_stream(xvfb_display, segmentation_model):
    """End to end: live-nst run under a real X server, Ctrl+Alt+Q typed with xdotool."""
    env = {**os.environ, "DISPLAY": xvfb_display}
    process = subprocess.Popen([*LIVE_NST, "run", "--source", "sample", "--output", "null",
                                "--size", "320x180", "--proc-size", "160x90"],
                               env=env, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:  # wait until the hotkeys are registered
            if "live: person" in line:
                break
        subprocess.run(["xdotool", "key", "ctrl+alt+q"], env=env, check=True)
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
@pytest.mark.slow  # hundreds of frames through the real pipeline
def test_memory_stays_flat_over_a_long_run(pipeline):
    camera = ScriptedCamera("f" * 60)
    loop = LiveLoop(camera, pipeline, NullSink(), CommandQueue(), KeyMap.from_config(pipeline.config.keys))

    def run_for(frames: int):
        camera.script, camera.ended = list("f" * frames), False
        return loop.run()

    # Warm up: sessions, buffers and allocator pools settle over the first couple of
    # hundred frames (measured: RSS rises about 30 MiB, then stays within a few MiB).
    loop.run()
    run_for(150)
    warm = _rss_mib()
    stats = run_for(300)
    grown = _rss_mib() - warm
    assert stats.frames == 510
    # A leak of one 320x180 frame per frame would be 50 MiB here.
    assert grown < 25, f"memory grew by {grown:.1f} MiB over 300 frames"


def test_into_a_file_the_sample_goes_frame_by_frame_at_true_speed(tmp_path, segmentation_model, capsys):
    """At 240 fps no machine keeps up: by the clock the sample would skip most frames; into
    a file, frame n of the video is the sample's frame n (so it plays at true speed)."""
    from live_nst.video import probe, read_frames

    out = tmp_path / "sample.mp4"
    code = main(["run", "--source", "sample", "--output", str(out), "--frames", "24", "--fps", "240", "--size",
                 "160x96", "--proc-size", "160x96", "--person-style", "original", "--background-style", "original",
                 "--no-temporal", "--crf", "8"])
    assert code == 0
    assert "24/24" in capsys.readouterr().err, "no progress shown"
    frames = list(read_frames(out))
    assert len(frames) == 24 and probe(out).fps == 240
    sample = SampleSource((160, 96), 240.0, paced=False)
    for index in (8, 23):
        error = np.abs(frames[index].astype(int) - sample.frame_at(index)).mean()
        later = np.abs(frames[index].astype(int) - sample.frame_at(index * 8)).mean()
        assert error < 4 and error < later / 2, (index, error, later)


def test_snapshots_in_the_same_second_never_share_a_name(pipeline, tmp_path):
    from live_nst.snapshots import new_file

    loop = LiveLoop(ScriptedCamera("f"), pipeline, NullSink(), CommandQueue(), KeyMap.from_config(pipeline.config.keys),
                    snapshot_dir=tmp_path)
    loop.last_good = np.full((SIZE_WH[1], SIZE_WH[0], 3), 7, np.uint8)
    paths = [loop.snapshot() for _ in range(3)]
    assert len(set(paths)) == 3 and sorted(tmp_path.glob("*.png")) == sorted(paths)
    assert all(cv2.imread(str(path)).shape == (SIZE_WH[1], SIZE_WH[0], 3) for path in paths)
    (tmp_path / "shot.png").write_bytes(b"kept")
    path, handle = new_file(tmp_path, "shot", ".png")
    handle.close()
    assert path.name == "shot-2.png" and (tmp_path / "shot.png").read_bytes() == b"kept"
