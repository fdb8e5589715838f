"""What the pre-decoder predicts: edges of the circuit's own decomposed DEM, one slot per
(direction class, anchor cell).

The edge formulation of docs/design.md section 5. Every edge of :class:`qec.MatchingGraph` is
anchored at the endpoint with the smaller (round, row, col) and classified by the offset
(dt, drow, dcol) to its other endpoint; a boundary edge gets the boundary class. The class
table :data:`EDGE_CLASSES` is the canonical layout's offset table :data:`qec.frame.EDGE_OFFSETS`
plus the boundary class: the same for every odd d >= 3, any number of rounds and both memory
bases of the rotated code, and for circuits in other coordinates (Google's Sycamore grid),
which :class:`qec.Geometry` maps onto that layout in the orientation the table (and the
shipped models) assume. A layout refuses a DEM with an offset outside it or two edges in one
(class, cell) slot.

Why (b) and not the paper's formulation (a) (data-error changes + measurement flags):

- Exact by construction. Residual = dets XOR H_edges e and flip = L_edges e use the very
  graph PyMatching decodes, so the bookkeeping cannot drift from the matcher; labels come
  straight from stim's DEM sampler (``return_errors=True``) with no Pauli-frame simulation,
  fault deferral or homological canonicalisation to get wrong. The oracle holds on every shot
  (tests/test_predecoder_edges.py; bench/results/predecoder_formulation.json measures it).
- Noise-model agnostic: any circuit noise (uniform, SI1000, per-qubit multipliers) and any
  re-weighted graph gives the same 9 classes; (a) hard-codes where each fault shows up.
- The price is label ambiguity: distinct edge sets with the same syndrome and the same
  logical effect are equally correct, and the network can only learn their marginal.
  Measured (bench/results/predecoder_formulation.json, d = 5, p = 0.006, uniform, 3000
  shots per basis): the true labels give a zero residual and the right observable on 100%
  of shots; on the shots PyMatching decodes correctly, its (equally valid) correction uses
  different edges than the fired ones in 51-53% of shots, and 24-25% of fired edges are not
  in it. That ambiguity is why only confident commits are safe (the commit threshold).

We did not implement formulation (a), so there is no equal-budget comparison; its canonical
data-qubit labels are the natural remedy for the ambiguity above (docs/design.md section 5).

Examples:
    >>> from qec import Task, NoiseModel
    >>> layout = EdgeLayout.from_task(Task(distance=3, noise=NoiseModel.uniform(0.003)))
    >>> layout.num_classes, layout.shape, layout.num_edges
    (9, (4, 4, 4), 78)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qec import BOUNDARY, Geometry, InputError, MatchingGraph, Task
from qec.frame import EDGE_OFFSETS  # the canonical layout's table: qec.Geometry maps onto it

BOUNDARY_CLASS = len(EDGE_OFFSETS)
EDGE_CLASSES: tuple[str, ...] = tuple(
    f"dt{dt}_dr{dr:+d}_dc{dc:+d}" for dt, dr, dc in EDGE_OFFSETS) + ("boundary",)
NUM_CLASSES = len(EDGE_CLASSES)


@dataclass(frozen=True, eq=False)
class EdgeLayout:
    """Where each matching-graph edge lives in the (K, T, H, W) output volume.

    Attributes:
        geometry: the circuit's :class:`qec.Geometry` (the only source of cell positions).
        graph: the circuit's decomposed-DEM :class:`qec.MatchingGraph`.
        edge_class: (E,) int64 class index into :data:`EDGE_CLASSES`.
        edge_cell: (E, 3) int64 anchor cell (t, row, col).
        edge_slot: (E,) int64 flat index into a (K, T, H, W) volume.
        valid: (K, T, H, W) bool, True where a slot holds an edge.
    """

    geometry: Geometry
    graph: MatchingGraph
    edge_class: np.ndarray
    edge_cell: np.ndarray
    edge_slot: np.ndarray
    valid: np.ndarray

    @property
    def num_classes(self) -> int:
        return NUM_CLASSES

    @property
    def num_edges(self) -> int:
        return self.graph.num_edges

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.geometry.shape

    @classmethod
    def from_task(cls, task: Task) -> EdgeLayout:
        """The layout of ``task``'s circuit and its decomposed DEM."""
        return cls.build(Geometry.from_circuit(task.circuit()), MatchingGraph.from_dem(task.dem()))

    @classmethod
    def build(cls, geometry: Geometry, graph: MatchingGraph) -> EdgeLayout:
        """Classify every edge; raise on an unknown offset or a slot collision."""
        if graph.num_detectors != geometry.num_detectors:
            raise InputError(f"graph has {graph.num_detectors} detectors but the geometry has "
                             f"{geometry.num_detectors}; build both from the same circuit")
        cells = np.stack([geometry.det_round, geometry.det_row, geometry.det_col], axis=1)
        edge_class, edge_cell = _classify(graph.edge_dets, cells)
        t, h, w = geometry.shape
        edge_slot = ((edge_class * t + edge_cell[:, 0]) * h + edge_cell[:, 1]) * w + edge_cell[:, 2]
        slots, counts = np.unique(edge_slot, return_counts=True)
        if np.any(counts > 1):
            e = np.flatnonzero(edge_slot == slots[counts > 1][0])
            raise InputError(f"edges {e.tolist()} ({graph.edge_dets[e].tolist()}) collide in "
                             f"class {EDGE_CLASSES[edge_class[e[0]]]} at cell "
                             f"{edge_cell[e[0]].tolist()}")
        valid = np.zeros(NUM_CLASSES * t * h * w, dtype=bool)
        valid[edge_slot] = True
        return cls(geometry, graph, edge_class, edge_cell, edge_slot,
                   valid.reshape(NUM_CLASSES, t, h, w))

    def edges_to_volume(self, edges: np.ndarray) -> np.ndarray:
        """(S, E) 0/1 edges -> (S, K, T, H, W) uint8 slot labels (0 at invalid slots)."""
        edges = np.asarray(edges)
        if edges.ndim != 2 or edges.shape[1] != self.num_edges:
            raise InputError(f"edges has shape {edges.shape}; expected (shots, {self.num_edges})")
        out = np.zeros((edges.shape[0], self.valid.size), dtype=np.uint8)
        out[:, self.edge_slot] = edges
        return out.reshape(edges.shape[0], *self.valid.shape)

    def volume_to_edges(self, volume: np.ndarray) -> np.ndarray:
        """(S, K, T, H, W) slot values -> (S, E) in the graph's edge order."""
        volume = np.asarray(volume)
        if volume.shape[1:] != self.valid.shape:
            raise InputError(f"volume has shape {volume.shape}; expected "
                             f"(shots, {', '.join(map(str, self.valid.shape))})")
        return volume.reshape(volume.shape[0], -1)[:, self.edge_slot]


def _classify(edge_dets: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E, 2) detector pairs -> (E,) class, (E, 3) anchor cell."""
    lookup = {off: k for k, off in enumerate(EDGE_OFFSETS)}
    edge_class = np.empty(len(edge_dets), dtype=np.int64)
    edge_cell = np.empty((len(edge_dets), 3), dtype=np.int64)
    for e, (a, b) in enumerate(edge_dets.tolist()):
        if b == BOUNDARY:
            edge_class[e], edge_cell[e] = BOUNDARY_CLASS, cells[a]
            continue
        ca, cb = tuple(cells[a].tolist()), tuple(cells[b].tolist())
        anchor, other = min(ca, cb), max(ca, cb)
        offset = tuple(o - x for o, x in zip(other, anchor))
        if offset not in lookup:
            raise InputError(f"edge {e} between detectors {a} and {b} has offset "
                             f"(dt, drow, dcol)={offset}, not in the class table {EDGE_OFFSETS}")
        edge_class[e], edge_cell[e] = lookup[offset], anchor
    return edge_class, edge_cell
