"""`live-nst doctor`: every check with its status and one-line fix, through the real CLI on
this machine, and each check against what the machine lacks: a sysfs tree laid out in
tmp_path (v4l2loopback, cameras), cameras at the opener boundary, virtual cameras through
pyvirtualcam's own backend registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from commands import LIVE_NST

from live_nst import doctor
from live_nst import providers as execution_providers
from live_nst.doctor import BUSY_CAMERA_FIX, CAMERA_FIX, CHECKS, STATUSES, Check, report_text, run_checks
from live_nst.sinks import virtual_camera_fix
from live_nst.video4linux import EXCLUSIVE_CAPS_FIX, RELOAD, capture_nodes, exclusive_caps_warning, loopback_devices


def _doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The command as a user runs it."""
    clean = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    return subprocess.run([*LIVE_NST, "doctor", *args], capture_output=True,
                          text=True, timeout=120, env={**clean, "DISPLAY": "", **(env or {})})


def test_doctor_on_this_machine_gives_every_check_a_status_and_a_fix_and_exits_0():
    done = _doctor("--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    report = json.loads(done.stdout)
    assert list(report) == ["providers", "cameras", "virtual_camera", "hotkeys", "assets", "audio"] == list(CHECKS)
    for name, check in report.items():
        assert check["status"] in STATUSES, name
        assert bool(check["fix"]) == (check["status"] != "ok"), (name, check)
        assert check["detail"], name
    # What this machine lacks (no display here; cameras and v4l2loopback where sysfs has none).
    # Without a display the preview window cannot open: the fix offers the control page instead.
    assert report["hotkeys"]["status"] == "missing" and "--control" in report["hotkeys"]["fix"]
    assert "--output preview" not in report["hotkeys"]["fix"]
    if not Path("/sys/class/video4linux").exists():
        assert report["cameras"]["status"] == "missing" and report["cameras"]["fix"] == CAMERA_FIX
    if not Path("/sys/module/v4l2loopback").exists():
        assert report["virtual_camera"] == {"status": "missing", "detail": "the v4l2loopback kernel module is not "
                                            "loaded", "fix": virtual_camera_fix("Linux"), "devices": []}
    # What it has: the CPU runs the network (tested), PyAV writes sound.
    providers = report["providers"]
    assert "CPUExecutionProvider" in providers["usable"] and providers["chosen"] == providers["usable"][0]
    assert set(providers["usable"]) | set(providers["not_usable"]) == set(providers["available"])
    if not execution_providers.nvidia_driver_present():
        assert providers["status"] == "ok" and providers["chosen"] == "CPUExecutionProvider"
        assert all(why == "no NVIDIA driver found" for why in providers["not_usable"].values())
    assert report["audio"]["status"] == "ok" and not report["audio"]["missing_encoders"]


def test_the_table_has_a_line_per_check_and_the_fix_under_each_problem():
    done = _doctor()
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    checks = [line for line in lines if line.split()[0] in STATUSES]
    assert [line.split()[1] for line in checks] == list(CHECKS)
    for line, following in zip(lines, lines[1:]):
        if line.split()[0] in ("missing", "broken"):
            assert following.strip().startswith("fix: "), line
    assert lines[-1].endswith("'live-nst doctor --json' gives the same for scripts")


def test_a_check_that_fails_is_reported_and_the_others_still_run():
    def failing() -> Check:
        raise RuntimeError("boom")

    results = run_checks({"one": failing, "two": lambda: Check("ok", "fine")})
    assert results["one"].status == "broken" and "RuntimeError: boom" in results["one"].detail
    assert "report" in results["one"].fix and results["two"].status == "ok"
    assert report_text(results).splitlines()[0].startswith("broken   one")


# --- a sysfs tree in tmp_path --------------------------------------------------------


def _sysfs(root: Path, *, caps: str | None = "Y,N,N,N,N,N,N,N", loopback: dict[int, str] | None = None,
           cameras: dict[int, tuple[str, int]] | None = None) -> Path:
    """/sys as v4l2loopback and uvcvideo lay it out: ``loopback`` {N: card_label} under
    devices/virtual, ``cameras`` {N: (name, index)} under a USB device, each linked from
    class/video4linux; ``caps`` the exclusive_caps parameter (None: module not loaded)."""
    classes = root / "class" / "video4linux"
    classes.mkdir(parents=True)
    if caps is not None:
        (root / "module" / "v4l2loopback" / "parameters").mkdir(parents=True)
        (root / "module" / "v4l2loopback" / "parameters" / "exclusive_caps").write_text(caps + "\n")
    nodes = {number: (root / "devices" / "virtual" / "video4linux" / f"video{number}", label, 0)
             for number, label in (loopback or {}).items()}
    usb = root / "devices" / "pci0000:00" / "0000:00:14.0" / "usb1" / "1-1" / "1-1:1.0" / "video4linux"
    nodes.update({number: (usb / f"video{number}", name, index) for number, (name, index) in (cameras or {}).items()})
    for folder, name, index in nodes.values():
        folder.mkdir(parents=True)
        (folder / "name").write_text(name + "\n")
        (folder / "index").write_text(f"{index}\n")
        (classes / folder.name).symlink_to(folder)
    return root


def test_exclusive_caps_on_is_ok(tmp_path):
    root = _sysfs(tmp_path, caps="Y,N,N,N,N,N,N,N", loopback={10: "live-nst"})
    check = doctor.check_virtual_camera("Linux", root)
    assert check.status == "ok" and check.fix == ""
    assert check.detail == "/dev/video10 'live-nst' (exclusive_caps on)"
    assert check.data["devices"] == [{"device": "/dev/video10", "name": "live-nst", "exclusive_caps": True}]
    assert exclusive_caps_warning("/dev/video10", root) is None


def test_exclusive_caps_off_is_broken_with_the_reload_command(tmp_path):
    root = _sysfs(tmp_path, caps="N,N,N,N,N,N,N,N", loopback={0: "Dummy video device (0x0000)"})
    check = doctor.check_virtual_camera("Linux", root)
    assert check.status == "broken" and check.fix == EXCLUSIVE_CAPS_FIX
    assert "exclusive_caps=1" in check.fix and "Chrome and Zoom" in check.detail
    # run says the same when it starts sending to that device
    warning = exclusive_caps_warning("/dev/video0", root)
    assert warning is not None and warning.endswith(EXCLUSIVE_CAPS_FIX)
    assert exclusive_caps_warning("/dev/video7", root) is None


def test_one_device_of_two_with_exclusive_caps_names_it(tmp_path):
    root = _sysfs(tmp_path, caps="N,Y,N,N,N,N,N,N", loopback={10: "obs", 11: "live-nst"})
    check = doctor.check_virtual_camera("Linux", root)
    assert check.status == "ok" and check.detail.endswith("pass --virtualcam-device /dev/video11")
    assert [d.exclusive_caps for d in loopback_devices(root) or []] == [False, True]


def test_v4l2loopback_loaded_without_devices_or_not_loaded_is_missing(tmp_path):
    empty = _sysfs(tmp_path / "empty", caps="N,N,N,N,N,N,N,N")
    check = doctor.check_virtual_camera("Linux", empty)
    assert check.status == "missing" and check.fix.endswith(RELOAD)
    absent = _sysfs(tmp_path / "absent", caps=None)
    check = doctor.check_virtual_camera("Linux", absent)
    assert check.status == "missing" and check.fix == virtual_camera_fix("Linux")
    assert loopback_devices(absent) is None


def test_the_virtual_camera_on_windows_is_opened_and_closed_through_pyvirtualcam(fake_backends):
    check = doctor.check_virtual_camera("Windows", backends=["live-nst-missing"])
    assert check.status == "missing" and check.fix == virtual_camera_fix("Windows") and "OBS" in check.fix
    assert "No v4l2 loopback device" in check.detail
    check = doctor.check_virtual_camera("Windows", backends=["live-nst-missing", "live-nst-fake"])
    assert check.status == "ok" and check.data["backend"] == "live-nst-fake"
    assert len(fake_backends) == 1 and fake_backends[0].closed


# --- cameras: found through sysfs, probed through the opener --------------------------


class Capture:
    """The cv2.VideoCapture calls a probe makes, for one camera's behaviour."""

    def __init__(self, opens: bool = True, frame: np.ndarray | None = None, hold: threading.Event | None = None):
        self.opens, self.frame, self.hold, self.released = opens, frame, hold, False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opens

    def read(self):
        if self.hold is not None:
            self.hold.wait()  # a driver stuck in a call
        return (self.frame is not None), self.frame

    def release(self) -> None:
        self.released = True


def test_cameras_are_the_capture_nodes_sysfs_lists(tmp_path):
    cameras = {0: ("Integrated Camera", 0), 1: ("Integrated Camera", 1), 2: ("C920", 0)}
    root = _sysfs(tmp_path, loopback={10: "live-nst"}, cameras=cameras)
    assert capture_nodes(root) == [(0, "Integrated Camera"), (2, "C920")]


def test_a_camera_that_delivers_is_ok_and_is_released(tmp_path):
    root = _sysfs(tmp_path, caps=None, cameras={0: ("Integrated Camera", 0)})
    captures: list[Capture] = []

    def opener(index: int) -> Capture:
        captures.append(Capture(frame=np.zeros((48, 64, 3), np.uint8)))
        return captures[-1]

    check = doctor.check_cameras("Linux", root, opener)
    assert check.status == "ok" and check.detail == "webcam:0 'Integrated Camera' delivers 64x48"
    assert [c.released for c in captures] == [True]


@pytest.mark.parametrize("capture, status, fix", [
    (Capture(opens=True, frame=None), "broken", BUSY_CAMERA_FIX),  # another program holds it
    (Capture(opens=False), "broken", "add yourself to the video group"),
])
def test_a_camera_that_opens_but_sends_nothing_or_does_not_open_is_broken(tmp_path, capture, status, fix):
    root = _sysfs(tmp_path, caps=None, cameras={0: ("C920", 0)})
    check = doctor.check_cameras("Linux", root, lambda index: capture)
    assert check.status == status and check.fix.startswith(fix)


def test_no_camera_in_sysfs_is_missing(tmp_path):
    root = _sysfs(tmp_path, caps=None, loopback={10: "live-nst"})
    check = doctor.check_cameras("Linux", root, lambda index: Capture())
    assert check.status == "missing" and check.fix == CAMERA_FIX


def test_a_camera_that_never_answers_costs_the_timeout_not_a_hang(tmp_path):
    root = _sysfs(tmp_path, caps=None, cameras={0: ("C920", 0)})
    stuck = threading.Event()
    try:
        check = doctor.check_cameras("Linux", root, lambda index: Capture(hold=stuck), timeout_s=0.2)
    finally:
        stuck.set()
    assert check.status == "broken" and "did not answer" in check.detail and check.fix == BUSY_CAMERA_FIX


def test_elsewhere_indices_are_probed_until_one_does_not_open():
    opened: list[int] = []

    def opener(index: int) -> Capture:
        opened.append(index)
        return Capture(opens=index < 2, frame=np.zeros((4, 6, 3), np.uint8))

    check = doctor.check_cameras("Windows", opener=opener)
    assert check.status == "ok" and opened == [0, 1, 2]
    assert check.detail == "webcam:0 delivers 6x4; webcam:1 delivers 6x4; webcam:2 does not open"
    check = doctor.check_cameras("Darwin", opener=lambda index: Capture(opens=False))
    assert check.status == "missing" and "Privacy & Security > Camera" in check.fix


# --- hotkeys, providers, models -------------------------------------------------------


def test_hotkeys_under_wayland_are_broken_and_without_a_display_missing(monkeypatch):
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    check = doctor.check_hotkeys("Linux")
    assert check.status == "broken" and "X11 session" in check.fix and "--output preview" in check.fix
    monkeypatch.delenv("XDG_SESSION_TYPE")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", "")
    check = doctor.check_hotkeys("Linux")
    # No display, so no preview window: the fix offers the control page instead.
    assert check.status == "missing" and "--output preview" not in check.fix and "--control" in check.fix


@pytest.mark.display
def test_hotkeys_register_on_an_x_server(xvfb_display):
    done = _doctor("--json", env={"DISPLAY": xvfb_display})
    assert done.returncode == 0, done.stderr
    hotkeys = json.loads(done.stdout)["hotkeys"]
    assert hotkeys["status"] == "ok" and hotkeys["session"] == f"X11 {xvfb_display}"


def test_an_nvidia_driver_without_cuda_libraries_gives_the_cuda_fix(monkeypatch):
    if execution_providers.PROVIDERS["cuda"] not in __import__("onnxruntime").get_available_providers():
        pytest.skip("needs onnxruntime-gpu (it lists CUDA)")
    if execution_providers.nvidia_driver_present():
        pytest.skip("this machine has a real NVIDIA driver")
    monkeypatch.setattr(execution_providers, "nvidia_driver_present", lambda: True)  # what this machine lacks
    check = doctor.check_providers()
    assert check.status == "missing" and check.fix == execution_providers.CUDA_FIX
    assert check.data["chosen"] == "CPUExecutionProvider" and "is missing" in check.data["not_usable"][
        "CUDAExecutionProvider"]


def test_assets_missing_corrupt_and_verified(tmp_path, monkeypatch, segmentation_model):
    from live_nst.assets import ensure
    from live_nst.faces import FACE_MODEL

    monkeypatch.setenv("LIVE_NST_STYLES", str(tmp_path / "styles"))
    check = doctor.check_assets(tmp_path / "empty")
    assert check.status == "missing" and "the first run fetches" in check.fix
    assert check.data["would_fetch"] == [segmentation_model.name, FACE_MODEL.filename]
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(segmentation_model, cache)
    shutil.copy(ensure(FACE_MODEL), cache)
    check = doctor.check_assets(cache)
    assert check.status == "ok" and check.data["would_fetch"] == [] and len(check.data["pack_styles"]) == 8
    (cache / FACE_MODEL.filename).write_bytes(b"not a model")
    check = doctor.check_assets(cache)
    assert check.status == "broken" and check.fix.startswith(f"delete {cache / FACE_MODEL.filename}")
    shutil.copy(ensure(FACE_MODEL), cache)
    (tmp_path / "styles").mkdir()
    (tmp_path / "styles" / "mine.onnx").write_bytes(b"\x08\x01garbage")
    check = doctor.check_assets(cache)
    assert check.status == "broken" and "mine.onnx" in check.detail and "live-nst export" in check.fix
