"""The adaptive-quality controller, fed synthetic frame times (no clocks, no sleeps)."""

from __future__ import annotations

import pytest

from live_nst.quality import FLOOR_WH, MIN_SETTLE_FRAMES, QualityController, QualityTiming, size_ladder

FPS = 30.0
BUDGET_MS = 1000.0 / FPS
TIMING = QualityTiming()  # the real defaults: frames are counted, so tests stay fast anyway


def pixels(size_wh) -> int:
    return size_wh[0] * size_wh[1]


class Machine:
    """A synthetic machine: a frame's time grows with the pixel count (plus a fixed part),
    optionally slowed by another app from some frame on."""

    def __init__(self, ms_at_640x360: float, fixed_ms: float = 2.0) -> None:
        self.per_pixel = (ms_at_640x360 - fixed_ms) / (640 * 360)
        self.fixed_ms = fixed_ms
        self.slowdown = 1.0

    def frame_ms(self, size_wh) -> float:
        return (self.fixed_ms + self.per_pixel * pixels(size_wh)) * self.slowdown


def run(controller: QualityController, machine: Machine, frames: int, jitter: float = 0.0) -> list:
    """Feed ``frames`` frames; the changes the controller made."""
    changes = []
    for n in range(frames):
        wobble = 1.0 + jitter * (1 if n % 2 else -1)
        change = controller.observe(machine.frame_ms(controller.size_wh) * wobble)
        if change is not None:
            changes.append(change)
    return changes


def test_the_ladder_goes_from_the_configured_size_to_the_floor_in_its_aspect():
    ladder = size_ladder((640, 360))
    assert ladder[0] == (640, 360) and ladder[-1] == FLOOR_WH
    assert all(pixels(a) > pixels(b) for a, b in zip(ladder, ladder[1:]))
    assert all(w % 4 == 0 and h % 4 == 0 and abs(w / h - 16 / 9) < 0.03 for w, h in ladder)
    portrait = size_ladder((480, 640))
    assert all(pixels(size) >= pixels(FLOOR_WH) * 0.95 for size in portrait)
    assert all(abs(w / h - 0.75) < 0.03 for w, h in portrait)
    assert size_ladder((160, 90)) == [(160, 90)], "a size under the floor is never changed"


def test_a_machine_that_holds_the_rate_keeps_the_size():
    controller = QualityController((640, 360), FPS)
    assert run(controller, Machine(ms_at_640x360=25.0), frames=3000, jitter=0.2) == []
    assert controller.size_wh == (640, 360)


def test_a_slow_machine_steps_down_far_enough_at_once_and_logs_why():
    controller = QualityController((640, 360), FPS)
    changes = run(controller, Machine(ms_at_640x360=45.0), frames=600)
    assert len(changes) == 1, changes
    change = changes[0]
    assert change.down and change.old == (640, 360) and change.new == controller.size_wh
    assert change.frame_ms == pytest.approx(45.0) and change.budget_ms == pytest.approx(BUDGET_MS)
    assert Machine(45.0).frame_ms(controller.size_wh) < BUDGET_MS, "the new size must hold the rate"


def test_a_machine_far_below_the_rate_steps_down_after_seconds_of_its_own_frames():
    """Start-up is counted in the frames' measured time: at 4 fps, 2 s are 8 frames, not 60."""
    controller = QualityController((640, 360), FPS)
    changes, elapsed_s = [], 0.0
    machine = Machine(ms_at_640x360=250.0)
    while not changes and elapsed_s < 60:
        frame_ms = machine.frame_ms(controller.size_wh)
        elapsed_s += frame_ms / 1000
        if (change := controller.observe(frame_ms)) is not None:
            changes.append(change)
    assert changes and changes[0].new == FLOOR_WH
    window_s = round(FPS * TIMING.window_s) * 0.25
    assert elapsed_s <= TIMING.startup_s + window_s + 0.5, f"first step down after {elapsed_s:.1f} s"


def test_never_below_the_floor_however_slow():
    controller = QualityController((640, 360), FPS)
    run(controller, Machine(ms_at_640x360=500.0), frames=2000)
    assert controller.size_wh == FLOOR_WH


def test_single_slow_frames_change_nothing():
    controller = QualityController((640, 360), FPS)
    for n in range(2000):
        assert controller.observe(200.0 if n % 10 == 0 else 20.0) is None  # a hiccup every 10th frame


