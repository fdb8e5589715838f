"""The learning-rate schedule of qecpipe's two trainers (the pre-decoder's and the learned noise
estimator's): a linear warm-up, then a cosine decay to a floor. Plain arithmetic, no torch; it
lives here because both trainers depend on ``qec`` and on nothing else in common.
"""

from __future__ import annotations

import math

from qec.errors import InputError


def warmup_cosine(step: int, *, total: int, peak: float, warmup: int = 0,
                  floor: float = 0.0) -> float:
    """Learning rate at ``step`` (0-based) of ``total`` steps.

    Linear warm-up from ``peak / warmup`` to ``peak`` over the first ``warmup`` steps (step 0
    gets ``peak / 100`` then), then cosine decay from ``peak`` to ``floor * peak`` at ``total``.

    Examples:
        >>> [round(warmup_cosine(s, total=1000, peak=1e-3, warmup=100, floor=0.1), 6)
        ...  for s in (0, 50, 100, 1000)]
        [1e-05, 0.0005, 0.001, 0.0001]
        >>> warmup_cosine(50, total=100, peak=2.0)
        1.0
    """
    if total < 1 or warmup < 0 or peak <= 0 or not 0 <= floor <= 1:
        raise InputError(f"total={total} must be >= 1, warmup={warmup} >= 0, peak={peak} > 0 "
                         f"and floor={floor} in [0, 1]")
    if step < warmup:
        return peak * step / warmup if step else peak / 100
    span = max(total - warmup, 1)
    frac = min((step - warmup) / span, 1.0)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))
