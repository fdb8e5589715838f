"""Minimum-weight matching with edge weights that change from shot to shot.

PyMatching (2.4, the newest release on PyPI) fixes its edge weights when the graph is built;
rebuilding a ``Matching`` per shot costs 0.25-5.5 ms at d = 5-13. The soft pre-decoder mode
needs a weight per edge and per shot (the network's confidence), so this module wraps
fusion-blossom (PyPI ``fusion-blossom``), whose ``SyndromePattern(dynamic_weights=...)``
overrides chosen edge weights for one solve and restores them on ``clear()``.

The graph is built once from a :class:`qec.MatchingGraph` (parallel edges already merged):

- vertices 0..D-1 are the detectors; every boundary edge ends on a virtual vertex of its own
  (D, D+1, ...), fusion-blossom's notion of a boundary;
- weights are in natural-log units (``log((1-p)/p)`` for an edge of probability p) and are
  handed to the solver as even integers, ``2 * round(w / resolution)``, with
  ``resolution = 0.02`` by default (fusion-blossom grows dual variables in half steps, so it
  needs even weights). A resolution of 0.02 decodes like 0.001 (measured: identical
  predictions on the benchmark's shots);
- each edge carries its observable bitmask; a prediction is the XOR of the masks of the
  matched edges.

Per-shot weights travel as :class:`SparseEdgeWeights`: only the edges whose weight differs
from the matcher's base weight, in CSR form (one row per shot). :class:`PerShotWeightMatcher`
is the interface the rest of qecpipe relies on, so a faster backend (PyMatching's unreleased
``edge_reweights``) can replace :class:`BlossomMatcher` without touching its callers.

Examples:
    >>> import stim
    >>> from qec import MatchingGraph
    >>> g = MatchingGraph.from_dem(stim.DetectorErrorModel('''
    ...     error(0.1) D0
    ...     error(0.1) D0 D1 L0
    ...     error(0.1) D1
    ... '''))
    >>> m = BlossomMatcher.from_graph(g)
    >>> dets = np.array([[1, 1], [1, 0]], dtype=bool)
    >>> m.decode_bool(dets).astype(int).tolist()          # D0-D1 matched; D0 to the boundary
    [[1], [0]]
    >>> w = SparseEdgeWeights.from_rows([{1: 5.0}, {0: 5.0, 1: 0.0}])   # per-shot overrides
    >>> m.decode_bool(dets, w).astype(int).tolist()       # D0-D1 now costs more than 2 boundaries
    [[0], [1]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from qec.bits import check_packed, pack_bits, unpack_bits
from qec.errors import InputError
from qec.graph import BOUNDARY, MatchingGraph, weight_of_prob

DEFAULT_RESOLUTION = 0.02


@dataclass(frozen=True)
class SparseEdgeWeights:
    """Per-shot edge-weight overrides in CSR form (natural-log units, >= 0).

    Row s (shot s) overrides edges ``edge[shot_ptr[s]:shot_ptr[s + 1]]`` with weights
    ``weight[shot_ptr[s]:shot_ptr[s + 1]]``; every other edge keeps the matcher's base weight.

    Attributes:
        shot_ptr: (S + 1,) int64, non-decreasing, ``shot_ptr[0] == 0``.
        edge: (N,) int64 edge indices of the matching graph.
        weight: (N,) float64 finite weights >= 0.
    """

    shot_ptr: np.ndarray
    edge: np.ndarray
    weight: np.ndarray

    def __post_init__(self) -> None:
        ptr = np.asarray(self.shot_ptr, dtype=np.int64)
        edge = np.asarray(self.edge, dtype=np.int64)
        weight = np.asarray(self.weight, dtype=np.float64)
        if ptr.ndim != 1 or ptr.size < 1 or ptr[0] != 0 or np.any(np.diff(ptr) < 0):
            raise InputError(f"shot_ptr={ptr[:5].tolist()}... must be a non-decreasing 1-D "
                             "array starting at 0")
        if edge.shape != (ptr[-1],) or weight.shape != edge.shape:
            raise InputError(f"edge has shape {edge.shape} and weight {weight.shape}; both "
                             f"must be ({int(ptr[-1])},) = (shot_ptr[-1],)")
        bad = np.flatnonzero(~np.isfinite(weight) | (weight < 0))
        if bad.size:
            raise InputError(f"weight[{bad[0]}]={weight[bad[0]]} must be finite and >= 0")
        if edge.size and edge.min() < 0:
            raise InputError(f"edge holds {edge.min()}; edge indices must be >= 0")
        for name, value in (("shot_ptr", ptr), ("edge", edge), ("weight", weight)):
            object.__setattr__(self, name, value)

    @property
    def shots(self) -> int:
        return int(self.shot_ptr.size - 1)

    def row(self, shot: int) -> tuple[np.ndarray, np.ndarray]:
        """(edge indices, weights) overridden in shot ``shot``."""
        lo, hi = self.shot_ptr[shot], self.shot_ptr[shot + 1]
        return self.edge[lo:hi], self.weight[lo:hi]

    @classmethod
    def from_coo(cls, *, shots: int, shot: np.ndarray, edge: np.ndarray,
                 weight: np.ndarray) -> SparseEdgeWeights:
        """From (shot, edge, weight) triples sorted by shot."""
        shot = np.asarray(shot, dtype=np.int64)
        if shot.size and (np.any(np.diff(shot) < 0) or shot[0] < 0 or shot[-1] >= shots):
            raise InputError(f"shot indices must be sorted and in [0, {shots})")
        ptr = np.zeros(shots + 1, dtype=np.int64)
        np.cumsum(np.bincount(shot, minlength=shots), out=ptr[1:])
        return cls(shot_ptr=ptr, edge=edge, weight=weight)

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[int, float]]) -> SparseEdgeWeights:
        """From one ``{edge: weight}`` mapping per shot (small, hand-written cases)."""
        shot = [s for s, r in enumerate(rows) for _ in r]
        edge = [e for r in rows for e in r]
        weight = [w for r in rows for w in r.values()]
        return cls.from_coo(shots=len(rows), shot=np.array(shot, dtype=np.int64),
                            edge=np.array(edge, dtype=np.int64), weight=np.array(weight))

    @classmethod
    def concat(cls, parts: Sequence[SparseEdgeWeights]) -> SparseEdgeWeights:
        """Merge several sets of rows of the same shots: row s holds every part's row s."""
        if not parts:
            raise InputError("parts is empty; give at least one SparseEdgeWeights")
        shots = parts[0].shots
        if any(p.shots != shots for p in parts):
            raise InputError(f"parts have {[p.shots for p in parts]} rows; all must have "
                             f"{shots}")
        shot = np.concatenate([np.repeat(np.arange(shots), np.diff(p.shot_ptr)) for p in parts])
        order = np.argsort(shot, kind="stable")
        edge = np.concatenate([p.edge for p in parts])[order]
        weight = np.concatenate([p.weight for p in parts])[order]
        return cls.from_coo(shots=shots, shot=shot[order], edge=edge, weight=weight)

    def take(self, shots: np.ndarray) -> SparseEdgeWeights:
        """The rows of ``shots`` (in that order)."""
        shots = np.asarray(shots, dtype=np.int64)
        rows = [self.row(int(s)) for s in shots]
        sizes = np.array([len(e) for e, _ in rows], dtype=np.int64)
        ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        edge = np.concatenate([e for e, _ in rows]) if rows else np.zeros(0, np.int64)
        weight = np.concatenate([w for _, w in rows]) if rows else np.zeros(0)
        return SparseEdgeWeights(shot_ptr=ptr, edge=edge, weight=weight)


