"""The PPO loss and update for :class:`~samarl.training.policies.StateAugmentedPolicy` (never steps the env).

Reads as CleanRL's ``ppo_continuous_action.py`` update: the clipped surrogate, a (clipped) value loss
on normalised values, an entropy bonus and gradient clipping, over ``update_epochs`` passes of
``num_minibatches`` shuffled minibatches. The rollouts, their advantages (generalised advantage
estimation) and the minibatches come from :mod:`samarl.training.buffer`.

Two layouts, one per parameterisation:

- shared weights: the ``[num_steps, N]`` samples are flattened and shuffled together;
- per-agent weights: every minibatch holds the same random subset of time steps for *every* agent
  (``[N, b, ...]``, what the batched layers take). Advantages are normalised per agent, the loss is
  the sum over agents of each agent's mean loss and gradients are clipped per agent, so each agent's
  update depends on its own samples only, whatever N is.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import Tensor

from samarl.errors import TrainingDivergedError
from samarl.training.buffer import RolloutBatch, compute_gae
from samarl.training.policies import StateAugmentedPolicy

__all__ = [
    "PPOHyperparameters",
    "RolloutBatch",
    "TrainingDivergedError",
    "compute_gae",
    "ppo_update",
]


class PPOHyperparameters(Protocol):
    """The fields of :class:`samarl.training.TrainConfig` the update reads."""

    @property
    def clip_coef(self) -> float: ...
    @property
    def ent_coef(self) -> float: ...
    @property
    def vf_coef(self) -> float: ...
    @property
    def max_grad_norm(self) -> float: ...
    @property
    def update_epochs(self) -> int: ...
    @property
    def num_minibatches(self) -> int: ...
    @property
    def norm_adv(self) -> bool: ...
    @property
    def clip_vloss(self) -> bool: ...
    @property
    def target_kl(self) -> float | None: ...


def _clip_grad_per_agent(params: list[torch.nn.Parameter], max_norm: float) -> Tensor:
    """Scales each agent's gradient (every parameter's leading dimension is the agent) to norm at
    most ``max_norm``; returns the per-agent norms before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    per_param = [torch.linalg.vector_norm(g.reshape(g.shape[0], -1), dim=1) for g in grads]
    # [N, params]: each agent's row reduced alone (the same bits for any N, even N = 1).
    norms = torch.linalg.vector_norm(torch.stack(per_param, dim=1), dim=1)
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))
    return norms


def ppo_update(
    policy: StateAugmentedPolicy,
    optimizer: torch.optim.Optimizer,
    batch: RolloutBatch,
    hp: PPOHyperparameters,
    *,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Updates ``policy`` on ``batch`` with PPO; returns the loss statistics (``train/`` keys).

    The value normaliser is updated with ``batch.returns`` first; the critic then regresses the
    normalised returns.
    """
    per_agent = policy.parameterisation == "per_agent"
    rms = policy.value_rms
    data = batch.samples(policy.num_agents if per_agent else None)
    if per_agent:  # [N, T * copies]; the normaliser takes [samples, N]
        rms.update(data.returns.transpose(0, 1))
        returns, values = (
            rms.normalize(t.transpose(0, 1), clip=1e3).transpose(0, 1).contiguous()
            for t in (data.returns, data.values)
        )
    else:  # flat [T * rows]
        rms.update(data.returns)
        returns, values = (rms.normalize(t, clip=1e3) for t in (data.returns, data.values))
    data = data.replace(returns=returns, values=values)
    params = [p for p in policy.parameters() if p.requires_grad]

    sums = {k: 0.0 for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "old_approx_kl")}
    clipfracs: list[float] = []
    grad_norms: list[float] = []
    updates = 0
    for epoch in range(hp.update_epochs):
        for i, mb in enumerate(data.minibatches(hp.num_minibatches, generator)):
            adv, ret, v_old = mb.advantages, mb.returns, mb.values
            new_logp, entropy, v = policy.evaluate(mb.x, mb.raw_actions)
            logratio = new_logp - mb.logprobs
            ratio = logratio.exp()
            with torch.no_grad():
                old_approx_kl = (-logratio).mean()
                approx_kl = ((ratio - 1) - logratio).mean()
                clipfracs.append(float(((ratio - 1.0).abs() > hp.clip_coef).float().mean()))
            if hp.norm_adv:
                if per_agent:
                    adv = (adv - adv.mean(1, keepdim=True)) / (adv.std(1, keepdim=True) + 1e-8)
                else:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - hp.clip_coef, 1 + hp.clip_coef))
            if hp.clip_vloss:
                v_clipped = v_old + (v - v_old).clamp(-hp.clip_coef, hp.clip_coef)
                v_loss = 0.5 * torch.max((v - ret).square(), (v_clipped - ret).square())
            else:
                v_loss = 0.5 * (v - ret).square()
            per_sample = pg - hp.ent_coef * entropy + hp.vf_coef * v_loss
            # Per agent: the sum over agents of each agent's mean, so one agent's gradient does not
            # shrink as N grows. Shared: the mean over all samples.
            loss = per_sample.mean(1).sum() if per_agent else per_sample.mean()

            where = f"(epoch {epoch + 1}, minibatch {i + 1})"
            if not bool(torch.isfinite(loss)):
                raise TrainingDivergedError(f"the PPO loss is {float(loss.detach())} {where}")

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if per_agent:
                norms = _clip_grad_per_agent(params, hp.max_grad_norm)
                grad_norms.append(float(norms.mean()))
            else:
                norm = torch.nn.utils.clip_grad_norm_(params, hp.max_grad_norm)
                grad_norms.append(float(norm))
            if not math.isfinite(grad_norms[-1]):  # stepping would make the weights NaN
                raise TrainingDivergedError(f"the gradient norm is {grad_norms[-1]} {where}")
            optimizer.step()

            sums["policy_loss"] += float(pg.detach().mean())
            sums["value_loss"] += float(v_loss.detach().mean())
            sums["entropy"] += float(entropy.detach().mean())
            sums["approx_kl"] += float(approx_kl)
            sums["old_approx_kl"] += float(old_approx_kl)
            updates += 1
        if hp.target_kl is not None and float(approx_kl) > hp.target_kl:
            break

    stats = {k: v / max(updates, 1) for k, v in sums.items()}
    y_pred, y_true = batch.values.reshape(-1), batch.returns.reshape(-1)
    var_y = float(y_true.var())
    stats["explained_variance"] = (
        float("nan") if var_y == 0 else 1 - float((y_true - y_pred).var()) / var_y
    )
    stats["clipfrac"] = sum(clipfracs) / max(len(clipfracs), 1)
    stats["grad_norm"] = sum(grad_norms) / max(len(grad_norms), 1)
    stats["action_std"] = float(policy.log_std.detach().exp().mean())
    stats["updates"] = float(updates)
    return stats
