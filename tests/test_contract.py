"""The model contract's own module: metadata read, written and checked, files replaced
atomically. No PyTorch: these are the runtime's and the exporter's shared rules."""

from __future__ import annotations

import errno
import json
import os

import onnx
import pytest
from onnx import TensorProto, helper

from live_nst import contract
from live_nst.errors import ModelError


def tiny_model(meta: dict[str, str]) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Identity", [contract.INPUT_IMAGE], [contract.OUTPUT])], "tiny",
        [helper.make_tensor_value_info(contract.INPUT_IMAGE, TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info(contract.OUTPUT, TensorProto.FLOAT, ["n", 3, "h", "w"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    contract.set_metadata(model, meta)
    return model


STYLES = [contract.StyleInfo("starry_night", "The Starry Night (1889)", "Vincent van Gogh", "starry_night.jpg",
                             "public domain"),
          contract.StyleInfo("mine", "mine", "", "", "unknown")]


def test_written_metadata_reads_back(tmp_path):
    values = contract.metadata_values(STYLES, {"name": "painter"}, {"step": 7}, {"style_loss": 1.25})
    path = tmp_path / "m.onnx"
    onnx.save(tiny_model({"someone.else": "kept", **values}), str(path))
    assert contract.styles_from_metadata(path, contract.read_metadata(path)) == STYLES  # (a graph off contract)
    assert contract.read_json(path, contract.KEY_RECIPE) == {"step": 7}
    assert contract.read_metadata(path)["someone.else"] == "kept"
    assert set(json.loads(values[contract.KEY_STYLES])[0]) == {"name", "title", "artist", "artwork", "license"}


def test_update_replaces_one_entry_and_keeps_the_rest(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(tiny_model(contract.metadata_values(STYLES, {}, {"step": 7}, {})), str(path))
    contract.update_metadata(path, {contract.KEY_QUALITY: json.dumps({"fps": 20})})
    assert contract.read_json(path, contract.KEY_QUALITY) == {"fps": 20}
    assert contract.read_json(path, contract.KEY_RECIPE) == {"step": 7}
    assert contract.styles_from_metadata(path, contract.read_metadata(path)) == STYLES  # (a graph off contract)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no partial file left


@pytest.mark.parametrize("meta, message", [
    ({}, "lacks the live-nst metadata"),
    ({contract.KEY_CONTRACT: "0", contract.KEY_STYLES: "[]"}, "follows model contract 0"),
    ({contract.KEY_CONTRACT: contract.CONTRACT_VERSION, contract.KEY_STYLES: "[{}]"}, "is malformed"),
])
def test_off_contract_metadata_names_the_file_and_the_problem(tmp_path, meta, message):
    path = tmp_path / "bad.onnx"
    onnx.save(tiny_model(meta), str(path))
    with pytest.raises(ModelError, match=message) as caught:
        contract.read_styles(path)
    assert "bad.onnx" in str(caught.value)


def test_signature_check_names_what_the_contract_needs(tmp_path):
    good = {contract.INPUT_IMAGE: ["n", 3, "h", "w"], contract.INPUT_STYLE_WEIGHTS: ["n", 2, "h", "w"]}
    contract.check_signature(tmp_path / "m.onnx", good, [contract.OUTPUT], 2)
    with pytest.raises(ModelError, match="the model contract needs inputs"):
        contract.check_signature(tmp_path / "m.onnx", {"img": [1]}, [contract.OUTPUT], 2)
    with pytest.raises(ModelError, match="takes 2 style weights but its metadata lists 3"):
        contract.check_signature(tmp_path / "m.onnx", good, [contract.OUTPUT], 3)


class WriteError(ModelError):
    pass


def test_full_disk_gives_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "pack.onnx"
    target.write_bytes(b"old model")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(WriteError, match="no space left") as caught:
        contract.write_atomically(b"new model" * 1000, target, error=WriteError)
    assert "pack.onnx" in str(caught.value)
    assert target.read_bytes() == b"old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack.onnx"]


def test_a_failed_check_leaves_the_old_file(tmp_path):
    target = tmp_path / "pack.onnx"
    target.write_bytes(b"old model")

    def reject(candidate):
        assert candidate.read_bytes() == b"new model"
        raise ModelError("rejected")

    with pytest.raises(ModelError, match="rejected"):
        contract.write_atomically(b"new model", target, verify=reject)
    assert target.read_bytes() == b"old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack.onnx"]
