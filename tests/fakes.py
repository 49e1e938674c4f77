"""Test doubles for what this machine lacks: the device boundary only."""

from __future__ import annotations

import numpy as np


class FakeDriver:
    """A virtual-camera backend in pyvirtualcam's interface that keeps what it is sent."""

    instances: list[FakeDriver] = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw) -> None:
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.name = device or "Fake Virtual Camera"
        self.frames: list[np.ndarray] = []
        self.closed = False
        FakeDriver.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self.name

    def native_fourcc(self):
        return None


class MissingDriver:
    """What a backend does when its driver is not installed."""

    def __init__(self, **kw) -> None:
        raise RuntimeError("No v4l2 loopback device found at /dev/video[0-99]. Did you run 'modprobe v4l2loopback'?")
