"""The ONNX model contract shared by the exporter (PyTorch side) and the runtime: its
names, and the one place that reads, writes and checks a model's metadata.

Inputs:  ``image``          float32 (N, 3, H, W), RGB in [0, 1], any H and W.
         ``style_weights``  float32 (N, S, h, w), per-pixel weights over the S styles
                            that sum to 1; any h and w (the graph resizes it to the
                            image), so the runtime may pass it at a lower resolution.
Output:  ``stylized``       float32 (N, 3, H, W), RGB in [0, 1].
Normalisation and clamping live inside the graph.

Metadata (ONNX ``metadata_props``, all strings; JSON where noted):
  live_nst.contract  the contract version below
  live_nst.styles    JSON list of {"name", "title", "artist", "artwork", "license"}
                     (the fields of :class:`StyleInfo`)
  live_nst.arch      JSON of the architecture config
  live_nst.recipe    JSON of the training recipe
  live_nst.quality   JSON of measured numbers (may be "{}")

No torch here: the runtime reads models with this module alone.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx

from live_nst.errors import ModelError

CONTRACT_VERSION = "1"
INPUT_IMAGE = "image"
INPUT_STYLE_WEIGHTS = "style_weights"
OUTPUT = "stylized"

KEY_CONTRACT = "live_nst.contract"
KEY_STYLES = "live_nst.styles"
KEY_ARCH = "live_nst.arch"
KEY_RECIPE = "live_nst.recipe"
KEY_QUALITY = "live_nst.quality"
# A user style made by ``live-nst add-style``: the shipped pack's network with styles
# appended. JSON {"pack_sha256": ..., "styles": [names it carries over from the pack]}.
KEY_EXTENDS = "live_nst.extends"
REQUIRED_KEYS = (KEY_CONTRACT, KEY_STYLES)
STYLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class StyleInfo:
    """One style inside a model file, as its ``live_nst.styles`` metadata lists it."""

    name: str
    title: str
    artist: str
    artwork: str
    license: str


# --- reading and checking -------------------------------------------------------------


def _load(path: Path) -> onnx.ModelProto:
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - onnx raises DecodeError and others for bad files
        raise ModelError(f"{path} is not a readable ONNX model ({exc}). Delete or replace the file.") from exc


def read_metadata(path: Path) -> dict[str, str]:
    """The model's metadata props, read without building an inference session."""
    return {prop.key: prop.value for prop in _load(path).metadata_props}


def graph_signature(model: onnx.ModelProto) -> tuple[dict[str, list], list[str]]:
    """Input names -> shapes (a number, or the name of a free dimension) and output names,
    as ONNX Runtime reports them."""
    weights = {init.name for init in model.graph.initializer}
    inputs = {i.name: [d.dim_value if d.HasField("dim_value") else d.dim_param
                       for d in i.type.tensor_type.shape.dim]
              for i in model.graph.input if i.name not in weights}
    return inputs, [o.name for o in model.graph.output]


def styles_from_metadata(path: Path, meta: Mapping[str, str]) -> list[StyleInfo]:
    """The styles a model's metadata lists, after checking it follows this contract."""
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise ModelError(f"{path} lacks the live-nst metadata {missing}: export it with 'live-nst export'")
    if meta[KEY_CONTRACT] != CONTRACT_VERSION:
        raise ModelError(f"{path} follows model contract {meta[KEY_CONTRACT]}, this live-nst "
                         f"reads contract {CONTRACT_VERSION}: re-export it with this version")
    try:
        raw = json.loads(meta[KEY_STYLES])
    except ValueError as exc:
        raise ModelError(f"{path}: metadata {KEY_STYLES} is malformed (not JSON: {exc}); re-export it with "
                         f"'live-nst export'") from None
    if not isinstance(raw, list) or not raw:
        raise ModelError(f"{path}: metadata {KEY_STYLES} is malformed: expected a list of styles, got "
                         f"{json.dumps(raw)[:80]}; re-export it with 'live-nst export'")
    styles = [_style_entry(path, index, entry) for index, entry in enumerate(raw)]
    names = [style.name for style in styles]
    doubled = sorted({name for name in names if names.count(name) > 1})
    if doubled:
        raise ModelError(f"{path}: metadata {KEY_STYLES} is malformed: it names {doubled} more than once")
    return styles


