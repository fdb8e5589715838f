"""The pre-decoder over a long experiment, one block of time slices at a time.

A stream of rounds cannot wait for the whole volume, and a 10,000-round experiment should not
build its whole DEM. :class:`BlockPredecoder` owns the edges ANCHORED in a block of slices
``[t0, t1)`` (an edge is anchored at its earlier endpoint, ``predecoder.EdgeLayout``) and
computes their logits from the slices ``[t0 - h, t1 + h)`` (h = the network's halo, clipped at
the experiment's ends), placed in a short template circuit at an offset where every slice has
the same kind (first, bulk or last) and the same edges as in the experiment. The network is
local with receptive field 2h + 1, so every owned edge gets exactly its whole-volume logit:
the blocks together commit what the pre-decoder would commit on the whole experiment, and the
residual they leave is the whole-volume residual (tested). What the windows then decode is
that residual, with the DEM's static weights (hard mode) or per-shot weights (soft mode).

Global edges are named by their detector pair in the experiment, as the key
``a * (D + 1) + (b + 1)`` (b = -1 for a boundary edge), which any window can map to its own
graph without knowing the template.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipelines._windows.slices import MARGIN, SliceLayout, template_offset
from qec import BOUNDARY, InputError, SparseEdgeWeights, Task


@dataclass(frozen=True)
class BlockOutput:
    """What the pre-decoder commits in the block of anchor slices ``[t0, t1)``, for S shots.

    Attributes:
        syndrome: (S, det_hi - det_lo) bool, the committed edges' syndrome on the experiment's
            detectors ``[det_lo, det_hi)`` (XOR it into the detection events: the residual).
        flip: (S, O) bool, observables flipped by the committed edges.
        weights: soft mode: per-shot weights of the block's edges with |logit| < cap, the
            edge named by its global key (see the module docstring); hard mode: None.
        committed_edges: edges committed over all shots.
        seconds: time spent (in a batch: its share of the batch, by shots).
    """

    t0: int
    t1: int
    det_lo: int
    det_hi: int
    syndrome: np.ndarray
    flip: np.ndarray
    weights: SparseEdgeWeights | None
    committed_edges: int
    seconds: float


class BlockPredecoder:
    """Block-wise pre-decoder of one long experiment (see the module docstring).

    Args:
        task: the long experiment.
        net: the network (``predecoder.load_model(...).net``), in eval mode.
        policy: the ``predecoder.CommitPolicy`` (hard or soft).
        block_slices: anchor slices per block (>= 1).
        device: torch device of ``net``.

    Examples:
        >>> from predecoder import load_model
        >>> from qec import NoiseModel
        >>> loaded = load_model("small")
        >>> task = Task(distance=3, rounds=20, noise=NoiseModel.uniform(0.003))
        >>> pre = BlockPredecoder(task=task, net=loaded.net, policy=loaded.policy("soft"),
        ...                       block_slices=6)
        >>> pre.blocks()
        ((0, 6), (6, 12), (12, 18), (18, 21))
        >>> dets = np.zeros((2, task.circuit().num_detectors), dtype=bool)
        >>> residual, flip, weights = pre.run_all(dets)
        >>> int(residual.sum()), flip.shape, weights.shots
        (0, (2, 1), 2)
    """

    def __init__(self, *, task: Task, net, policy, block_slices: int,
                 device: str = "cpu") -> None:
        from predecoder import EdgeLayout

        if isinstance(block_slices, bool) or not isinstance(block_slices, int) or block_slices < 1:
            raise InputError(f"block_slices={block_slices!r} must be an integer >= 1")
        self.task, self.net, self.policy, self.device = task, net, policy, device
        self.layout = SliceLayout.of_task(task)
        self.halo = net.config.halo
        self.block_slices = block_slices
        self.template_slices = min(self.layout.num_slices,
                                   block_slices + 2 * (self.halo + MARGIN))
        template = Task(distance=task.distance, noise=task.noise, basis=task.basis,
                        rounds=self.template_slices - 1)
        self.edge_layout = EdgeLayout.from_task(template)
        self.template = SliceLayout.of_task(template)
        geo = self.edge_layout.geometry
        self._det_slice = geo.det_round.astype(np.int64)
        self._det_within = np.arange(geo.num_detectors) - _starts(self.template, self._det_slice)
        self._anchor = self.edge_layout.edge_cell[:, 0]

    @property
    def num_slices(self) -> int:
        return self.layout.num_slices

    def blocks(self) -> tuple[tuple[int, int], ...]:
        """The blocks' anchor ranges ``(t0, t1)``, in time order."""
        T, n = self.num_slices, self.block_slices
        return tuple((t0, min(t0 + n, T)) for t0 in range(0, T, n))

    def extended(self, t0: int, t1: int) -> tuple[int, int]:
        """Slices ``[e0, e1)`` the block ``[t0, t1)`` reads (its halo, clipped at the ends)."""
        return max(0, t0 - self.halo), min(self.num_slices, t1 + self.halo)

    def run(self, t0: int, t1: int, dets_ext: np.ndarray) -> BlockOutput:
        """Pre-decode block ``[t0, t1)`` from the (S, D_ext) bool events of its extended
        slices (:meth:`extended`)."""
        return self.run_batch([(t0, t1, dets_ext)])[0]

    def run_batch(self, jobs: Sequence[tuple[int, int, np.ndarray]]) -> list[BlockOutput]:
        """Pre-decode several blocks, of one stream or many, in ONE forward pass.

        Every job is ``(t0, t1, dets_ext)`` as for :meth:`run`; each is placed in the same
        template, so the shots of all jobs stack into one batch for the network. Each
        output's ``seconds`` is its share of the batch's time (by shots).
        """
        import torch

        from predecoder import corrections, shot_logits

        start = time.perf_counter()
        placed = [self._place(t0, t1, dets_ext) for t0, t1, dets_ext in jobs]
        if not placed:
            return []
        dets = torch.as_tensor(np.concatenate([full for full, _ in placed]), device=self.device)
        logits = shot_logits(self.net, dets, self.edge_layout)
        outs, row = [], 0
        for (t0, t1, _), (full, delta) in zip(jobs, placed):
            rows = slice(row, row + full.shape[0])
            row += full.shape[0]
            owned = torch.as_tensor((self._anchor + delta >= t0) & (self._anchor + delta < t1),
                                    device=self.device)
            corr = corrections(logits[rows], dets[rows], self.edge_layout, self.policy,
                               edge_mask=owned)
            outs.append(self._output(t0, t1, delta, dets[rows], corr))
        share = (time.perf_counter() - start) / max(1, row)
        return [dataclasses.replace(o, seconds=share * o.flip.shape[0]) for o in outs]

    def _place(self, t0: int, t1: int, dets_ext: np.ndarray) -> tuple[np.ndarray, int]:
        """The block's extended events inside the template: ((S, D_template) bool, delta),
        experiment slice = template slice + delta."""
        if not (isinstance(t0, int) and isinstance(t1, int) and 0 <= t0 < t1 <= self.num_slices):
            raise InputError(f"block ({t0!r}, {t1!r}) must satisfy 0 <= t0 < t1 <= "
                             f"{self.num_slices}")
        e0, e1 = self.extended(t0, t1)
        lo, hi = self.layout.start(e0), self.layout.start(e1)
        if (not isinstance(dets_ext, np.ndarray) or dets_ext.ndim != 2
                or dets_ext.shape[1] != hi - lo):
            got = getattr(dets_ext, "shape", type(dets_ext).__name__)
            raise InputError(f"block ({t0}, {t1}) reads slices {e0}..{e1 - 1}: expected "
                             f"(shots, {hi - lo}) detection events, got {got}")
        off = template_offset(e0, e1, self.num_slices, self.template_slices)
        full = np.zeros((dets_ext.shape[0], self.edge_layout.geometry.num_detectors), bool)
        full[:, self.template.start(off):self.template.start(off + e1 - e0)] = dets_ext
        return full, e0 - off

    def _output(self, t0: int, t1: int, delta: int, dets, corr) -> BlockOutput:
        s_hi = min(t1 + 1, self.num_slices)    # an edge reaches one slice past its anchor
        a, b = self.template.start(t0 - delta), self.template.start(s_hi - delta)
        syndrome = (corr.residual ^ dets)[:, a:b].cpu().numpy()
        weights = None
        if corr.weights is not None:
            keys = self.global_keys(delta)[corr.weights.edge]
            weights = SparseEdgeWeights(shot_ptr=corr.weights.shot_ptr, edge=keys,
                                        weight=corr.weights.weight)
        return BlockOutput(t0, t1, self.layout.start(t0), self.layout.start(s_hi), syndrome,
                           corr.flip.cpu().numpy(), weights, int(corr.edges.sum()), 0.0)

    def global_keys(self, delta: int) -> np.ndarray:
        """(E_template,) int64 global edge keys when template slice t is experiment slice
        t + delta (meaningful for the edges a block owns)."""
        num = self.layout.num_detectors
        glob = _starts(self.layout, self._det_slice + delta) + self._det_within
        pairs = self.edge_layout.graph.edge_dets
        a = glob[pairs[:, 0]]
        b = np.where(pairs[:, 1] == BOUNDARY, BOUNDARY, glob[np.maximum(pairs[:, 1], 0)])
        return a * (num + 1) + (b + 1)

    def run_all(self, dets: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, SparseEdgeWeights | None]:
        """A whole (S, D) experiment: (residual (S, D), flip (S, O), weights or None)."""
        residual = np.array(dets, dtype=bool, copy=True)
        flip, parts = None, []
        for t0, t1 in self.blocks():
            e0, e1 = self.extended(t0, t1)
            out = self.run(t0, t1, dets[:, self.layout.start(e0):self.layout.start(e1)])
            residual[:, out.det_lo:out.det_hi] ^= out.syndrome
            flip = out.flip if flip is None else flip ^ out.flip
            if out.weights is not None:
                parts.append(out.weights)
        return residual, flip, SparseEdgeWeights.concat(parts) if parts else None


def _starts(layout: SliceLayout, slices: np.ndarray) -> np.ndarray:
    """Vectorised :meth:`SliceLayout.start`."""
    t = np.asarray(slices, dtype=np.int64)
    bulk = layout.n_first + (t - 1) * layout.n_bulk
    return np.where(t <= 0, 0, np.where(t >= layout.num_slices, layout.num_detectors, bulk))
