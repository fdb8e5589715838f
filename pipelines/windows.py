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
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipelines.window_graphs import (
    _MARGIN,
    SliceLayout,
    WindowGraph,
    WindowGraphs,
    _ordered,
    _template_offset,
)
from qec import BOUNDARY, MatchingGraph, Task, unpack_bits

Layer = str  # 'A' or 'B'
# A local pre-pass on one commit block: (S, D_block) bool -> ((S, D_block) residual, (S, O) flip).
Prepass = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Window:
    """One window: decode slices ``[lo, hi)``, commit edges touching ``[commit_lo, commit_hi)``.

    ``index`` is the commit order (time order of commit regions); a B window ``depends`` on the
    A windows whose artificial defects it needs.
    """

    index: int
    layer: Layer
    lo: int
    hi: int
    commit_lo: int
    commit_hi: int
    depends: tuple[int, ...] = ()

    @property
    def open_left(self) -> bool:
        """The slice before the window is undecoded (cut edges become boundary edges)."""
        return self.layer == "A" and self.lo > 0

    @property
    def open_right(self) -> bool:
        return self.layer == "A" and self.hi > self.commit_hi

    @property
    def commit_rounds(self) -> int:
        return self.commit_hi - self.commit_lo


@dataclass(frozen=True)
class WindowPlan:
    """The tiling of ``num_slices`` detector slices into A and B windows.

    Args:
        num_slices: T = rounds + 1.
        n_com: commit-region slices of an A window (>= 1).
        n_buf: buffer slices on each side of an A window, and the width of a B window (>= 1).

    Examples:
        >>> plan = WindowPlan(num_slices=12, n_com=3, n_buf=2)
        >>> [(w.layer, w.lo, w.hi, w.commit_lo, w.commit_hi) for w in plan.windows]
        ... # doctest: +NORMALIZE_WHITESPACE
        [('A', 0, 5, 0, 3), ('B', 3, 5, 3, 5), ('A', 3, 10, 5, 8), ('B', 8, 10, 8, 10),
         ('A', 8, 12, 10, 12)]
        >>> WindowPlan(num_slices=6, n_com=3, n_buf=3).windows[0].commit_hi  # one window: global
        6
    """

    num_slices: int
    n_com: int
    n_buf: int
    windows: tuple[Window, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("num_slices", "n_com", "n_buf"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        if self.num_slices < 2:
            raise ValueError(f"num_slices={self.num_slices} must be >= 2 (rounds >= 1)")
        object.__setattr__(self, "windows", self._tile())

    @property
    def period(self) -> int:
        return self.n_com + self.n_buf

    def _tile(self) -> tuple[Window, ...]:
        T, out, s = self.num_slices, [], 0
        while True:
            last = s + self.n_com + self.n_buf >= T
            c_hi = T if last else s + self.n_com
            a = len(out)
            out.append(Window(a, "A", max(0, s - self.n_buf), min(T, c_hi + self.n_buf), s, c_hi))
            if last:
                return tuple(out)
            s_next = s + self.period
            out.append(Window(a + 1, "B", c_hi, s_next, c_hi, s_next, depends=(a, a + 2)))
            s = s_next


@dataclass(frozen=True)
class WindowResult:
    """What a window commits, for S shots.

    Attributes:
        index: the window's index in its plan.
        flip: (S, O) bool, observable flip of the committed edges (and of the pre-pass).
        toggles: (S, D_window) bool, artificial defects the committed edges leave outside the
            commit region (always zero for B windows).
        decode_seconds: time spent in this call.
        edges: per shot, (K, 2) int64 global detector pairs committed (-1 = boundary), when
            asked for; pre-pass corrections are not edges and are not listed.
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
        prepass: optional local pre-pass run on each window's commit block (see
            :data:`Prepass`); its residual must differ from its input by the syndrome of
            corrections inside the block, and ``flip`` is their observable effect. An object
            with ``for_block(window) -> Prepass`` (e.g. :class:`PredecoderPrepass`) is asked
            for the block's own pre-pass.
        full_graph: restrict the experiment's own DEM instead of the short template.
        template: a prebuilt template graph (see :class:`WindowGraphs`).

    Examples:
        >>> from qec import NoiseModel, sample_detectors, unpack_bits
        >>> task = Task(distance=3, rounds=12, noise=NoiseModel.uniform(0.003))
        >>> worker = WindowWorker(task=task, plan=WindowPlan(num_slices=13, n_com=3, n_buf=3))
        >>> chunk = next(sample_detectors(task.circuit(), shots=4, seed=1))
        >>> dets = unpack_bits(chunk.dets, task.circuit().num_detectors).astype(bool)
        >>> worker.decode_all(dets).shape
        (4, 1)
    """

    def __init__(self, *, task: Task, plan: WindowPlan, prepass: Prepass | None = None,
                 full_graph: bool = False, template: MatchingGraph | None = None) -> None:
        if plan.num_slices != task.rounds + 1:
            raise ValueError(f"plan.num_slices={plan.num_slices} must be task.rounds + 1 = "
                             f"{task.rounds + 1}")
        self.task, self.plan, self.prepass = task, plan, prepass
        self.graphs = WindowGraphs(task, plan, full=full_graph, template=template)
        self.layout = self.graphs.layout

    @property
    def num_observables(self) -> int:
        return self.graphs.template_graph.num_observables

    def window_range(self, window: Window) -> tuple[int, int]:
        """Global detector range ``[lo, hi)`` of the window."""
        return self.layout.start(window.lo), self.layout.start(window.hi)

    def decode(self, index: int, dets: np.ndarray, *, return_edges: bool = False) -> WindowResult:
        """Decode window ``index`` of the plan on (S, D_window) bool detectors.

        For a B window, ``dets`` must already carry the artificial defects of its A windows.
        """
        t0 = time.perf_counter()
        window = self.plan.windows[index]
        lo, hi = self.window_range(window)
        dets = _check_dets(dets, hi - lo, f"window {index}")
        c0 = self.layout.start(window.commit_lo) - lo
        c1 = self.layout.start(window.commit_hi) - lo
        flip = np.zeros((dets.shape[0], self.num_observables), dtype=bool)
        if self.prepass is not None:
            dets, flip = self._prepass(window, dets, c0, c1)
        graph = self.graphs.for_window(window)
        sid, pairs = _committed_pairs(graph, dets, c0, c1)  # (K,), (K, 2) local
        obs = graph.edge_obs_of(pairs)
        masks = np.zeros(dets.shape[0], dtype=np.int64)
        np.bitwise_xor.at(masks, sid, obs)
        flip ^= (masks[:, None] >> np.arange(self.num_observables)) & 1 == 1
        toggles = np.zeros_like(dets)
        ends = pairs.ravel()
        outside = (ends != BOUNDARY) & ((ends < c0) | (ends >= c1))
        np.bitwise_xor.at(toggles, (np.repeat(sid, 2)[outside], ends[outside]), True)
        edges = None
        if return_edges:
            glob = np.where(pairs == BOUNDARY, BOUNDARY, pairs + lo)
            edges = tuple(glob[sid == s] for s in range(dets.shape[0]))
        return WindowResult(index, flip, toggles, time.perf_counter() - t0, edges)

    def _prepass(self, window: Window, dets: np.ndarray, c0: int,
                 c1: int) -> tuple[np.ndarray, np.ndarray]:
        block = dets[:, c0:c1]
        # A pre-pass that needs the block's place in time offers for_block(window).
        fn = self.prepass.for_block(window) if hasattr(self.prepass, "for_block") else self.prepass
        residual, flip = fn(block.copy())
        residual, flip = np.asarray(residual), np.asarray(flip)
        if residual.shape != block.shape:
            raise ValueError(f"prepass residual has shape {residual.shape}; expected "
                             f"{block.shape}")
        if flip.shape != (dets.shape[0], self.num_observables):
            raise ValueError(f"prepass flip has shape {flip.shape}; expected "
                             f"({dets.shape[0]}, {self.num_observables})")
        out = dets.copy()
        out[:, c0:c1] = residual.astype(bool)
        return out, flip.astype(bool).copy()

    def decode_all(self, dets: np.ndarray, *, return_edges: bool = False):
        """Decode a whole (S, D) experiment window by window: A layer, then B layer.

        Returns (S, O) bool predictions, or (predictions, edges per shot) with
        ``return_edges``.
        """
        dets = _check_dets(dets, self.layout.num_detectors, "dets")
        results = {w.index: self.decode(w.index, dets[:, slice(*self.window_range(w))],
                                        return_edges=return_edges)
                   for w in self.plan.windows if w.layer == "A"}
        for w in self.plan.windows:
            if w.layer == "B":
                results[w.index] = self.decode(w.index, self.b_input(w, dets, results),
                                               return_edges=return_edges)
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


def _committed_pairs(graph: WindowGraph, dets: np.ndarray, c0: int,
                     c1: int) -> tuple[np.ndarray, np.ndarray]:
    """Matched pairs touching the commit region, all shots: (shot ids (K,), pairs (K, 2)).

    Pairs are ordered (a < b, boundary -1 second); an edge matched twice in a shot cancels.
    """
    found, shots = [], []
    for s in np.flatnonzero(dets.any(axis=1)):
        p = graph.matching.decode_to_edges_array(dets[s])
        if len(p):
            found.append(np.asarray(p, dtype=np.int64))
            shots.append(np.full(len(p), s, dtype=np.int64))
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.int64)
    a, b = _ordered(np.concatenate(found))
    sid = np.concatenate(shots)
    touch = ((a >= c0) & (a < c1)) | ((b >= c0) & (b < c1))
    n = graph.num_detectors + 1
    keys, counts = np.unique((sid[touch] * n + a[touch]) * n + (b[touch] + 1),
                             return_counts=True)
    keys = keys[counts % 2 == 1]
    pairs = np.stack([(keys // n) % n, keys % n - 1], axis=1)
    return keys // (n * n), pairs


def _check_dets(dets: np.ndarray, num: int, name: str) -> np.ndarray:
    """Enforce the (S, num) bool/uint8 0/1 contract at a boundary."""
    if not isinstance(dets, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(dets).__name__}")
    if dets.dtype not in (np.bool_, np.uint8):
        raise TypeError(f"{name} has dtype {dets.dtype}; expected bool or uint8 (0/1)")
    if dets.ndim != 2 or dets.shape[1] != num:
        raise ValueError(f"{name} has shape {dets.shape}; expected (shots, {num})")
    if dets.dtype == np.uint8 and dets.size and dets.max() > 1:
        raise ValueError(f"{name} holds values > 1; expected 0/1 (unpack bit-packed data)")
    return dets.astype(bool, copy=False)


@dataclass(frozen=True, eq=False)
class WindowedDecoder:
    """Windowed PyMatching as a batch decoder (``decode_batch`` on bit-packed shots).

    Examples:
        >>> from qec import NoiseModel
        >>> task = Task(distance=3, rounds=9, noise=NoiseModel.uniform(0.003))
        >>> dec = WindowedDecoder.for_task(task, n_com=3, n_buf=3)
        >>> dec.name, dec.decode_batch(np.zeros((2, 9), dtype=np.uint8)).tolist()
        ('windowed-pymatching', [[0], [0]])
    """

    worker: WindowWorker
    name: str = "windowed-pymatching"

    @classmethod
    def for_task(cls, task: Task, *, n_com: int, n_buf: int,
                 prepass: Prepass | None = None) -> WindowedDecoder:
        plan = WindowPlan(num_slices=task.rounds + 1, n_com=n_com, n_buf=n_buf)
        return cls(WindowWorker(task=task, plan=plan, prepass=prepass))

    def decode_batch(self, dets_bit_packed: np.ndarray) -> np.ndarray:
        """(S, ceil(D/8)) uint8 bit-packed detectors -> (S, 1) uint8 bit-packed predictions."""
        dets = unpack_bits(dets_bit_packed, self.worker.layout.num_detectors).astype(bool)
        flip = self.worker.decode_all(dets)
        return np.packbits(flip, axis=1, bitorder="little")


class PredecoderPrepass:
    """The AI pre-decoder as the windows' local pre-pass, with exact bookkeeping.

    A commit block is placed in a short template circuit (at the offset the window matchers
    use, so slice kinds match), with no detection events around it; the pre-decoder commits
    edges of the template's DEM; only edges whose detectors all lie in the block are kept:
    residual = block XOR their syndrome, flip = their observables. Every kept edge is an edge
    of the experiment's own graph (the template is translation-invariant there), so the
    corrections are valid ones; the pre-decoder sees no context beyond its block.

    Args:
        task, plan: the long experiment and its windows.
        net, threshold, rule: the network and its commit rule (``predecoder.load_model``).
        device: torch device of ``net``.
    """

    def __init__(self, *, task: Task, plan: WindowPlan, net, threshold: float,
                 rule: str = "threshold", device: str = "cpu") -> None:
        self.task, self.plan, self.net = task, plan, net
        self.threshold, self.rule, self.device = threshold, rule, device
        self.layout = SliceLayout.of_task(task)
        widest = max(w.commit_hi - w.commit_lo for w in plan.windows)
        self.template_slices = min(self.layout.num_slices, widest + 2 * _MARGIN)
        self._edge_layout = None
        self.kept_edges = 0

    @classmethod
    def from_model(cls, task: Task, plan: WindowPlan, *, model=None,
                   device: str = "cpu") -> PredecoderPrepass:
        """Load shipped weights (preset name) or a ``.safetensors`` path."""
        from predecoder import load_model

        loaded = load_model(model, device=device)
        return cls(task=task, plan=plan, net=loaded.net, threshold=loaded.threshold,
                   rule=loaded.rule, device=device)

    def edge_layout(self):
        if self._edge_layout is None:
            from predecoder import EdgeLayout

            t = Task(distance=self.task.distance, noise=self.task.noise, basis=self.task.basis,
                     rounds=self.template_slices - 1)
            self._edge_layout = EdgeLayout.from_task(t)
        return self._edge_layout

    def for_block(self, window: Window) -> Prepass:
        return lambda block: self.run_block(window, block)[:2]

    def run_block(self, window: Window, block: np.ndarray):
        """(residual (S, D_block), flip (S, O), kept edges (S, E) bool over the template)."""
        import torch

        from predecoder import predecode

        lay = self.edge_layout()
        tpl = SliceLayout(self.layout.n_first, self.layout.n_bulk, self.layout.n_last,
                          self.template_slices)
        off = _template_offset(window.commit_lo, window.commit_hi, self.layout.num_slices,
                               self.template_slices)
        d_lo, d_hi = tpl.start(off), tpl.start(off + window.commit_rounds)
        if d_hi - d_lo != block.shape[1]:
            raise ValueError(f"block has {block.shape[1]} detectors; window {window.index}'s "
                             f"commit region has {d_hi - d_lo}")
        full = np.zeros((block.shape[0], tpl.num_detectors), dtype=bool)
        full[:, d_lo:d_hi] = block
        dets = torch.as_tensor(full, device=self.device)
        edges = predecode(self.net, dets, lay, threshold=self.threshold,
                          rule=self.rule).edges.cpu().numpy()
        a, b = lay.graph.edge_dets[:, 0], lay.graph.edge_dets[:, 1]
        inside = (a >= d_lo) & (a < d_hi) & ((b == BOUNDARY) | ((b >= d_lo) & (b < d_hi)))
        edges = edges & inside
        self.kept_edges += int(edges.sum())
        residual = block ^ lay.graph.syndrome_of(edges)[:, d_lo:d_hi]
        return residual, lay.graph.observables_of(edges), edges
