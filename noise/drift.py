"""Sliding-window noise estimation for a stream whose noise changes over time.

The window holds the parity counts of the most recent chunks; adding a chunk adds its counts
and drops whole chunks from the old end while the rest still covers ``window_shots``. Counts
are integers, so the window's estimate equals a fresh estimate over the same shots.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from noise.estimate import NoiseEstimate, count_parities, estimate_from_counts
from noise.moments import ParityCounts
from noise.structure import NoiseStructure
from qec import InputError


class SlidingWindowEstimator:
    """Estimate from (about) the last ``window_shots`` shots of a stream.

    Args:
        structure: which edges/mechanisms exist.
        window_shots: shots in the window (whole chunks: the window holds at least this many
            once the stream is long enough, and less than this plus one chunk).
        method, backend, device: as :func:`noise.estimate_noise`.

    Examples:
        >>> from qec import Task, NoiseModel, sample_detectors
        >>> task = Task(distance=3, noise=NoiseModel.uniform(0.005))
        >>> win = SlidingWindowEstimator(structure=NoiseStructure.from_task(task),
        ...                              window_shots=4000)
        >>> for chunk in sample_detectors(task.circuit(), shots=10000, seed=1, chunk_shots=2000):
        ...     win.add(chunk.dets)
        >>> win.shots
        4000
    """

    def __init__(self, *, structure: NoiseStructure, window_shots: int,
                 method: str = "mechanisms", backend: str = "numpy", device: str = "cpu") -> None:
        if isinstance(window_shots, bool) or not isinstance(window_shots, (int, np.integer)) \
                or window_shots < 1:
            raise InputError(f"window_shots={window_shots!r} must be an integer >= 1")
        self.structure = structure
        self.window_shots = int(window_shots)
        self.method = method
        self.backend = backend
        self.device = device
        self._chunks: deque[ParityCounts] = deque()
        self._total = ParityCounts(0, structure.subsets,
                                   np.zeros(len(structure.subsets), dtype=np.int64))

    @property
    def shots(self) -> int:
        return self._total.shots

    def add(self, dets_bit_packed: np.ndarray) -> None:
        """Add one (shots, ceil(D/8)) uint8 bit-packed chunk; drop chunks older than needed."""
        counts = count_parities([dets_bit_packed], structure=self.structure,
                                backend=self.backend, device=self.device)
        self._chunks.append(counts)
        self._total = self._total + counts
        while self._chunks and self._total.shots - self._chunks[0].shots >= self.window_shots:
            self._total = self._total - self._chunks.popleft()

    def estimate(self, *, min_shots: int = 1000) -> NoiseEstimate:
        """The estimate over the current window."""
        return estimate_from_counts(self._total, structure=self.structure, method=self.method,
                                    min_shots=min_shots)