def _style_entry(path: Path, index: int, entry: object) -> StyleInfo:
    """One style of ``live_nst.styles``, checked field by field."""
    where = f"{path}: metadata {KEY_STYLES} is malformed: style {index}"
    if not isinstance(entry, dict):
        raise ModelError(f"{where} is {json.dumps(entry)[:60]}, expected an object with a name")
    name = entry.get("name")
    if not isinstance(name, str) or not STYLE_NAME.fullmatch(name):
        raise ModelError(f"{where} has the name {json.dumps(name)[:60]}; expected letters, digits, '_', '-' or "
                         f"'.' (e.g. starry_night)")
    values = {"name": name}
    for key in ("title", "artist", "artwork", "license"):
        value = entry.get(key, name if key == "title" else "")
        if not isinstance(value, str):
            raise ModelError(f"{where} ('{name}') has the {key} {json.dumps(value)[:60]}, expected text; re-export "
                             f"it with 'live-nst export' or fix its metadata")
        values[key] = value
    return StyleInfo(**values)


def read_styles(path: Path) -> list[StyleInfo]:
    """The styles of a model file; ``ModelError`` if it is unreadable or off-contract, its
    graph's inputs and outputs included (a file is never listed that fails only when picked)."""
    model = _load(path)
    styles = styles_from_metadata(path, {prop.key: prop.value for prop in model.metadata_props})
    check_signature(path, *graph_signature(model), len(styles))
    return styles


def read_json(path: Path, key: str) -> dict:
    """A JSON metadata entry (``KEY_RECIPE``, ``KEY_QUALITY``...), ``{}`` when absent."""
    text = read_metadata(path).get(key, "{}")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ModelError(f"{path}: metadata {key} is not valid JSON ({exc})") from exc


def check_signature(path: Path, inputs: Mapping[str, Sequence], outputs: Sequence[str], num_styles: int) -> None:
    """Check a graph's input names -> shapes and output names against the contract and
    against the number of styles its metadata lists."""
    expected = {INPUT_IMAGE, INPUT_STYLE_WEIGHTS}
    if set(inputs) != expected or list(outputs) != [OUTPUT]:
        raise ModelError(f"{path} has inputs {sorted(inputs)} and outputs {list(outputs)}; the model "
                         f"contract needs inputs {sorted(expected)} and output ['{OUTPUT}']")
    image, weights = inputs[INPUT_IMAGE], inputs[INPUT_STYLE_WEIGHTS]
    if len(image) != 4 or (isinstance(image[1], int) and image[1] not in (0, 3)):  # 0: not stated
        raise ModelError(f"{path} takes images of shape {list(image)}; the model contract needs (N, 3, H, W) "
                         f"RGB: re-export it with 'live-nst export'")
    if len(weights) < 2:
        raise ModelError(f"{path} takes style weights of shape {list(weights)}; the model contract needs "
                         f"(N, styles, ...): re-export it with 'live-nst export'")
    takes = weights[1]
    if isinstance(takes, int) and takes and takes != num_styles:
        raise ModelError(f"{path} takes {takes} style weights but its metadata lists "
                         f"{num_styles} styles: the file and its metadata do not match")


# --- writing --------------------------------------------------------------------------


def metadata_values(styles: Sequence[StyleInfo], arch: Mapping, recipe: Mapping,
                    quality: Mapping) -> dict[str, str]:
    """Every metadata entry of the contract, as the strings a model file stores."""
    return {
        KEY_CONTRACT: CONTRACT_VERSION,
        KEY_STYLES: json.dumps([dataclasses.asdict(style) for style in styles]),
        KEY_ARCH: json.dumps(dict(arch)),
        KEY_RECIPE: json.dumps(dict(recipe), sort_keys=True, default=str),
        KEY_QUALITY: json.dumps(dict(quality), sort_keys=True, default=str),
    }


def set_metadata(proto: onnx.ModelProto, values: Mapping[str, str]) -> None:
    """Set ``values`` in a model's metadata props; other props are kept."""
    kept = [prop for prop in proto.metadata_props if prop.key not in values]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in values.items():
        proto.metadata_props.add(key=key, value=value)


def update_metadata(path: Path, values: Mapping[str, str]) -> None:
    """Set ``values`` in the metadata of the model file at ``path``, replacing it atomically."""
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx raises DecodeError and others for bad files
        raise ModelError(f"{path} is not a readable ONNX model ({exc}); its metadata cannot be updated") from exc
    set_metadata(proto, values)
    write_atomically(proto.SerializeToString(), path)


def write_atomically(data: bytes, path: Path, verify: Callable[[Path], None] | None = None,
                     error: type[ModelError] = ModelError) -> None:
    """Write ``data`` beside ``path``, run ``verify`` on that file, then replace ``path``.

    A failure at any point leaves any earlier ``path`` as it was and no partial file;
    a write that fails raises ``error`` (what ``verify`` raises passes through).
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if verify is not None:
            verify(partial)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise error(f"no space left on the disk holding {path.parent} while writing {path.name} "
                        f"({len(data) / 2**20:.1f} MiB); free some space or write it elsewhere. "
                        f"Any earlier {path.name} is unchanged.") from exc
        raise error(f"could not write {path}: {exc}. Any earlier {path.name} is unchanged.") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
