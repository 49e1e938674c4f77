"""``live-nst train --resume``: the command line says where the run writes and which
pictures it learns from; a changed artwork is warned about; a checkpoint that is not one
is refused in one line that never suggests loading it unsafely."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from live_nst.artworks import shipped_artworks  # noqa: E402
from live_nst.cli import build_parser, main  # noqa: E402
from live_nst.errors import ConfigError, InputError  # noqa: E402
from live_nst.models.networks import build_network  # noqa: E402
from live_nst.models.resume import train_config_from_args  # noqa: E402
from live_nst.models.train import TrainConfig, save_checkpoint  # noqa: E402

pytestmark = pytest.mark.train


@pytest.fixture
def checkpoint(tmp_path):
    """A painter checkpoint trained (as it says) on an artwork and photos of another machine."""
    artwork = tmp_path / "elsewhere" / "starry_night.jpg"
    artwork.parent.mkdir()
    artwork.write_bytes(shipped_artworks()["great_wave"].read_bytes())  # not the shipped starry_night
    config = TrainConfig(style_paths=(str(artwork),), content_dir=str(tmp_path / "elsewhere" / "photos"),
                         out_dir=str(tmp_path / "elsewhere" / "run"), steps=50, size=64)
    model = build_network("painter", 1)
    path = tmp_path / "last.ckpt"
    save_checkpoint(path, model, torch.optim.Adam(model.parameters()), 10, config, [])
    artwork.unlink()  # gone, as on a machine where the run continues
    photos = tmp_path / "photos"
    photos.mkdir()
    return path, photos


def _config(*argv: str) -> TrainConfig:
    return train_config_from_args(build_parser().parse_args(["train", *argv]))


def test_resume_writes_where_the_command_line_says(checkpoint, tmp_path):
    path, photos = checkpoint
    assert _config("--resume", str(path), "--content-dir", str(photos), "-o", str(tmp_path / "here")).out_dir == \
        str(tmp_path / "here")
    config = _config("--resume", str(path), "--content-dir", str(photos), "--steps", "80")
    assert config.out_dir == "runs/train" and config.steps == 80 and config.size == 64


def test_resume_keeps_the_style_layer_weights_unless_told(checkpoint, tmp_path):
    path, photos = checkpoint
    assert _config("--resume", str(path), "--content-dir", str(photos)).weights.style_layers == (1.0,) * 5
    leaning = _config("--resume", str(path), "--content-dir", str(photos), "--style-layer-weights", "1,1,1,1,3")
    assert leaning.weights.style_layers == (1.0, 1.0, 1.0, 1.0, 3.0)
    model = build_network("painter", 1)
    again = tmp_path / "again.ckpt"
    save_checkpoint(again, model, torch.optim.Adam(model.parameters()), 11, leaning, [])
    resumed = _config("--resume", str(again), "--content-dir", str(photos))
    assert resumed.weights.style_layers == leaning.weights.style_layers


@pytest.mark.parametrize("text", ["1,1,1,3", "1,1,1,1,-1", "1,1,1,1,x", "1,1,1,1,inf"])
def test_style_layer_weights_must_be_five_non_negative_numbers(text, capsys):
    assert main(["train", "--style-layer-weights", text]) == 2
    assert "5 non-negative numbers" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["1", "1,1,1", "-1,1", "nan,1"])
def test_content_layer_weights_must_be_two_non_negative_numbers(text, capsys):
    assert main(["train", f"--content-layer-weights={text}"]) == 2
    assert "2 non-negative numbers" in capsys.readouterr().err


def test_resume_keeps_the_content_layer_weights_unless_told(checkpoint, tmp_path):
    path, photos = checkpoint
    assert _config("--resume", str(path), "--content-dir", str(photos)).weights.content_layers == (1.0, 1.0)
    lighter = _config("--resume", str(path), "--content-dir", str(photos), "--content-layer-weights", "0.5,1")
    assert lighter.weights.content_layers == (0.5, 1.0)
    model = build_network("painter", 1)
    again = tmp_path / "again.ckpt"
    save_checkpoint(again, model, torch.optim.Adam(model.parameters()), 11, lighter, [])
    assert _config("--resume", str(again), "--content-dir", str(photos)).weights.content_layers == (0.5, 1.0)


def test_resume_keeps_the_style_balance_unless_told(checkpoint, tmp_path):
    path, photos = checkpoint
    assert _config("--resume", str(path), "--content-dir", str(photos)).balance_styles is False
    balanced = _config("--resume", str(path), "--content-dir", str(photos), "--balance-styles")
    assert balanced.balance_styles is True
    model = build_network("painter", 1)
    again = tmp_path / "again.ckpt"
    save_checkpoint(again, model, torch.optim.Adam(model.parameters()), 11, balanced, [])
    assert _config("--resume", str(again), "--content-dir", str(photos)).balance_styles is True
    assert _config("--resume", str(again), "--content-dir", str(photos), "--no-balance-styles").balance_styles is False


def test_resume_uses_the_pictures_it_names_and_warns_when_an_artwork_changed(checkpoint, tmp_path, caplog):
    path, photos = checkpoint
    with caplog.at_level("WARNING"):
        config = _config("--resume", str(path), "--content-dir", str(photos))
    # The checkpoint's artwork is not here: the shipped one of that name, which differs.
    assert config.style_paths == (str(shipped_artworks()["starry_night"]),) and config.content_dir == str(photos)
    assert "not the picture style 'starry_night' was trained on" in caplog.text
    caplog.clear()
    same = tmp_path / "same.jpg"
    same.write_bytes(shipped_artworks()["great_wave"].read_bytes())
    with caplog.at_level("WARNING"):
        assert _config("--resume", str(path), "--content-dir", str(photos), "--style-path", str(same)).style_paths \
            == (str(same),)
    assert "not the picture" not in caplog.text, "the same picture under another name needs no warning"
    with pytest.raises(ConfigError, match="holds 1 styles"):
        _config("--resume", str(path), "--content-dir", str(photos), "--style-path", "udnie", "great_wave")


def test_resume_asks_for_the_photos_when_the_checkpoints_are_not_here(checkpoint):
    path, _ = checkpoint
    with pytest.raises(InputError, match="give the photos with --content-dir"):
        _config("--resume", str(path))
    with pytest.raises(ConfigError, match="holds a 'painter' network"):
        _config("--resume", str(path), "--arch", "johnson")


class NotAllowed:
    """An object torch's safe loader refuses."""


