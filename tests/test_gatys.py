"""The Gatys et al. optimisation lowers its objective with either optimiser."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from live_nst.models import losses  # noqa: E402
from live_nst.models.data import load_image  # noqa: E402
from live_nst.models.gatys import GatysConfig, stylize  # noqa: E402
from live_nst.models.vgg import VGGFeatures  # noqa: E402

pytestmark = [pytest.mark.train, pytest.mark.usefixtures("one_torch_thread")]




@pytest.fixture(scope="module")
def vgg() -> VGGFeatures:
    return VGGFeatures((*losses.STYLE_LAYERS, losses.CONTENT_LAYER))


@pytest.fixture(scope="module")
def pair(shared_data):
    content = load_image(shared_data / "content" / "pypi_samples" / "skimage_chelsea.jpg", 64)
    style = load_image(shared_data / "styles" / "starry_night.jpg", 64)
    return content, style


def objective(terms: dict[str, float], config: GatysConfig) -> float:
    return (config.content_weight * terms["content"] + config.style_weight * terms["style"]
            + config.tv_weight * terms["tv"])


@pytest.mark.parametrize("optimizer, steps", [("adam", 8), ("lbfgs", 5)])
def test_a_few_steps_lower_the_loss(optimizer, steps, pair, vgg):
    content, style = pair
    config = GatysConfig(steps=steps, optimizer=optimizer)
    _, before = stylize(content, style, GatysConfig(steps=0, optimizer=optimizer), vgg=vgg, progress=False)
    image, after = stylize(content, style, config, vgg=vgg, progress=False)
    assert objective(after, config) < 0.9 * objective(before, config), (before, after)
    assert after["style"] < before["style"]
    assert image.shape == content.shape
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert not torch.allclose(image, content, atol=1e-3)


def test_unknown_optimizer_is_refused(pair, vgg):
    content, style = pair
    with pytest.raises(ValueError, match="optimizer"):
        stylize(content, style, GatysConfig(optimizer="sgd"), vgg=vgg, progress=False)


@pytest.mark.parametrize("style", ["path", "starry_night"])
def test_stylize_command_writes_the_image(shared_data, tmp_path, capsys, style):
    """The artwork as a path, or as a shipped style's name."""
    from PIL import Image

    from live_nst.cli import main

    out = tmp_path / "out.png"
    artwork = str(shared_data / "styles/starry_night.jpg") if style == "path" else style
    code = main(["stylize", "--content-path", str(shared_data / "content/pypi_samples/skimage_chelsea.jpg"),
                 "--style-path", artwork, "--output", str(out), "--size", "48", "--steps", "2", "--device", "cpu"])
    assert code == 0 and max(Image.open(out).size) == 48
    assert "style loss" in capsys.readouterr().out


def test_stylize_command_rejects_an_unreadable_style_image(shared_data, tmp_path, capsys):
    from live_nst.cli import main

    bad = tmp_path / "style.jpg"
    bad.write_text("not an image")
    code = main(["stylize", "--content-path", str(shared_data / "content/pypi_samples/skimage_chelsea.jpg"),
                 "--style-path", str(bad), "--size", "32", "--steps", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot read image" in err and "style.jpg" in err


def test_a_permuted_numpy_image_is_accepted(pair, vgg):
    """L-BFGS flattens with .view(): a non-contiguous input used to fail inside it."""
    import numpy as np

    content, style = pair
    array = np.ascontiguousarray(content[0].permute(1, 2, 0).numpy())  # (H, W, 3), as an app holds it
    permuted = torch.from_numpy(array).permute(2, 0, 1)[None]
    assert not permuted.is_contiguous()
    image, _ = stylize(permuted, style, GatysConfig(steps=2), vgg=vgg, progress=False)
    assert image.shape == content.shape


def test_lbfgs_never_accepts_a_rise(pair, vgg):
    """Each L-BFGS step is line-searched: the objective falls (or holds) at every step."""
    content, style = pair
    losses_seen = []
    for steps in range(0, 6):
        _, terms = stylize(content, style, GatysConfig(steps=steps), vgg=vgg, progress=False)
        losses_seen.append(objective(terms, GatysConfig()))
    assert all(b <= a * (1 + 1e-4) for a, b in zip(losses_seen, losses_seen[1:])), losses_seen


def test_a_run_away_optimisation_keeps_its_best_image_and_says_so(pair, vgg, caplog):
    """Adam with a huge step diverges; the result is the best image seen, never the noise."""
    content, style = pair
    _, start = stylize(content, style, GatysConfig(steps=0, optimizer="adam"), vgg=vgg, progress=False)
    config = GatysConfig(steps=6, optimizer="adam", lr=200.0)
    with caplog.at_level("WARNING", logger="live_nst.models.gatys"):
        image, terms = stylize(content, style, config, vgg=vgg, progress=False)
    assert objective(terms, config) <= objective(start, config) * (1 + 1e-4)
    assert "diverged" in caplog.text


def test_a_given_start_image_is_where_the_optimisation_begins(pair, vgg):
    """Coarse-to-fine review images start from an upsampled result, not from the photo."""
    content, style = pair
    start = torch.full_like(content, 0.25)
    image, _ = stylize(content, style, GatysConfig(steps=0), vgg=vgg, progress=False, start=start)
    assert torch.allclose(image, start, atol=2e-3)
    assert not torch.allclose(image, content, atol=0.05)
