"""Environments. :class:`Dynamics` is the batched transition core stepped by the Rust engine."""

from __future__ import annotations

from samarl.envs.dynamics import OBS_FIELDS, Dynamics, StepResult

__all__ = ["OBS_FIELDS", "Dynamics", "StepResult"]
