"""Sources with real OpenCV and real clips. Only the camera device is faked: a fake
VideoCapture serves the frames of a real clip, one per 'shot' the test releases, and can
be unplugged and plugged back in."""

from __future__ import annotations

import logging
import threading

import cv2
import numpy as np
import pytest

from live_nst.errors import ConfigError, SourceError
from live_nst.sources import Frame, SampleSource, VideoFileSource, WebcamSource, open_source

CLIP = "video/webcam_like/liveportrait_d12.mp4"  # 512x512, 25 fps, 183 frames


@pytest.fixture(scope="module")
def clip(shared_data):
    return shared_data / CLIP


@pytest.fixture(scope="module")
def clip_frames(clip) -> list[np.ndarray]:
    """Every frame of the clip, BGR, as OpenCV decodes it."""
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


# --- the fake camera device ---------------------------------------------------------


class FakeCameraDevice:
    """A camera on a fake bus. ``opener`` is what WebcamSource gets; each capture it makes
    delivers one clip frame per shot, and fails while the camera is unplugged."""

    def __init__(self, frames: list[np.ndarray], index: int = 0) -> None:
        self.frames, self.index = frames, index
        self.cond = threading.Condition()
        self.plugged = True
        self.sends_nothing = False  # opens fine, but every read fails
        self.free_run = False
        self.shots = 0
        self.delivered = 0
        self.read_calls = 0
        self.open_attempts = 0
        self.captures: list[FakeCapture] = []

    def opener(self, index: int) -> FakeCapture:
        with self.cond:
            self.open_attempts += 1
            capture = FakeCapture(self, opened=self.plugged and index == self.index)
            self.captures.append(capture)
            self.cond.notify_all()
            return capture

    def shoot(self, count: int) -> None:
        self._change(shots=self.shots + count)

    def unplug(self) -> None:
        self._change(plugged=False)

    def replug(self) -> None:
        self._change(plugged=True)

    def run_free(self) -> None:
        self._change(free_run=True)

    def _change(self, **values) -> None:
        with self.cond:
            for name, value in values.items():
                setattr(self, name, value)
            self.cond.notify_all()

    def wait_for(self, predicate, what: str) -> None:
        with self.cond:
            if not self.cond.wait_for(predicate, timeout=10):
                raise AssertionError(f"the fake camera never saw: {what}")


class FakeCapture:
    """The cv2.VideoCapture methods WebcamSource uses."""

    def __init__(self, device: FakeCameraDevice, opened: bool) -> None:
        self.device, self.opened, self.released = device, opened, False
        self.settings: dict[int, float] = {}

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.settings[prop] = value
        return True

    def get(self, prop: int) -> float:
        if prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT):  # the camera's native size
            return float(self.device.frames[0].shape[1 if prop == cv2.CAP_PROP_FRAME_WIDTH else 0])
        return self.settings.get(prop, 0.0)

    def read(self):
        device = self.device
        with device.cond:
            device.read_calls += 1
            device.cond.notify_all()
            device.cond.wait_for(lambda: not device.plugged or device.shots > 0 or device.free_run
                                 or device.sends_nothing)
            if not device.plugged or not self.opened or device.sends_nothing:
                return False, None
            if not device.free_run:
                device.shots -= 1
            frame = device.frames[device.delivered % len(device.frames)].copy()
            device.delivered += 1
            return True, frame

    def release(self) -> None:
        with self.device.cond:
            self.released = True
            self.device.cond.notify_all()


@pytest.fixture
def camera(clip_frames):
    device = FakeCameraDevice(clip_frames[:20])
    sources = []

    def open_camera(**kwargs) -> WebcamSource:
        source = WebcamSource(0, (1280, 720), 30.0, opener=device.opener, **kwargs)
        sources.append(source)
        return source

    yield device, open_camera
    device.run_free()  # unblock a capture thread waiting for a shot
    for source in sources:
        source.close()


