"""Parallel-window decoding of long memory experiments (rounds >> d).

The detectors of a memory experiment form T = rounds + 1 time slices (``Geometry.det_round``).
The slices are tiled by commit regions, in time order (Skoric et al. 2023; Tan et al. 2023):

* layer A windows: commit region ``[s, s + n_com)`` with a buffer of ``n_buf`` slices on each
  side (cut at the experiment's ends); they decode independently and in parallel;
* layer B windows: the ``n_buf`` slices between two A commit regions; no buffer.

Edge treatment (what makes windowed == global in the limit):

* An A window keeps every edge with both ends inside it, its spatial boundary edges, and turns
  an edge leaving it in time into a boundary edge of the window (same probability and
  observable; parallel boundary edges merge, the likelier one's observable wins as it is the
  one matching would use). The outside is undecoded, so a defect near the cut may be explained
  by an error beyond it. The window commits every matched edge that touches a detector of its
  commit region. Edges span at most one slice and n_buf >= 1, so no committed edge is a cut
  edge, and every commit-region detector is explained exactly by the committed edges. A
  committed edge whose other end lies in the buffer flips that detector: an artificial defect.
* A B window sees the syndrome XOR the artificial defects of both neighbouring A windows. Edges
  into an A commit region are already decided, so they are dropped; the B window commits every
  edge it matches.

Every detector is then explained exactly once by the union of committed edges. When the buffer
reaches both ends of the experiment, the A window's graph is the full graph and its committed
edges are the global matching restricted to its commit region; the B window's best completion
is the rest of the global matching (a lighter one would lighten the global one). So windowed
decoding reproduces global decoding up to ties.

Windows are built once per shape from a *short* circuit with the same local structure (the
matching graph is translation-invariant in time away from the first and last two slices;
tested against the full DEM), so a 10000-round experiment never builds its full DEM.

With the AI pre-decoder, the windows decode its RESIDUAL (:mod:`pipelines._decoders.blocks`
computes it block by block, equal to the whole-volume residual) and the prediction is the
windows' flip XOR the pre-decoder's flip. In soft mode a window also receives the per-shot
weights of its edges (global keys, mapped to the window's own edges by
:meth:`WindowWorker.local_weights`) and matches with :meth:`WindowGraph.soft_matcher`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from pipelines._windows.graphs import WindowGraph, WindowGraphs, ordered_pairs
from pipelines._windows.plan import Window, WindowPlan
from qec import (
    BOUNDARY,
    InputError,
    InputTypeError,
    MatchingGraph,
    SparseEdgeWeights,
    Task,
    pack_bits,
    unpack_bits,
)


@dataclass(frozen=True)
class WindowResult:
    """What a window commits, for S shots.

    Attributes:
        index: the window's index in its plan.
        flip: (S, O) bool, observable flip of the committed edges.
        toggles: (S, D_window) bool, artificial defects the committed edges leave outside the
            commit region (always zero for B windows).
        decode_seconds: time spent in this call.
        edges: per shot, (K, 2) int64 global detector pairs committed (-1 = boundary), when
            asked for.
    """

    index: int
    flip: np.ndarray
    toggles: np.ndarray
    decode_seconds: float
    edges: tuple[np.ndarray, ...] | None = None


class WindowWorker:
    """Decodes windows of one experiment: the plain class a Ray actor wraps.

    Args:
        task: the long experiment (its rounds give the plan's slices).
        plan: the window tiling.
        full_graph: restrict the experiment's own DEM instead of the short template.
        template: a prebuilt template graph (see :class:`WindowGraphs`).
        soft_cap: the soft-mode base weight (``predecoder.CommitPolicy.cap``); windows given
            per-shot weights match with it. None: static weights only.

    Examples:
        >>> from qec import NoiseModel, sample_detectors, unpack_bits
        >>> task = Task(distance=3, rounds=12, noise=NoiseModel.uniform(0.003))
        >>> worker = WindowWorker(task=task, plan=WindowPlan(num_slices=13, n_com=3, n_buf=3))
        >>> chunk = next(sample_detectors(task.circuit(), shots=4, seed=1))
        >>> dets = unpack_bits(chunk.dets, task.circuit().num_detectors)
        >>> worker.decode_all(dets).shape
        (4, 1)
    """

    def __init__(self, *, task: Task, plan: WindowPlan, full_graph: bool = False,
                 template: MatchingGraph | None = None, soft_cap: float | None = None) -> None:
        if plan.num_slices != task.rounds + 1:
            raise InputError(f"plan.num_slices={plan.num_slices} must be task.rounds + 1 = "
                             f"{task.rounds + 1}")
        self.task, self.plan, self.soft_cap = task, plan, soft_cap
        self.graphs = WindowGraphs(task, plan, full=full_graph, template=template)
        self.layout = self.graphs.layout

    @property
    def num_observables(self) -> int:
        return self.graphs.template_graph.num_observables

    def window_range(self, window: Window) -> tuple[int, int]:
        """Global detector range ``[lo, hi)`` of the window."""
        return self.layout.start(window.lo), self.layout.start(window.hi)

    def decode(self, index: int, dets: np.ndarray, *, weights: SparseEdgeWeights | None = None,
               return_edges: bool = False) -> WindowResult:
        """Decode window ``index`` of the plan on (S, D_window) bool detectors.

        For a B window, ``dets`` must already carry the artificial defects of its A windows.
        ``weights`` (soft mode): per-shot weights of edges named by global key (only the
        window's own edges are used).
        """
        t0 = time.perf_counter()
        window = self.plan.windows[index]
        lo, hi = self.window_range(window)
        dets = check_dets(dets, hi - lo, f"window {index}")
        c0 = self.layout.start(window.commit_lo) - lo
        c1 = self.layout.start(window.commit_hi) - lo
        graph = self.graphs.for_window(window)
        if weights is None:
            sid, pairs = _matched_pairs(graph, dets)
        else:
            sid, pairs = self._soft_pairs(window, graph, dets, weights)
        sid, pairs = _commit_filter(sid, pairs, graph.num_detectors, c0, c1)
        obs = graph.edge_obs_of(pairs)
        masks = np.zeros(dets.shape[0], dtype=np.int64)
        np.bitwise_xor.at(masks, sid, obs)
        flip = (masks[:, None] >> np.arange(self.num_observables)) & 1 == 1
        toggles = np.zeros_like(dets)
        ends = pairs.ravel()
        outside = (ends != BOUNDARY) & ((ends < c0) | (ends >= c1))
        np.bitwise_xor.at(toggles, (np.repeat(sid, 2)[outside], ends[outside]), True)
        edges = None
        if return_edges:
            glob = np.where(pairs == BOUNDARY, BOUNDARY, pairs + lo)
            edges = tuple(glob[sid == s] for s in range(dets.shape[0]))
        return WindowResult(index, flip, toggles, time.perf_counter() - t0, edges)

    def _soft_pairs(self, window: Window, graph: WindowGraph, dets: np.ndarray,
                    weights: SparseEdgeWeights) -> tuple[np.ndarray, np.ndarray]:
        if self.soft_cap is None:
            raise InputError("per-shot weights need a WindowWorker built with soft_cap")
        if weights.shots != dets.shape[0]:
            raise InputError(f"weights has {weights.shots} rows; expected {dets.shape[0]}")
        matcher = graph.soft_matcher(self.soft_cap)
        local = self.local_weights(window, weights)
        matched = matcher.matched_edges(dets, local)
        shots = np.repeat(np.arange(len(matched), dtype=np.int64), [len(m) for m in matched])
        found = graph.edge_dets[np.concatenate(matched)] if matched else np.zeros((0, 2),
                                                                                  np.int64)
        return shots, found

    def local_weights(self, window: Window, weights: SparseEdgeWeights) -> SparseEdgeWeights:
        """Global-key weights -> weights of the window graph's edges (same rows).

        The rules of :func:`pipelines._windows.graphs.restrict_graph`: an edge leaving the
        window on an open side becomes the inner detector's boundary edge, on a closed side it
        is dropped; where several edges become one, the smallest weight (the likeliest) wins.
        """
        graph = self.graphs.for_window(window)
        lo, hi = self.window_range(window)
        n = self.layout.num_detectors + 1
        shot = np.repeat(np.arange(weights.shots), np.diff(weights.shot_ptr))
        a, b = weights.edge // n, weights.edge % n - 1
        a_in, b_in = (a >= lo) & (a < hi), (b >= lo) & (b < hi)
        whole = a_in & (b_in | (b == BOUNDARY))
        cut_right = a_in & (b >= hi) & window.open_right
        cut_left = b_in & (a < lo) & window.open_left
        keep = whole | cut_right | cut_left
        inner = np.where(a_in, a, b)[keep] - lo
        other = np.where(whole[keep], np.where(b[keep] == BOUNDARY, BOUNDARY, b[keep] - lo),
                         BOUNDARY)
        pos = graph.edge_index(inner, other)
        shot, weight = shot[keep], weights.weight[keep]
        order = np.lexsort((weight, pos, shot))             # smallest weight first per edge
        shot, pos, weight = shot[order], pos[order], weight[order]
        first = np.ones(len(pos), dtype=bool)
        first[1:] = (shot[1:] != shot[:-1]) | (pos[1:] != pos[:-1])
        return SparseEdgeWeights.from_coo(shots=weights.shots, shot=shot[first],
                                          edge=pos[first], weight=weight[first])

    def decode_all(self, dets: np.ndarray, *, weights: SparseEdgeWeights | None = None,
                   return_edges: bool = False):
        """Decode a whole (S, D) experiment window by window: A layer, then B layer.

        Returns (S, O) bool predictions, or (predictions, edges per shot) with
        ``return_edges``.
        """
        dets = check_dets(dets, self.layout.num_detectors, "dets")
        results = {w.index: self.decode(w.index, dets[:, slice(*self.window_range(w))],
                                        weights=weights, return_edges=return_edges)
                   for w in self.plan.windows if w.layer == "A"}
        for w in self.plan.windows:
            if w.layer == "B":
                results[w.index] = self.decode(w.index, self.b_input(w, dets, results),
                                               weights=weights, return_edges=return_edges)
        flip = np.zeros((dets.shape[0], self.num_observables), dtype=bool)
        for r in results.values():
            flip ^= r.flip
        if not return_edges:
            return flip
        edges = [np.concatenate([results[w.index].edges[s] for w in self.plan.windows])
                 for s in range(dets.shape[0])]
        return flip, edges

    def b_input(self, window: Window, dets: np.ndarray, results: dict) -> np.ndarray:
        """The B window's detectors XOR the artificial defects of the A windows it depends on."""
        lo, hi = self.window_range(window)
        out = dets[:, lo:hi].copy()
        for a in window.depends:
            if a < len(self.plan.windows):
                out ^= self.toggles_into(self.plan.windows[a], results[a].toggles, window)
        return out

    def toggles_into(self, a: Window, toggles: np.ndarray, b: Window) -> np.ndarray:
        """The part of A's toggles that falls on B's detectors, as (S, D_B) bool."""
        a_lo, a_hi = self.window_range(a)
        b_lo, b_hi = self.window_range(b)
        out = np.zeros((toggles.shape[0], b_hi - b_lo), dtype=bool)
        lo, hi = max(a_lo, b_lo), min(a_hi, b_hi)
        if lo < hi:
            out[:, lo - b_lo:hi - b_lo] = toggles[:, lo - a_lo:hi - a_lo]
        return out


def _matched_pairs(graph: WindowGraph, dets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PyMatching's matched pairs of every shot: (shot ids (K,), local pairs (K, 2))."""
    found, shots = [], []
    for s in np.flatnonzero(dets.any(axis=1)):
        p = graph.matching.decode_to_edges_array(dets[s])
        if len(p):
            found.append(np.asarray(p, dtype=np.int64))
            shots.append(np.full(len(p), s, dtype=np.int64))
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.int64)
    return np.concatenate(shots), np.concatenate(found)


def _commit_filter(sid: np.ndarray, pairs: np.ndarray, num_detectors: int, c0: int,
                   c1: int) -> tuple[np.ndarray, np.ndarray]:
    """The matched pairs touching the commit region ``[c0, c1)``, ordered (a < b, boundary -1
    second); an edge matched twice in a shot cancels."""
    if not len(sid):
        return sid, pairs
    a, b = ordered_pairs(pairs)
    touch = ((a >= c0) & (a < c1)) | ((b >= c0) & (b < c1))
    n = num_detectors + 1
    keys, counts = np.unique((sid[touch] * n + a[touch]) * n + (b[touch] + 1),
                             return_counts=True)
    keys = keys[counts % 2 == 1]
    return keys // (n * n), np.stack([(keys // n) % n, keys % n - 1], axis=1)


def check_dets(dets: np.ndarray, num: int, name: str) -> np.ndarray:
    """Enforce the (S, num) bool/uint8 0/1 contract at a boundary; return a bool array."""
    if not isinstance(dets, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy array, got {type(dets).__name__}")
    if dets.dtype not in (np.bool_, np.uint8):
        raise InputTypeError(f"{name} has dtype {dets.dtype}; expected bool or uint8 (0/1)")
    if dets.ndim != 2 or dets.shape[1] != num:
        raise InputError(f"{name} has shape {dets.shape}; expected (shots, {num})")
    if dets.dtype == np.uint8 and dets.size and dets.max() > 1:
        raise InputError(f"{name} holds values > 1; expected 0/1 (unpack bit-packed data)")
    return dets.astype(bool, copy=False)


@dataclass(frozen=True, eq=False)
class WindowedDecoder:
    """Windowed matching as a batch decoder (``decode_batch`` on bit-packed shots), with the
    pre-decoder's residual (and soft weights) when ``predecoder`` is given.

    Examples:
        >>> from qec import NoiseModel
        >>> task = Task(distance=3, rounds=9, noise=NoiseModel.uniform(0.003))
        >>> dec = WindowedDecoder.for_task(task, n_com=3, n_buf=3)
        >>> dec.name, dec.decode_batch(np.zeros((2, 9), dtype=np.uint8)).tolist()
        ('windowed-pymatching', [[0], [0]])
    """

    worker: WindowWorker
    predecoder: object | None = None     # pipelines.BlockPredecoder
    name: str = "windowed-pymatching"

    @classmethod
    def for_task(cls, task: Task, *, n_com: int, n_buf: int,
                 predecoder=None) -> WindowedDecoder:
        plan = WindowPlan(num_slices=task.rounds + 1, n_com=n_com, n_buf=n_buf)
        if predecoder is None:
            return cls(WindowWorker(task=task, plan=plan))
        policy = predecoder.policy
        worker = WindowWorker(task=task, plan=plan,
                              soft_cap=policy.cap if policy.soft_mode else None)
        name = f"windowed-predecoder+{'soft-matching' if policy.soft_mode else 'pymatching'}"
        return cls(worker, predecoder, name)

    def decode_batch(self, dets_bit_packed: np.ndarray) -> np.ndarray:
        """(S, ceil(D/8)) uint8 bit-packed detectors -> (S, 1) uint8 bit-packed predictions."""
        dets = unpack_bits(dets_bit_packed, self.worker.layout.num_detectors)
        if self.predecoder is None:
            return pack_bits(self.worker.decode_all(dets))
        residual, flip, weights = self.predecoder.run_all(dets)
        return pack_bits(self.worker.decode_all(residual, weights=weights) ^ flip)
