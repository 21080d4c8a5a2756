"""The building blocks of the policies: running normalisers and batched per-agent layers.

- :class:`RunningMeanStd`: running mean and variance of a stream of batches (the features' and the
  values' normalisers), optionally reduced per entry so that an agent's statistics do not depend on
  the other agents;
- :class:`AgentLinear`: N independent linear layers evaluated as one batched matrix product (or one
  shared layer), initialised as CleanRL's ``layer_init`` (orthogonal) from a :data:`NormalSource`;
- :class:`MLP`: the tanh MLP of the actors and critics, built from them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["MLP", "AgentLinear", "NormalSource", "RunningMeanStd"]


class RunningMeanStd(nn.Module):
    """Running mean and variance (parallel Welford / Chan et al.) of a stream of batches.

    ``shape`` is the shape of one sample; :meth:`update` takes ``[B, *shape]``. Statistics are float64
    buffers, so they are part of ``state_dict`` and move with ``.to(device)``.

    ``per_entry=True`` (per-agent statistics) reduces every entry's ``B`` values as one contiguous
    row, so an entry's statistics are the same bits whatever the other entries are: torch sums a
    column of ``[B, K]`` in another order when ``K == 1`` than when ``K > 1``.
    """

    mean: Tensor
    var: Tensor
    count: Tensor

    def __init__(
        self, shape: tuple[int, ...] = (), epsilon: float = 1e-4, *, per_entry: bool = False
    ) -> None:
        super().__init__()
        self.per_entry = per_entry
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: Tensor) -> None:
        """Adds the batch ``x`` (``[B, *shape]``) to the statistics."""
        x = x.detach().to(torch.float64)
        batch_count = x.shape[0]
        if self.per_entry:  # [K, B] rows, each reduced alone
            rows = x.reshape(batch_count, -1).T.contiguous()
            batch_mean = rows.mean(1).view_as(self.mean)
            # Not torch.var: it rounds a lone row differently from a row among others.
            batch_var = (rows - batch_mean.reshape(-1, 1)).square().mean(1).view_as(self.mean)
        else:
            batch_mean = x.mean(0)
            batch_var = x.var(0, unbiased=False)
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean.add_(delta * (batch_count / total))
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + delta.square() * (self.count * batch_count / total)
        )
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def normalize(self, x: Tensor, clip: float = 10.0) -> Tensor:
        """``(x - mean) / std``, clipped to ``[-clip, clip]``, in ``x``'s dtype."""
        mean = self.mean.to(x.dtype)
        std = torch.sqrt(self.var + 1e-8).to(x.dtype)
        return ((x - mean) / std).clamp_(-clip, clip)

    def denormalize(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`normalize` (without the clipping)."""
        return x * torch.sqrt(self.var + 1e-8).to(x.dtype) + self.mean.to(x.dtype)


#: Where initial weights come from: a torch generator, or a function ``(num, rows, cols) ->``
#: float64 standard normals ``[num, rows, cols]`` (e.g. per-agent streams,
#: :class:`samarl.training.policies.AgentNormals`).
NormalSource = torch.Generator | Callable[[int, int, int], Tensor]


def _orthogonal(num: int, in_f: int, out_f: int, gain: float, generator: NormalSource) -> Tensor:
    """``num`` independent (semi-)orthogonal ``[in_f, out_f]`` matrices times ``gain``, by one batched
    QR decomposition (the initialisation CleanRL's ``layer_init`` uses, for a stack of layers)."""
    big, small = max(in_f, out_f), min(in_f, out_f)
    if isinstance(generator, torch.Generator):
        a = torch.randn(num, big, small, generator=generator, dtype=torch.float64)
    else:
        a = generator(num, big, small)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    w = q if in_f >= out_f else q.transpose(-1, -2)
    return (gain * w).to(torch.float32).contiguous()


class AgentLinear(nn.Module):
    """N independent linear layers applied as one batched matrix product.

    ``y[n] = x[n] @ weight[n] + bias[n]`` for ``x`` of shape ``[N, B, in]``; ``weight`` is
    ``[N, in, out]``. With ``num_agents=None`` it is an ordinary shared layer on ``[..., in]``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        num_agents: int | None,
        gain: float,
        generator: NormalSource | None,
        bias: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_agents = num_agents
        stack = 1 if num_agents is None else num_agents
        if generator is None:  # weights loaded next: not drawn
            w = torch.empty(stack, in_features, out_features)
        else:
            w = _orthogonal(stack, in_features, out_features, gain, generator)
        if num_agents is None:
            self.weight = nn.Parameter(w[0])
            self.bias = nn.Parameter(torch.full((out_features,), bias))
        else:
            self.weight = nn.Parameter(w)
            self.bias = nn.Parameter(torch.full((num_agents, 1, out_features), bias))

    def forward(self, x: Tensor) -> Tensor:
        if self.num_agents is None:
            return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(
                *x.shape[:-1], -1
            )
        return torch.baddbmm(self.bias, x, self.weight)


class MLP(nn.Module):
    """tanh MLP with CleanRL's initialisation (orthogonal, gain sqrt 2; the head's gain is given)."""

    def __init__(
        self,
        sizes: list[int],
        *,
        num_agents: int | None,
        head_gain: float,
        head_bias: float,
        generator: NormalSource | None,
    ) -> None:
        super().__init__()
        layers = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            last = i == len(sizes) - 2
            layers.append(
                AgentLinear(
                    a,
                    b,
                    num_agents=num_agents,
                    gain=head_gain if last else math.sqrt(2.0),
                    bias=head_bias if last else 0.0,
                    generator=generator,
                )
            )
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers[:-1]:
            x = torch.tanh(layer(x))
        return self.layers[-1](x)
