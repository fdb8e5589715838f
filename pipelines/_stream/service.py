"""The streaming decoder: rounds arrive, blocks are pre-decoded, windows decode, a sink commits.

One detector *slice* per syndrome round (T = rounds + 1 slices; the last one comes from the
final data measurement) arrives for S shots at once (S parallel streams decoded in lockstep,
one batched call per window). The :class:`StreamService` validates every slice at the boundary,
keeps the received slices, and runs the stages as their inputs become ready
(:mod:`pipelines._stream.state` has the dependencies):

    source -> [pre-decoder stage: blocks, batched] -> residual (+ soft weights)
           -> [matcher stage: windows, batched] -> ordered commits

Each stage is a pool (:mod:`pipelines._stream.pools`: in-process, or Ray actors). Between
stages the queues are bounded where it matters: at most ``max_in_flight`` calls per stage are
out, each with at most ``batch_blocks`` blocks / ``batch_windows`` windows (whatever is ready,
so batches grow only when work piles up). Work that is ready but cannot go out waits in the
service; the backlog (rounds received but not yet committed) grows and is recorded; nothing is
dropped or reordered.

Without the pre-decoder the windows decode the detection events; with it (``predecoder=`` a
:class:`pipelines.BlockPredecoder`) they decode its residual (hard mode) or the residual with
the blocks' per-shot weights (soft mode), and the prediction is the windows' flip XOR the
pre-decoder's flip.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipelines._stream.config import StreamConfig
from pipelines._stream.pools import (
    BlockJob,
    CallDone,
    InProcessPool,
    InProcessPredecoderPool,
    Pool,
    WindowJob,
    wait_any,
)
from pipelines._stream.state import StreamState
from pipelines._windows.worker import WindowWorker
from qec import InputError


@dataclass(frozen=True)
class WindowCall:
    """One window's decoding, as the matcher stage reported it."""

    worker: int
    index: int
    decode_seconds: float
    call_seconds: float
    commit_rounds: int


@dataclass(frozen=True)
class StageCall:
    """One call to a stage: ``jobs`` blocks or windows, the worker's own time for them
    (``work_seconds``) and the turnaround seen by the service (``call_seconds``, queueing
    behind other calls included)."""

    stage: str          # "predecoder" | "matcher"
    worker: int
    jobs: int
    work_seconds: float
    call_seconds: float