@pytest.mark.parametrize("long_ms, short_ms, steps_down", [(70.0, 6.0, True), (56.0, 6.0, False)])
def test_frames_going_out_in_pairs_are_judged_by_their_mean(long_ms, short_ms, steps_down):
    """Two painters: frames go out in pairs, a long wait and then a short one. Their mean
    is what sets the frame rate (38 ms: 26 fps, under the target; 31 ms: over it), whichever
    of the two the middle of a window happens to be."""
    for first_long in (True, False):
        controller = QualityController((640, 360), FPS)
        changes = []
        for n in range(600):
            frame_ms = long_ms if (n % 2 == 0) == first_long else short_ms
            if (change := controller.observe(frame_ms)) is not None:
                changes.append(change)
        assert bool(changes) == steps_down, changes
        if steps_down:
            assert changes[0].down and changes[0].frame_ms == pytest.approx((long_ms + short_ms) / 2, rel=0.1)


def test_back_up_when_the_load_goes_away_but_not_at_once():
    controller = QualityController((640, 360), FPS)
    machine = Machine(ms_at_640x360=25.0)
    machine.slowdown = 2.0  # another app busy
    run(controller, machine, frames=300)
    low = controller.size_wh
    assert pixels(low) < pixels((640, 360))
    machine.slowdown = 1.0
    assert run(controller, machine, frames=round(FPS * TIMING.up_after_s * 0.5)) == [], "stepped up too soon"
    changes = run(controller, machine, frames=round(FPS * 60))
    assert changes and all(not c.down for c in changes)
    assert all(ladder_step(c) == 1 for c in changes), "up one size at a time"
    assert controller.size_wh == (640, 360), "never above the configured size, and back to it"


def ladder_step(change) -> int:
    ladder = size_ladder((640, 360))
    return ladder.index(change.old) - ladder.index(change.new)


def test_no_oscillation_at_the_edge():
    """A machine on the edge between two sizes settles on one: at most a few changes in
    ten minutes of frames, and a step up that fails waits longer before the next try."""
    controller = QualityController((640, 360), FPS)
    # 640x360 cannot hold the rate; one size down, the frames take ~0.8 of the budget: the
    # controller's estimate for the size up (pixel-proportional) says it is too much.
    changes = run(controller, Machine(ms_at_640x360=36.0), frames=round(FPS * 600), jitter=0.1)
    assert 1 <= len(changes) <= 3, [(c.old, c.new) for c in changes]


def test_a_failed_step_up_backs_off():
    """A size the estimate keeps calling affordable, that is not: each failed try makes
    the next one wait longer, up to a limit."""
    controller = QualityController((640, 360), FPS)

    def frame_ms(size_wh) -> float:  # 640x360 looks cheap from below, but is not
        return 40.0 if size_wh == (640, 360) else 12.0

    ups = []
    for n in range(round(FPS * 300)):
        change = controller.observe(frame_ms(controller.size_wh))
        if change is not None and change.new == (640, 360):
            ups.append(n)
    gaps = [b - a for a, b in zip(ups, ups[1:])]
    assert len(gaps) >= 3 and gaps[0] < gaps[1] < gaps[2], gaps
    assert all(b >= a for a, b in zip(gaps, gaps[1:])), gaps  # then at the longest wait, still trying


def test_frames_right_after_a_change_are_not_judged():
    controller = QualityController((640, 360), FPS, timing=QualityTiming(startup_s=0.0))
    run(controller, Machine(ms_at_640x360=80.0), frames=MIN_SETTLE_FRAMES + round(FPS * TIMING.window_s) + 1)
    assert controller.size_wh != (640, 360)
    settled = controller.size_wh
    for _ in range(round(FPS * TIMING.settle_s)):
        assert controller.observe(10_000.0) is None  # warm-up frames at the new size
    assert controller.size_wh == settled


def test_disabled_keeps_the_size():
    controller = QualityController((640, 360), FPS, enabled=False)
    assert run(controller, Machine(ms_at_640x360=500.0), frames=1000) == []
    assert controller.size_wh == (640, 360)


def test_bad_fps_is_refused():
    with pytest.raises(ValueError, match="fps"):
        QualityController((640, 360), 0)
