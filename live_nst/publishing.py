"""What the live loop shows, published for the control server (``--control``): the looks
(taken on the preparing thread right after each change), the frame rate and the
processing size."""

from __future__ import annotations

import time

from live_nst.framing import SizeWH
from live_nst.pipeline import FramePipeline
from live_nst.remote.state import LiveState, Looks, StateBoard, StyleView, styles_of

FPS_PUBLISHED_EVERY_S = 1.0  # the control page's fps: news once a second, not every frame


class LooksPublisher:
    """Holds the looks last taken and puts the state of the moment on ``board`` (none: looks only)."""

    def __init__(self, pipeline: FramePipeline, board: StateBoard | None = None) -> None:
        self.board = board
        self._styles: tuple[object, tuple[StyleView, ...]] | None = None  # (catalog, its styles) last seen
        self.serial = 0  # looks taken so far
        self.looks = self.take_looks(pipeline)
        self._fps_published = (-float("inf"), 0.0)  # when, and what

    def take_looks(self, pipeline: FramePipeline) -> Looks:
        """The pipeline's looks now (call it where the pipeline is not changing under it)."""
        if self._styles is None or self._styles[0] is not pipeline.catalog:
            self._styles = (pipeline.catalog, styles_of(pipeline.catalog))
        self.serial += 1
        self.looks = Looks.of(pipeline, self._styles[1], self.serial)
        return self.looks

    def publish(self, fps: float, proc_wh: SizeWH) -> None:
        """Show the control server the state of the moment (the board ignores no news)."""
        if self.board is None:
            return
        now = time.monotonic()
        if now - self._fps_published[0] >= FPS_PUBLISHED_EVERY_S:
            self._fps_published = (now, round(fps, 1))
        self.board.publish(LiveState(self.looks, self._fps_published[1], proc_wh))
