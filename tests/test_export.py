"""Export to ONNX: parity with PyTorch, the model contract and its metadata, fp16, clear
errors for bad files, atomic replacement, and a runtime that needs no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from PIL import Image  # noqa: E402

from live_nst import contract  # noqa: E402
from live_nst.errors import ModelError  # noqa: E402
from live_nst.export.onnx_export import export_checkpoint  # noqa: E402
from live_nst.models import onnx_file  # noqa: E402
from live_nst.models.networks import ArchConfig, PainterNetwork  # noqa: E402
from live_nst.models.onnx_file import ExportError, ExportParityError, check_parity, export_network  # noqa: E402
from live_nst.models.train import TrainConfig, save_checkpoint  # noqa: E402

pytestmark = [pytest.mark.train, pytest.mark.usefixtures("one_torch_thread")]



STYLE_NAMES = ("starry_night", "my_own_style")
STEP = 7


def tiny_network(seed: int = 0) -> PainterNetwork:
    """A small painter net whose styles really differ (random per-style scales and shifts)."""
    torch.manual_seed(seed)
    network = PainterNetwork(ArchConfig("painter", len(STYLE_NAMES), (8, 12, 16), 1, pad=4, smooth_upsample=True))
    with torch.no_grad():
        for name, param in network.named_parameters():
            if name.endswith(".scale"):
                param.normal_(1.0, 0.5)
            elif name.endswith(".shift"):
                param.normal_(0.0, 0.5)
    return network.eval()


def mixed_weights(rng, n: int, h: int, w: int) -> np.ndarray:
    raw = rng.random((n, len(STYLE_NAMES), h, w), dtype=np.float32) ** 3
    return raw / raw.sum(axis=1, keepdims=True)


def ort_run(path, image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {contract.INPUT_IMAGE: image, contract.INPUT_STYLE_WEIGHTS: weights})[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A checkpoint as training writes it, and its export."""
    root = tmp_path_factory.mktemp("export")
    style_paths = []
    for index, name in enumerate(STYLE_NAMES):
        path = root / f"{name}.jpg"
        Image.fromarray(np.full((8, 8, 3), 40 * index, np.uint8)).save(path)
        style_paths.append(str(path))
    network = tiny_network()
    config = TrainConfig(style_paths=tuple(style_paths), content_dir=str(root / "photos"), steps=STEP)
    ckpt = root / "last.ckpt"
    history = [{"step": STEP, "content": 1.5, "style": 2.5, "tv": 0.1, "temporal": 0.01}]
    save_checkpoint(ckpt, network, torch.optim.Adam(network.parameters()), STEP, config, history)
    out = export_checkpoint(ckpt, root / "model" / "pack.onnx", quality={"style_loss": 1.25})
    return out, network, ckpt


def test_export_is_one_self_contained_file_following_the_contract(exported):
    path, network, _ = exported
    assert sorted(p.name for p in path.parent.iterdir()) == ["pack.onnx"]  # no .data, no leftovers
    model = onnx.load(str(path), load_external_data=False)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert set(inputs) == {contract.INPUT_IMAGE, contract.INPUT_STYLE_WEIGHTS}
    assert [o.name for o in model.graph.output] == [contract.OUTPUT]
    image_dims, weight_dims = inputs[contract.INPUT_IMAGE], inputs[contract.INPUT_STYLE_WEIGHTS]
    assert image_dims[1] == 3 and weight_dims[1] == len(STYLE_NAMES)
    spatial = image_dims[2:] + weight_dims[2:]
    assert all(isinstance(d, str) for d in spatial) and len(set(spatial)) == 4, inputs


def test_metadata_round_trips(exported):
    path, network, _ = exported
    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    assert meta[contract.KEY_CONTRACT] == contract.CONTRACT_VERSION
    styles = json.loads(meta[contract.KEY_STYLES])
    assert [s["name"] for s in styles] == list(STYLE_NAMES)
    assert all(set(s) == {"name", "title", "artist", "artwork", "license"} for s in styles)
    assert styles[0] == {"name": "starry_night", "title": "The Starry Night (1889)", "artist": "Vincent van Gogh",
                         "artwork": "starry_night.jpg", "license": "public domain"}
    assert styles[1]["title"] == "my_own_style" and styles[1]["license"] == "unknown"
    assert json.loads(meta[contract.KEY_ARCH]) == json.loads(json.dumps(network.config.to_dict()))
    recipe = json.loads(meta[contract.KEY_RECIPE])
    assert recipe["step"] == STEP and recipe["arch"] == "painter"
    assert recipe["style_paths"] == [f"{name}.jpg" for name in STYLE_NAMES]  # no local folders
    assert recipe["last_losses"]["style"] == 2.5
    assert json.loads(meta[contract.KEY_QUALITY]) == {"style_loss": 1.25}


@pytest.mark.parametrize("image_hw, weights_hw", [((57, 75), (13, 20)), ((120, 161), (120, 161))])
def test_onnx_runtime_matches_pytorch(exported, image_hw, weights_hw):
    path, network, _ = exported
    rng = np.random.default_rng(1)
    image = rng.random((1, 3, *image_hw), dtype=np.float32)
    weights = mixed_weights(rng, 1, *weights_hw)
    got = ort_run(path, image, weights)
    with torch.no_grad():
        want = network(torch.from_numpy(image), torch.from_numpy(weights)).numpy()
    assert got.shape == (1, 3, *image_hw)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    # The styles differ, so the comparison above covers the per-pixel mixing.
    one_hot = [ort_run(path, image, np.eye(2, dtype=np.float32)[s][None, :, None, None]) for s in (0, 1)]
    assert np.abs(one_hot[0] - one_hot[1]).max() > 0.05