@pytest.mark.parametrize("payload, message", [
    ([1, 2, 3], "holds a list"),
    ({"model": {}}, "lacks 'arch'"),
    ({"model": {}, "arch": {}, "optimizer": {}, "step": "ten", "config": {}, "styles": [], "history": []},
     "'step' is a str"),
    ("damaged", "holds a str"),
    (NotAllowed(), "Python objects other than tensors"),
])
def test_a_checkpoint_that_is_not_one_is_one_error_line(tmp_path, capsys, payload, message):
    bad = tmp_path / "bad.ckpt"
    if payload == "damaged":
        bad.write_bytes(b"PK\x03\x04 not really a zip")
        message = "not a live-nst checkpoint"
    else:
        torch.save(payload, bad)
    assert main(["train", "--resume", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("live-nst: error: ") and message in err[0], err
    assert "weights_only" not in err[0] and "unsafe" not in err[0].lower()


def test_an_unwritable_output_folder_stops_training_before_it_starts(tmp_path, capsys, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    (tmp_path / "afile").write_text("a file")
    monkeypatch.setattr("live_nst.models.train.train", lambda *a, **k: pytest.fail("training started"))
    assert main(["train", "--style-path", "starry_night", "--content-dir", str(photos),
                 "-o", str(tmp_path / "afile" / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "afile is not a folder" in err[0], err


def test_resume_grows_the_network_but_never_shrinks_it(checkpoint, capsys):
    path, photos = checkpoint
    assert _config("--resume", str(path), "--content-dir", str(photos)).res_blocks is None
    assert _config("--resume", str(path), "--content-dir", str(photos), "--res-blocks", "7").res_blocks == 7
    assert main(["train", "--resume", str(path), "--content-dir", str(photos), "--res-blocks", "3"]) == 2
    assert "would remove trained ones" in capsys.readouterr().err


# Saves a checkpoint under a file size limit (a full disk, without root); prints the error.
_SAVE_ON_A_FULL_DISK = """
import resource, signal, sys
import torch
from live_nst.errors import LiveNSTError
from live_nst.models.networks import build_network
from live_nst.models.train import TrainConfig, save_checkpoint
model = build_network("painter", 1)
optimizer = torch.optim.Adam(model.parameters())
config = TrainConfig(style_paths=(sys.argv[3],), content_dir=".", out_dir=".", steps=1, size=64)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))  # only now: torch writes caches
try:
    save_checkpoint(__import__("pathlib").Path(sys.argv[1]), model, optimizer, 1, config, [])
except LiveNSTError as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.parametrize("limit", [0, 1000, 200_000])
def test_a_checkpoint_on_a_full_disk_is_one_error_and_leaves_the_earlier_one(tmp_path, limit):
    import subprocess
    import sys

    last = tmp_path / "last.ckpt"
    last.write_bytes(b"the earlier checkpoint")
    artwork = shipped_artworks()["great_wave"]
    done = subprocess.run([sys.executable, "-I", "-c", _SAVE_ON_A_FULL_DISK, str(last), str(limit), str(artwork)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("OutputError could not write the checkpoint"), done.stdout
    assert len(done.stdout.strip().splitlines()) == 1 and "Any earlier last.ckpt is unchanged" in done.stdout
    assert last.read_bytes() == b"the earlier checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"], "a .part file was left"
