"""A style network as one ONNX file that follows the model contract (``live_nst.contract``).

One export is: trace the network with the dynamo exporter (inputs ``image`` (N, 3, H, W)
and ``style_weights`` (N, S, h, w), with H, W, h and w independent dynamic dims: the graph
resizes the weights, so the runtime may pass them at a lower resolution), optionally
convert the weights to fp16 (float32 inputs and outputs kept), write the metadata, and
write ONE self-contained file atomically: the model goes to a temporary file beside the
target, is loaded in ONNX Runtime and compared with PyTorch (parity), and only then
replaces the target. A failed export therefore never leaves a broken model where the old
one was.

It lives beside the networks (not in ``export/``) because ``add_style`` writes its result
with it: ``export/`` builds on ``models/``, never the other way round
(``tools/import_graph.py`` prints the layers).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from live_nst import contract
from live_nst.errors import ConfigError, ModelError, require

log = logging.getLogger(__name__)

OPSET = 20  # ONNX Runtime >= 1.17 runs it (the project needs >= 1.18)
FP32_TOLERANCE = 1e-4  # max |difference| of the [0, 1] output against PyTorch
FP16_TOLERANCE = 1e-2  # about 2.5 of 255 grey levels
DEFAULT_PARITY_SIZES: tuple[tuple[int, int], ...] = ((96, 128), (181, 243))
_MAX_PROTO_BYTES = 2**31 - 1  # protobuf's limit for one self-contained file


class ExportError(ModelError):
    """An export failed: the network could not be converted or the file not written."""


class ExportParityError(ExportError):
    """The exported model's output differs from PyTorch's by more than the tolerance."""

    def __init__(self, message: str, max_diff: float, tolerance: float) -> None:
        super().__init__(message)
        self.max_diff = max_diff
        self.tolerance = tolerance


# ----------------------------------------------------------------------------- public API


def export_network(network, path: str | Path, styles: Sequence[str | Mapping[str, str]], *,
                   recipe: Mapping | None = None, quality: Mapping | None = None, fp16: bool = False,
                   parity_sizes: Sequence[tuple[int, int]] = DEFAULT_PARITY_SIZES,
                   tolerance: float | None = None, extra: Mapping[str, str] | None = None) -> Path:
    """Export ``network`` (a ``StyleNetwork``) to ``path`` and check it; returns the path.

    ``styles``: one entry per style, in the network's style order: a name, or a mapping
    with ``name`` and any of ``title``, ``artist``, ``artwork``, ``license``.
    ``recipe`` and ``quality`` are stored as JSON metadata, ``extra`` as more metadata
    props (such as ``contract.KEY_EXTENDS``). ``parity_sizes``: (H, W)
    sizes at which ONNX Runtime must match PyTorch within ``tolerance`` (default
    ``FP32_TOLERANCE``, or ``FP16_TOLERANCE`` with ``fp16``); empty skips the check.
    Raises ``ExportParityError`` when it does not match, ``ExportError`` when the file
    cannot be made or written, ``ConfigError`` for wrong arguments.
    """
    path = Path(path)
    network = copy.deepcopy(getattr(network, "module", network)).cpu().float().eval()
    num_styles = _num_styles(network, styles)
    entries = _style_entries(styles)  # argument errors before the slow part
    proto = _trace(network, num_styles)
    if fp16:
        proto = to_fp16(proto)
    _set_metadata(proto, entries, network, recipe or {}, quality or {})
    if extra:
        contract.set_metadata(proto, extra)
    _check_self_contained(proto, path)
    tol = tolerance if tolerance is not None else (FP16_TOLERANCE if fp16 else FP32_TOLERANCE)

    def verify(candidate: Path) -> None:
        if parity_sizes:
            diff = check_parity(candidate, network, parity_sizes, tol)
            log.info("%s: ONNX Runtime matches PyTorch (max |diff| %.2g, tolerance %.2g)", path.name, diff, tol)

    contract.write_atomically(proto.SerializeToString(), path, verify, error=ExportError)
    return path


def check_parity(model_path: str | Path, network, sizes: Sequence[tuple[int, int]] = DEFAULT_PARITY_SIZES,
                 tolerance: float = FP32_TOLERANCE) -> float:
    """Run ``model_path`` in ONNX Runtime (CPU, all graph optimisations) and ``network`` in
    PyTorch on the same inputs; return the max |difference| or raise ``ExportParityError``.

    At each (H, W): a batch of 2 with full-resolution weights, and a single image with
    weights at a smaller resolution (a different factor per axis). Weights are random
    per-pixel mixtures of all styles.
    """
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT raises its own untyped errors
        raise ExportError(f"ONNX Runtime cannot load the exported model {model_path}: {exc}") from exc
    rng = np.random.default_rng(0)
    num_styles = network.config.num_styles
    worst = 0.0
    for height, width in sizes:
        for batch, weights_hw in ((2, (height, width)), (1, (max(1, (height + 3) // 4), max(1, (width + 2) // 3)))):
            image = rng.random((batch, 3, height, width), dtype=np.float32)
            weights = _mixed_weights(rng, batch, num_styles, *weights_hw)
            got = session.run([contract.OUTPUT], {contract.INPUT_IMAGE: image,
                                                  contract.INPUT_STYLE_WEIGHTS: weights})[0]
            with torch.no_grad():
                want = network(torch.from_numpy(image), torch.from_numpy(weights)).numpy()
            if got.shape != want.shape:
                raise ExportParityError(f"{model_path}: output shape {got.shape} for input {image.shape}, "
                                        f"PyTorch gives {want.shape}", float("inf"), tolerance)
            diff = float(np.max(np.abs(got - want)))
            worst = max(worst, diff)
            if not diff <= tolerance:  # also catches NaN
                raise ExportParityError(
                    f"the exported model differs from PyTorch by up to {diff:.3g} (tolerance {tolerance:.3g}) "
                    f"on image {height}x{width} x{batch} with style weights {weights_hw[0]}x{weights_hw[1]}. "
                    f"The export is not faithful: try without fp16 or report it with the network config "
                    f"{getattr(network.config, '__dict__', network.config)}.", diff, tolerance)
    return worst


def to_fp16(proto):
    """fp16 weights and arithmetic, float32 inputs and outputs (casts at the edges)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    try:
        converted = OnnxModel(convert_float_to_float16(proto, keep_io_types=True))
        converted.topological_sort()  # the converter appends its input casts at the end
    except Exception as exc:  # noqa: BLE001 - the converter raises assorted errors
        raise ExportError(f"fp16 conversion failed ({exc}); export without fp16") from exc
    return converted.model