def rgb(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# --- webcam -------------------------------------------------------------------------


def test_slow_reader_gets_the_newest_frame_not_a_backlog(camera, clip_frames):
    device, open_camera = camera
    source = open_camera()
    device.shoot(5)
    device.wait_for(lambda: device.read_calls >= 6, "5 frames stored and the thread back in read()")
    frame = source.read(timeout=5)
    assert frame.index == 4
    assert np.array_equal(frame.image, rgb(clip_frames[4]))
    assert frame.image.dtype == np.uint8 and frame.image.flags.c_contiguous and frame.image.shape == (512, 512, 3)
    assert source.read(timeout=0.05) is None  # nothing newer yet: the same frame is not handed out twice

    device.shoot(3)
    device.wait_for(lambda: device.read_calls >= 9, "3 more frames stored")
    later = source.read(timeout=5)
    assert later.index == 7  # 5 and 6 were dropped
    assert np.array_equal(later.image, rgb(clip_frames[7]))


def test_waiting_reader_is_woken_by_a_new_frame(camera, clip_frames):
    device, open_camera = camera
    source = open_camera()
    got: list[Frame | None] = []
    reader = threading.Thread(target=lambda: got.append(source.read(timeout=10)))
    reader.start()
    device.shoot(1)
    reader.join(timeout=10)
    assert not reader.is_alive() and got[0] is not None
    assert got[0].index == 0 and np.array_equal(got[0].image, rgb(clip_frames[0]))


def test_camera_requests_size_fps_and_mjpg_and_reports_what_it_got(camera):
    device, open_camera = camera
    source = open_camera()
    settings = device.captures[0].settings
    assert settings[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter_fourcc(*"MJPG")
    assert (settings[cv2.CAP_PROP_FRAME_WIDTH], settings[cv2.CAP_PROP_FRAME_HEIGHT]) == (1280, 720)
    assert settings[cv2.CAP_PROP_FPS] == 30.0
    assert source.size_wh == (512, 512)  # the fake camera's native size, not the request


def test_lost_camera_is_retried_and_resumes(camera, clip_frames):
    device, open_camera = camera
    source = open_camera(retry_initial_s=0.01, retry_max_s=0.04)
    device.shoot(2)
    device.wait_for(lambda: device.read_calls >= 3, "2 frames stored")
    before = source.read(timeout=5)
    assert before.index == 1 and not source.lost

    device.unplug()
    device.wait_for(lambda: device.open_attempts >= 3, "two reopen attempts")
    assert source.lost
    assert device.captures[0].released  # the dead capture is let go before retrying
    assert all(not capture.opened for capture in device.captures[1:])
    assert source.read(timeout=0.05) is None

    device.replug()
    device.shoot(1)
    after = source.read(timeout=10)
    assert after is not None and not source.lost
    assert after.index > before.index
    assert np.array_equal(after.image, rgb(clip_frames[device.delivered - 1]))


def test_camera_that_opens_but_sends_nothing_stays_lost_and_warns_once(camera, caplog):
    device, open_camera = camera
    device.sends_nothing = True
    with caplog.at_level(logging.INFO, logger="live_nst.sources"):
        source = open_camera(retry_initial_s=0.001, retry_max_s=0.004)
        device.wait_for(lambda: device.open_attempts >= 6, "five reopen attempts")
        assert source.lost and source.read(timeout=0.01) is None
    assert caplog.text.count("stopped delivering frames") == 1
    assert "is back" not in caplog.text  # opening is not enough: back means a frame arrived


def test_close_interrupts_the_reconnect_backoff(camera):
    device, open_camera = camera
    source = open_camera(retry_initial_s=600.0)  # the first retry would come in 10 minutes
    device.unplug()
    device.wait_for(lambda: device.captures[0].released, "the lost capture released")
    source.close()
    assert not source._thread.is_alive()
    assert source.ended and source.read(timeout=0.01) is None


def test_missing_camera_says_which_and_what_to_do(clip_frames):
    device = FakeCameraDevice(clip_frames[:1], index=0)
    with pytest.raises(SourceError) as error:
        WebcamSource(3, opener=device.opener)
    message = str(error.value)
    assert "camera 3" in message and "--source sample" in message and "webcam:N" in message
    assert device.captures[0].released


def test_missing_camera_through_real_opencv():
    with pytest.raises(SourceError, match="camera 97"):
        WebcamSource(97)


# --- video file ---------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when the source waits on it (or the test says)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def test_file_source_plays_every_frame_then_ends(clip, clip_frames):
    with VideoFileSource(clip, loop=False, paced=False) as source:
        assert source.size_wh == (512, 512) and source.fps == 25.0
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
        assert source.ended
    assert [f.index for f in frames] == list(range(len(clip_frames)))
    assert np.array_equal(frames[0].image, rgb(clip_frames[0]))
    assert np.array_equal(frames[-1].image, rgb(clip_frames[-1]))


def test_file_source_loops(clip, clip_frames):
    count = len(clip_frames)
    with VideoFileSource(clip, loop=True, paced=False) as source:
        frames = [source.read() for _ in range(count + 3)]
        assert not source.ended
    assert [f.index for f in frames] == list(range(count + 3))
    assert np.array_equal(frames[count].image, rgb(clip_frames[0]))
    assert np.array_equal(frames[count + 2].image, rgb(clip_frames[2]))


def test_paced_file_waits_one_frame_period_per_frame(clip):
    clock = FakeClock()
    with VideoFileSource(clip, paced=True, clock=clock, wait=clock.wait) as source:
        frames = [source.read() for _ in range(6)]
    assert [f.index for f in frames] == list(range(6))
    assert len(clock.waits) == 5 and clock.waits == pytest.approx([0.04] * 5)
    assert np.diff([f.timestamp for f in frames]) == pytest.approx([0.04] * 5)


def test_unpaced_file_never_waits(clip):
    clock = FakeClock()
    with VideoFileSource(clip, paced=False, clock=clock, wait=clock.wait) as source:
        frames = [source.read() for _ in range(6)]
    assert [f.index for f in frames] == list(range(6)) and clock.waits == []


def test_paced_file_skips_frames_for_a_late_reader(clip, clip_frames):
    clock = FakeClock()
    with VideoFileSource(clip, paced=True, clock=clock, wait=clock.wait) as source:
        frames = []
        for _ in range(4):
            frames.append(source.read())
            clock.now += 3 / 25  # the reader spends three frame periods per frame
    assert [f.index for f in frames] == [0, 3, 6, 9]
    assert all(np.array_equal(f.image, rgb(clip_frames[f.index])) for f in frames)
    assert clock.waits == []  # always behind: never waits


def test_paced_read_times_out_without_losing_the_frame(clip):
    clock = FakeClock()
    with VideoFileSource(clip, paced=True, clock=clock, wait=clock.wait) as source:
        assert source.read().index == 0
        assert source.read(timeout=0.01) is None
        assert source.read().index == 1


def test_missing_and_unreadable_files_name_the_path(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceError, match="nope.mp4"):
        VideoFileSource(missing)
    junk = tmp_path / "junk.mp4"
    junk.write_text("this is not a video")
    with pytest.raises(SourceError, match="junk.mp4"):
        VideoFileSource(junk)


# --- sample -------------------------------------------------------------------------


def test_sample_is_deterministic_and_moves():
    a, b = SampleSource((320, 180), 30.0, paced=False), SampleSource((320, 180), 30.0, paced=False)
    frames = [a.read() for _ in range(3)]
    assert [f.index for f in frames] == [0, 1, 2]
    assert np.array_equal(frames[2].image, b.frame_at(2))
    first, second, later = (f.astype(np.int16) for f in (b.frame_at(0), b.frame_at(1), b.frame_at(90)))
    assert 0 < np.abs(second - first).mean() < np.abs(later - first).mean()
    assert np.abs(later - first).mean() > 5  # three seconds on, the picture has visibly moved
    assert frames[0].image.shape == (180, 320, 3) and frames[0].image.dtype == np.uint8


@pytest.mark.parametrize("size_wh", [(1280, 720), (480, 640)])
def test_sample_shows_a_person_sized_face(size_wh):
    source = SampleSource(size_wh, 30.0, paced=False)
    detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    width, height = size_wh
    for index in (0, 70, 140):
        gray = cv2.cvtColor(source.frame_at(index), cv2.COLOR_RGB2GRAY)
        faces = detector.detectMultiScale(gray, 1.1, 5, minSize=(height // 6, height // 6))
        assert len(faces) >= 1, f"no face in sample frame {index}"
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
        assert 0.2 * min(width, height) < h < 0.9 * height
        assert 0.25 * width < x + w / 2 < 0.75 * width


@pytest.mark.parametrize("size_wh", [(1280, 720), (480, 640), (200, 600)])
def test_sample_covers_the_frame_without_borders(size_wh):
    source = SampleSource(size_wh, 30.0, paced=False)
    source._portrait = np.full_like(source._portrait, 255)  # any sample off the picture would be black
    for index in range(0, 400, 23):
        assert source.frame_at(index).min() >= 250


def test_close_interrupts_a_paced_wait():
    source = SampleSource((64, 48), fps=0.001)  # the second frame is due in 1000 s
    assert source.read() is not None
    got = []
    reader = threading.Thread(target=lambda: got.append(source.read()))
    reader.start()
    source.close()
    reader.join(timeout=10)
    assert not reader.is_alive() and got == [None] and source.ended


# --- open_source --------------------------------------------------------------------


def test_open_source_specs(camera, clip, caplog):
    device, _ = camera
    device.unplug()
    with caplog.at_level(logging.WARNING, logger="live_nst.sources"):
        auto = open_source("auto", (320, 180), 30.0, opener=device.opener)
    assert isinstance(auto, SampleSource) and auto.size_wh == (320, 180)
    assert "no camera found" in caplog.text and "sample" in caplog.text
    device.replug()
    with open_source("auto", (320, 180), 30.0, opener=device.opener) as webcam:
        assert isinstance(webcam, WebcamSource) and webcam.index == 0
        device.run_free()
    assert isinstance(open_source("sample", (320, 180), 30.0), SampleSource)
    with open_source(str(clip), (320, 180), 30.0, loop=False, paced=False) as video:
        assert isinstance(video, VideoFileSource) and not video.loop and not video.paced
    with pytest.raises(ConfigError, match="webcam:N"):
        open_source("webcam:front", (320, 180), 30.0)
    with pytest.raises(SourceError, match="missing-clip.mp4"):
        open_source("missing-clip.mp4", (320, 180), 30.0)
