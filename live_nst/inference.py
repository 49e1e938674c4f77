"""Style networks in ONNX Runtime: provider choice, contract checks, one-pass inference.

(``live-nst stylize`` is something else: the Gatys optimisation in ``models.gatys``.)

The execution provider is chosen among those the installed onnxruntime offers and that
actually work on this machine: a provider that is listed but fails to create a session
or to run (a missing CUDA library, say) is dropped and the next one tried.

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

import cv2
import numpy as np
import onnxruntime as ort

from live_nst import contract
from live_nst.errors import ConfigError, ModelError, first_line

log = logging.getLogger(__name__)

SMOKE_TEST_SHAPE = (1, 3, 48, 32)  # the test pass every model makes at load

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


def _report_choice(chosen: str, skipped: dict[str, str]) -> None:
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


def _chain(provider: str) -> list[str]:
    """``provider``, then where ONNX Runtime puts the nodes it cannot take: CUDA under
    TensorRT, and the CPU under any accelerator."""
    chain = [provider]
    if provider == PROVIDERS["tensorrt"] and PROVIDERS["cuda"] in ort.get_available_providers():
        chain.append(PROVIDERS["cuda"])
    return chain if provider == PROVIDERS["cpu"] else [*chain, PROVIDERS["cpu"]]


class StyleModel:
    """One ONNX style network; ``run`` paints an image with per-pixel style weights."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0, spinning: bool = True) -> None:
        """``threads``: ONNX Runtime's intra-op threads (0: its choice, one per physical
        core). ``spinning`` False: its idle threads sleep at once instead of busy-waiting
        for the next op, which leaves the cores to other stages running at the same time."""
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"style model {self.path} does not exist")
        self.styles = contract.read_styles(self.path)
        self.session = self._open_session(resolve_providers(device), threads, spinning)
        self.provider = self.session.get_providers()[0]
        self._buffers = threading.local()  # per calling thread (frames may be painted two at a time)

    @property
    def num_styles(self) -> int:
        return len(self.styles)

    def _open_session(self, providers: list[str], threads: int, spinning: bool) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # one chain of ops: nothing to run side by side
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Style weights fading to 0 at a mask's edge make denormal floats inside the
        # network, which the CPU computes many times slower: flushed to zero, the pass
        # takes 10-15% less time here (and the picture is the same).
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        preload_gpu_libraries(providers)
        # Probing a provider whose libraries are missing (CUDA without a GPU, say) makes ORT
        # print errors; the outcome is reported once, below, instead.
        ort.set_default_logger_severity(4)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # ORT prints its fallbacks
                return self._first_working(providers, options)
        finally:
            ort.set_default_logger_severity(2)

    def _first_working(self, providers: list[str], options: ort.SessionOptions) -> ort.InferenceSession:
        skipped: dict[str, str] = {}  # provider -> why it does not run here
        for provider in providers:
            try:
                session = ort.InferenceSession(str(self.path), options, providers=_chain(provider))
            except Exception as exc:  # noqa: BLE001 - ORT raises its own untyped errors
                if "INVALID_PROTOBUF" in str(exc) or "Protobuf parsing failed" in str(exc):
                    raise ModelError(f"{self.path} is corrupt ({exc}); delete or re-export it") from exc
                skipped[provider] = why_unusable(provider, first_line(exc))
                continue
            self._check_contract(session)  # a file problem, whatever the provider
            if session.get_providers()[0] != provider:
                skipped[provider] = why_unusable(provider)
                continue
            failed = self._smoke_test(session)
            if failed is None:
                _report_choice(provider, skipped)
                return session
            skipped[provider] = f"its test run failed: {failed}"
        if len(providers) == 1 and providers[0] != PROVIDERS["cpu"]:
            raise DeviceUnusable(providers[0], skipped[providers[0]])
        reasons = "; ".join(f"{provider}: {why}" for provider, why in skipped.items())
        raise ModelError(f"no execution provider could run {self.path}: {reasons}")

    def _smoke_test(self, session: ort.InferenceSession) -> str | None:
        """One small pass (not square, so a transposed output shows): what went wrong when
        the provider cannot run it, else None; ``ModelError`` when the output breaks the contract."""
        image = np.zeros(SMOKE_TEST_SHAPE, np.float32)
        weights = np.full((1, self.num_styles, 12, 8), 1.0 / self.num_styles, np.float32)
        try:
            outputs = session.run(None, {contract.INPUT_IMAGE: image, contract.INPUT_STYLE_WEIGHTS: weights})
        except Exception as exc:  # noqa: BLE001
            return first_line(exc)
        found = outputs[0] if outputs else None
        if not isinstance(found, np.ndarray) or found.shape != SMOKE_TEST_SHAPE or found.dtype != np.float32:
            what = f"{found.dtype} of shape {found.shape}" if isinstance(found, np.ndarray) else "nothing"
            raise ModelError(f"{self.path} paints a float32 {SMOKE_TEST_SHAPE} test image into {what}; the model "
                             f"contract needs '{contract.OUTPUT}' of the image's own shape and type. Re-export it "
                             f"with 'live-nst export', or remove it from the styles folder")
        return None

    def _check_contract(self, session: ort.InferenceSession) -> None:
        contract.check_signature(self.path, {i.name: i.shape for i in session.get_inputs()},
                                 [o.name for o in session.get_outputs()], self.num_styles)

    def run(self, image: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """image (H, W, 3) uint8 RGB, weights (S, h, w) float32 -> (H, W, 3) uint8 RGB."""
        if weights.shape[0] != self.num_styles:
            raise ValueError(f"weights have {weights.shape[0]} styles, model {self.path.name} has {self.num_styles}")
        height, width = image.shape[:2]
        blob = cv2.dnn.blobFromImage(image, scalefactor=1.0 / 255.0)  # HWC uint8 -> NCHW float32
        weights = np.ascontiguousarray(weights[None], np.float32)
        if self.provider == PROVIDERS["cpu"]:
            # Bound buffers: ONNX Runtime reads the arrays in place and writes into the
            # reused output array instead of allocating a new one every frame.
            binding, output = self._bound_output((1, 3, height, width))
            binding.bind_cpu_input(contract.INPUT_IMAGE, blob)
            binding.bind_cpu_input(contract.INPUT_STYLE_WEIGHTS, weights)
            self.session.run_with_iobinding(binding)
        else:  # a device provider copies its output to the host anyway
            output = self.session.run(None, {contract.INPUT_IMAGE: blob, contract.INPUT_STYLE_WEIGHTS: weights})[0]
        # (3H, W) planes in [0, 1] -> uint8 in one pass, then interleaved to (H, W, 3)
        planes = cv2.convertScaleAbs(output.reshape(3 * height, width), alpha=255.0)
        return cv2.merge((planes[:height], planes[height:2 * height], planes[2 * height:]))

    def _bound_output(self, shape: tuple[int, int, int, int]) -> tuple[ort.IOBinding, np.ndarray]:
        """This thread's IO binding with its output array, resized when the frame size changes."""
        buffers = self._buffers
        if getattr(buffers, "output", None) is None or buffers.output.shape != shape:
            buffers.binding = self.session.io_binding()
            buffers.output = np.empty(shape, np.float32)
            buffers.binding.bind_output(contract.OUTPUT, "cpu", 0, np.float32, shape, buffers.output.ctypes.data)
        return buffers.binding, buffers.output
