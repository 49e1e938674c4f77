"""live_nst.video: the one reader and writer of video files, on real clips and on tiny
files written here with OpenCV."""

from __future__ import annotations

import logging
import struct

import cv2
import numpy as np
import pytest

from live_nst import video
from live_nst.bench.context import load_frames, video_fps
from live_nst.errors import SinkError, SourceError
from live_nst.sources import VideoFileSource
from live_nst.video import DEFAULT_FPS, VideoReader, VideoWriter, probe, read_frames

RED_BGR = (0, 0, 255)


def write_clip(path, frames_bgr, fps=10.0, fourcc="MJPG"):
    """A video written straight with OpenCV (not through live_nst.video)."""
    height, width = frames_bgr[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened()
    for frame in frames_bgr:
        writer.write(frame)
    writer.release()
    return path


def numbered_frames(count, shape_hw=(48, 64)):
    """Frames whose brightness tells their index apart."""
    return [np.full((*shape_hw, 3), 20 * i + 10, np.uint8) for i in range(count)]


def rotated_clip(path, degrees):
    """An mp4 whose track header asks players to rotate it ``degrees`` clockwise: the
    display matrix a phone writes, patched into the tkhd box OpenCV wrote. Coded frames
    are 64x32 with the left half red."""
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:, :32] = RED_BGR
    write_clip(path, [frame] * 3, fourcc="mp4v")
    data = bytearray(path.read_bytes())
    tkhd = data.find(b"tkhd")
    assert tkhd > 0 and data[tkhd + 4] == 0, "expected a version-0 track header"
    one = 1 << 16
    a, b = {90: (0, one), 180: (-one, 0), 270: (0, -one)}[degrees]
    matrix_at = tkhd + 4 + 40  # after version/flags, times, ids, duration, layer, volume
    data[matrix_at:matrix_at + 36] = struct.pack(">9i", a, b, 0, -b, a, 0, 0, 0, 1 << 30)
    path.write_bytes(bytes(data))
    return path


# --- real clips ---------------------------------------------------------------------


@pytest.mark.parametrize("relative, size_wh, fps, count", [
    ("video/webcam_like/liveportrait_d12.mp4", (512, 512), 25.0, 183),
    ("video/greenscreen/d0_bookcase_composite.mp4", (512, 480), 25.0, 78),
    ("video/davis/lucia/lucia.mp4", (854, 480), 24.0, 70),
    ("video/generic_motion/openpose_street_people.avi", (1280, 720), 50.0, 205),
])
def test_probe_real_clips(shared_data, relative, size_wh, fps, count):
    info = probe(shared_data / relative)
    assert (info.size_wh, info.fps, info.frame_count, info.rotation) == (size_wh, fps, count, 0)


def test_reading_a_real_clip_gives_every_frame_as_rgb(shared_data):
    path = shared_data / "video/greenscreen/d0_bookcase_composite.mp4"
    frames = list(read_frames(path))
    assert len(frames) == probe(path).frame_count
    for frame in frames[:5]:
        assert frame.shape == (480, 512, 3) and frame.dtype == np.uint8 and frame.flags.c_contiguous
    capture = cv2.VideoCapture(str(path))
    ok, first_bgr = capture.read()
    capture.release()
    assert ok and np.array_equal(frames[0], first_bgr[..., ::-1])


def test_every_reader_of_a_clip_agrees(shared_data):
    path = shared_data / "video/webcam_like/liveportrait_d12.mp4"
    own = list(read_frames(path, limit=3))
    with VideoFileSource(path, paced=False) as source:
        from_source = [source.read().image for _ in range(3)]
        assert (source.size_wh, source.fps) == (probe(path).size_wh, video_fps(path))
    for mine, theirs, bench in zip(own, from_source, load_frames(path, 3)):
        assert np.array_equal(mine, theirs) and np.array_equal(mine, bench)


# --- tiny files ---------------------------------------------------------------------


def test_frame_count_and_limit(tmp_path):
    path = write_clip(tmp_path / "five.avi", numbered_frames(5))
    info = probe(path)
    assert (info.size_wh, info.fps, info.frame_count) == ((64, 48), 10.0, 5)
    frames = list(read_frames(path))
    assert len(frames) == 5
    assert [int(f.mean()) for f in frames] == pytest.approx([10, 30, 50, 70, 90], abs=3)
    assert len(list(read_frames(path, limit=2))) == 2
    assert list(read_frames(path, limit=0)) == []


def test_a_red_frame_reads_back_red(tmp_path):
    path = write_clip(tmp_path / "red.avi", [np.full((48, 64, 3), RED_BGR, np.uint8)] * 2)
    red, green, blue = next(read_frames(path)).reshape(-1, 3).mean(axis=0)
    assert red > 200 and green < 50 and blue < 50


