"""The live loop as the benchmark runs it for a while: ``live-nst run``'s own loop
(:class:`live_nst.app.LiveLoop` over the one runner, :mod:`live_nst.runner`: the real
pipeline built as ``run`` builds it, its painters and ONNX Runtime threads, the quality
controller) reading a clip paced at its own frame rate, as a camera
delivers it, and looping, with a null sink; stopped after a given time by its quit
command, as a user's quit key stops it. The adaptive section and the soak run use it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from live_nst.app import LiveLoop, LoopStats
from live_nst.bench.speed import ClipReader
from live_nst.config import RunConfig
from live_nst.controls import Command, CommandQueue, KeyMap
from live_nst.framing import SizeWH
from live_nst.quality import QualityController
from live_nst.runner import build_running_pipeline
from live_nst.sinks import NullSink


@contextmanager
def live_loop(config: RunConfig, catalog, clip: str | Path, input_wh: SizeWH, threads: int = 0,
              quality: QualityController | None = None) -> Iterator[LiveLoop]:
    """A LiveLoop built as ``live-nst run`` builds one (``threads``: ONNX Runtime's per
    painter, 0: as live-nst run shares out the cores), over ``clip`` at ``input_wh``, paced
    and looping, into a null sink; the pipeline and the clip are closed on the way out.
    ``config.fps`` should be the clip's (the quality controller's frame budget)."""
    pipeline = build_running_pipeline(config, catalog, threads)
    try:
        with ClipReader(clip, input_wh, paced=True) as source, NullSink(config.size_wh, config.fps) as sink:
            yield LiveLoop(source, pipeline, sink, CommandQueue(), KeyMap.from_config(config.keys), quality=quality)
    finally:
        pipeline.close()


def run_for(loop: LiveLoop, seconds: float, tick: Callable[[float], object] | None = None,
            every: float = 1.0) -> LoopStats:
    """Run ``loop`` on this thread for ``seconds`` (or until its source ends or it fails);
    with ``tick``, a timer thread calls ``tick(seconds since the start)`` every ``every``
    seconds and once more at the end. Ctrl-C stops the loop as it stops ``live-nst run``."""
    started = time.monotonic()
    done = threading.Event()

    def clock() -> None:
        count = 1
        try:
            while True:
                due = min(seconds, count * every) if tick is not None else seconds
                if done.wait(max(0.0, started + due - time.monotonic())):
                    return
                if tick is not None:
                    tick(time.monotonic() - started)
                if due >= seconds:
                    return
                count += 1
        finally:  # the time is up, or tick failed: the loop must not run on
            if not done.is_set():
                loop.commands.put(Command.QUIT)

    timer = threading.Thread(target=clock, name="live-nst-bench-clock", daemon=True)
    timer.start()
    try:
        return loop.run()
    finally:
        done.set()
        timer.join()
