"""Video devices on Linux as sysfs shows them: the cameras, and the devices of
v4l2loopback, the virtual-camera driver, with whether each announces itself as a
capture device only (``exclusive_caps``). Without that, Chrome and Zoom do not list a
loopback device as a camera.

Cameras are the video4linux nodes of real hardware (``/sys/class/video4linux/videoN``
not under ``devices/virtual``); a camera's first node (``index`` 0) captures, a second
one carries metadata. v4l2loopback's module parameter ``/sys/module/v4l2loopback/parameters/exclusive_caps`` holds one
Y/N per device, in the order the devices were made (``devices=N``); the devices are the
virtual video4linux nodes, ``/sys/devices/virtual/video4linux/videoN``, whose ``name``
is the ``card_label``. Every function takes the sysfs root, so tests can lay out their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SYSFS = Path("/sys")
LOAD = 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="live-nst"'
RELOAD = f"sudo modprobe -r v4l2loopback && {LOAD}"
EXCLUSIVE_CAPS_FIX = f"reload v4l2loopback with exclusive_caps=1, so that Chrome and Zoom list it: {RELOAD}"


@dataclass(frozen=True)
class LoopbackDevice:
    node: str  # "video10"
    name: str  # its card_label
    exclusive_caps: bool | None  # None: sysfs does not say

    @property
    def path(self) -> str:
        return f"/dev/{self.node}"


def _number(path: Path) -> int:
    digits = re.sub(r"\D", "", path.name)
    return int(digits) if digits else -1


def _read(path: Path, default: str = "") -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return default


def capture_nodes(sys_root: Path = SYSFS) -> list[tuple[int, str]]:
    """(N of /dev/videoN, name) of each camera's capture node, by number: not v4l2loopback's
    virtual devices (live-nst's output, say), nor a camera's metadata node."""
    found = []
    for node in sorted((sys_root / "class" / "video4linux").glob("video*"), key=_number):
        if "virtual" in node.resolve().parts or _read(node / "index", "0") != "0":
            continue
        found.append((_number(node), _read(node / "name")))
    return found


def loopback_devices(sys_root: Path = SYSFS) -> list[LoopbackDevice] | None:
    """The devices v4l2loopback made, in order; None when the module is not loaded."""
    module = sys_root / "module" / "v4l2loopback"
    if not module.is_dir():
        return None
    flags = [flag.strip().upper() in ("Y", "1") for flag in _read(module / "parameters" / "exclusive_caps").split(",")
             if flag.strip()]
    nodes = sorted((sys_root / "devices" / "virtual" / "video4linux").glob("video*"), key=_number)
    return [LoopbackDevice(node.name, _read(node / "name"), flags[index] if index < len(flags) else None)
            for index, node in enumerate(nodes)]


def describe_loopback(device: LoopbackDevice) -> str:
    caps = {True: "exclusive_caps on", False: "exclusive_caps off", None: "exclusive_caps unknown"}
    return f"{device.path} '{device.name}' ({caps[device.exclusive_caps]})"


def exclusive_caps_warning(device_path: str, sys_root: Path = SYSFS) -> str | None:
    """What to tell someone sending to ``device_path`` when it is a v4l2loopback device
    without exclusive_caps (browsers and Zoom will not list it); else None."""
    for device in loopback_devices(sys_root) or []:
        if device.path == device_path and device.exclusive_caps is False:
            return (f"the virtual camera {device_path} was made without exclusive_caps=1: OBS sees it, but Chrome "
                    f"and Zoom do not list it. To fix it, {EXCLUSIVE_CAPS_FIX}")
    return None
