"""How fast consensus agrees: ``sigma_2(W)``, to a stated accuracy, and the bounds built on it.

``W`` (Metropolis–Hastings weights) is symmetric and doubly stochastic, so its singular values are
the absolute values of its eigenvalues ``1 = lambda_1 >= lambda_2 >= ... >= lambda_n > -1`` and
``sigma_2 = max(|lambda_2|, |lambda_n|)``: each round contracts the disagreement
``x - mean(x)`` by at least that factor. Two methods, both in float64:

- ``dense`` (``n <= DENSE_MAX``): every eigenvalue of ``W`` by LAPACK (``eigvalsh``), exact to
  rounding (about ``n * 1e-16``);
- ``lanczos`` (larger graphs): ARPACK's implicitly restarted Lanczos (``scipy.sparse.linalg.eigsh``)
  on ``A = W - 11^T / n`` (the constant eigenvector deflated), for its largest and its smallest
  eigenvalue. The accuracy is stated a posteriori: for a symmetric matrix, a Ritz pair
  ``(theta, v)`` with ``||v|| = 1`` lies within ``||A v - theta v||`` of an eigenvalue, and that
  residual is what :attr:`SpectralEstimate.tolerance` reports (that the eigenvalue is the extreme
  one is what Lanczos from a random start delivers; the tests check it against LAPACK on every
  graph family, slow-mixing ones included).

The engine's weights are float32, so eigenvalues are defined only to about ``1e-8``.

Unlike a power iteration stopped when its estimate stops moving (which on slow-mixing graphs stops
far from the answer: it reported a gap of 4.9e-5 for a ring of 1,000 nodes whose gap is 1.3e-5),
both say how far from the true value they can be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from samarl.errors import InvalidValueError

__all__ = ["DENSE_MAX", "SpectralEstimate", "second_singular_value", "steady_state_spread_bound"]

#: Largest graph whose spectrum is computed densely (larger ones: Lanczos, which is faster there).
DENSE_MAX = 500


@dataclass(frozen=True, slots=True)
class SpectralEstimate:
    """``sigma_2(W)`` and how far from the true value it can be."""

    sigma2: float
    """The second largest singular value of ``W``."""
    tolerance: float
    """Bound on ``|sigma2 - true sigma_2|`` (dense: rounding; Lanczos: the Ritz residual)."""
    method: Literal["dense", "lanczos"]
    """How it was computed."""
    matvecs: int
    """Products with ``W`` (0 for dense)."""
    wall_s: float
    """Seconds it took."""


def second_singular_value(
    weights: sp.csr_array | sp.csr_matrix,
    *,
    method: Literal["auto", "dense", "lanczos"] = "auto",
    tol: float = 1e-12,
    max_matvecs: int = 200_000,
) -> SpectralEstimate:
    """``sigma_2`` of a symmetric, doubly stochastic weight matrix (see the module docstring).

    ``tol`` is ARPACK's relative accuracy target; ``max_matvecs`` bounds the work. A run that does
    not converge returns its best estimate with the (larger) residual bound it reached.
    """
    if not sp.issparse(weights) or weights.shape[0] != weights.shape[1]:
        raise InvalidValueError("weights: expected a square scipy.sparse matrix")
    n = weights.shape[0]
    if n < 2:
        return SpectralEstimate(0.0, 0.0, "dense", 0, 0.0)
    start = time.perf_counter()
    w = sp.csr_array(weights).astype(np.float64)
    if method == "dense" or (method == "auto" and n <= DENSE_MAX):
        eig = np.linalg.eigvalsh(w.toarray())  # ascending
        s2 = max(abs(float(eig[-2])), abs(float(eig[0])))
        eps = float(np.finfo(np.float64).eps) * n * max(1.0, float(np.abs(eig).max()))
        return SpectralEstimate(s2, eps, "dense", 0, time.perf_counter() - start)
    if method not in ("auto", "lanczos"):
        raise InvalidValueError(f"method: must be 'auto', 'dense' or 'lanczos', got {method!r}")

    count = [0]

    def deflated(x: np.ndarray) -> np.ndarray:
        count[0] += 1
        x = np.asarray(x, dtype=np.float64).reshape(n)
        y = w @ x
        return np.asarray(y - x.sum() / n, dtype=np.float64)  # (W - 11^T/n) x, W 1 = 1

    op = LinearOperator((n, n), matvec=deflated, dtype=np.float64)
    v0 = np.random.default_rng(0).standard_normal(n)
    extremes = []
    for which in ("LA", "SA"):
        try:
            vals, vecs = eigsh(
                op, k=1, which=which, tol=tol, v0=v0, ncv=min(n - 1, 40), maxiter=max_matvecs
            )
        except ArpackNoConvergence as e:
            if not len(e.eigenvalues):
                raise InvalidValueError(
                    f"weights: Lanczos did not converge within {max_matvecs} products"
                ) from None
            vals, vecs = np.real(e.eigenvalues), np.real(e.eigenvectors)
        theta, v = float(vals[0]), vecs[:, 0] / np.linalg.norm(vecs[:, 0])
        residual = float(np.linalg.norm(deflated(v) - theta * v))
        extremes.append((abs(theta), residual))
    s2, tolerance = max(extremes)
    return SpectralEstimate(s2, tolerance, "lanczos", count[0], time.perf_counter() - start)


def steady_state_spread_bound(step: float, spread: float, sigma2: float, rounds: int) -> float:
    """A-priori bound on the agents' disagreement in steady state (docs/method.md).

    Each update adds local steps that differ across agents by at most ``step * spread`` (``spread``:
    the largest difference between two agents' relative excesses, in the step's units), then
    ``rounds`` rounds contract the disagreement by ``s^K`` (``s = sigma2``), so it stays below
    ``step * spread * s^K / (1 - s^K)``; infinite without communication (``K = 0`` or ``s = 1``).
    """
    if rounds < 0 or not 0.0 <= sigma2 <= 1.0 or step < 0 or spread < 0:
        raise InvalidValueError(
            f"steady_state_spread_bound: need step, spread >= 0, sigma2 in [0, 1], rounds >= 0; "
            f"got {step}, {spread}, {sigma2}, {rounds}"
        )
    contraction = sigma2**rounds
    if contraction >= 1.0:
        return float("inf")
    return step * spread * contraction / (1.0 - contraction)
