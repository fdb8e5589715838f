"""Window matching graphs: a long experiment's graph restricted to a window of time slices.

Windows are built once per shape from a *short* circuit with the same local structure (the
matching graph is translation-invariant in time away from the first and last two slices;
tested against the full DEM), so a 10000-round experiment never builds its full DEM. An edge
leaving a window in time becomes a boundary edge of the window (see :mod:`pipelines._windows.worker`
for why that makes windowed decoding exact in the limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pymatching

from pipelines._windows.plan import Window, WindowPlan
from pipelines._windows.slices import MARGIN, SliceLayout, template_offset
from qec import BOUNDARY, InputError, MatchingGraph, Task, weight_of_prob, xor_prob


@dataclass(frozen=True, eq=False)
class WindowGraph:
    """The matcher of one window shape, with the table mapping matched pairs to observables.

    Local detector k is the window's k-th detector (slice-major, stim order). Edge k of the
    window is ``edge_keys[k]``; :meth:`soft_matcher` matches with per-shot weights on the same
    edges, in the same order.
    """

    matching: pymatching.Matching
    num_detectors: int
    num_observables: int
    edge_keys: np.ndarray  # (E,) sorted int64 keys a * (D + 1) + (b + 1), a < b or b = -1
    edge_obs: np.ndarray  # (E,) int64 observable bitmask per key
    edge_prob: np.ndarray  # (E,) float64 merged probability per key
    _soft: dict = field(default_factory=dict, repr=False)

    @property
    def edge_dets(self) -> np.ndarray:
        """(E, 2) int64 local detector pairs of the edges (-1 = boundary)."""
        n = self.num_detectors + 1
        return np.stack([self.edge_keys // n, self.edge_keys % n - 1], axis=1)

    def soft_matcher(self, cap: float):
        """The per-shot-weight matcher of this window (base weight ``cap``), built once."""
        if cap not in self._soft:
            from qec import BlossomMatcher

            graph = MatchingGraph(self.num_detectors, self.num_observables, self.edge_dets,
                                  self.edge_obs, self.edge_prob, (), np.zeros(0))
            self._soft[cap] = BlossomMatcher.from_graph(graph, cap=cap)
        return self._soft[cap]

    def edge_index(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(K,) local pairs (a < b, or b = -1) -> (K,) edge indices (RuntimeError if one is not
        an edge of this window)."""
        keys = np.asarray(a, dtype=np.int64) * (self.num_detectors + 1) + (np.asarray(b) + 1)
        pos = np.searchsorted(self.edge_keys, keys)
        if np.any(pos >= len(self.edge_keys)) or np.any(self.edge_keys[np.minimum(
                pos, len(self.edge_keys) - 1)] != keys):
            raise RuntimeError("a pair is not an edge of the window's graph")
        return pos

    def edge_obs_of(self, pairs: np.ndarray) -> np.ndarray:
        """(K, 2) local matched pairs -> (K,) observable bitmasks."""
        return self.edge_obs[self.edge_index(*ordered_pairs(pairs))]