class StreamService:
    """Decodes any number of streams of one experiment type on the stages' pools.

    Args:
        config: what the streams decode and the stages' limits.
        pool: the matcher stage (default: in this process).
        predecoder: a :class:`pipelines.BlockPredecoder` (its blocks and mode); None: the
            windows decode the detection events.
        predecoder_pool: where the pre-decoder runs (default: in this process).
        clock: seconds, monotonic (injectable for tests).

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
                 predecoder=None, predecoder_pool: Pool | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.config, self.predecoder = config, predecoder
        self.worker = WindowWorker(task=config.task(), plan=config.plan(),
                                   soft_cap=soft_cap_of(predecoder))
        if pool is None:
            self.worker.graphs.warm()  # build the matchers before the clock starts
            pool = InProcessPool(self.worker)
        if predecoder is not None and predecoder_pool is None:
            predecoder_pool = InProcessPredecoderPool(predecoder)
        self.pool, self.predecoder_pool = pool, predecoder_pool
        self.streams: dict[str, StreamState] = {}
        self.queue: deque[tuple[str, int]] = deque()         # windows ready, not sent
        self.block_queue: deque[tuple[str, int]] = deque()   # blocks ready, not sent
        self.backlog: dict[str, list[tuple[float, int]]] = {}
        self.calls: list[WindowCall] = []
        self.stage_calls: list[StageCall] = []
        self.clock = clock
        self.t0 = clock()

    def now(self) -> float:
        """Seconds since the service started, on its clock."""
        return self.clock() - self.t0

    def open(self, stream_id: str, *, shots: int) -> None:
        if stream_id in self.streams:
            raise InputError(f"stream_id={stream_id!r} is already open")
        if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
            raise InputError(f"shots={shots!r} must be an integer >= 1")
        self.streams[stream_id] = StreamState(worker=self.worker, shots=shots,
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
        if self.predecoder_pool is not None:
            self.poll(0.0)

    def poll(self, timeout: float | None = 0.0) -> int:
        """Collect finished calls of both stages (waiting up to ``timeout`` s for the
        first); return how many jobs finished."""
        if timeout is not None and not timeout >= 0:
            raise InputError(f"timeout={timeout} must be >= 0 or None")
        pools = [self.pool] + ([self.predecoder_pool] if self.predecoder_pool else [])
        done = wait_any(pools, timeout)
        jobs = 0
        for call in done[1] if len(done) > 1 else ():
            jobs += self._blocks_done(call)
        for call in done[0]:
            jobs += self._windows_done(call)
        self._dispatch()
        return jobs

    def _blocks_done(self, call: CallDone) -> int:
        for (stream_id, k), out in call.results:
            self.streams[stream_id].block_complete(k, out)
            self._enqueue(stream_id)
        self.stage_calls.append(StageCall(
            "predecoder", call.worker, len(call.results),
            sum(out.seconds for _, out in call.results), call.call_seconds))
        return len(call.results)

    def _windows_done(self, call: CallDone) -> int:
        for (stream_id, index), result in call.results:
            state = self.streams[stream_id]
            w = self.worker.plan.windows[index]
            self.calls.append(WindowCall(call.worker, index, result.decode_seconds,
                                         call.call_seconds, w.commit_rounds))
            if state.complete(result, self.now()):
                self._record(stream_id)
            self._enqueue(stream_id)
        self.stage_calls.append(StageCall(
            "matcher", call.worker, len(call.results),
            sum(r.decode_seconds for _, r in call.results), call.call_seconds))
        return len(call.results)

    def drain(self) -> None:
        """Finish all dispatched and queued work (streams whose slices all arrived finish)."""
        while self._busy():
            self.poll(0.05)

    def _busy(self) -> bool:
        pre = self.predecoder_pool
        return bool(self.queue or self.block_queue or self.pool.calls_in_flight
                    or (pre is not None and pre.calls_in_flight))

    def close(self, *, drain: bool = True) -> None:
        if drain:
            self.drain()
        self.pool.close()
        if self.predecoder_pool is not None:
            self.predecoder_pool.close()

    def prediction(self, stream_id: str) -> np.ndarray:
        """(S, O) bool observable prediction of a finished stream."""
        state = self._state(stream_id)
        if not state.finished:
            raise InputError(f"stream_id={stream_id!r} has committed {state.committed} of "
                             f"{len(state.plan.windows)} windows")
        return state.flip.copy()

    def _state(self, stream_id: str) -> StreamState:
        if stream_id not in self.streams:
            raise InputError(f"stream_id={stream_id!r} is not open")
        return self.streams[stream_id]

    def _record(self, stream_id: str) -> None:
        s = self.streams[stream_id]
        self.backlog[stream_id].append((self.now(), s.received - s.committed_slices))

    def _enqueue(self, stream_id: str) -> None:
        state = self.streams[stream_id]
        for k in state.ready_blocks() if self.predecoder is not None else ():
            self.block_queue.append((stream_id, k))
        for index in state.ready():
            if index in state.dispatched:
                raise RuntimeError(f"window {index} of stream {stream_id!r} became ready twice")
            state.dispatched.add(index)
            self.queue.append((stream_id, index))

    def _dispatch(self) -> None:
        """Send ready work, a batch per call, while each stage has calls to spare."""
        cfg = self.config
        pre = self.predecoder_pool
        while self.block_queue and pre.calls_in_flight < cfg.in_flight_limit:
            batch = [self.block_queue.popleft()
                     for _ in range(min(cfg.batch_blocks, len(self.block_queue)))]
            pre.submit([BlockJob((sid, k), *self.streams[sid].block_input(k))
                        for sid, k in batch])
        while self.queue and self.pool.calls_in_flight < cfg.in_flight_limit:
            batch = [self.queue.popleft()
                     for _ in range(min(cfg.batch_windows, len(self.queue)))]
            self.pool.submit([WindowJob((sid, i), i, self.streams[sid].window_input(i),
                                        self.streams[sid].window_weights(i))
                              for sid, i in batch])


def soft_cap_of(predecoder) -> float | None:
    """The soft-mode base weight the window workers need (None without soft mode)."""
    if predecoder is None or not predecoder.policy.soft_mode:
        return None
    return predecoder.policy.cap
