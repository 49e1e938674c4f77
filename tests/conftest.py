"""Shared fixtures. Data from ../shared/data is used where present (always in CI) and
the tests that need it skip on a user's machine without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clips import SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the measurement data at {SHARED_DATA}")
        pytest.skip(f"measurement data not found at {SHARED_DATA} (set LIVE_NST_SHARED_DATA to its folder)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def segmentation_model() -> Path:
    """The real MediaPipe selfie model, fetched and sha256-checked into the user cache."""
    from live_nst.segment import resolve_segmentation_model

    return resolve_segmentation_model("auto")


@pytest.fixture(scope="session")
def catalog():
    """The installed styles: the shipped pack (plus LIVE_NST_STYLES while developing)."""
    from live_nst.catalog import StyleCatalog

    styles = StyleCatalog.default()
    if len(styles.names) < 2:
        pytest.fail("the shipped style pack is missing from live_nst/styles/")
    return styles


@pytest.fixture(scope="session")
def greenscreen(shared_data):
    """The first frames of the green-screen clip with their exact alpha (person = 1)."""
    from live_nst.bench.metrics import read_mask_folder, read_video

    folder = shared_data / "video" / "greenscreen"
    frames = read_video(folder / "d0_bookcase_composite.mp4", max_frames=8)
    return frames, read_mask_folder(folder / "alpha", max_frames=8)


@pytest.fixture(scope="session")
def xvfb_display():
    """A throwaway X server for tests that need a screen and keystrokes."""
    import shutil
    import subprocess

    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        if os.environ.get("CI"):
            pytest.fail("CI must have Xvfb and xdotool (.ci/run installs them)")
        pytest.skip("Xvfb and xdotool are not installed (apt-get install xvfb xdotool)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "640x480x24", "-nolisten",
                               "tcp"], pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def fake_backends():
    """Fake virtual-camera drivers registered through pyvirtualcam's own register_backend."""
    import pyvirtualcam
    from fakes import FakeDriver, MissingDriver
    from pyvirtualcam.camera import BACKENDS

    pyvirtualcam.register_backend("live-nst-fake", FakeDriver)
    pyvirtualcam.register_backend("live-nst-missing", MissingDriver)
    FakeDriver.instances.clear()
    yield FakeDriver.instances
    BACKENDS.pop("live-nst-fake", None)
    BACKENDS.pop("live-nst-missing", None)


@pytest.fixture(scope="module")
def one_torch_thread():
    """The PyTorch tests use tiny tensors: extra threads only add overhead and contention."""
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