def test_parity_check_catches_a_model_that_differs(exported):
    path, _, _ = exported
    with pytest.raises(ExportParityError, match="differs from PyTorch") as caught:
        check_parity(path, tiny_network(seed=1), sizes=((33, 47),))
    assert caught.value.max_diff > caught.value.tolerance
    assert isinstance(caught.value, ModelError)


@pytest.mark.slow  # a second export
def test_fp16_variant_has_half_weights_and_float_io(tmp_path):
    network = tiny_network()
    path = export_network(network, tmp_path / "half.onnx", list(STYLE_NAMES), fp16=True)
    model = onnx.load(str(path))
    assert {t.data_type for t in model.graph.initializer if t.dims and len(t.dims) == 4} == {onnx.TensorProto.FLOAT16}
    assert {i.type.tensor_type.elem_type for i in (*model.graph.input, *model.graph.output)} == {onnx.TensorProto.FLOAT}
    rng = np.random.default_rng(2)
    image, weights = rng.random((1, 3, 45, 61), dtype=np.float32), mixed_weights(rng, 1, 12, 16)
    got = ort_run(path, image, weights)
    with torch.no_grad():
        want = network(torch.from_numpy(image), torch.from_numpy(weights)).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=onnx_file.FP16_TOLERANCE, rtol=0)


@pytest.mark.slow  # a second export
def test_failed_export_leaves_the_previous_model_in_place(tmp_path, monkeypatch, exported):
    target = tmp_path / "pack.onnx"
    previous = exported[0].read_bytes()
    target.write_bytes(previous)

    def failing_parity(*args, **kwargs):
        raise ExportParityError("simulated mismatch", 1.0, 1e-4)

    monkeypatch.setattr(onnx_file, "check_parity", failing_parity)
    with pytest.raises(ExportParityError):
        export_network(tiny_network(seed=3), target, list(STYLE_NAMES))
    assert target.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack.onnx"]


def test_a_file_that_is_not_a_checkpoint_gives_a_clear_error(tmp_path):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(os.urandom(512))
    with pytest.raises(ExportError, match="garbage.ckpt"):
        export_checkpoint(garbage, tmp_path / "out.onnx")
    other = tmp_path / "weights.pt"
    torch.save({"model": {}}, other)
    with pytest.raises(ExportError, match="weights.pt.*not a live-nst checkpoint"):
        export_checkpoint(other, tmp_path / "out.onnx")
    with pytest.raises(ExportError, match="missing.ckpt.*does not exist"):
        export_checkpoint(tmp_path / "missing.ckpt", tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_a_corrupted_onnx_file_gives_a_clear_error(exported, tmp_path):
    from live_nst.inference import StyleModel

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(exported[0].read_bytes()[:5000])
    with pytest.raises(ExportError, match="broken.onnx"):
        check_parity(broken, exported[1])
    with pytest.raises(ModelError, match="broken.onnx"):
        StyleModel(broken, device="cpu")


def test_exported_model_runs_where_torch_cannot_be_imported(exported):
    path = exported[0]
    code = textwrap.dedent(f"""
        import json, sys
        sys.modules["torch"] = None  # any `import torch` now raises ImportError
        import numpy as np
        import onnxruntime as ort
        from live_nst.inference import StyleModel
        model = StyleModel({str(path)!r}, device="cpu", threads=1)
        frame = np.random.default_rng(0).integers(0, 256, (67, 91, 3), dtype=np.uint8)
        weights = np.zeros((2, 9, 12), np.float32); weights[0, :, :6] = 1; weights[1, :, 6:] = 1
        out = model.run(frame, weights)
        feeds = {{"image": np.zeros((1, 3, 20, 30), np.float32),
                 "style_weights": np.full((1, 2, 5, 5), 0.5, np.float32)}}
        raw = ort.InferenceSession({str(path)!r}, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
        print(json.dumps({{"styles": [s.name for s in model.styles], "shape": out.shape, "dtype": str(out.dtype),
                          "raw": raw.shape, "torch": sys.modules.get("torch") is not None}}))
    """)
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"styles": list(STYLE_NAMES), "shape": [67, 91, 3], "dtype": "uint8",
                      "raw": [1, 3, 20, 30], "torch": False}


def test_style_count_must_match_the_network(tmp_path):
    from live_nst.errors import ConfigError

    with pytest.raises(ConfigError, match="holds 2 styles but 1"):
        export_network(tiny_network(), tmp_path / "x.onnx", ["only_one"])
    assert not (tmp_path / "x.onnx").exists()


def test_a_pack_with_an_artwork_that_may_not_ship_is_refused(exported, tmp_path):
    from live_nst.export.style_pack import build_pack

    _, _, ckpt = exported  # starry_night (public domain) and my_own_style (not a known artwork)
    with pytest.raises(ExportError, match="not public domain: my_own_style") as caught:
        build_pack(ckpt, tmp_path / "pack.onnx")
    assert "starry_night" not in str(caught.value)
    assert not (tmp_path / "pack.onnx").exists()
