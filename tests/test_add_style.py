"""add-style: a new style trained into the shipped pack's frozen network, in one file with
the pack, found by the catalog (and by a running pipeline) and painted in one pass."""

from __future__ import annotations

import argparse
import json
import shutil

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from commands import LIVE_NST  # noqa: E402

from live_nst import contract  # noqa: E402
from live_nst.catalog import StyleCatalog, packaged_styles_dir  # noqa: E402
from live_nst.compose import ORIGINAL  # noqa: E402
from live_nst.config import RegionConfig, RunConfig  # noqa: E402
from live_nst.errors import InputError  # noqa: E402
from live_nst.inference import StyleModel  # noqa: E402
from live_nst.models import losses  # noqa: E402
from live_nst.models.add_style import (  # noqa: E402
    BARELY_MOVED,
    EXPORT_RESERVE_S,
    MIN_TRAIN_S,
    FitConfig,
    Start,
    _warn_if_barely_moved,
    add_style,
    append_style,
    fit,
    fit_seconds,
    load_pack,
    moved_share,
    style_grams,
)
from live_nst.models.add_style import paint as paint_style  # noqa: E402
from live_nst.models.data import load_image  # noqa: E402
from live_nst.models.networks import one_hot_weights  # noqa: E402
from live_nst.models.vgg import VGGFeatures  # noqa: E402
from live_nst.pipeline import FramePipeline  # noqa: E402

pytestmark = [pytest.mark.train, pytest.mark.usefixtures("one_torch_thread")]

PACK = packaged_styles_dir() / "pack.onnx"


def paint(network, image, index):
    with torch.no_grad():
        return network(image, one_hot_weights(torch.tensor([index]), network.config.num_styles, *image.shape[-2:]))


def test_an_appended_style_starts_as_its_neighbour_and_leaves_the_others_alone():
    network, styles, _ = load_pack(PACK)
    grown = append_style(network, start_from=3)
    image = torch.rand(1, 3, 40, 56)
    assert grown.config.num_styles == len(styles) + 1
    for index in range(len(styles)):
        assert torch.allclose(paint(grown, image, index), paint(network, image, index), atol=1e-6)
    assert torch.allclose(paint(grown, image, len(styles)), paint(network, image, 3), atol=1e-6)


def test_the_fitting_leaves_the_rest_of_the_budget_to_the_exports():
    assert fit_seconds(300.0) == 300.0 - EXPORT_RESERVE_S
    assert fit_seconds(300.0, exports=3) == 300.0 - 3 * EXPORT_RESERVE_S  # snapshots are exports too
    assert fit_seconds(EXPORT_RESERVE_S) == MIN_TRAIN_S, "a spent budget still fits a step, never none"
    assert fit_seconds(-20.0) == MIN_TRAIN_S


def test_the_smallest_budget_covers_the_export_and_help_says_what_the_budget_is():
    from live_nst.cli import build_parser, main
    from live_nst.cli_torch import MIN_BUDGET_MIN

    assert MIN_BUDGET_MIN * 60 > EXPORT_RESERVE_S + MIN_TRAIN_S
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    text = " ".join(action.choices["add-style"].format_help().split())
    assert f"whole command, at least {MIN_BUDGET_MIN:g}:" in text
    assert "choosing the nearest shipped style" in text and "export" in text
    assert main(["add-style", "x.jpg", "--budget", "0.5"]) == 2  # refused before PyTorch loads


@pytest.fixture(scope="module")
def pack_paintings():
    network, styles, _ = load_pack(PACK)
    photo = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    return network, styles, photo, [paint_style(network, photo, i) for i in range(len(styles))]


def test_a_style_not_yet_fitted_has_not_moved_and_a_shipped_neighbour_has(pack_paintings):
    network, styles, photo, paintings = pack_paintings
    start = Start(3, photo, paintings)
    assert moved_share(append_style(network, start_from=3), start) < 1e-4
    nearest = min((i for i in range(len(styles)) if i != 3),
                  key=lambda i: float((paintings[i] - paintings[3]).abs().mean()))
    assert moved_share(append_style(network, start_from=nearest), start) == pytest.approx(1.0, rel=1e-4)


