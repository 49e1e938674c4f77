"""The painter network's half-resolution head computes what its definition says."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from live_nst.models.networks import _upsampled_head  # noqa: E402


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
