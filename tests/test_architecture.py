"""Imports point one way: runtime (live_nst/) <- models/ <- export/ <- bench/ and the
command line; no module takes another module's private name. The rules and the graph
are in tools/import_graph.py (`python tools/import_graph.py --modules` prints it)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def graph():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "tools" / "import_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while they are made
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_no_upward_import_and_no_private_name(graph):
    assert graph.problems() == []


def test_the_graph_covers_every_folder_the_package_installs(graph):
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {name: folder for folder, name in graph.MAPPED.items()} == setuptools["package-dir"]
    found = graph.modules()
    for package in setuptools["packages"]:
        assert package in found, f"{package} is installed but not in the import graph"
    assert {graph.layer_of(name) for name in found} == set(graph.RANK)


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_check_finds_each_kind_of_broken_import(graph, tmp_path):
    for folder in ("live_nst", "models", "export", "bench"):
        write(tmp_path, f"{folder}/__init__.py", "")
    write(tmp_path, "live_nst/errors.py", "def _hidden(): pass\n")
    write(tmp_path, "live_nst/video.py", "from live_nst.models import nets\n")  # runtime -> models
    write(tmp_path, "models/nets.py", "def build():\n    from live_nst.export.write import out\n")  # lazy, still up
    write(tmp_path, "export/write.py", "from live_nst.bench.speed import timing\nout = 1\n")  # export -> bench
    write(tmp_path, "bench/speed.py", "from live_nst.errors import _hidden\nfrom live_nst import errors\n"
                                      "timing = errors._hidden\n")  # private, twice
    write(tmp_path, "live_nst/cli.py", "from live_nst.models.nets import build\n")  # torch at start-up
    write(tmp_path, "live_nst/cli_torch.py", "def train():\n    from live_nst.models import nets\n")  # fine
    found = "\n".join(graph.problems(tmp_path))
    assert "live_nst/video.py:1: live_nst.video -> live_nst.models.nets: runtime may not import models" in found
    assert "models/nets.py:2: live_nst.models.nets -> live_nst.export.write.out: models may not import export" in found
    assert ("export/write.py:1: live_nst.export.write -> live_nst.bench.speed.timing: "
            "export may not import bench") in found
    assert "bench/speed.py:1: live_nst.bench.speed -> live_nst.errors._hidden: imports a private name" in found
    assert "bench/speed.py:3: live_nst.bench.speed -> live_nst.errors._hidden: imports a private name" in found
    assert "live_nst/cli.py:1: live_nst.cli -> live_nst.models.nets.build: commands imports models only inside" in found
    assert "cli_torch" not in found
    assert len(found.splitlines()) == 6
