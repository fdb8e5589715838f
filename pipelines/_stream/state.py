"""One stream inside the service: its slices, pre-decoded blocks, windows and in-order commits.

Dependencies between the stages, per stream: a block can be pre-decoded once every slice it
reads (the block and its halo) has arrived; a slice is FINAL (the residual the windows see)
once every block writing to it is done, i.e. once all blocks up to the one holding it are
done; an A window is ready once its slices are final; a B window once, in addition, both
neighbouring A windows returned. Blocks and windows may finish in any order; windows commit
strictly in time order, and each block and window is accepted once (a second result is a bug
and raises).
"""

from __future__ import annotations

import numpy as np

from pipelines._windows.worker import WindowResult, WindowWorker, check_dets
from qec import InputError, SparseEdgeWeights


class StreamState:
    """One stream's received slices, pre-decoded blocks, pending artificial defects and
    in-order commits. ``dets`` holds the residual once the pre-decoder has run on a block."""

    def __init__(self, *, worker: WindowWorker, shots: int, predecoder=None) -> None:
        self.worker, self.plan, self.layout = worker, worker.plan, worker.layout
        self.shots, self.predecoder = shots, predecoder
        self.dets = np.zeros((shots, self.layout.num_detectors), dtype=bool)
        self.raw = self.dets if predecoder is None else self.dets.copy()
        self.blocks = list(predecoder.blocks()) if predecoder is not None else []
        self.block_weights: dict[int, SparseEdgeWeights] = {}
        self.blocks_done: set[int] = set()
        self.next_block = 0            # blocks handed out for pre-decoding, in time order
        self.predecoded = 0            # blocks done without a gap from the first
        self.predecoder_seconds = 0.0
        self.received = 0  # slices received
        self.arrival: list[float] = []  # seconds, per slice
        self.dispatched: set[int] = set()
        self.results: dict[int, WindowResult] = {}
        self.b_toggles: dict[int, np.ndarray] = {}
        self.committed = 0  # windows committed, in order
        self.commit_time: dict[int, float] = {}
        self.flip = np.zeros((shots, worker.num_observables), dtype=bool)
        self._a_order = [w.index for w in self.plan.windows if w.layer == "A"]  # by time
        self._next_a = 0
        self._b_waiting: set[int] = set()  # B windows with a committed neighbour

    def push(self, t: int, dets: np.ndarray, arrival: float) -> None:
        if t != self.received:
            raise InputError(f"slice t={t} arrived out of order; expected t={self.received}")
        if t >= self.layout.num_slices:
            raise InputError(f"slice t={t} is past the experiment's last slice "
                             f"{self.layout.num_slices - 1}")
        size = self.layout.size(t)
        dets = check_dets(dets, size, f"slice {t}")
        if dets.shape[0] != self.shots:
            raise InputError(f"slice {t} has {dets.shape[0]} shots; the stream has {self.shots}")
        self.dets[:, self.layout.start(t):self.layout.start(t + 1)] = dets
        if self.raw is not self.dets:
            self.raw[:, self.layout.start(t):self.layout.start(t + 1)] = dets
        self.received += 1
        self.arrival.append(arrival)

    # --- the pre-decoder stage -------------------------------------------------------------

    def ready_blocks(self) -> list[int]:
        """Blocks not yet handed out whose slices (and halo) have all arrived, in order."""
        out = []
        while (self.next_block < len(self.blocks)
               and self.predecoder.extended(*self.blocks[self.next_block])[1] <= self.received):
            out.append(self.next_block)
            self.next_block += 1
        return out

    def block_input(self, k: int) -> tuple[int, int, np.ndarray]:
        """``(t0, t1, raw events of the block's extended slices)``."""
        t0, t1 = self.blocks[k]
        e0, e1 = self.predecoder.extended(t0, t1)
        return t0, t1, self.raw[:, self.layout.start(e0):self.layout.start(e1)]

    def block_complete(self, k: int, out) -> None:
        """Apply block ``k``'s :class:`BlockOutput`: residual, flip, soft weights."""
        if k in self.blocks_done:
            raise RuntimeError(f"block {k} completed twice")
        if (out.t0, out.t1) != self.blocks[k]:
            raise RuntimeError(f"block {k} is {self.blocks[k]}; the result is for "
                               f"{(out.t0, out.t1)}")
        self.dets[:, out.det_lo:out.det_hi] ^= out.syndrome
        self.flip ^= out.flip
        if out.weights is not None:
            self.block_weights[k] = out.weights
        self.predecoder_seconds += out.seconds
        self.blocks_done.add(k)
        while self.predecoded in self.blocks_done:
            self.predecoded += 1

    @property
    def final_slices(self) -> int:
        """Slices whose input to the windows is final (residual: their blocks are done)."""
        if self.predecoder is None:
            return self.received
        return self.blocks[self.predecoded - 1][1] if self.predecoded else 0

    def window_weights(self, index: int) -> SparseEdgeWeights | None:
        """Soft mode: the per-shot weights of the blocks owning edges in window ``index``."""
        if not self.block_weights:
            return None
        w, n = self.plan.windows[index], self.predecoder.block_slices
        # blocks own anchors [k n, (k + 1) n); the window needs anchors lo - 1 .. hi - 1
        ks = range(max(0, w.lo - 1) // n, (w.hi - 1) // n + 1)
        return SparseEdgeWeights.concat([self.block_weights[k] for k in ks])

    # --- the matcher stage -----------------------------------------------------------------

    def ready(self) -> list[int]:
        """Windows not yet dispatched whose inputs are complete (A: all slices final;
        B: both neighbouring A windows done). Amortised O(1) per call."""
        out = []
        while (self._next_a < len(self._a_order)
               and self.plan.windows[self._a_order[self._next_a]].hi <= self.final_slices):
            out.append(self._a_order[self._next_a])
            self._next_a += 1
        for b in sorted(self._b_waiting):
            w = self.plan.windows[b]
            if w.hi <= self.final_slices and all(a in self.results for a in w.depends):
                out.append(b)
                self._b_waiting.discard(b)
        return out

    def window_input(self, index: int) -> np.ndarray:
        w = self.plan.windows[index]
        lo, hi = self.worker.window_range(w)
        out = self.dets[:, lo:hi].copy()
        if w.layer == "B":
            out ^= self.b_toggles.get(index, False)
        return out

    def complete(self, result: WindowResult, now: float) -> list[int]:
        """Store a window's result; return the windows this commits (in order)."""
        if result.index in self.results:
            raise RuntimeError(f"window {result.index} completed twice")
        self.results[result.index] = result
        w = self.plan.windows[result.index]
        for b in (result.index - 1, result.index + 1) if w.layer == "A" else ():
            if 0 <= b < len(self.plan.windows):
                self._b_waiting.add(b)
                part = self.worker.toggles_into(w, result.toggles, self.plan.windows[b])
                self.b_toggles[b] = self.b_toggles.get(b, False) ^ part
        done = []
        while self.committed in self.results:
            self.flip ^= self.results[self.committed].flip
            self.commit_time[self.committed] = now
            done.append(self.committed)
            self.committed += 1
        return done

    @property
    def finished(self) -> bool:
        return self.committed == len(self.plan.windows)

    @property
    def committed_slices(self) -> int:
        return self.plan.windows[self.committed - 1].commit_hi if self.committed else 0
