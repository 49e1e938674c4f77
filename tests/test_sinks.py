"""Sinks with real OpenCV and the real pyvirtualcam front end; only the virtual-camera
driver is faked, through pyvirtualcam's own register_backend."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections import namedtuple

import cv2
import numpy as np
import pytest
import pyvirtualcam
from fakes import FakeDriver  # noqa: F401  (the fake_backends fixture lives in conftest)
from pyvirtualcam.util import encode_fourcc

from live_nst import sinks, video
from live_nst.errors import ConfigError, SinkError
from live_nst.sinks import (
    FileSink,
    NullSink,
    PreviewSink,
    VirtualCameraSink,
    VirtualCameraUnavailable,
    draw_overlay,
    fallback_spec,
    open_sink,
    open_sink_with_fallback,
)


def gradient(size_wh: tuple[int, int]) -> np.ndarray:
    """An RGB frame whose channels differ, so a swapped channel order shows."""
    width, height = size_wh
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    return np.ascontiguousarray(np.stack([x, y, np.full_like(x, 40)], axis=2).astype(np.uint8))


# --- virtual camera -----------------------------------------------------------------


def test_virtual_camera_sends_rgb_frames_of_its_size(fake_backends, caplog):
    with caplog.at_level(logging.INFO, logger="live_nst.sinks"):
        sink = VirtualCameraSink((64, 48), 30.0, backend="live-nst-fake", device="Studio Cam")
    driver = fake_backends[0]
    assert (driver.width, driver.height, driver.fps) == (64, 48, 30.0)
    assert driver.fourcc == encode_fourcc(pyvirtualcam.PixelFormat.RGB.value)
    assert "Studio Cam" in caplog.text
    frame = gradient((64, 48))
    sink.send(frame, ["overlay lines are for the preview only"])
    assert np.array_equal(driver.frames[0].reshape(48, 64, 3), frame)
    assert sink.keys() == []
    sink.close()
    assert driver.closed


def test_virtual_camera_resizes_mismatched_frames(fake_backends):
    with VirtualCameraSink((64, 48), 30.0, backend="live-nst-fake") as sink:
        big = gradient((128, 96))
        sink.send(big)
        sink.send(big[:, :100])  # another aspect ratio: cropped to 4:3 and resized, not an error
    sent = [f.reshape(48, 64, 3) for f in fake_backends[0].frames]
    assert len(sent) == 2
    expected = cv2.resize(big, (64, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(sent[0].astype(int) - expected).max() <= 1
    cropped = np.ascontiguousarray(big[10:85, :100])  # the centred 4:3 part of the 100x96 frame
    assert np.abs(sent[1].astype(int) - cv2.resize(cropped, (64, 48), interpolation=cv2.INTER_AREA)).max() <= 1
    assert fake_backends[0].closed


@pytest.mark.parametrize("frame_wh", [(480, 480), (360, 640), (1280, 720)])
def test_fit_frame_crops_to_the_sink_shape_never_stretches(frame_wh):
    frame = np.full((frame_wh[1], frame_wh[0], 3), 200, np.uint8)
    cv2.circle(frame, (frame_wh[0] // 2, frame_wh[1] // 2), min(frame_wh) // 5, (0, 0, 0), -1, cv2.LINE_AA)
    out = sinks.fit_frame(frame, (320, 180))
    assert out.shape == (180, 320, 3) and out.flags.c_contiguous
    ys, xs = np.nonzero(out[..., 0] < 60)
    width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    assert abs(width / height - 1.0) < 0.06, f"the disk came out {width}x{height}: the frame was stretched"


def test_missing_driver_raises_with_the_fix_for_each_os(fake_backends, monkeypatch):
    fixes = {"Linux": "modprobe v4l2loopback", "Windows": "OBS Studio 30", "Darwin": "macOS 13"}
    for system, fix in fixes.items():
        monkeypatch.setattr(sinks.platform, "system", lambda system=system: system)
        with pytest.raises(VirtualCameraUnavailable) as error:
            VirtualCameraSink((64, 48), 30.0, backend="live-nst-missing")
        message = str(error.value)
        assert isinstance(error.value, SinkError)
        assert fix in message and "--output preview" not in message
        # The driver's own long text is kept for the debug log, not the message.
        assert "No v4l2 loopback device" in error.value.driver_says and "v4l2 loopback device" not in message
    assert "Unity Capture" in sinks.virtual_camera_fix("Windows")
    assert "sudo apt install v4l2loopback-dkms" in sinks.virtual_camera_fix("Linux")


def test_unknown_backend_is_a_config_error(fake_backends):
    with pytest.raises(ConfigError, match="live-nst-fake"):
        VirtualCameraSink((64, 48), 30.0, backend="no-such-backend")


def test_fallback_choice():
    assert fallback_spec(has_display=True) == "preview"
    assert fallback_spec(has_display=False) == "file:live-nst-output.mp4"


def test_missing_driver_without_display_falls_back_to_a_file(fake_backends, monkeypatch, tmp_path, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sinks.platform, "system", lambda: "Linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with caplog.at_level(logging.DEBUG, logger="live_nst.sinks"):
        sink = open_sink_with_fallback("virtualcam", (64, 48), 25.0, backend="live-nst-missing")
    with sink:
        assert isinstance(sink, FileSink)
        sink.send(gradient((64, 48)))
    assert (tmp_path / "live-nst-output.mp4").stat().st_size > 0
    # Recovered: one warning with the fix and where the output goes, no error.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "live-nst doctor" in warnings[0] and "live-nst-output.mp4" in warnings[0]
    # Short, without pyvirtualcam's text, and offering only outputs that work without a display.
    assert "v4l2 loopback device" not in warnings[0] and "--output preview" not in warnings[0]
    assert "--output null" in warnings[0] and len(warnings[0]) < 200 + len(str(tmp_path))
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("No v4l2 loopback device" in line for line in debug)


def test_fallback_to_the_preview_warns_without_offering_the_preview_again():
    warning = sinks.fallback_warning("preview")
    assert "a preview window" in warning and "--output preview" not in warning and "--output null" in warning


def test_working_virtual_camera_needs_no_fallback(fake_backends):
    with open_sink_with_fallback("virtualcam", (64, 48), 25.0, backend="live-nst-fake") as sink:
        assert isinstance(sink, VirtualCameraSink)


# --- file ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_file_sink_writes_a_readable_video(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    red = np.zeros((48, 64, 3), np.uint8)
    red[..., 0] = 230
    with FileSink(path, (64, 48), 25.0) as sink:
        for _ in range(11):
            sink.send(red)
        sink.send(np.zeros((96, 128, 3), np.uint8))  # resized on the way in
    assert sink.frames == 12
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    capture.release()
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3)
    b, g, r = (float(frames[0][..., c].mean()) for c in range(3))
    assert r > 180 and b < 60 and g < 60  # RGB in, red out: the channel order survived
    assert frames[-1].mean() < 30


def test_file_sink_refuses_missing_folder_low_disk_and_unknown_type(tmp_path, monkeypatch):
    with pytest.raises(SinkError, match="does not exist"):
        FileSink(tmp_path / "no-such-folder" / "out.mp4", (64, 48), 25.0)
    with pytest.raises(SinkError, match="not supported"):
        FileSink(tmp_path / "out.gif", (64, 48), 25.0)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(video.shutil, "disk_usage", lambda _: usage(10**9, 10**9 - 50 * 2**20, 50 * 2**20))
    with pytest.raises(SinkError, match="50 MB free"):
        FileSink(tmp_path / "out.mp4", (64, 48), 25.0)
    assert not (tmp_path / "out.mp4").exists()


def test_closed_file_sink_refuses_frames(tmp_path):
    sink = FileSink(tmp_path / "out.avi", (32, 32), 10.0)
    sink.close()
    sink.close()  # closing twice is fine
    with pytest.raises(SinkError, match="closed"):
        sink.send(np.zeros((32, 32, 3), np.uint8))


def test_sinks_reject_frames_that_are_not_rgb_uint8(tmp_path):
    with FileSink(tmp_path / "out.avi", (32, 32), 10.0) as sink:
        with pytest.raises(SinkError, match="uint8"):
            sink.send(np.zeros((32, 32, 3), np.float32))
        with pytest.raises(SinkError, match=r"\(H, W, 3\)"):
            sink.send(np.zeros((32, 32), np.uint8))


# --- null and open_sink -------------------------------------------------------------


def test_null_sink_counts_and_keeps_the_last_frame():
    sink = NullSink()
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]
    for frame in frames:
        sink.send(frame, ["fps"])
    assert sink.frames == 3 and sink.last is frames[-1] and sink.last_overlay == ["fps"] and sink.keys() == []


def test_open_sink_specs(tmp_path, fake_backends):
    assert isinstance(open_sink("null", (32, 32), 10.0), NullSink)
    with open_sink(f"file:{tmp_path / 'a.avi'}", (32, 32), 10.0) as sink:
        assert isinstance(sink, FileSink) and sink.path == tmp_path / "a.avi"
    with open_sink("virtualcam", (32, 32), 10.0, backend="live-nst-fake", device="X") as sink:
        assert isinstance(sink, VirtualCameraSink) and fake_backends[-1].name == "X"
    for bad in ("window", "file:", ""):
        with pytest.raises(ConfigError, match="virtualcam, preview, null, or a video file"):
            open_sink(bad, (32, 32), 10.0)


# --- preview ------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="X displays are a Linux matter")
def test_preview_without_display_explains(monkeypatch):
    monkeypatch.setattr(sinks.platform, "system", lambda: "Linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(SinkError, match="needs a display"):
        PreviewSink((64, 48), "t")
    monkeypatch.setenv("DISPLAY", ":4242")  # set, but no X server there: Qt would abort the process
    with pytest.raises(SinkError, match="needs a display"):
        PreviewSink((64, 48), "t")


def test_overlay_is_white_text_on_a_dark_box():
    image = np.full((360, 640, 3), 200, np.uint8)
    out = draw_overlay(image, ["12.0 fps", "] / [  person style"])
    assert (image == 200).all()  # the input is left alone
    box = out[:40, :100]
    assert (out[-50:, -200:] == 200).all()  # far from the text: untouched
    assert np.median(box) < 100  # the box darkens what is behind it...
    assert box.max() > 240  # ...and the text on it is white
    assert np.array_equal(draw_overlay(image, []), image)


PREVIEW_SCRIPT = textwrap.dedent("""
    import subprocess, numpy as np, pyvirtualcam
    from live_nst.sinks import PreviewSink, open_sink_with_fallback

    class MissingDriver:
        def __init__(self, **kw):
            raise RuntimeError("no driver")

    pyvirtualcam.register_backend("missing", MissingDriver)
    frame = np.zeros((120, 160, 3), np.uint8); frame[..., 0] = 255
    with open_sink_with_fallback("virtualcam", (160, 120), 25.0, backend="missing") as sink:
        print("FALLBACK", type(sink).__name__)
        sink.send(frame, ["hello"])
        window = subprocess.run(["xdotool", "search", "--sync", "--name", "live-nst"],
                                capture_output=True, text=True, timeout=20).stdout.split()[-1]
        subprocess.run(["xdotool", "windowfocus", "--sync", window], timeout=20)
        got = []
        for key in ("bracketright", "q"):
            subprocess.run(["xdotool", "key", key], timeout=20)
            for _ in range(500):  # waitKey keeps one key per poll: poll until it lands
                sink.send(frame)
                new = sink.keys()
                if new:
                    got += new
                    break
        print("KEYS", "".join(got))
""")


@pytest.mark.display
def test_with_a_display_the_fallback_is_a_preview_window_that_returns_keys(xvfb_display):
    # A child process: Qt aborts a process whose X server goes away, so the test server
    # must outlive every Qt connection.
    env = {**os.environ, "DISPLAY": xvfb_display}
    done = subprocess.run([sys.executable, "-I", "-c", PREVIEW_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "FALLBACK PreviewSink" in done.stdout
    assert "KEYS ]q" in done.stdout
