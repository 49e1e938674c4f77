"""Execution providers: which ONNX Runtime devices exist here, which one a --device value
means, why one cannot run, and how to get it.

CUDA and TensorRT need NVIDIA's CUDA and cuDNN libraries. The ``[cuda]`` extra installs
them as pip wheels, which the system's loader does not search: before the first session
that may use them, ``onnxruntime.preload_dlls`` loads them (once per process).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import logging
import os
import platform
import threading
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

from live_nst.errors import ConfigError

log = logging.getLogger(__name__)

# Preference order for "auto", fastest first; names as --device takes them.
PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DEVICE_NAMES = {provider: name for name, provider in PROVIDERS.items()}
# NVIDIA's: the driver's library is system-wide; CUDA's and cuDNN's system-wide or pip wheels.
NVIDIA_PROVIDERS = (PROVIDERS["tensorrt"], PROVIDERS["cuda"])

# How to get each device, in one line: `live-nst doctor`, run's fallback warning and the
# --device errors say the same.
CUDA_FIX = ("pip install 'live-nst[cuda]', which brings NVIDIA's CUDA and cuDNN libraries (only the NVIDIA "
            "driver must be installed: 580 or newer for onnxruntime-gpu 1.27 and later)")
DEVICE_FIXES = {
    "tensorrt": "install TensorRT 10 where the system's loader finds its libnvinfer library (optional: the CUDA "
                "provider runs without it)",
    "cuda": CUDA_FIX,
    "directml": "on Windows, replace onnxruntime-gpu by onnxruntime-directml: pip uninstall -y onnxruntime-gpu, "
                "then pip install onnxruntime-directml",
    "coreml": "use macOS, where pip install live-nst brings an onnxruntime with CoreML",
    "cpu": "reinstall onnxruntime: pip install --force-reinstall live-nst",
}
_DRIVER_LIBRARY = {"Linux": "libcuda.so.1", "Windows": "nvcuda.dll"}
_PROVIDER_LIBRARY = {PROVIDERS["cuda"]: "onnxruntime_providers_cuda",
                     PROVIDERS["tensorrt"]: "onnxruntime_providers_tensorrt"}


class DeviceUnusable(ConfigError):
    """--device names a provider the installed onnxruntime offers but that cannot run here."""

    def __init__(self, provider: str, reason: str) -> None:
        self.provider, self.reason = provider, reason
        device = DEVICE_NAMES.get(provider, provider)
        super().__init__(f"--device {device}: {provider} cannot run on this machine ({reason}); to use it, "
                         f"{DEVICE_FIXES.get(device, DEVICE_FIXES['cpu'])}, or use --device auto")


def resolve_providers(device: str) -> list[str]:
    """Providers to try, in order, for a --device value."""
    available = ort.get_available_providers()
    if device == "auto":
        return [p for p in PROVIDERS.values() if p in available]
    if device not in PROVIDERS:
        raise ConfigError(f"--device must be auto or one of {sorted(PROVIDERS)}, got {device!r}")
    wanted = PROVIDERS[device]
    if wanted not in available:
        raise ConfigError(f"--device {device} ({wanted}) is not offered by the installed onnxruntime "
                          f"({onnxruntime_build()}, which offers {', '.join(available)}); to get it, "
                          f"{DEVICE_FIXES[device]}, or use --device auto")
    return [wanted]


def onnxruntime_build() -> str:
    """The installed onnxruntime package and version, and the CUDA version of a GPU build."""
    try:
        from onnxruntime.capi import build_and_package_info as info
    except ImportError:
        return f"onnxruntime {ort.__version__}"
    cuda = getattr(info, "cuda_version", None)
    name = getattr(info, "package_name", "onnxruntime")
    return f"{name} {ort.__version__}" + (f" for CUDA {cuda}" if cuda else "")


@functools.cache
def nvidia_driver_present() -> bool:
    """Whether the NVIDIA driver's CUDA library loads here (no GPU is touched)."""
    name = _DRIVER_LIBRARY.get(platform.system())
    if name is None:
        return False
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def missing_library(provider: str) -> str | None:
    """The first library that ``provider``'s own library needs and the loader cannot find
    (e.g. libcublasLt.so.13), or None when it loads."""
    stem = _PROVIDER_LIBRARY.get(provider)
    if stem is None:
        return None
    path = Path(ort.__file__).parent / "capi" / (f"{stem}.dll" if os.name == "nt" else f"lib{stem}.so")
    if not path.is_file():
        return path.name
    try:
        ctypes.CDLL(str(path))
    except OSError as exc:
        text = str(exc)
        return text.split(":")[0] if "cannot open shared object file" in text else text
    return None


def why_unusable(provider: str, otherwise: str = "it did not start") -> str:
    """In a few words, why a provider that onnxruntime offers does not run here."""
    if provider in NVIDIA_PROVIDERS:
        if not nvidia_driver_present():
            return "no NVIDIA driver found"
        missing = missing_library(provider)
        if missing:
            return f"{missing} is missing"
    return otherwise


_preload_lock = threading.Lock()
_preloaded: bool | None = None  # None: not tried yet in this process


def preload_gpu_libraries(providers: Sequence[str]) -> bool:
    """Load the CUDA and cuDNN libraries of NVIDIA's pip wheels (the [cuda] extra) before a
    session that may use CUDA or TensorRT. Once per process, only with an NVIDIA driver,
    and it never raises: the CPU must work whatever happens here. True when it ran."""
    global _preloaded
    if not any(provider in NVIDIA_PROVIDERS for provider in providers):
        return False
    with _preload_lock:
        if _preloaded is None:
            _preloaded = _preload()
        return _preloaded


def _preload() -> bool:
    if not nvidia_driver_present():
        log.debug("no NVIDIA driver: CUDA libraries not preloaded")
        return False
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        log.debug("onnxruntime %s cannot preload CUDA libraries (1.21 and later can)", ort.__version__)
        return False
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):  # it prints what it could not load
            preload()
    except Exception as exc:  # noqa: BLE001 - whatever goes wrong, the session falls back to the CPU
        log.debug("preloading the CUDA libraries failed: %s", exc)
        return False
    if printed.getvalue().strip():
        log.debug("preloading the CUDA libraries: %s", " ".join(printed.getvalue().split()))
    return True


_fallback_told = False  # the CPU fallback warning, once per process


def report_choice(chosen: str, skipped: dict[str, str]) -> None:
    """Warn (once) when the network falls back to the CPU on a machine with an NVIDIA GPU."""
    global _fallback_told
    if not skipped:
        log.debug("style network on %s", chosen)
        return
    reasons = "; ".join(f"{DEVICE_NAMES.get(p, p)}: {why}" for p, why in skipped.items())
    gpu_lost = chosen == PROVIDERS["cpu"] and any(p in NVIDIA_PROVIDERS for p in skipped) and nvidia_driver_present()
    if gpu_lost and not _fallback_told:
        _fallback_told = True
        log.warning("the style network runs on the CPU, 5-10x slower than on this machine's NVIDIA GPU (%s). "
                    "To use the GPU, %s", reasons, CUDA_FIX)
    else:
        log.debug("style network on %s (%s)", chosen, reasons)


def chain_for(provider: str) -> list[str]:
    """``provider``, then where ONNX Runtime puts the nodes it cannot take: CUDA under
    TensorRT, and the CPU under any accelerator."""
    chain = [provider]
    if provider == PROVIDERS["tensorrt"] and PROVIDERS["cuda"] in ort.get_available_providers():
        chain.append(PROVIDERS["cuda"])
    return chain if provider == PROVIDERS["cpu"] else [*chain, PROVIDERS["cpu"]]
