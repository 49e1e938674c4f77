"""The shipped artworks (style names wherever an artwork is taken), and the outputs of
stylize and export checked before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from live_nst.artworks import resolve_artwork, shipped_artworks
from live_nst.catalog import StyleCatalog, packaged_styles_dir
from live_nst.cli import main
from live_nst.errors import InputError, OutputError
from live_nst.export.artworks import shippable
from live_nst.outputs import PartialFile, check_folder_output, check_image_output, same_file


def test_every_shipped_style_ships_its_public_domain_artwork_small():
    pack = StyleCatalog([packaged_styles_dir()]).names
    pictures = shipped_artworks()
    assert set(pictures) == set(pack) and len(pack) == 8
    assert all(shippable(name) for name in pictures)
    for path in pictures.values():
        with Image.open(path) as image:
            assert max(image.size) <= 512 and image.mode == "RGB"
    assert sum(path.stat().st_size for path in pictures.values()) < 1_000_000


def test_a_style_name_stands_for_its_artwork(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_artwork("starry_night") == shipped_artworks()["starry_night"]
    assert resolve_artwork("starry_night.jpg") == shipped_artworks()["starry_night"]
    Path("starry_night.jpg").write_bytes(shipped_artworks()["great_wave"].read_bytes())
    assert resolve_artwork("starry_night.jpg") == Path("starry_night.jpg"), "a file here wins over the name"
    with pytest.raises(InputError, match="neither an image file nor .* great_wave"):
        resolve_artwork("no_such_style")


def test_styles_json_gives_the_artworks_path(capsys):
    assert main(["styles", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert Path(rows["starry_night"]["artwork_path"]).is_file()


@pytest.mark.parametrize("output, message", [
    ("missing/out.png", "missing does not exist"),
    ("afile/out.png", "afile is not a folder"),
    ("folder", "that is a folder"),
    ("out.xyz", "names no image type"),
])
def test_stylize_refuses_an_unwritable_output_before_any_work(tmp_path, monkeypatch, capsys, output, message):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("a file")
    Path("folder").mkdir()
    assert main(["stylize", "--content-path", "me.jpg", "--style-path", "starry_night", "-o", output]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.mark.parametrize("output, message", [("missing/x.onnx", "does not exist"), ("x.pt", "must end in .onnx"),
                                             ("afile/x.onnx", "not a folder")])
def test_export_refuses_an_unwritable_output_before_any_work(tmp_path, monkeypatch, capsys, output, message):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("a file")
    assert main(["export", "some.ckpt", "-o", output]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_folder_outputs_may_be_made_but_not_inside_a_file(tmp_path):
    assert check_folder_output(tmp_path / "new" / "deeper", "runs") == tmp_path / "new" / "deeper"
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        check_folder_output(tmp_path / "file" / "run", "runs")
    with pytest.raises(OutputError, match="is a file"):
        check_folder_output(tmp_path / "file", "runs")
    with pytest.raises(OutputError, match="ending"):
        check_image_output(tmp_path / "x")


def test_partial_files_keep_the_ending_and_replace_on_commit(tmp_path):
    final = tmp_path / "out.mp4"
    final.write_text("earlier")
    partial = PartialFile(final)
    assert partial.path.name.startswith("out.partial-") and partial.path.suffix == ".mp4"
    assert final.read_text() == "earlier"
    partial.path.write_text("new")
    partial.commit()
    assert final.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    assert same_file(final, final) and not same_file(final, tmp_path / "missing")