def test_a_style_that_barely_moved_is_a_warning_naming_the_style_and_the_budget(pack_paintings, caplog):
    network, styles, photo, paintings = pack_paintings
    start = Start(3, photo, paintings)
    with caplog.at_level("WARNING", logger="live_nst.models.add_style"):
        _warn_if_barely_moved(append_style(network, start_from=3), start, styles[3].name, steps=2)
    assert len(caplog.records) == 1
    assert f"almost exactly as {styles[3].name}" in caplog.text and "--budget" in caplog.text
    caplog.clear()
    far = next(i for i in range(len(styles))
               if i != 3 and moved_share(append_style(network, start_from=i), start) >= BARELY_MOVED)
    with caplog.at_level("WARNING", logger="live_nst.models.add_style"):
        _warn_if_barely_moved(append_style(network, start_from=far), start, styles[3].name, steps=500)
    assert not caplog.records


@pytest.mark.slow
def test_fitting_changes_only_the_new_styles_conditioning(shared_data):
    network, styles, _ = load_pack(PACK)
    grown = append_style(network, start_from=0)
    before = {k: v.clone() for k, v in grown.state_dict().items()}
    vgg = VGGFeatures((*losses.STYLE_LAYERS, *losses.TRAIN_CONTENT_LAYERS))
    target = style_grams(vgg, load_image(shared_data / "styles" / "mosaic.jpg", 96))
    steps, terms = fit(grown, vgg, target, [torch.rand(1, 3, 64, 64)], losses.LossWeights(),
                       FitConfig(budget_s=3.0, size=48, batch=1))
    assert steps >= 1 and terms["style"] > 0
    after = grown.state_dict()
    changed_rows = 0
    for name, value in after.items():
        if name.endswith((".scale", ".shift")):
            assert torch.equal(value[:-1], before[name][:-1]), f"{name}: a shipped style's row moved"
            changed_rows += int(not torch.equal(value[-1], before[name][-1]))
        else:
            assert torch.equal(value, before[name]), f"{name}: a shared weight moved"
    assert changed_rows > 0, "the new style's conditioning did not train"


@pytest.fixture(scope="module")
def user_style(shared_data, tmp_path_factory):
    """One real add-style run, as short as the command allows."""
    styles_dir = tmp_path_factory.mktemp("styles")
    taken = set(StyleCatalog.default(styles_dir).entries)
    path = add_style(shared_data / "styles" / "mosaic.jpg", "my_mosaic", styles_dir, PACK, taken, budget_min=0.02)
    return path


@pytest.mark.slow
def test_the_user_style_file_lists_only_the_new_style_and_carries_its_card(user_style, shared_data):
    catalog = StyleCatalog([packaged_styles_dir(), user_style.parent])
    shipped = [s.name for s in contract.read_styles(PACK)]
    assert "my_mosaic" in catalog.names
    assert not [name for name in catalog.names if "@" in name], "the pack's styles must not be listed twice"
    assert catalog.get("my_mosaic").path == user_style
    card = json.loads(contract.read_metadata(user_style)[contract.KEY_QUALITY])["add_style"]
    from live_nst.assets import sha256_of

    assert card["artwork_sha256"] == sha256_of(shared_data / "styles" / "mosaic.jpg")
    assert card["steps"] >= 1 and card["started_from"] in shipped and card["losses"]["style"] > 0
    extends = json.loads(contract.read_metadata(user_style)[contract.KEY_EXTENDS])
    assert extends["styles"] == shipped


@pytest.mark.slow
def test_a_shipped_and_a_user_style_share_one_pass(user_style):
    catalog = StyleCatalog([packaged_styles_dir(), user_style.parent])
    shipped = contract.read_styles(PACK)[0].name
    plan = catalog.locate([shipped, "my_mosaic"])
    assert list(plan) == [user_style], "both looks must come from the one file that holds them"
    # In that file the shipped style paints exactly as the pack does: the same network.
    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    weights = np.zeros((9, 12, 16), np.float32)
    weights[0] = 1.0
    ours = StyleModel(user_style, "cpu").run(image, weights)
    pack = StyleModel(PACK, "cpu").run(image, weights[:8])
    assert np.abs(ours.astype(int) - pack.astype(int)).max() <= 1
    assert catalog.locate([shipped]) == {PACK: [(shipped, 0)]}, "alone, a shipped style stays on the pack"


