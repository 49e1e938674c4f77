"""Style networks in ONNX Runtime: contract checks and one-pass inference, on the first
execution provider (``live_nst.providers``) that actually works on this machine: one that
is listed but fails to create a session or to run (a missing CUDA library, say) is
dropped and the next one tried.

(``live-nst stylize`` is something else: the Gatys optimisation in ``models.gatys``.)
"""

from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from live_nst import contract
from live_nst.errors import ModelError, first_line
from live_nst.providers import (
    PROVIDERS,
    DeviceUnusable,
    chain_for,
    preload_gpu_libraries,
    report_choice,
    resolve_providers,
    why_unusable,
)

SMOKE_TEST_SHAPE = (1, 3, 48, 32)  # the test pass every model makes at load


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
                session = ort.InferenceSession(str(self.path), options, providers=chain_for(provider))
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
                report_choice(provider, skipped)
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
        if height % 2 or width % 2:
            # The networks are trained on even sizes, and the painter's head is exactly its
            # design only there: one more row or column, cut off again below.
            image = cv2.copyMakeBorder(image, 0, height % 2, 0, width % 2, cv2.BORDER_REFLECT_101)
        blob = cv2.dnn.blobFromImage(image, scalefactor=1.0 / 255.0)  # HWC uint8 -> NCHW float32
        weights = np.ascontiguousarray(weights[None], np.float32)
        if self.provider == PROVIDERS["cpu"]:
            # Bound buffers: ONNX Runtime reads the arrays in place and writes into the
            # reused output array instead of allocating a new one every frame.
            binding, output = self._bound_output(blob.shape)
            binding.bind_cpu_input(contract.INPUT_IMAGE, blob)
            binding.bind_cpu_input(contract.INPUT_STYLE_WEIGHTS, weights)
            self.session.run_with_iobinding(binding)
        else:  # a device provider copies its output to the host anyway
            output = self.session.run(None, {contract.INPUT_IMAGE: blob, contract.INPUT_STYLE_WEIGHTS: weights})[0]
        # (3H, W) planes in [0, 1] -> uint8 in one pass, then interleaved to (H, W, 3)
        rows, columns = blob.shape[2:]
        planes = cv2.convertScaleAbs(output.reshape(3 * rows, columns), alpha=255.0)
        painted = cv2.merge((planes[:rows], planes[rows:2 * rows], planes[2 * rows:]))
        return painted if (rows, columns) == (height, width) else np.ascontiguousarray(painted[:height, :width])

    def _bound_output(self, shape: tuple[int, int, int, int]) -> tuple[ort.IOBinding, np.ndarray]:
        """This thread's IO binding with its output array, resized when the frame size changes."""
        buffers = self._buffers
        if getattr(buffers, "output", None) is None or buffers.output.shape != shape:
            buffers.binding = self.session.io_binding()
            buffers.output = np.empty(shape, np.float32)
            buffers.binding.bind_output(contract.OUTPUT, "cpu", 0, np.float32, shape, buffers.output.ctypes.data)
        return buffers.binding, buffers.output
