"""Style files a user drops in: metadata checked field by field (a bad file is skipped
with its reason, the others stay), and a test pass at load that checks the output's
shape as well as the inputs' names. Real ONNX Runtime and real video files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from live_nst import contract
from live_nst.catalog import StyleCatalog
from live_nst.cli import main
from live_nst.errors import ModelError
from live_nst.inference import StyleModel


def style_file(path, styles, output_from="image"):
    """A two-input model; ``output_from`` "image" keeps the contract, "style_weights" gives
    an output of the wrong shape (N, S, h, w)."""
    graph = helper.make_graph(
        [helper.make_node("Identity", [output_from], [contract.OUTPUT])], "user",
        [helper.make_tensor_value_info(contract.INPUT_IMAGE, TensorProto.FLOAT, ["n", 3, "h", "w"]),
         helper.make_tensor_value_info(contract.INPUT_STYLE_WEIGHTS, TensorProto.FLOAT, ["n", 2, "sh", "sw"])],
        [helper.make_tensor_value_info(contract.OUTPUT, TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    contract.set_metadata(model, {contract.KEY_CONTRACT: contract.CONTRACT_VERSION,
                                  contract.KEY_STYLES: json.dumps(styles)})
    onnx.save(model, str(path))
    return path


GOOD = [{"name": "mine_a", "title": "Mine A"}, {"name": "mine_b"}]


@pytest.mark.parametrize("styles, message", [
    ([{"name": "a", "title": None}, {"name": "b"}], r"style 0 \('a'\) has the title null, expected text"),
    ([{"name": "a", "artist": 5}, {"name": "b"}], r"\('a'\) has the artist 5"),
    ([{"name": None}, {"name": "b"}], "style 0 has the name null"),
    ([{"name": "two words"}, {"name": "b"}], "style 0 has the name \"two words\""),
    ([{"name": "a"}, "b"], "style 1 is \"b\", expected an object"),
    ([{"name": "a"}, {"name": "a"}], r"names \['a'\] more than once"),
    ({"name": "a"}, "expected a list of styles"),
    ([], "expected a list of styles"),
])
def test_style_metadata_is_checked_field_by_field(tmp_path, styles, message):
    path = style_file(tmp_path / "bad.onnx", styles)
    with pytest.raises(ModelError, match=message):
        contract.read_styles(path)


def test_a_bad_file_is_skipped_with_its_reason_and_the_others_listed(tmp_path, monkeypatch, capsys):
    style_file(tmp_path / "good.onnx", GOOD)
    style_file(tmp_path / "nulltitle.onnx", [{"name": "x", "title": None}, {"name": "y"}])
    monkeypatch.setenv("LIVE_NST_STYLES", str(tmp_path))
    catalog = StyleCatalog.default()
    assert {"mine_a", "mine_b", "starry_night"} <= set(catalog.names) and "x" not in catalog.names
    assert "title null" in catalog.problems[tmp_path / "nulltitle.onnx"]
    assert main(["styles"]) == 0
    captured = capsys.readouterr()
    assert "Mine A" in captured.out and "mine_b" in captured.out
    assert "skipped" in captured.err and "nulltitle.onnx" in captured.err
    assert main(["styles", "--json"]) == 0
    assert {row["name"] for row in json.loads(capsys.readouterr().out)} >= {"mine_a", "mine_b"}


def test_a_model_with_the_wrong_output_shape_fails_at_load(tmp_path):
    good = StyleModel(style_file(tmp_path / "good.onnx", GOOD), "cpu")
    assert good.run(np.zeros((9, 13, 3), np.uint8), np.full((2, 3, 4), 0.5, np.float32)).shape == (9, 13, 3)
    with pytest.raises(ModelError, match=r"into float32 of shape \(1, 2, 12, 8\).*of the image's own shape"):
        StyleModel(style_file(tmp_path / "bad.onnx", GOOD, output_from="style_weights"), "cpu")


@pytest.mark.parametrize("command", ["render", "run"])
def test_run_and_render_stop_at_start_on_such_a_model(tmp_path, capsys, segmentation_model, command):
    folder = tmp_path / "styles"
    folder.mkdir()
    style_file(folder / "bad.onnx", GOOD, output_from="style_weights")
    clip = tmp_path / "in.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    writer.write(np.full((48, 64, 3), 90, np.uint8))
    writer.release()
    looks = ["--styles-dir", str(folder), "--person-style", "mine_a", "--background-style", "blur"]
    if command == "render":
        argv = ["render", str(clip), "-o", str(tmp_path / "out.mp4"), *looks]
    else:
        argv = ["run", "--source", str(clip), "--output", "null", "--frames", "2", *looks]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.onnx paints a float32" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.avi", "styles"]


def _reshaped(path, image_shape=("n", 3, "h", "w"), weights_shape=("n", 2, "sh", "sw"), image_name=None):
    """A contract-keeping style file, then one input changed (metadata still says 2 styles)."""
    style_file(path, GOOD)
    model = onnx.load(str(path))
    image, weights = model.graph.input
    image.CopyFrom(helper.make_tensor_value_info(image_name or contract.INPUT_IMAGE, TensorProto.FLOAT, image_shape))
    weights.CopyFrom(helper.make_tensor_value_info(contract.INPUT_STYLE_WEIGHTS, TensorProto.FLOAT, weights_shape))
    model.graph.node[0].input[0] = image.name
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("changes, message", [
    (dict(image_shape=("n", 1, "h", "w")), "takes images of shape"),
    (dict(image_shape=("n", "h", "w")), "takes images of shape"),
    (dict(weights_shape=("n", 5, "sh", "sw")), "takes 5 style weights but its metadata lists 2"),
    (dict(weights_shape=("n",)), "takes style weights of shape"),
    (dict(image_name="picture"), "the model contract needs inputs"),
])
def test_a_valid_onnx_of_the_wrong_shape_is_skipped_when_the_catalog_loads(tmp_path, monkeypatch, changes, message):
    path = _reshaped(tmp_path / "wrong.onnx", **changes)
    with pytest.raises(ModelError, match=message):
        contract.read_styles(path)
    monkeypatch.setenv("LIVE_NST_STYLES", str(tmp_path))
    catalog = StyleCatalog.default()
    assert "mine_a" not in catalog.names and message.split()[0] in catalog.problems[path]


def test_each_skipped_file_is_told_once_and_a_reload_does_not_repeat_it(tmp_path, monkeypatch, capsys, caplog):
    style_file(tmp_path / "nulltitle.onnx", [{"name": "x", "title": None}, {"name": "y"}])
    monkeypatch.setenv("LIVE_NST_STYLES", str(tmp_path))
    assert main(["styles"]) == 0
    assert sum("nulltitle.onnx" in line for line in capsys.readouterr().err.splitlines()) == 1
    catalog = StyleCatalog.default()
    caplog.clear()
    style_file(tmp_path / "good.onnx", GOOD)  # the folder changes: the stream reloads its catalog
    fresh = catalog.reloaded()
    assert fresh is not None and "mine_a" in fresh.names and tmp_path / "nulltitle.onnx" in fresh.problems
    assert "nulltitle.onnx" not in caplog.text
    style_file(tmp_path / "nulltitle.onnx", [{"name": "x", "artist": 5}, {"name": "y"}])  # a new problem is told
    assert fresh.reloaded() is not None and "artist 5" in caplog.text
