"""Where each time slice's detectors sit in stim's order, and where a short template circuit
stands in for a stretch of a long experiment.

Stim orders detectors slice by slice (slice t = round t; the last slice comes from the final
data measurement): the first slice holds the memory basis only, every bulk slice the same
number, the last slice the memory basis again. :class:`SliceLayout` reads those counts from
:class:`qec.Geometry` (of a 3-round copy of the experiment: the counts do not depend on the
number of rounds), so a 10,000-round experiment never builds its own circuit for this.
The matching graph and the network's input are translation-invariant in time except near the
ends, so a short template can stand in for any stretch (:func:`template_offset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from qec import Geometry, InputError, Task

MARGIN = 3  # slices of real context a template keeps before/after the stretch it stands in for


@dataclass(frozen=True)
class SliceLayout:
    """Detector counts per slice of a memory experiment: first, bulk (all equal), last.

    Slice t occupies detectors ``[start(t), start(t + 1))``.

    Examples:
        >>> from qec import NoiseModel
        >>> lay = SliceLayout.of_task(Task(distance=3, rounds=10, noise=NoiseModel.uniform(0.001)))
        >>> lay.n_first, lay.n_bulk, lay.n_last, lay.num_detectors
        (4, 8, 4, 80)
    """

    n_first: int
    n_bulk: int
    n_last: int
    num_slices: int

    def __post_init__(self) -> None:
        if self.num_slices < 2 or min(self.n_first, self.n_bulk, self.n_last) < 1:
            raise InputError(f"SliceLayout({self.n_first}, {self.n_bulk}, {self.n_last}, "
                             f"num_slices={self.num_slices}) needs counts >= 1 and >= 2 slices")

    @classmethod
    def of_task(cls, task: Task) -> SliceLayout:
        n_first, n_bulk, n_last = _slice_sizes(task.distance, task.basis, task.noise)
        return cls(n_first, n_bulk, n_last, task.rounds + 1)

    def start(self, t: int) -> int:
        """First detector index of slice t (t = num_slices gives num_detectors)."""
        if t <= 0:
            return 0
        if t >= self.num_slices:
            return self.num_detectors
        return self.n_first + (t - 1) * self.n_bulk

    def size(self, t: int) -> int:
        return self.start(t + 1) - self.start(t)

    @property
    def num_detectors(self) -> int:
        return self.n_first + (self.num_slices - 2) * self.n_bulk + self.n_last


@lru_cache(maxsize=16)
def _slice_sizes(distance: int, basis: str, noise) -> tuple[int, int, int]:
    sizes = Geometry.from_circuit(Task(distance=distance, rounds=3, basis=basis,
                                       noise=noise).circuit()).slice_sizes()
    return int(sizes[0]), int(sizes[1]), int(sizes[-1])


def template_offset(lo: int, hi: int, num_slices: int, template_slices: int) -> int:
    """Where slices [lo, hi) of an experiment sit in a template of ``template_slices``: at the
    same place near the start, at the same distance from the end near the end, else
    ``MARGIN`` slices in.

    Examples:
        >>> template_offset(1, 4, 100, 10), template_offset(40, 44, 100, 10)
        (1, 3)
        >>> template_offset(96, 100, 100, 10)
        6
    """
    if template_slices == num_slices or lo < MARGIN:
        return lo
    if num_slices - hi < MARGIN:
        return template_slices - (num_slices - lo)
    return MARGIN
