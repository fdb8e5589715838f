"""The matching graph of a decomposed detector error model, as arrays.

Every error mechanism of a graphlike-decomposed DEM is a XOR of components ("D1 D4 ^ D5"),
each an edge between two detectors or from one detector to the boundary, possibly flipping
observables. This module lists the distinct edges once, with their merged probability
(independent mechanisms combine as p = p1(1-p2) + p2(1-p1)), and records which edges each
mechanism fires. The pre-decoder's labels, the noise estimator's targets and re-weighted
matchers all use this one object.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import stim

from qec.errors import InputError

BOUNDARY = -1


PROB_FLOOR = 1e-15   # smallest edge probability a weight is computed for (weight ~34.5)


def xor_prob(p: np.ndarray | float, q: np.ndarray | float) -> np.ndarray | float:
    """Probability that exactly one of two independent events happens: p + q - 2pq."""
    return p + q - 2 * p * q


def weight_of_prob(p: np.ndarray | float) -> np.ndarray:
    """Matching weight ``log((1 - p) / p)`` (natural log) of an edge of probability ``p``.

    ``p`` is clamped to [PROB_FLOOR, 1 - PROB_FLOOR] so the weight is always finite.

    Examples:
        >>> weight_of_prob(np.array([0.5, 0.1])).round(4).tolist()
        [0.0, 2.1972]
    """
    p = np.clip(np.asarray(p, dtype=np.float64), PROB_FLOOR, 1 - PROB_FLOOR)
    return np.log1p(-p) - np.log(p)


@dataclass(frozen=True, eq=False)
class MatchingGraph:
    """Edges of a decomposed DEM.

    Attributes:
        num_detectors: D.
        edge_dets: (E, 2) int64, detector pair (a < b), or (a, -1) for a boundary edge.
        edge_obs: (E,) int64 bitmask of the observables the edge flips.
        edge_prob: (E,) float64 merged probability of each edge.
        error_edges: per DEM error instruction (``dem.flattened()`` order), the edge ids it
            fires (a decomposed mechanism fires several).
        error_prob: (M,) float64 probability of each mechanism.

    Examples:
        >>> dem = stim.DetectorErrorModel('''
        ...     error(0.1) D0 D1
        ...     error(0.2) D1 L0
        ...     error(0.05) D0 D1 ^ D1 L0
        ... ''')
        >>> g = MatchingGraph.from_dem(dem)
        >>> g.edge_dets.tolist(), g.edge_obs.tolist(), g.error_edges
        ([[0, 1], [1, -1]], [0, 1], ((0,), (1,), (0, 1)))
        >>> [round(p, 4) for p in g.edge_prob.tolist()]
        [0.14, 0.23]
    """

    num_detectors: int
    num_observables: int
    edge_dets: np.ndarray
    edge_obs: np.ndarray
    edge_prob: np.ndarray
    error_edges: tuple[tuple[int, ...], ...]
    error_prob: np.ndarray

    @property
    def num_edges(self) -> int:
        return int(self.edge_dets.shape[0])

    @property
    def is_boundary(self) -> np.ndarray:
        return self.edge_dets[:, 1] == BOUNDARY

    @classmethod
    def from_dem(cls, dem: stim.DetectorErrorModel) -> MatchingGraph:
        """Collect the edges of a graphlike-decomposed DEM (``decompose_errors=True``)."""
        index: dict[tuple[int, int], int] = {}
        obs: list[int] = []
        error_edges: list[tuple[int, ...]] = []
        error_prob: list[float] = []
        for inst in dem.flattened():
            if inst.type != "error":
                continue
            ids = tuple(_edge_id(comp, index, obs) for comp in _components(inst))
            error_edges.append(ids)
            error_prob.append(inst.args_copy()[0])
        prob = np.zeros(len(index))
        for ids, p in zip(error_edges, error_prob):
            for e in set(ids):
                prob[e] = xor_prob(prob[e], p)
        dets = np.array(sorted(index, key=index.get), dtype=np.int64).reshape(-1, 2)
        return cls(dem.num_detectors, dem.num_observables, dets,
                   np.array(obs, dtype=np.int64), prob, tuple(error_edges),
                   np.array(error_prob, dtype=float))

    @cached_property
    def closed_components(self):
        """(D, C) scipy CSR 0/1 matrix: detector d lies in component c of the graph, for the
        C components that no boundary edge reaches (an isolated detector, flipped by no
        error, is one). An odd number of detection events in such a component is a syndrome
        no set of the graph's errors produces: there is nothing to match it to."""
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        inner = self.edge_dets[~self.is_boundary]
        links = csr_matrix((np.ones(len(inner), dtype=np.int8), (inner[:, 0], inner[:, 1])),
                           shape=(self.num_detectors, self.num_detectors))
        count, label = connected_components(links, directed=False)
        open_ = np.zeros(count, dtype=bool)
        open_[label[self.edge_dets[self.is_boundary, 0]]] = True
        closed = np.flatnonzero(~open_)
        column = np.full(count, -1)
        column[closed] = np.arange(closed.size)
        rows = np.flatnonzero(column[label] >= 0)
        return csr_matrix((np.ones(rows.size, dtype=np.int32), (rows, column[label[rows]])),
                          shape=(self.num_detectors, closed.size))

    def check_matchable(self, dets: np.ndarray, *, name: str = "dets") -> None:
        """Refuse (S, D) 0/1 detection events that no set of the graph's errors produces (an
        odd number of them in a part of the graph without a boundary), naming the first shot
        and its detectors: a matcher has no answer for them (fusion-blossom panics,
        PyMatching raises), and they mean the events were not sampled from this graph's
        circuit (or the circuit is noiseless).

        Examples:
            >>> dem = stim.DetectorErrorModel("error(0.1) D0 D1\\ndetector D2")
            >>> g = MatchingGraph.from_dem(dem)
            >>> g.check_matchable(np.array([[1, 1, 0], [0, 0, 0]]))
            >>> try:
            ...     g.check_matchable(np.array([[1, 1, 0], [0, 0, 1]]))
            ... except InputError as exc:
            ...     print(str(exc).split(", which")[0])
            dets: shot 1 has an odd number of detection events among detectors [2]
        """
        closed = self.closed_components
        if closed.shape[1] == 0:
            return
        odd = (np.asarray(dets, dtype=np.int32) @ closed) % 2 == 1     # (S, C)
        bad = np.argwhere(odd)
        if bad.size:
            shot, comp = (int(v) for v in bad[0])
            members = closed[:, comp].nonzero()[0]
            shown = ", ".join(map(str, members[:8].tolist())) + (", ..." if members.size > 8
                                                                  else "")
            raise InputError(f"{name}: shot {shot} has an odd number of detection events "
                             f"among detectors [{shown}], which no error of the detector error "
                             "model connects to a boundary or to another detection event; "
                             "these events cannot come from this circuit (is it noiseless, "
                             "or were they sampled from another one?)")

    def error_matrix(self):
        """(M, E) scipy CSR 0/1 matrix: mechanism m fires edge e."""
        from scipy.sparse import csr_matrix

        rows = [m for m, ids in enumerate(self.error_edges) for _ in ids]
        cols = [e for ids in self.error_edges for e in ids]
        return csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)),
                          shape=(len(self.error_edges), self.num_edges))

    def fired_edges(self, errors: np.ndarray) -> np.ndarray:
        """(S, M) 0/1 fired mechanisms -> (S, E) bool fired edges (XOR over mechanisms)."""
        from scipy.sparse import csr_matrix

        counts = csr_matrix(np.asarray(errors, dtype=np.int32)) @ self.error_matrix()
        return (counts.toarray() % 2).astype(bool)

    def incidence(self):
        """(D, E) scipy CSR 0/1 matrix: edge e touches detector d (boundary side omitted)."""
        from scipy.sparse import csr_matrix

        rows = np.concatenate([self.edge_dets[:, 0], self.edge_dets[~self.is_boundary, 1]])
        cols = np.concatenate([np.arange(self.num_edges), np.flatnonzero(~self.is_boundary)])
        return csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)),
                          shape=(self.num_detectors, self.num_edges))

    def syndrome_of(self, edges: np.ndarray) -> np.ndarray:
        """(S, E) 0/1 edges -> (S, D) bool detectors they flip."""
        from scipy.sparse import csr_matrix

        counts = csr_matrix(np.asarray(edges, dtype=np.int32)) @ self.incidence().T
        return (counts.toarray() % 2).astype(bool)

    def observables_of(self, edges: np.ndarray) -> np.ndarray:
        """(S, E) 0/1 edges -> (S, O) bool observables they flip."""
        edges = np.asarray(edges, dtype=bool)
        out = np.zeros((edges.shape[0], self.num_observables), dtype=bool)
        for k in range(self.num_observables):
            mask = (self.edge_obs >> k) & 1 == 1
            out[:, k] = edges[:, mask].sum(axis=1) % 2 == 1
        return out

    def to_pymatching(self, weights: np.ndarray | None = None):
        """A ``pymatching.Matching`` of this graph with edge weights ``weights`` ((E,), any
        sign; default: the edges' ``log((1 - p) / p)``). Built edge by edge, so it is slow: a
        reference to check faster matchers against, not a decoder for many shots."""
        import pymatching

        weights = weight_of_prob(self.edge_prob) if weights is None else np.asarray(weights)
        if weights.shape != (self.num_edges,):
            raise InputError(f"weights has shape {weights.shape}; expected ({self.num_edges},)")
        m = pymatching.Matching()
        for k, ((a, b), obs) in enumerate(zip(self.edge_dets.tolist(), self.edge_obs.tolist())):
            faults = {j for j in range(self.num_observables) if (obs >> j) & 1}
            if b == BOUNDARY:
                m.add_boundary_edge(a, fault_ids=faults, weight=float(weights[k]))
            else:
                m.add_edge(a, b, fault_ids=faults, weight=float(weights[k]))
        return m

    def to_dem(self, edge_prob: np.ndarray | None = None) -> stim.DetectorErrorModel:
        """A graphlike DEM with one mechanism per edge (probabilities ``edge_prob``)."""
        prob = self.edge_prob if edge_prob is None else np.asarray(edge_prob, dtype=float)
        if prob.shape != (self.num_edges,):
            raise InputError(f"edge_prob has shape {prob.shape}; expected ({self.num_edges},)")
        bad = np.flatnonzero(~((prob > 0) & (prob < 0.5)))
        if bad.size:
            raise InputError(f"edge_prob[{bad[0]}]={prob[bad[0]]} must be in (0, 0.5)")
        dem = stim.DetectorErrorModel()
        for (a, b), o, p in zip(self.edge_dets.tolist(), self.edge_obs.tolist(), prob.tolist()):
            targets = [stim.target_relative_detector_id(a)]
            if b != BOUNDARY:
                targets.append(stim.target_relative_detector_id(b))
            targets += [stim.target_logical_observable_id(k)
                        for k in range(self.num_observables) if (o >> k) & 1]
            dem.append("error", p, targets)
        for k in range(self.num_detectors):  # keep isolated detectors addressable
            dem.append("detector", [], [stim.target_relative_detector_id(k)])
        for k in range(self.num_observables):
            dem.append("logical_observable", [], [stim.target_logical_observable_id(k)])
        return dem


def _components(inst: stim.DemInstruction) -> list[tuple[list[int], int]]:
    comps: list[tuple[list[int], int]] = [([], 0)]
    for t in inst.targets_copy():
        if t.is_separator():
            comps.append(([], 0))
        elif t.is_relative_detector_id():
            comps[-1][0].append(t.val)
        elif t.is_logical_observable_id():
            dets, mask = comps[-1]
            comps[-1] = (dets, mask ^ (1 << t.val))
    return comps


def _edge_id(comp: tuple[list[int], int], index: dict, obs: list[int]) -> int:
    dets, mask = comp
    if len(dets) == 1:
        key = (dets[0], BOUNDARY)
    elif len(dets) == 2:
        key = (min(dets), max(dets))
    else:
        raise InputError(f"DEM component with detectors {dets} is not graphlike; build the DEM "
                         "with decompose_errors=True")
    if key not in index:
        index[key] = len(index)
        obs.append(mask)
    elif obs[index[key]] != mask:
        # Two mechanisms on one edge with different observable effects: matching cannot
        # represent it; surface-code DEMs never do this, so refuse rather than guess.
        raise InputError(f"edge {key} flips observables {obs[index[key]]} and {mask}")
    return index[key]
