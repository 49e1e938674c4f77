"""Every style's losses weighed against its own scale, not against the other styles'.

The bench scores a pack by geometric means over (photo, style) pairs of network / Gatys
loss ratios, so a 10% gain counts the same for every style. Raw Gram losses differ about
fivefold between the pack's artworks (composition_vii's are large, seated_nude's small),
so a plain sum spends the network on the styles with large Grams and leaves the others
furthest from Gatys. Balanced, each sample's term is divided by the running mean of that
term over its style and multiplied by the geometric mean of those running means: each
term keeps its overall weight, shared so that every style gets the same relative push
(to first order, the gradient of the sum of the logarithms of the styles' losses).
"""

from __future__ import annotations

import torch

MOMENTUM = 0.98  # a running mean over about 50 samples of a style (about 100 steps of batch 4 over 8 styles)


class StyleBalance:
    """Running per-style means of named loss terms, and the balancing weights they give."""

    def __init__(self, num_styles: int, momentum: float = MOMENTUM) -> None:
        self.num_styles, self.momentum = num_styles, momentum
        self.means: dict[str, torch.Tensor] = {}

    def weights(self, term: str, style_index: torch.Tensor, per_sample: torch.Tensor) -> torch.Tensor:
        """(N,) weights for the (N,) ``per_sample`` values of ``term``, after folding them
        into the running means. A style not seen yet counts at its first sample's value."""
        means = self.means.setdefault(term, torch.full((self.num_styles,), float("nan")))
        for index, value in zip(style_index.tolist(), per_sample.detach().float().cpu().tolist()):
            value = max(value, 1e-12)
            known = not torch.isnan(means[index])
            means[index] = self.momentum * means[index] + (1 - self.momentum) * value if known else value
        seen = means[~torch.isnan(means)]
        reference = torch.exp(torch.log(seen).mean())
        return (reference / means[style_index.cpu()]).to(per_sample)

    def balanced(self, term: str, style_index: torch.Tensor, per_sample: torch.Tensor) -> torch.Tensor:
        """The batch mean of ``per_sample``, each sample weighted by its style's weight."""
        return (self.weights(term, style_index, per_sample) * per_sample).mean()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {term: means.clone() for term, means in self.means.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for term, means in state.items():
            if means.shape != (self.num_styles,):
                raise ValueError(f"balance state for {term!r} has shape {tuple(means.shape)}, "
                                 f"expected ({self.num_styles},)")
            self.means[term] = means.detach().float().cpu().clone()