def ordered_pairs(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order pairs so a < b, with a boundary (-1) always second."""
    a, b = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    swap = (b != BOUNDARY) & ((a > b) | (a == BOUNDARY))
    return np.where(swap, b, a), np.where(swap, a, b)


def restrict_graph(
    graph: MatchingGraph, det_lo: int, det_hi: int, *, open_left: bool, open_right: bool
) -> WindowGraph:
    """The window on detectors ``[det_lo, det_hi)`` of ``graph`` (see the module docstring).

    Edges leaving the window on an open side become boundary edges; on a closed side they are
    dropped.

    Examples:
        >>> import stim
        >>> g = MatchingGraph.from_dem(stim.DetectorErrorModel('''
        ...     error(0.1) D0 D1
        ...     error(0.1) D1 D2 L0
        ...     error(0.2) D2
        ... '''))
        >>> w = restrict_graph(g, 1, 3, open_left=True, open_right=False)
        >>> w.num_detectors, w.edge_obs_of(np.array([[0, -1], [0, 1], [1, -1]])).tolist()
        (2, [0, 1, 0])
    """
    a, b = graph.edge_dets[:, 0], graph.edge_dets[:, 1]
    a_in = (a >= det_lo) & (a < det_hi)
    b_in = (b >= det_lo) & (b < det_hi)
    b_bnd = b == BOUNDARY
    merged: dict[tuple[int, int], dict[int, float]] = {}
    for e in np.flatnonzero(a_in | b_in):
        if (a_in[e] and (b_in[e] or b_bnd[e])):
            key = (int(a[e]) - det_lo, -1 if b_bnd[e] else int(b[e]) - det_lo)
        else:
            inside, outside = (a[e], b[e]) if a_in[e] else (b[e], a[e])
            if not (open_left if outside < det_lo else open_right):
                continue  # decided by a committed neighbour: dropped
            key = (int(inside) - det_lo, BOUNDARY)
        _merge(merged, key, float(graph.edge_prob[e]), int(graph.edge_obs[e]))
    return _build_window_graph(merged, det_hi - det_lo, graph.num_observables)


def _merge(merged: dict, key: tuple[int, int], p: float, obs: int) -> None:
    """Parallel edges with the same observable effect combine as independent errors."""
    by_obs = merged.setdefault(key, {})
    by_obs[obs] = float(xor_prob(by_obs.get(obs, 0.0), p))


def _pick(by_obs: dict[int, float]) -> tuple[float, int]:
    """Parallel edges with different observables: matching would use the likelier one."""
    obs = max(sorted(by_obs), key=lambda o: by_obs[o])
    return by_obs[obs], obs


def _build_window_graph(merged: dict, num_dets: int, num_obs: int) -> WindowGraph:
    m = pymatching.Matching()
    keys, obs, probs = [], [], []
    for (a, b), by_obs in merged.items():
        p, o = _pick(by_obs)
        w = float(weight_of_prob(p))
        faults = {k for k in range(num_obs) if (o >> k) & 1}
        if b == BOUNDARY:
            m.add_boundary_edge(a, fault_ids=faults, weight=w, error_probability=p,
                                merge_strategy="disallow")
        else:
            m.add_edge(a, b, fault_ids=faults, weight=w, error_probability=p,
                       merge_strategy="disallow")
        keys.append(a * (num_dets + 1) + (b + 1))
        obs.append(o)
        probs.append(p)
    if m.num_detectors < num_dets:
        raise InputError(f"window has {num_dets} detectors but edges reach only "
                         f"{m.num_detectors}: a detector has no edge in the window")
    order = np.argsort(np.array(keys, dtype=np.int64))
    return WindowGraph(m, num_dets, num_obs, np.array(keys, dtype=np.int64)[order],
                       np.array(obs, dtype=np.int64)[order], np.array(probs)[order])


class WindowGraphs:
    """Window matchers of one experiment, built from ONE short template circuit.

    The matching graph is translation-invariant in time except within ``MARGIN`` slices of
    either end, so a template of ``W + 2 * MARGIN`` slices (W = the widest window) holds
    every window shape: windows near the start sit at the same offset in the template, windows
    near the end at the same distance from its end, all others ``MARGIN`` slices in. An
    experiment of any length thus needs one small DEM. ``full=True`` restricts the
    experiment's own DEM instead (the reference the template is tested against).

    Args:
        task: the long experiment.
        plan: its window plan (gives the widest window).
        full: use the experiment's own DEM.
        template: a prebuilt template graph (``WindowGraphs.template_graph``), e.g. shipped
            once to every worker process instead of rebuilt there.
    """

    def __init__(self, task: Task, plan: WindowPlan, *, full: bool = False,
                 template: MatchingGraph | None = None) -> None:
        self.task, self.plan = task, plan
        self.layout = SliceLayout.of_task(task)
        T = self.layout.num_slices
        widest = max(w.hi - w.lo for w in plan.windows)
        self.template_slices = T if full else min(T, widest + 2 * MARGIN)
        self.template_task = Task(distance=task.distance, noise=task.noise,
                                  rounds=self.template_slices - 1, basis=task.basis)
        self.template_layout = SliceLayout.of_task(self.template_task)
        self._template = template
        self._cache: dict[tuple, WindowGraph] = {}

    @property
    def template_graph(self) -> MatchingGraph:
        if self._template is None:
            g = MatchingGraph.from_dem(self.template_task.dem())
            # Only the edge arrays are needed; drop the per-mechanism tables (smaller to ship).
            self._template = MatchingGraph(g.num_detectors, g.num_observables, g.edge_dets,
                                           g.edge_obs, g.edge_prob, (), np.zeros(0))
        return self._template

    def template_offset(self, window: Window) -> int:
        """Slice of the template where the window starts."""
        return template_offset(window.lo, window.hi, self.layout.num_slices,
                                self.template_slices)

    def for_window(self, window: Window) -> WindowGraph:
        lo_s = self.template_offset(window)
        hi_s = lo_s + window.hi - window.lo
        key = (lo_s, hi_s, window.open_left, window.open_right)
        if key not in self._cache:
            lay = self.template_layout
            self._cache[key] = restrict_graph(
                self.template_graph, lay.start(lo_s), lay.start(hi_s),
                open_left=window.open_left, open_right=window.open_right)
        return self._cache[key]

    def warm(self) -> int:
        """Build every window shape of the plan now (PyMatching builds its search graph on the
        first decode, so decode one defect too); return how many shapes there are."""
        for w in self.plan.windows:
            graph = self.for_window(w)
            probe = np.zeros(graph.num_detectors, dtype=bool)
            probe[0] = True
            graph.matching.decode_to_edges_array(probe)
        return len(self._cache)
