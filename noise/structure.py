"""Which error mechanisms exist: the structure a noise estimate fills in.

Which edges and hyperedges the decomposed DEM has is a property of the circuit's layout
(which gates touch which qubits), not of the noise strengths. :class:`NoiseStructure` holds
that layout once: the matching graph (edges), every mechanism's symptom (the set of
detectors it flips, the XOR of its components) and the moments an estimator needs.

For a :class:`qec.Task` the structure is built from the same circuit decorated with a fixed
*nominal* noise model (every channel on, see :data:`NOMINAL_NOISE`), so building it never
reads the true probabilities. The nominal probabilities are used only to split one estimated
symptom between mechanisms that share it (different decompositions or observable effects of
the same detector set), which syndrome statistics cannot tell apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import stim

from qec import MatchingGraph, NoiseModel, Task, circuit_dem

#: The shape of ``NoiseModel.uniform`` (the paper's convention) with the channels it lacks
#: switched on weakly, so that the nominal DEM contains every mechanism the layout allows and
#: symptoms shared by several decompositions are split in uniform-depolarizing proportions.
NOMINAL_NOISE = NoiseModel(
    name="nominal", p=1e-3, reset_flip=2e-3 / 3, measure_flip=2e-3 / 3, gate1=(1e-6,) * 3,
    cnot=(1e-3 / 15,) * 15, idle=(1e-3 / 3,) * 3, idle_gate1=(1e-6,) * 3,
    idle_measure=(2e-3 / 3 - 4e-6 / 9,) * 3, data_round_start=(1e-6,) * 3)

#: Largest symptom whose probability is estimated from its own moments; larger ones (none in
#: the rotated memory circuits, whose decomposed DEMs have symptoms of at most 4 detectors)
#: keep the nominal split of their edges.
MAX_SYMPTOM = 6


@dataclass(frozen=True, eq=False)
class NoiseStructure:
    """The mechanisms of a decomposed DEM, as index arrays for moment estimation.

    Attributes:
        graph: the :class:`qec.MatchingGraph` (edges; ``error_edges`` per mechanism).
        dem: the structure DEM (nominal probabilities; never the estimate's truth).
        symptoms: distinct detector sets flipped by some mechanism, sorted tuples.
        mech_symptom: (M,) int64, the symptom index of each mechanism.
        mech_share: (M,) float64, the share of its symptom's probability each mechanism
            gets (nominal proportions; 1.0 when a symptom has one mechanism).
        subsets: every non-empty subset of every symptom (<= MAX_SYMPTOM detectors): the
            parities an estimator needs, sorted tuples, singletons first.
        fingerprint: 16 hex digits of SHA-256 over the structure DEM's text without
            probabilities (equal layouts give equal fingerprints).

    Examples:
        >>> dem = stim.DetectorErrorModel('''
        ...     error(0.1) D0 D1
        ...     error(0.1) D1
        ...     error(0.01) D0 D1 ^ D2
        ... ''')
        >>> s = NoiseStructure.from_dem(dem)
        >>> s.symptoms, s.mech_symptom.tolist()
        (((0, 1), (1,), (0, 1, 2)), [0, 1, 2])
        >>> s.subsets[:3]
        ((0,), (1,), (2,))
    """

    graph: MatchingGraph
    dem: stim.DetectorErrorModel
    symptoms: tuple[tuple[int, ...], ...]
    mech_symptom: np.ndarray
    mech_share: np.ndarray
    subsets: tuple[tuple[int, ...], ...]
    fingerprint: str

    @property
    def num_detectors(self) -> int:
        return self.graph.num_detectors

    @property
    def num_edges(self) -> int:
        return self.graph.num_edges

    @classmethod
    def from_task(cls, task: Task) -> NoiseStructure:
        """The structure of ``task``'s circuit under :data:`NOMINAL_NOISE` (not its noise)."""
        nominal = Task(distance=task.distance, rounds=task.rounds, basis=task.basis,
                       noise=NOMINAL_NOISE)
        return cls.from_dem(nominal.dem())

    @classmethod
    def from_circuit(cls, circuit: stim.Circuit) -> NoiseStructure:
        """The structure of a noisy circuit's decomposed DEM.

        The circuit's probabilities only split a symptom between mechanisms that share it.
        """
        return cls.from_dem(circuit_dem(circuit))

    @classmethod
    def from_dem(cls, dem: stim.DetectorErrorModel) -> NoiseStructure:
        """The structure of a graphlike-decomposed DEM (``decompose_errors=True``)."""
        graph = MatchingGraph.from_dem(dem)
        index: dict[tuple[int, ...], int] = {}
        mech_symptom = []
        for inst in dem.flattened():
            if inst.type != "error":
                continue
            flipped: set[int] = set()
            for t in inst.targets_copy():
                if t.is_relative_detector_id():
                    flipped ^= {t.val}
            key = tuple(sorted(flipped))
            mech_symptom.append(index.setdefault(key, len(index)))
        mech_symptom = np.array(mech_symptom, dtype=np.int64)
        nominal = graph.error_prob
        total = np.bincount(mech_symptom, weights=nominal, minlength=len(index))
        share = np.where(total[mech_symptom] > 0,
                         nominal / np.maximum(total[mech_symptom], 1e-300), 1.0)
        symptoms = tuple(sorted(index, key=index.get))
        return cls(graph=graph, dem=dem, symptoms=symptoms, mech_symptom=mech_symptom,
                   mech_share=share, subsets=_all_subsets(symptoms, graph),
                   fingerprint=structure_fingerprint(dem))


def _all_subsets(symptoms, graph: MatchingGraph) -> tuple[tuple[int, ...], ...]:
    """Singletons of every detector, every edge pair, every subset of every symptom."""
    found: set[tuple[int, ...]] = {(k,) for k in range(graph.num_detectors)}
    found.update((int(a), int(b)) for a, b in graph.edge_dets[~graph.is_boundary])
    for sym in symptoms:
        if len(sym) > MAX_SYMPTOM or not sym:
            continue
        for size in range(1, len(sym) + 1):
            found.update(combinations(sym, size))
    return tuple(sorted(found, key=lambda s: (len(s), s)))


def structure_fingerprint(dem: stim.DetectorErrorModel) -> str:
    """SHA-256 (16 hex digits) of the DEM's targets, probabilities removed.

    Examples:
        >>> a = stim.DetectorErrorModel("error(0.1) D0 D1")
        >>> b = stim.DetectorErrorModel("error(0.3) D0 D1")
        >>> structure_fingerprint(a) == structure_fingerprint(b)
        True
    """
    lines = []
    for inst in dem.flattened():
        if inst.type == "error":
            lines.append(" ".join(str(t) for t in inst.targets_copy()))
    lines.append(f"D={dem.num_detectors} O={dem.num_observables}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