# ----------------------------------------------------------------------------- helpers


def _num_styles(network, styles: Sequence) -> int:
    config = getattr(network, "config", None)
    num = getattr(config, "num_styles", None)
    if num is None:
        raise ConfigError(f"export_network needs a live-nst StyleNetwork (with .config.num_styles), "
                          f"got {type(network).__name__}")
    given = 1 if isinstance(styles, (str, Mapping)) else len(styles)
    if isinstance(styles, (str, Mapping)) or given != num:
        raise ConfigError(f"the network holds {num} styles but {given} style entries were given; give a "
                          f"list with one name or metadata mapping per style, in the network's order")
    return num


def _trace(network, num_styles: int):
    """The network as an ONNX ModelProto with dynamic N, H, W, h, w."""
    torch = require("torch", "train", "ONNX export")
    require("onnxscript", "train", "ONNX export")
    dim = torch.export.Dim
    batch = dim("N")
    shapes = {contract.INPUT_IMAGE: {0: batch, 2: dim("H"), 3: dim("W")},
              contract.INPUT_STYLE_WEIGHTS: {0: batch, 2: dim("h"), 3: dim("w")}}
    image = torch.rand(2, 3, 96, 128)
    weights = torch.full((2, num_styles, 24, 40), 1.0 / num_styles)
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                network, (image, weights), None, dynamo=True, optimize=True, opset_version=OPSET,
                input_names=[contract.INPUT_IMAGE, contract.INPUT_STYLE_WEIGHTS],
                output_names=[contract.OUTPUT], dynamic_shapes=shapes, external_data=False)
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds
        log.debug("exporter output:\n%s", chatter.getvalue())
        raise ExportError(f"torch.onnx.export failed for the {network.config.name} network: {exc}") from exc
    log.debug("exporter output:\n%s", chatter.getvalue())
    proto = program.model_proto
    # The exporter annotates inner tensors with shapes that hold for sizes like the
    # example's (multiples of 8), which ONNX Runtime trusts when it plans buffers;
    # without them it infers every shape itself, right for any size.
    del proto.graph.value_info[:]
    return proto


def _style_entry(style: str | Mapping[str, str]) -> contract.StyleInfo:
    if isinstance(style, str):
        style = {"name": style}
    if not isinstance(style, Mapping):
        raise ConfigError(f"a style entry must be a name or a mapping with a 'name', got {style!r}")
    name = str(style.get("name", "")).strip()
    if not name:
        raise ConfigError(f"every style needs a non-empty 'name'; got {dict(style)}")
    return contract.StyleInfo(name=name, title=str(style.get("title") or name),
                              artist=str(style.get("artist", "")), artwork=str(style.get("artwork", "")),
                              license=str(style.get("license") or "unknown"))


def _style_entries(styles: Sequence[str | Mapping[str, str]]) -> list[contract.StyleInfo]:
    entries = [_style_entry(style) for style in styles]
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise ConfigError(f"style names must be unique within one model; got {names}")
    return entries


def _set_metadata(proto, entries: list[contract.StyleInfo], network, recipe: Mapping, quality: Mapping) -> None:
    contract.set_metadata(proto, contract.metadata_values(entries, network.config.to_dict(), recipe, quality))
    names = [entry.name for entry in entries]
    proto.doc_string = f"live-nst style network ({network.config.name}): {', '.join(names)}"


def _check_self_contained(proto, path: Path) -> None:
    import onnx

    external = [t.name for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise ExportError(f"the exported graph keeps {len(external)} weights in external files; "
                          f"{path.name} must be self-contained")
    if proto.ByteSize() > _MAX_PROTO_BYTES:
        raise ExportError(f"the model is {proto.ByteSize() / 2**30:.1f} GiB, over the 2 GiB limit of a "
                          f"self-contained ONNX file; export a smaller architecture")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the exported graph is not valid ONNX ({exc})") from exc


def _mixed_weights(rng: np.random.Generator, batch: int, num_styles: int, height: int, width: int) -> np.ndarray:
    logits = 3.0 * rng.standard_normal((batch, num_styles, height, width))
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
