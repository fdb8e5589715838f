"""The logical error per cycle of a memory experiment, fitted over its round counts.

A memory experiment of r rounds fails with probability P(r); if every cycle flips the logical
observable independently with probability eps, 1 - 2 P(r) = A (1 - 2 eps)^r. Google's fit
(Nature 614, 676 (2023)) and qecpipe's: least squares of log(1 - 2 P(r)) against r over the
round counts in a range (r = 3..25 by default, leaving out r = 1, which is mostly the
boundary rounds), slope s, eps = (1 - e^s) / 2.

The interval is a bootstrap over shots: for a 0/1 outcome per shot, resampling the shots of
one round count with replacement gives a Binomial(shots, P(r)) error count, so each bootstrap
replicate draws every round count's errors from its own binomial (independently: different
round counts are different experiments) and refits; the 95 % interval is the 2.5 and 97.5
percentiles of the refitted eps. A replicate where some P(r) reaches 1/2 has no logarithm
and counts as eps = 1/2 (the interval then reaches the fit's limit: say so, do not hide it).

Examples:
    >>> import numpy as np
    >>> rounds = np.array([3, 5, 7, 9])
    >>> eps = 0.04
    >>> p = (1 - 0.9 * (1 - 2 * eps) ** rounds) / 2
    >>> fit = fit_error_per_cycle(rounds, np.round(p * 10**6).astype(int), [10**6] * 4)
    >>> round(fit.eps, 4), fit.low < eps < fit.high
    (0.04, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qec.errors import InputError

DEFAULT_FIT_ROUNDS = (3, 25)
DEFAULT_BOOTSTRAP = 2000
INTERVAL_METHOD = ("bootstrap over shots (binomial resampling of each round count's errors), "
                   "95 % percentile interval")


@dataclass(frozen=True, kw_only=True)
class CycleFit:
    """A fitted error per cycle with its 95 % interval.

    Attributes:
        eps: error per cycle, (1 - e^slope) / 2.
        low, high: 95 % bootstrap interval of ``eps``.
        slope, intercept: the least-squares line log(1 - 2 P(r)) = intercept + slope r.
        rounds: the round counts fitted.
        bootstrap: number of bootstrap replicates (0: no interval, low = high = eps).
        saturated: replicates in which some P(r) reached 1/2 (counted as eps = 1/2).
    """

    eps: float
    low: float
    high: float
    slope: float
    intercept: float
    rounds: tuple[int, ...]
    bootstrap: int
    saturated: int = 0

    def to_json(self) -> dict:
        return {"eps": self.eps, "eps_low": self.low, "eps_high": self.high,
                "slope": self.slope, "intercept": self.intercept, "rounds": list(self.rounds),
                "bootstrap": self.bootstrap, "saturated_replicates": self.saturated,
                "interval": INTERVAL_METHOD, "fit": "least squares of log(1 - 2 P(r)) on r"}


def line_fit(rounds: np.ndarray, p_shot: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line through (r, log(1 - 2 P(r))).

    ``p_shot`` may be 2-D (replicates, round counts); then both are arrays, and a replicate
    with some P(r) >= 1/2 gets slope -inf.

    Examples:
        >>> s, a = line_fit(np.array([1, 2]), np.array([0.05, 0.095]))
        >>> round(float(1 - np.exp(s)) / 2, 3)
        0.05
    """
    r = np.asarray(rounds, dtype=float)
    p = np.asarray(p_shot, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(p < 0.5, np.log(np.clip(1 - 2 * p, 1e-300, None)), -np.inf)
    rc = r - r.mean()
    with np.errstate(invalid="ignore"):  # -inf rows (saturated) stay -inf / nan, by design
        slope = (y * rc).sum(axis=-1) / (rc * rc).sum()
        intercept = y.mean(axis=-1) - slope * r.mean()
    return slope, intercept


def fit_error_per_cycle(
    rounds: Sequence[int], errors: Sequence[int], shots: Sequence[int], *,
    fit_rounds: tuple[int, int] = DEFAULT_FIT_ROUNDS, bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> CycleFit:
    """Fit the error per cycle of one decoder from its errors at several round counts.

    Args:
        rounds: the round counts of the experiments.
        errors: the decoder's logical errors at each round count.
        shots: the shots decoded at each round count.
        fit_rounds: (first, last): only round counts in this range are fitted.
        bootstrap: bootstrap replicates for the interval (0: none).
        seed: the bootstrap's seed.

    Returns:
        The :class:`CycleFit`.

    Raises:
        InputError: mismatched lengths, fewer than two round counts in ``fit_rounds``, a count
            out of range, or an observed P(r) >= 1/2 (no logarithm: nothing to fit).
    """
    r, e, n = _checked(rounds, errors, shots, fit_rounds)
    p = e / n
    if np.any(p >= 0.5):
        bad = int(r[np.argmax(p >= 0.5)])
        raise InputError(f"P(r={bad}) = {p[r == bad][0]:.3f} >= 1/2: log(1 - 2P) is "
                         "undefined; fit a range of fewer rounds")
    slope, intercept = line_fit(r, p)
    eps = (1 - float(np.exp(slope))) / 2
    if bootstrap == 0:
        return CycleFit(eps=eps, low=eps, high=eps, slope=float(slope),
                        intercept=float(intercept), rounds=tuple(r.tolist()), bootstrap=0)
    rng = np.random.default_rng(seed)
    draws = rng.binomial(n[None, :].astype(np.int64), p[None, :], size=(bootstrap, r.size))
    slopes, _ = line_fit(r, draws / n)
    eps_b = (1 - np.exp(slopes)) / 2  # slope -inf (saturated) -> eps = 1/2
    low, high = np.percentile(eps_b, [2.5, 97.5])
    return CycleFit(eps=eps, low=float(low), high=float(high), slope=float(slope),
                    intercept=float(intercept), rounds=tuple(r.tolist()), bootstrap=bootstrap,
                    saturated=int(np.isinf(slopes).sum()))


def _checked(rounds, errors, shots, fit_rounds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, e, n = (np.asarray(x, dtype=np.int64).ravel() for x in (rounds, errors, shots))
    if not (r.size == e.size == n.size):
        raise InputError(f"rounds, errors and shots have {r.size}, {e.size} and {n.size} "
                         "entries; give one of each per round count")
    if np.any(r < 1) or np.any(n < 1) or np.any(e < 0) or np.any(e > n):
        raise InputError("every round count must be >= 1, every shot count >= 1 and every "
                         "error count in [0, shots]")
    lo, hi = fit_rounds
    keep = (r >= lo) & (r <= hi)
    if np.unique(r[keep]).size < 2:
        raise InputError(f"fit_rounds={fit_rounds} holds round counts {sorted(r[keep].tolist())}"
                         "; a line needs at least two distinct round counts")
    order = np.argsort(r[keep], kind="stable")
    return r[keep][order], e[keep][order], n[keep][order]
