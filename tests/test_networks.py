"""The painter network's half-resolution head, pooling and smooth upsampling compute what their definitions say."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from live_nst.models.networks import (  # noqa: E402
    ArchConfig,
    PainterNetwork,
    _BlurredSeparable,
    _depth_to_space,
    _Halve,
    _reflect_separable,
    _upsampled_head,
    network_from_config,
    separable,
)


def reference_head(head, features, photo, crop):
    """The head as designed: bilinear upsampling to the photo's size, concat, 3x3 conv, crop."""
    upsampled = F.interpolate(features, size=photo.shape[-2:], mode="bilinear", align_corners=False)
    out = head(torch.cat([upsampled, photo], dim=1))
    return out[..., crop:out.shape[-2] - crop, crop:out.shape[-1] - crop]


@pytest.mark.parametrize("half_hw", [(6, 9), (23, 40)])
def test_half_resolution_head_equals_upsample_then_conv(half_hw):
    torch.manual_seed(0)
    head = torch.nn.Conv2d(5 + 3, 3, 3, 1, 1)
    features = torch.randn(2, 5, *half_hw)
    photo = torch.rand(2, 3, 2 * half_hw[0], 2 * half_hw[1])
    with torch.no_grad():
        got = _upsampled_head(head, features, photo, crop=2)
        want = reference_head(head, features, photo, crop=2)
    assert got.shape == want.shape == (2, 3, 2 * half_hw[0] - 4, 2 * half_hw[1] - 4)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_at_odd_photo_sizes_the_head_drops_the_last_row_and_column_of_its_2x_upsampling():
    head = torch.nn.Conv2d(4 + 3, 3, 3, 1, 1)
    features = torch.randn(1, 4, 10, 12)  # a photo of 19x23 halves (rounded up) to 10x12
    photo = torch.rand(1, 3, 19, 23)
    with torch.no_grad():
        got = _upsampled_head(head, features, photo, crop=3)
        even = _upsampled_head(head, features, F.pad(photo, (0, 1, 0, 1), mode="replicate"), crop=3)
    assert got.shape == (1, 3, 13, 17)
    torch.testing.assert_close(got, even[..., :13, :17], atol=1e-6, rtol=0)


@pytest.mark.parametrize("size", [(8, 10), (7, 9), (1, 2)])
def test_halving_is_the_2x2_average_with_ceil_mode(size):
    x = torch.randn(2, 5, *size)
    with torch.no_grad():
        got = _Halve()(x)
        signed = _Halve(to_signed=True)(x)
    want = torch.nn.AvgPool2d(2, ceil_mode=True)(x)
    assert got.shape == want.shape == (2, 5, (size[0] + 1) // 2, (size[1] + 1) // 2)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    torch.testing.assert_close(signed, want * 2 - 1, atol=1e-6, rtol=0)


def test_depth_to_space_is_pixel_shuffle():
    x = torch.randn(2, 12, 5, 7)
    with torch.no_grad():
        got = _depth_to_space(x)
    assert got.shape == (2, 3, 10, 14)
    torch.testing.assert_close(got, F.pixel_shuffle(x, 2), atol=0, rtol=0)


@pytest.mark.parametrize("make", [_reflect_separable, separable])
def test_blurred_separable_is_the_binomial_blur_then_the_separable_conv(make):
    torch.manual_seed(0)
    plain = make(4, 6)
    blurred = _BlurredSeparable(*plain)
    x = torch.randn(1, 4, 20, 24)
    binomial = torch.tensor([1.0, 2.0, 1.0]) / 4
    blur = (binomial[:, None] * binomial[None, :]).expand(4, 1, 3, 3)
    with torch.no_grad():
        want = plain(F.conv2d(x, blur, padding=1, groups=4))
        got = blurred(x)
    assert got.shape == want.shape
    # Equal wherever neither padding reaches (two samples in from each side).
    torch.testing.assert_close(got[..., 2:-2, 2:-2], want[..., 2:-2, 2:-2], atol=1e-5, rtol=0)


def test_smoothing_after_a_bilinear_upsample_evens_out_its_grid():
    """Bilinear 2x upsampling draws straight lines between points half-way between the
    coarse samples, so its slope alternates from gap to gap of the fine grid: steep across
    one, flat across the next, a pattern locked to the coarse grid. After the blur the two
    kinds of gap are much closer."""
    torch.manual_seed(1)
    coarse = torch.randn(1, 1, 1, 4000)
    fine = F.interpolate(coarse, scale_factor=(1, 2), mode="bilinear", align_corners=False)[0, 0, 0]
    smooth = F.conv1d(fine[None, None], (torch.tensor([1.0, 2.0, 1.0]) / 4)[None, None])[0, 0]

    def gap_imbalance(signal):
        slope = signal.diff().pow(2)
        even, odd = slope[0::2].mean(), slope[1::2].mean()
        return float(abs(even - odd) / (even + odd))

    assert gap_imbalance(fine) > 0.5
    assert gap_imbalance(smooth) < 0.3


def test_smooth_upsample_keeps_the_parameters_and_older_configs_build_without_it():
    smooth = PainterNetwork(ArchConfig("painter", 2, (4, 6, 8), 1, pad=4, smooth_upsample=True))
    config = ArchConfig("painter", 2, (4, 6, 8), 1, pad=4).to_dict()
    del config["smooth_upsample"]  # a checkpoint written before the option existed
    older = network_from_config(config)
    assert not older.config.smooth_upsample and not isinstance(older.up1.conv, _BlurredSeparable)
    older.load_state_dict(smooth.state_dict())  # strict: the same parameters, names and shapes
    image, weights = torch.rand(1, 3, 32, 40), torch.full((1, 2, 32, 40), 0.5)
    with torch.no_grad():
        assert not torch.allclose(older(image, weights), smooth(image, weights))


def test_a_grown_network_paints_as_before_until_trained():
    from live_nst.models.networks import one_hot_weights, with_res_blocks
    torch.manual_seed(0)
    trained = PainterNetwork(ArchConfig("painter", 2, (4, 8, 8), 2, pad=2, smooth_upsample=True)).eval()
    for param in trained.parameters():  # as after training: no norm is at its identity start
        torch.nn.init.normal_(param, std=0.3)
    grown = with_res_blocks(trained, 4).eval()
    assert len(grown.blocks) == 4 and grown.config.res_blocks == 4
    image, weights = torch.rand(1, 3, 24, 40), one_hot_weights(torch.tensor([1]), 2, 24, 40)
    with torch.no_grad():
        assert torch.allclose(grown(image, weights), trained(image, weights), atol=1e-6)
        grown.blocks[3].second.norm.scale.fill_(1.0)  # one step of training later: the new block paints
        assert not torch.allclose(grown(image, weights), trained(image, weights), atol=1e-3)
    with pytest.raises(ValueError, match="cannot lose"):
        with_res_blocks(trained, 1)
