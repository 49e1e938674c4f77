"""The folded VGG-19 (torchvision layout, torchvision-normalised input, zero padding) is
the same function as the unfolded Gatys-normalised network it was made from."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from live_nst.assets import ensure  # noqa: E402
from live_nst.errors import AssetError  # noqa: E402
from live_nst.models import vgg as vgg_module  # noqa: E402
from live_nst.models.data import load_image  # noqa: E402

pytestmark = [pytest.mark.train, pytest.mark.usefixtures("one_torch_thread")]



# conv layer names in order; "M" is a 2x2 max pool (VGG-19, configuration E).
VGG19_LAYOUT = ("1_1", "1_2", "M", "2_1", "2_2", "M", "3_1", "3_2", "3_3", "3_4", "M",
                "4_1", "4_2", "4_3", "4_4", "M", "5_1")
COMPARED = ("relu1_1", "relu3_1", "relu5_1")


@pytest.fixture(scope="module")
def raw_state() -> dict:
    """The raw Gatys-normalised VGG-19, through the project's own asset resolution."""
    try:
        path = ensure(vgg_module.GATYS_VGG)
    except AssetError as exc:
        pytest.skip(f"the Gatys VGG-19 weights cannot be had here: {exc}")
    return torch.load(path, map_location="cpu", weights_only=True)


def unfolded_gatys_features(raw: dict, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """The original network: 1x1 colour conv on RGB [0, 1], then VGG-19 with zero padding.

    Padding after the colour conv uses the value the colour conv gives for a
    torchvision-normalised zero (RGB = ImageNet mean), which is what zero padding of the
    normalised input means for the folded network.
    """
    convs = sorted(int(k.split(".")[0]) for k in raw if k.endswith(".weight"))
    weight = {i: raw[f"{c}.weight"].double() for i, c in enumerate(convs)}
    bias = {i: raw[f"{c}.bias"].double() for i, c in enumerate(convs)}
    x = F.conv2d(image, weight[0], bias[0])
    mean = torch.tensor(vgg_module.IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    pad_value = F.conv2d(mean, weight[0], bias[0])
    x = F.pad(x - pad_value, (1, 1, 1, 1)) + pad_value
    out: dict[str, torch.Tensor] = {}
    index = 1
    for layer in VGG19_LAYOUT:
        if layer == "M":
            x = F.max_pool2d(x, 2, 2)
            continue
        x = F.relu(F.conv2d(x, weight[index], bias[index], padding=0 if index == 1 else 1))
        out[f"relu{layer}"] = x
        index += 1
    return out


def test_folded_vgg_matches_unfolded_gatys_network(raw_state, shared_data):
    # 64 x 96: divisible by 16, so the pooling mode (Gatys' files use ceil mode) is moot.
    photo = load_image(shared_data / "content" / "pypi_samples" / "skimage_astronaut.jpg", 128)
    image = photo[..., 8:72, 16:112].double()
    folded = vgg_module.VGGFeatures(COMPARED, state=vgg_module.fold_gatys_state(raw_state)).double()
    with torch.no_grad():
        got = folded(image)
        want = unfolded_gatys_features(raw_state, image)
    for name in COMPARED:
        scale = want[name].abs().max()
        assert scale > 0.1, f"{name} is all but zero: the comparison would prove nothing"
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-6 * float(scale))


def test_gatys_activations_are_about_one_per_channel(raw_state, shared_data):
    # Gatys et al. (2016) scaled the VGG-19 weights so that each filter's mean activation over
    # images and positions is 1; the loss weights (losses.LossWeights) are set for that.
    image = load_image(shared_data / "content" / "pypi_samples" / "skimage_coffee.jpg", 128)
    folded = vgg_module.VGGFeatures(("relu3_1", "relu4_1"), state=vgg_module.fold_gatys_state(raw_state))
    with torch.no_grad():
        feats = folded(image)
    for name, value in feats.items():
        assert 0.05 < float(value.mean()) < 20, f"{name} mean activation {float(value.mean())}"


def test_fold_rejects_a_state_dict_of_another_layout(raw_state):
    truncated = {k: v for k, v in raw_state.items() if not k.startswith(("48.", "51."))}
    with pytest.raises(AssetError, match="17 convs"):
        vgg_module.fold_gatys_state(truncated)
