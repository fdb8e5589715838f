"""The streaming decoder: rounds arrive, windows become ready, workers decode, a sink commits.

One detector *slice* per syndrome round (T = rounds + 1 slices; the last one comes from the
final data measurement) arrives for S shots at once (S parallel streams decoded in lockstep,
one batched call per window). The :class:`StreamService` validates every slice at the boundary,
keeps the received slices, dispatches each window as soon as it is ready (an A window once its
last slice arrived; a B window once both neighbouring A windows committed) to a worker pool
with a bound on in-flight work, and commits windows strictly in time order. When decoding falls
behind, ready windows wait in the service and the backlog (rounds received but not yet
committed) grows; nothing is dropped or reordered.

With the AI pre-decoder (``predecoder=`` a :class:`pipelines.BlockPredecoder`),
the service pre-decodes each block of slices as soon as the slices it reads (the block and its
halo) have arrived, and the windows decode the residual (hard mode) or the residual with the
block's per-shot weights (soft mode); a window becomes ready once every block that owns edges
in it is done. The prediction is the windows' flip XOR the pre-decoder's flip.

Pools: :class:`InProcessPool` (``workers=0``) and ``pipelines.RayPool``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pipelines._stream.config import StreamConfig
from pipelines._windows.worker import WindowResult, WindowWorker, check_dets
from qec import InputError, SparseEdgeWeights


class _StreamState:
    """One stream's received slices, pre-decoded blocks, pending artificial defects and
    in-order commits. ``dets`` holds the residual once the pre-decoder has run on a block."""

    def __init__(self, *, worker: WindowWorker, shots: int, predecoder=None) -> None:
        self.worker, self.plan, self.layout = worker, worker.plan, worker.layout
        self.shots, self.predecoder = shots, predecoder
        self.dets = np.zeros((shots, self.layout.num_detectors), dtype=bool)
        self.raw = self.dets if predecoder is None else self.dets.copy()
        self.blocks = list(predecoder.blocks()) if predecoder is not None else []
        self.block_weights: dict[int, SparseEdgeWeights] = {}
        self.predecoded = 0 if predecoder is not None else None  # blocks done, in order
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
        self._predecode()

    def _predecode(self) -> None:
        """Run every block whose slices (and halo) have all arrived, in time order."""
        while self.predecoded is not None and self.predecoded < len(self.blocks):
            t0, t1 = self.blocks[self.predecoded]
            e0, e1 = self.predecoder.extended(t0, t1)
            if e1 > self.received:
                return
            out = self.predecoder.run(t0, t1, self.raw[:, self.layout.start(e0):
                                                        self.layout.start(e1)])
            self.dets[:, out.det_lo:out.det_hi] ^= out.syndrome
            self.flip ^= out.flip
            if out.weights is not None:
                self.block_weights[self.predecoded] = out.weights
            self.predecoder_seconds += out.seconds
            self.predecoded += 1

    @property
    def final_slices(self) -> int:
        """Slices whose input to the windows is final (residual: their blocks are done)."""
        if self.predecoded is None:
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


class Pool(Protocol):
    """Decoder workers: submit windows, collect results (any order)."""

    num_workers: int
    reruns: int    # windows decoded again after their worker died

    def submit(self, key: tuple, index: int, dets: np.ndarray,
               weights: SparseEdgeWeights | None = None) -> None: ...

    def wait(self, timeout: float | None) -> list[tuple[tuple, WindowResult, int, float]]: ...

    @property
    def in_flight(self) -> int: ...

    def close(self) -> None: ...


class InProcessPool:
    """``workers=0``: decode each window synchronously in this process."""

    num_workers = 1

    def __init__(self, worker: WindowWorker) -> None:
        self.worker = worker
        self._done: list[tuple[tuple, WindowResult, int, float]] = []
        self.reruns = 0

    def submit(self, key: tuple, index: int, dets: np.ndarray,
               weights: SparseEdgeWeights | None = None) -> None:
        t0 = time.perf_counter()
        result = self.worker.decode(index, dets, weights=weights)
        self._done.append((key, result, 0, time.perf_counter() - t0))

    def wait(self, timeout: float | None) -> list[tuple[tuple, WindowResult, int, float]]:
        done, self._done = self._done, []
        if not done and timeout:
            time.sleep(timeout)
        return done

    @property
    def in_flight(self) -> int:
        return len(self._done)

    def close(self) -> None:
        self._done = []


@dataclass
class WindowCall:
    worker: int
    index: int
    decode_seconds: float
    call_seconds: float
    commit_rounds: int


class StreamService:
    """Decodes any number of streams of one experiment type on one worker pool.

    Every slice is validated at :meth:`push` (dtype, shape, order) before anything is stored,
    so a malformed slice raises ``TypeError``/``ValueError`` and changes nothing: that stream
    may retry, and every other stream goes on.

    Examples:
        >>> from qec import NoiseModel
        >>> cfg = StreamConfig(distance=3, rounds=9, noise=NoiseModel.uniform(0.001))
        >>> svc = StreamService(config=cfg)
        >>> svc.open("q0", shots=2)
        >>> for t in range(10):
        ...     svc.push("q0", t, np.zeros((2, svc.worker.layout.size(t)), dtype=bool))
        >>> svc.drain(); svc.prediction("q0").tolist()
        [[False], [False]]
        >>> svc.open("q1", shots=2)
        >>> svc.push("q1", 0, np.zeros((2, 4), dtype=np.int32))
        Traceback (most recent call last):
        ...
        qec.errors.InputTypeError: slice 0 has dtype int32; expected bool or uint8 (0/1)
    """

    def __init__(self, *, config: StreamConfig, pool: Pool | None = None,
                 predecoder=None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.config, self.predecoder = config, predecoder
        self.worker = WindowWorker(task=config.task(), plan=config.plan(),
                                   soft_cap=soft_cap_of(predecoder))
        if pool is None:
            self.worker.graphs.warm()  # build the matchers before the clock starts
            pool = InProcessPool(self.worker)
        self.pool = pool
        self.streams: dict[str, _StreamState] = {}
        self.queue: deque[tuple[str, int]] = deque()  # ready, waiting for an in-flight slot
        self.backlog: dict[str, list[tuple[float, int]]] = {}
        self.calls: list[WindowCall] = []
        self.clock = clock
        self.t0 = clock()

    def now(self) -> float:
        """Seconds since the service started, on its clock (injectable for tests)."""
        return self.clock() - self.t0

    def open(self, stream_id: str, *, shots: int) -> None:
        if stream_id in self.streams:
            raise InputError(f"stream_id={stream_id!r} is already open")
        if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
            raise InputError(f"shots={shots!r} must be an integer >= 1")
        self.streams[stream_id] = _StreamState(worker=self.worker, shots=shots,
                                               predecoder=self.predecoder)
        self.backlog[stream_id] = []

    def push(self, stream_id: str, t: int, dets: np.ndarray, *,
             arrival: float | None = None) -> None:
        """Receive slice t of a stream: (S, D_t) bool or 0/1 uint8."""
        state = self._state(stream_id)
        state.push(t, dets, self.now() if arrival is None else arrival)
        self._record(stream_id)
        self._enqueue(stream_id)
        self._dispatch()

    def poll(self, timeout: float | None = 0.0) -> int:
        """Collect finished windows (waiting up to ``timeout`` s); return how many."""
        if timeout is not None and not timeout >= 0:
            raise InputError(f"timeout={timeout} must be >= 0 or None")
        done = self.pool.wait(timeout)
        for (stream_id, index), result, worker, call_s in done:
            state = self.streams[stream_id]
            w = self.worker.plan.windows[index]
            self.calls.append(WindowCall(worker, index, result.decode_seconds, call_s,
                                    w.commit_rounds))
            if state.complete(result, self.now()):
                self._record(stream_id)
            self._enqueue(stream_id)
        self._dispatch()
        return len(done)

    def drain(self) -> None:
        """Finish all dispatched and queued work (streams whose slices all arrived finish)."""
        while self.queue or self.pool.in_flight:
            self.poll(0.05)

    def close(self, *, drain: bool = True) -> None:
        if drain:
            self.drain()
        self.pool.close()

    def prediction(self, stream_id: str) -> np.ndarray:
        """(S, O) bool observable prediction of a finished stream."""
        state = self._state(stream_id)
        if not state.finished:
            raise InputError(f"stream_id={stream_id!r} has committed {state.committed} of "
                             f"{len(state.plan.windows)} windows")
        return state.flip.copy()

    def _state(self, stream_id: str) -> _StreamState:
        if stream_id not in self.streams:
            raise InputError(f"stream_id={stream_id!r} is not open")
        return self.streams[stream_id]

    def _record(self, stream_id: str) -> None:
        s = self.streams[stream_id]
        self.backlog[stream_id].append((self.now(), s.received - s.committed_slices))

    def _enqueue(self, stream_id: str) -> None:
        state = self.streams[stream_id]
        for index in state.ready():
            if index in state.dispatched:
                raise RuntimeError(f"window {index} of stream {stream_id!r} became ready twice")
            state.dispatched.add(index)
            self.queue.append((stream_id, index))

    def _dispatch(self) -> None:
        while self.queue and self.pool.in_flight < self.config.in_flight_limit:
            stream_id, index = self.queue.popleft()
            state = self.streams[stream_id]
            self.pool.submit((stream_id, index), index, state.window_input(index),
                             state.window_weights(index))


def soft_cap_of(predecoder) -> float | None:
    """The soft-mode base weight the window workers need (None without soft mode)."""
    if predecoder is None or not predecoder.policy.soft_mode:
        return None
    return predecoder.policy.cap
