"""Gram matrices and the loss terms: their defining properties, and that the full training
objective sends gradients to every parameter of both architectures."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from live_nst.models import losses  # noqa: E402
from live_nst.models.networks import build_network  # noqa: E402
from live_nst.models.vgg import VGGFeatures  # noqa: E402

pytestmark = [pytest.mark.train, pytest.mark.usefixtures("one_torch_thread")]




@pytest.fixture(scope="module")
def vgg() -> VGGFeatures:
    return VGGFeatures((*losses.STYLE_LAYERS, *losses.TRAIN_CONTENT_LAYERS))


def features(seed: int = 0, shape=(2, 5, 6, 7)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_gram_is_symmetric_and_positive_semidefinite():
    g = losses.gram(features())
    torch.testing.assert_close(g, g.transpose(1, 2))
    assert torch.linalg.eigvalsh(g).min() > -1e-10


def test_gram_entry_is_the_mean_over_positions_of_a_channel_product():
    f = features()
    g = losses.gram(f)
    torch.testing.assert_close(g[1, 2, 3], (f[1, 2] * f[1, 3]).mean())


def test_gram_ignores_where_things_are():
    f = features()
    order = torch.randperm(6 * 7, generator=torch.Generator().manual_seed(1))
    shuffled = f.reshape(2, 5, -1)[:, :, order].reshape(f.shape)
    assert not torch.equal(shuffled, f)
    torch.testing.assert_close(losses.gram(shuffled), losses.gram(f))


def test_gram_scales_quadratically():
    f = features()
    torch.testing.assert_close(losses.gram(3.0 * f), 9.0 * losses.gram(f))


def test_gram_is_normalised_by_size_so_a_tiled_image_has_the_same_gram():
    f = features()
    tiled = f.repeat(1, 1, 2, 3)
    torch.testing.assert_close(losses.gram(tiled), losses.gram(f))


def test_content_and_style_losses_vanish_for_identical_inputs_only(vgg):
    images = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        feats = vgg(images)
        other = vgg(images.flip(-1).roll(7, dims=-2))
    own_grams = {name: losses.gram(feats[name]) for name in losses.STYLE_LAYERS}
    assert float(losses.content_loss(feats, feats)) == 0.0
    assert float(losses.style_loss(feats, own_grams)) == pytest.approx(0.0, abs=1e-10)
    assert float(losses.content_loss(other, feats)) > 1e-3
    assert float(losses.style_loss({k: v.flip(0) for k, v in feats.items()}, own_grams)) > 1e-6


def test_style_loss_broadcasts_one_target_over_the_batch(vgg):
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        feats = vgg(image.expand(3, -1, -1, -1))
        target = {name: losses.gram(vgg(image)[name]) for name in losses.STYLE_LAYERS}
        other = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
        apart = float(losses.style_loss(vgg(other.expand(3, -1, -1, -1)), target))
    # Zero up to float rounding: a batch of 3 and a batch of 1 may take different kernels.
    assert float(losses.style_loss(feats, target)) < 1e-8 * apart


def test_style_layer_weights_scale_each_layers_term(vgg):
    image, other = (torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) for seed in (5, 6))
    with torch.no_grad():
        feats, target = vgg(image), {k: losses.gram(v) for k, v in vgg(other).items() if k in losses.STYLE_LAYERS}
    per_layer = {name: float(losses.style_loss(feats, {name: target[name]})) for name in losses.STYLE_LAYERS}
    deep = {**dict.fromkeys(losses.STYLE_LAYERS, 1.0), "relu5_1": 3.0, "relu1_1": 0.0}
    expected = sum(per_layer.values()) + 2 * per_layer["relu5_1"] - per_layer["relu1_1"]
    assert float(losses.style_loss(feats, target, deep)) == pytest.approx(expected, rel=1e-5)
    assert float(losses.style_loss(feats, target)) == pytest.approx(sum(per_layer.values()), rel=1e-5)


def test_content_layer_weights_scale_each_layers_term(vgg):
    image, other = (torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) for seed in (7, 8))
    faces = torch.zeros(1, 1, 32, 32)
    faces[..., 8:20, 8:20] = 4.0
    with torch.no_grad():
        feats, target = vgg(image), vgg(other)
    per_layer = {name: float(losses.weighted_content_loss(feats[name], target[name], 1.0 + faces))
                 for name in losses.TRAIN_CONTENT_LAYERS}
    assert float(losses.training_content_loss(feats, target, 1.0 + faces)) == \
        pytest.approx(sum(per_layer.values()), rel=1e-5)
    lighter = float(losses.training_content_loss(feats, target, 1.0 + faces, (0.5, 2.0)))
    assert lighter == pytest.approx(0.5 * per_layer["relu2_2"] + 2.0 * per_layer["relu4_2"], rel=1e-5)


def test_total_variation_is_zero_for_flat_images_only():
    assert float(losses.total_variation(torch.full((1, 3, 16, 16), 0.3))) == 0.0
    ramp = torch.linspace(0, 1, 16).expand(1, 3, 16, 16)
    assert float(losses.total_variation(ramp)) == pytest.approx(1 / 15)


class PositionDependent(nn.Module):
    """Adds a fixed pattern tied to pixel positions: not shift-equivariant."""

    def forward(self, image, weights):
        h, w = image.shape[-2:]
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        return image + 0.2 * torch.sin(0.7 * yy + 0.3 * xx)


def test_temporal_loss_rewards_following_the_motion_only():
    content = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    weights = torch.ones(2, 1, 32, 48)
    torch.manual_seed(0)
    colour_mix = nn.Conv2d(3, 3, 1)  # linear and per pixel: it commutes with any resampling

    def run(network) -> float:
        torch.manual_seed(5)  # the same motion for each network
        with torch.no_grad():
            return float(losses.temporal_loss(network, content, network(content, weights), weights, noise=0.0))

    assert run(lambda image, w: image) == 0.0
    assert run(lambda image, w: colour_mix(image)) < 1e-12
    assert run(PositionDependent()) > 1e-3
    # Painting tied to the screen, not to the picture, is what the term is there to catch.
    screen_texture = 0.2 * torch.rand(1, 1, 32, 48, generator=torch.Generator().manual_seed(1))
    assert run(lambda image, w: image + screen_texture) > 1e-3


def test_temporal_loss_motions_stay_within_their_ranges():
    torch.manual_seed(0)
    theta = losses._random_similarity(500, 90, 160, max_shift=4.0, max_degrees=2.0, max_zoom=0.03)
    linear = theta[:, :, :2] * torch.tensor([[1.0, 160 / 90], [90 / 160, 1.0]])  # back to pixel units
    zoom = linear.det().sqrt()
    angle = torch.rad2deg(torch.atan2(linear[:, 1, 0], linear[:, 0, 0]))
    shift = theta[:, :, 2] * torch.tensor([80.0, 45.0])
    assert torch.allclose(linear[:, 0, 0], linear[:, 1, 1]) and torch.allclose(linear[:, 0, 1], -linear[:, 1, 0])
    assert zoom.min() >= 0.97 and zoom.max() <= 1.03 and zoom.std() > 0.01
    assert angle.abs().max() <= 2.0 and angle.std() > 0.5
    assert shift.abs().max() <= 4.0 and shift.std() > 1.0


def test_lattice_loss_catches_a_pattern_tied_to_the_pixel_grid_only():
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, 16, 16, generator=generator)
    photo = torch.nn.functional.interpolate(coarse, size=(128, 128), mode="bicubic", align_corners=False)
    photo = photo + 0.05 * torch.randn(1, 3, 128, 128, generator=generator)  # texture at no fixed phase

    def tiled(period: int) -> torch.Tensor:
        tile = torch.rand(1, 3, period, period, generator=generator) - 0.5
        return 0.1 * tile.repeat(1, 1, 128 // period + 1, 128 // period + 1)[..., :128, :128]

    base = float(losses.lattice_loss(photo))
    assert base < 5e-5
    for period in (8, 4, 2):  # the network's 1/8, 1/4 and 1/2 grids
        assert float(losses.lattice_loss(photo + tiled(period))) > 20 * base
    # A stripe every 8 pixels, whatever its offset, is tied to the grid...
    stripes = 0.1 * (torch.arange(128) % 8 == 3).float().view(1, 1, -1, 1)
    assert float(losses.lattice_loss(photo + stripes)) > 20 * base
    # ...one every 7 pixels is not: it drifts across the 8-pixel cells.
    drifting = 0.1 * (torch.arange(128) % 7 == 3).float().view(1, 1, -1, 1)
    assert float(losses.lattice_loss(photo + drifting)) < 3 * base


@pytest.mark.parametrize("arch", ["mobile", "johnson", "painter"])
def test_training_objective_reaches_every_parameter(arch, vgg):
    torch.manual_seed(0)
    network = build_network(arch, num_styles=3)
    content = torch.rand(2, 3, 32, 40)
    # Mixed per-pixel weights: every style's scale and shift must take part.
    weights = torch.softmax(2 * torch.randn(2, 3, 32, 40), dim=1)
    styled = network(content, weights)
    out, ref = vgg(styled), vgg(content)
    style_target = {name: losses.gram(ref[name].detach()).flip(0) for name in losses.STYLE_LAYERS}
    terms = {
        "content": sum(losses.content_loss(out, ref, layer) for layer in losses.TRAIN_CONTENT_LAYERS),
        "style": losses.style_loss(out, style_target),
        "tv": losses.total_variation(styled),
        "temporal": losses.temporal_loss(network, content, styled, weights),
        "lattice": losses.lattice_loss(styled),
        "region": losses.region_loss(network, content, torch.tensor([0, 2]), 3),
    }
    sum(terms.values()).backward()
    dead = [name for name, p in network.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not dead, f"no gradient reaches {dead}"
    assert all(torch.isfinite(p.grad).all() for p in network.parameters())


def test_region_loss_catches_paint_that_depends_on_the_other_regions_extent():
    torch.manual_seed(0)
    content = torch.rand(3, 3, 96, 128)
    index = torch.tensor([0, 1, 2])
    palette = torch.rand(4, 3)

    def local(image, weights):  # each pixel's paint from its own weights only
        return image * torch.einsum("nshw,sc->nchw", weights, palette)

    def global_stats(image, weights):  # like instance norm over both regions: coupled
        return local(image, weights) + (weights.mean(dim=(2, 3)) @ palette)[:, :, None, None]

    assert float(losses.region_loss(local, content, index, 4)) < 1e-6  # only the soft edges' tails
    assert float(losses.region_loss(global_stats, content, index, 4)) > 1e-4
    assert float(losses.region_loss(global_stats, content, index[:1] * 0, 1)) == 0.0  # one style: nothing to mix


def test_per_sample_losses_are_each_images_own(vgg):
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    target_image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        feats, target = vgg(images), vgg(target_image.expand(2, -1, -1, -1))
        alone = [vgg(images[i:i + 1]) for i in range(2)]
    grams = {name: losses.gram(target[name][:1]) for name in losses.STYLE_LAYERS}
    per_sample = losses.style_loss_per_sample(feats, grams)
    assert per_sample.shape == (2,)
    assert per_sample.tolist() == pytest.approx([float(losses.style_loss(a, grams)) for a in alone], rel=1e-4)
    assert float(per_sample.mean()) == pytest.approx(float(losses.style_loss(feats, grams)), rel=1e-6)
    ones = torch.ones(2, 1, 32, 32)
    content = losses.training_content_loss(feats, target, ones)
    assert content.shape == (2,)
    single = {name: feats[name][1:] for name in losses.TRAIN_CONTENT_LAYERS}
    assert float(content[1]) == pytest.approx(
        float(losses.training_content_loss(single, {k: v[1:] for k, v in target.items()}, ones[1:])), rel=1e-5)
