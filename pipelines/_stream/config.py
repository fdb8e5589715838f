"""What a stream decodes and how: the one configuration value of the streaming service."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipelines._windows.plan import WindowPlan
from qec import InputError, NoiseModel, Task


@dataclass(frozen=True, kw_only=True)
class StreamConfig:
    """What a stream decodes and how.

    Args:
        distance, rounds, basis, noise: the memory experiment (a :class:`qec.Task`).
        shots: parallel streams decoded in lockstep (S).
        cycle_us: microseconds between rounds at the source; 0 = all rounds at once.
        workers: decoder processes (Ray actors); 0 = decode in-process.
        n_com, n_buf: commit and buffer slices per window (0 = distance; :meth:`plan` holds
            the values in force).
        max_in_flight: calls out at once per stage (0 = 2 per worker, at least 2).
        batch_windows: most windows per matcher call (what is ready, up to this).
        batch_blocks: most blocks per pre-decoder call (one forward pass).

    Examples:
        >>> c = StreamConfig(distance=3, rounds=30, noise=NoiseModel.uniform(0.001))
        >>> c.plan().n_com, len(c.plan().windows), c.in_flight_limit
        (3, 11, 2)
    """

    distance: int
    rounds: int
    noise: NoiseModel
    basis: str = "X"
    shots: int = 1
    cycle_us: float = 1.0
    workers: int = 0
    n_com: int = 0
    n_buf: int = 0
    max_in_flight: int = 0
    batch_windows: int = 8
    batch_blocks: int = 16
    seed: int = 1

    def __post_init__(self) -> None:
        self.task()  # validates distance, rounds, basis, noise
        at_least_one = ("shots", "batch_windows", "batch_blocks")
        for name in ("shots", "workers", "n_com", "n_buf", "max_in_flight", "batch_windows",
                     "batch_blocks", "seed"):
            v = getattr(self, name)
            low = 1 if name in at_least_one else 0
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                rule = f">= {low}"
                raise InputError(f"{name}={v!r} must be an integer {rule}")
        if not (isinstance(self.cycle_us, (int, float)) and math.isfinite(self.cycle_us)
                and self.cycle_us >= 0):
            raise InputError(f"cycle_us={self.cycle_us!r} must be a number >= 0")

    def task(self) -> Task:
        return Task(distance=self.distance, noise=self.noise, rounds=self.rounds,
                    basis=self.basis)

    def plan(self) -> WindowPlan:
        """The window tiling, with ``n_com`` and ``n_buf`` defaulted to the distance."""
        return WindowPlan(num_slices=self.rounds + 1, n_com=self.n_com or self.distance,
                          n_buf=self.n_buf or self.distance)

    @property
    def in_flight_limit(self) -> int:
        return self.max_in_flight or max(2, 2 * self.workers)

    @property
    def backlog_bound(self) -> int:
        """Rounds a decoder that keeps up may still hold: one A+B period, both buffers, and
        one more window of decoding latency."""
        plan = self.plan()
        return 2 * (plan.n_com + 2 * plan.n_buf)
