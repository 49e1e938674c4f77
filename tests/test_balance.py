"""The style balance: each style's losses weighed against its own running mean."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from live_nst.models.balance import StyleBalance  # noqa: E402

pytestmark = pytest.mark.train


def feed(balance: StyleBalance, values: dict[int, float], rounds: int = 200) -> torch.Tensor:
    """Weights for one sample of each style after ``rounds`` batches holding each once."""
    index = torch.tensor(sorted(values))
    losses = torch.tensor([values[i] for i in sorted(values)])
    for _ in range(rounds):
        weights = balance.weights("style", index, losses)
    return weights


def test_every_style_gets_the_same_weighted_loss_and_the_overall_weight_stays():
    weights = feed(StyleBalance(3), {0: 10.0, 1: 1.0, 2: 0.1})
    weighted = weights * torch.tensor([10.0, 1.0, 0.1])
    assert torch.allclose(weighted, torch.full((3,), 1.0), rtol=1e-4)  # the geometric mean of 10, 1 and 0.1
    assert math.prod(weights.tolist()) == pytest.approx(1.0, rel=1e-4)


def test_the_running_mean_follows_a_style_slowly():
    balance = StyleBalance(2, momentum=0.9)
    feed(balance, {0: 4.0, 1: 1.0})
    after_one = balance.weights("style", torch.tensor([0]), torch.tensor([40.0]))
    assert balance.means["style"][0] == pytest.approx(0.9 * 4.0 + 0.1 * 40.0)
    assert balance.means["style"][1] == pytest.approx(1.0)
    assert float(after_one) == pytest.approx(math.sqrt(7.6 * 1.0) / 7.6, rel=1e-5)


def test_a_style_not_seen_yet_counts_at_its_first_value_and_others_are_left_out():
    balance = StyleBalance(4)
    weights = balance.weights("content", torch.tensor([2, 2]), torch.tensor([3.0, 3.0]))
    assert torch.allclose(weights, torch.ones(2))
    assert torch.isnan(balance.means["content"][[0, 1, 3]]).all()


def test_terms_are_balanced_apart():
    balance = StyleBalance(2)
    feed(balance, {0: 5.0, 1: 1.0})
    content = balance.weights("content", torch.tensor([0, 1]), torch.tensor([1.0, 1.0]))
    assert torch.allclose(content, torch.ones(2))


def test_the_balanced_term_is_the_weighted_batch_mean_and_carries_gradients():
    balance = StyleBalance(2)
    feed(balance, {0: 4.0, 1: 1.0})
    values = torch.tensor([4.0, 1.0], requires_grad=True)
    term = balance.balanced("style", torch.tensor([0, 1]), values)
    assert float(term.detach()) == pytest.approx(2.0, rel=1e-4)
    term.backward()
    assert values.grad is not None
    assert values.grad.tolist() == pytest.approx([0.5 * 0.5, 0.5 * 2.0], rel=1e-4)


def test_the_state_round_trips_and_a_wrong_count_of_styles_is_refused():
    balance = StyleBalance(2)
    feed(balance, {0: 4.0, 1: 1.0})
    again = StyleBalance(2)
    again.load_state_dict(balance.state_dict())
    assert torch.equal(again.means["style"], balance.means["style"])
    with pytest.raises(ValueError, match=r"expected \(3,\)"):
        StyleBalance(3).load_state_dict(balance.state_dict())