@pytest.mark.parametrize("fps", [1000.0, 0.5])
def test_an_implausible_frame_rate_becomes_the_default_everywhere(tmp_path, caplog, fps):
    path = write_clip(tmp_path / "odd.avi", numbered_frames(3), fps=fps)
    with caplog.at_level(logging.WARNING, logger="live_nst.video"):
        assert probe(path).fps == DEFAULT_FPS
    assert "odd.avi" in caplog.text and "plausible" in caplog.text
    assert video_fps(path) == DEFAULT_FPS
    with VideoFileSource(path, paced=False) as source:
        assert source.fps == DEFAULT_FPS


def test_plausible_fps_rule():
    assert video.plausible_fps(29.97, "x") == 29.97
    for bad in (0.0, float("nan"), float("inf"), -5.0, 0.99, 240.5):
        assert video.plausible_fps(bad, "x") == DEFAULT_FPS


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_container_rotation_is_applied(tmp_path, degrees):
    path = rotated_clip(tmp_path / f"rot{degrees}.mp4", degrees)
    info = probe(path)
    assert info.rotation == degrees
    assert info.size_wh == ((64, 32) if degrees == 180 else (32, 64))
    frame = next(read_frames(path))
    assert frame.shape == (info.size_wh[1], info.size_wh[0], 3)
    # The red left half of the coded frame ends up on top (90), right (180) or bottom (270).
    coded_red = np.zeros((32, 64), bool)
    coded_red[:, :32] = True
    assert ((frame[..., 0] > 128) == np.rot90(coded_red, k=-degrees // 90)).mean() > 0.95
    with VideoFileSource(path, paced=False) as source:
        assert source.size_wh == info.size_wh and np.array_equal(source.read().image, frame)


def test_rotation_is_applied_here_when_opencv_does_not(tmp_path, monkeypatch):
    path = rotated_clip(tmp_path / "rot90.mp4", 90)
    upright = next(read_frames(path))
    opened = video._open_capture

    def without_auto_rotation(p):
        capture = opened(p)
        capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)  # a backend that leaves it to us
        return capture

    monkeypatch.setattr(video, "_open_capture", without_auto_rotation)
    info = probe(path)
    assert (info.rotation, info.size_wh) == (90, (32, 64))
    assert np.array_equal(next(read_frames(path)), upright)


def test_rewind_starts_again_at_the_first_frame(tmp_path):
    path = write_clip(tmp_path / "three.avi", numbered_frames(3))
    with VideoReader(path) as reader:
        first = [reader.read() for _ in range(3)]
        assert reader.read() is None
        reader.rewind()
        assert np.array_equal(reader.read(), first[0]) and np.array_equal(reader.read(), first[1])


def test_missing_unreadable_and_empty_files_raise_source_errors(tmp_path):
    missing = tmp_path / "nope.mp4"
    for open_it in (probe, read_frames, VideoReader):
        with pytest.raises(SourceError, match="nope.mp4 does not exist.*check the path"):
            open_it(missing)
    junk = tmp_path / "junk.mp4"
    junk.write_text("this is not a video")
    with pytest.raises(SourceError, match="could not open the video .*junk.mp4.*ffmpeg"):
        probe(junk)


# --- writing ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_writer_round_trip(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    red = np.zeros((48, 64, 3), np.uint8)
    red[..., 0] = 230
    with VideoWriter(path, (64, 48), 25.0) as writer:
        for _ in range(4):
            writer.write(red)
    assert writer.frames == 4
    info = probe(path)
    assert (info.size_wh, info.fps, info.frame_count) == ((64, 48), 25.0, 4)
    r, g, b = next(read_frames(path)).reshape(-1, 3).mean(axis=0)
    assert r > 180 and g < 60 and b < 60


def test_writer_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(SinkError, match="does not exist"):
        VideoWriter(tmp_path / "no-such-folder" / "out.mp4", (64, 48), 25.0)
    with pytest.raises(SinkError, match="not supported"):
        VideoWriter(tmp_path / "out.gif", (64, 48), 25.0)
    with pytest.raises(SinkError, match="fps"):
        VideoWriter(tmp_path / "out.avi", (64, 48), 0.0)
    with VideoWriter(tmp_path / "out.avi", (64, 48), 25.0) as writer:
        with pytest.raises(SinkError, match=r"\(48, 64, 3\)"):
            writer.write(np.zeros((96, 128, 3), np.uint8))
        with pytest.raises(SinkError, match="uint8"):
            writer.write(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(SinkError, match="closed"):
        writer.write(np.zeros((48, 64, 3), np.uint8))