@pytest.mark.slow
def test_a_running_pipeline_picks_up_added_and_removed_style_files(user_style, tmp_path):
    shipped = contract.read_styles(PACK)[0].name
    catalog = StyleCatalog([packaged_styles_dir(), tmp_path])
    config = RunConfig(size_wh=(64, 48), proc_size_wh=(64, 48), person=RegionConfig(shipped),
                       background=RegionConfig(ORIGINAL))
    pipeline = FramePipeline(config, catalog, None)
    frame = np.full((48, 64, 3), 120, np.uint8)
    assert catalog.reloaded() is None, "nothing changed yet"
    shutil.copy(user_style, tmp_path / "my_mosaic.onnx")
    fresh = catalog.reloaded()
    assert fresh is not None and "my_mosaic" in fresh.cycle()
    pipeline.set_catalog(fresh)
    assert pipeline.set_style("person", "my_mosaic", now=0.0)
    assert pipeline.process(frame, 0.0).shape == (48, 64, 3)
    (tmp_path / "my_mosaic.onnx").unlink()
    gone = fresh.reloaded()
    assert gone is not None and "my_mosaic" not in gone.names
    pipeline.set_catalog(gone)
    assert pipeline.person.look == ORIGINAL
    assert np.array_equal(pipeline.process(frame, 1.0), frame)
    pipeline.close()


@pytest.mark.parametrize("case", ["not_an_image", "too_small", "name_taken", "bad_name"])
def test_bad_input_is_refused_before_anything_is_written(case, tmp_path, shared_data):
    styles_dir = tmp_path / "styles"
    picture, name = shared_data / "styles" / "mosaic.jpg", "fine_name"
    if case == "not_an_image":
        picture = tmp_path / "notes.jpg"
        picture.write_text("not a picture")
    elif case == "too_small":
        picture = tmp_path / "tiny.png"
        cv2.imwrite(str(picture), np.zeros((40, 200, 3), np.uint8))
    elif case == "name_taken":
        name = contract.read_styles(PACK)[0].name
    else:
        name = "../escape"
    taken = set(StyleCatalog.default(styles_dir).entries)
    with pytest.raises(InputError) as caught:
        add_style(picture, name, styles_dir, PACK, taken, budget_min=0.02)
    message = str(caught.value)
    assert {"not_an_image": "cannot read", "too_small": "64 px", "name_taken": "already installed",
            "bad_name": "not usable"}[case] in message
    assert not list(tmp_path.rglob("*.onnx")), "a refused style must leave no file behind"


@pytest.mark.slow
def test_the_neighbour_sheet_shows_a_user_style_beside_the_shipped_style_it_grew_from(user_style, tmp_path):
    from live_nst.bench.own_style import neighbours_sheet

    sheet = cv2.imread(str(neighbours_sheet({"my_mosaic": user_style}, tmp_path / "sheet.png")))
    assert sheet.shape[:2] == (360 + 4, 3 * 640)
    photo, yours, neighbour = (sheet[40:360, i * 640:(i + 1) * 640].astype(int) for i in range(3))
    assert np.abs(yours - photo).mean() > 5, "the user's style must paint the photo"
    assert np.abs(yours - neighbour).mean() > 0.5, "the user's style must differ from where it started"


@pytest.mark.slow
def test_the_command_shows_every_phase_and_says_how_to_use_the_style(shared_data, tmp_path):
    import subprocess

    styles_dir = tmp_path / "new"  # not there yet: the command makes it, and must not warn that it is missing
    done = subprocess.run([*LIVE_NST, "add-style", str(shared_data / "styles" / "candy.jpg"),
                           "--name", "my_candy", "--budget", "1", "--styles-dir", str(styles_dir)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "does not exist" not in done.stderr and "warning: the styles folder" not in done.stderr
    for phase in ("add-style my_candy: loading", "choosing the nearest shipped style", "8/8",
                  "starting from", "step ", "ETA 0:", "writing my_candy.onnx"):
        assert phase in done.stderr, f"{phase!r} is missing from:\n{done.stderr}"
    assert (styles_dir / "my_candy.onnx").is_file()
    assert "(budget 1 min)" in done.stdout and "--person-style my_candy" in done.stdout


@pytest.mark.slow
def test_a_full_disk_is_one_clear_error_and_leaves_no_file(user_style, shared_data, tmp_path):
    import resource
    import signal
    import subprocess

    def small_disk() -> None:  # writes past 100 kB fail (EFBIG) as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    # (user_style: the VGG weights are in the cache by now, so only the style file is written)
    done = subprocess.run([*LIVE_NST, "add-style", str(shared_data / "styles" / "candy.jpg"), "--name", "my_candy",
                           "--budget", "1", "--styles-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, preexec_fn=small_disk)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.startswith("live-nst: error:")]
    assert len(errors) == 1 and "my_candy.onnx" in errors[0] and "File too large" in errors[0], done.stderr
    assert list(tmp_path.iterdir()) == [], "a failed write must leave nothing behind"