@runtime_checkable
class PerShotWeightMatcher(Protocol):
    """A matcher of one graph that takes per-shot edge weights.

    ``decode_batch`` maps (S, ceil(D/8)) uint8 bit-packed detectors and optional
    :class:`SparseEdgeWeights` (S rows) to (S, ceil(O/8)) uint8 bit-packed predictions.
    """

    num_detectors: int
    num_observables: int

    def decode_batch(self, dets_bit_packed: np.ndarray,
                     weights: SparseEdgeWeights | None = None) -> np.ndarray: ...


class BlossomMatcher:
    """fusion-blossom's exact minimum-weight perfect matching with per-shot edge weights.

    Build with :meth:`from_graph`. Thread-unsafe (one solver, reused shot after shot).

    Args:
        graph: the matching graph (edges, observables).
        base_weights: (E,) weights every shot starts from (natural-log units, >= 0).
        resolution: weight units per integer step pair (see the module docstring).
    """

    def __init__(self, graph: MatchingGraph, base_weights: np.ndarray, *,
                 resolution: float = DEFAULT_RESOLUTION) -> None:
        import fusion_blossom

        if not 0 < resolution <= 1:
            raise InputError(f"resolution={resolution} must be in (0, 1]")
        base = np.asarray(base_weights, dtype=np.float64)
        if base.shape != (graph.num_edges,):
            raise InputError(f"base_weights has shape {base.shape}; expected "
                             f"({graph.num_edges},), one per edge")
        if not np.all(np.isfinite(base) & (base >= 0)):
            raise InputError("base_weights must be finite and >= 0")
        self.graph, self.resolution = graph, resolution
        self.num_detectors, self.num_observables = graph.num_detectors, graph.num_observables
        self.base_int = self.to_int(base)
        self._fb = fusion_blossom
        self._solver = fusion_blossom.SolverSerial(self._initializer())

    @classmethod
    def from_graph(cls, graph: MatchingGraph, *, cap: float | None = None,
                   resolution: float = DEFAULT_RESOLUTION) -> BlossomMatcher:
        """Base weights from the graph's edge probabilities, or all equal to ``cap``."""
        if cap is not None:
            if not (np.isfinite(cap) and cap > 0):
                raise InputError(f"cap={cap} must be a finite weight > 0")
            return cls(graph, np.full(graph.num_edges, float(cap)), resolution=resolution)
        return cls(graph, np.maximum(weight_of_prob(graph.edge_prob), 0.0),
                   resolution=resolution)

    def to_int(self, weights: np.ndarray) -> np.ndarray:
        """Natural-log weights -> the solver's even integers."""
        return 2 * np.rint(np.asarray(weights, dtype=np.float64) / self.resolution).astype(
            np.int64)

    def _initializer(self):
        g = self.graph
        boundary = g.is_boundary
        virtual = g.num_detectors + np.cumsum(boundary) - 1          # one per boundary edge
        other = np.where(boundary, virtual, g.edge_dets[:, 1])
        edges = list(zip(g.edge_dets[:, 0].tolist(), other.tolist(), self.base_int.tolist()))
        num_virtual = int(boundary.sum())
        virtual_ids = list(range(g.num_detectors, g.num_detectors + num_virtual))
        return self._fb.SolverInitializer(g.num_detectors + num_virtual, edges, virtual_ids)

    def solve(self, defects: np.ndarray, edges: np.ndarray | None = None,
              weights: np.ndarray | None = None) -> np.ndarray:
        """One shot: defect detector ids (and overridden edges/weights) -> matched edge ids."""
        dynamic = []
        if edges is not None and len(edges):
            if edges.max() >= self.graph.num_edges:
                raise InputError(f"edge index {int(edges.max())} is out of range for a graph "
                                 f"of {self.graph.num_edges} edges")
            dynamic = list(zip(edges.tolist(), self.to_int(weights).tolist()))
        pattern = self._fb.SyndromePattern(defect_vertices=defects.tolist(),
                                           dynamic_weights=dynamic)
        self._solver.solve(pattern)
        matched = np.asarray(self._solver.subgraph(), dtype=np.int64)
        self._solver.clear()   # restores the base weights for the next shot
        return matched

    def matched_edges(self, dets: np.ndarray,
                      weights: SparseEdgeWeights | None = None) -> list[np.ndarray]:
        """(S, D) 0/1 detectors (+ S rows of weights) -> per shot, the matched edge ids."""
        dets = np.asarray(dets, dtype=bool)
        if dets.ndim != 2 or dets.shape[1] != self.num_detectors:
            raise InputError(f"dets has shape {dets.shape}; expected (shots, "
                             f"{self.num_detectors})")
        if weights is not None and weights.shots != dets.shape[0]:
            raise InputError(f"weights has {weights.shots} rows; expected one per shot "
                             f"({dets.shape[0]})")
        self.graph.check_matchable(dets)   # fusion-blossom panics on an unmatchable syndrome
        none = np.zeros(0, dtype=np.int64)
        return [self.solve(np.flatnonzero(row),
                           *(weights.row(s) if weights is not None else (None, None)))
                if row.any() else none for s, row in enumerate(dets)]

    def decode_bool(self, dets: np.ndarray,
                    weights: SparseEdgeWeights | None = None) -> np.ndarray:
        """(S, D) 0/1 detectors (+ S rows of weights) -> (S, O) bool predicted flips."""
        masks = np.array([np.bitwise_xor.reduce(self.graph.edge_obs[m]) if m.size else 0
                          for m in self.matched_edges(dets, weights)], dtype=np.int64)
        return (masks[:, None] >> np.arange(self.num_observables)) & 1 == 1

    def decode_batch(self, dets_bit_packed: np.ndarray,
                     weights: SparseEdgeWeights | None = None) -> np.ndarray:
        """(S, ceil(D/8)) uint8 packed detectors -> (S, ceil(O/8)) uint8 packed predictions."""
        check_packed(dets_bit_packed, self.num_detectors, "dets_bit_packed")
        return pack_bits(self.decode_bool(unpack_bits(dets_bit_packed, self.num_detectors),
                                          weights))

    def solution_weight(self, matched: np.ndarray, edges: np.ndarray | None = None,
                        weights: np.ndarray | None = None) -> int:
        """Integer weight of matched edge ids under the base weights plus one shot's overrides."""
        w = self.base_int.copy()
        if edges is not None and len(edges):
            w[edges] = self.to_int(weights)
        return int(w[np.asarray(matched, dtype=np.int64)].sum())


def edge_ids_of_pairs(graph: MatchingGraph, pairs: np.ndarray) -> np.ndarray:
    """(K, 2) detector pairs as PyMatching returns them (-1 = boundary) -> (K,) edge ids."""
    index = {tuple(e): k for k, e in enumerate(graph.edge_dets.tolist())}
    out = []
    for a, b in np.asarray(pairs, dtype=np.int64).tolist():
        key = (min(a, b), max(a, b)) if min(a, b) != BOUNDARY else (max(a, b), BOUNDARY)
        if key not in index:
            raise InputError(f"pair {(a, b)} is not an edge of the graph")
        out.append(index[key])
    return np.array(out, dtype=np.int64)
